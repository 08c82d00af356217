"""Helpers the tests share (imported explicitly: ``from helpers import ...``; conftest keeps only fixtures)."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: conftest imports this module before the tests set up the environment
    from relx.data.settings import DataSettings
    from relx.data.vocab import LabelVocab
    from relx.tasks.datamodule import TaskDataModule

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# A tiny random encoder, two optimiser steps: the end-to-end runs of the suite.
TINY_FAST = [
    "encoder=tiny",
    "trainer.max_steps=2",
    "trainer.enable_progress_bar=false",
    "data.batch_size=8",
]


def run_cli(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m <module> <args>`` in ``cwd``, offline, its output captured."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def compose_config(overrides: list[str], config_name: str = "train", resolve: bool = True) -> Any:
    """The resolved config dict the entry point would build (composed from the installed package, a
    multi-task run's ``tasks`` expanded); with ``resolve=False`` the unresolved ``DictConfig``."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from relx.composition import expand_tasks

    with initialize_config_module("relx.conf", version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides)
        if not resolve:
            return cfg
        resolved = OmegaConf.to_container(cfg, resolve=True)
        return expand_tasks(resolved, overrides) if config_name == "train" else resolved  # type: ignore[arg-type]


def bio_ner_data(
    data_dir: str | Path | None,
    tokenizer: Any,
    files: dict[str, str | None],
    settings: DataSettings | None = None,
    vocabs: dict[str, LabelVocab] | None = None,
    column_format: str = "tag_word",
) -> TaskDataModule[Any]:
    """A read ``TaskDataModule`` of a ``BioNerTask`` over ``data_dir``."""
    from relx.tasks.datamodule import TaskDataModule
    from relx.tasks.words import BioNerTask

    dm: TaskDataModule[Any] = TaskDataModule(
        BioNerTask("ner", files, column_format=column_format), data_dir, tokenizer, settings, vocabs
    )
    dm.read()
    return dm


def intent_slot_data(data_dir: str | Path, tokenizer: Any, settings: DataSettings | None = None) -> TaskDataModule[Any]:
    """A read ``TaskDataModule`` of an ``IntentSlotTask`` over ``data_dir`` (JointBERT layout)."""
    from relx.tasks.datamodule import TaskDataModule
    from relx.tasks.words import IntentSlotTask

    dm: TaskDataModule[Any] = TaskDataModule(IntentSlotTask("intents"), data_dir, tokenizer, settings)
    dm.read()
    return dm


# ---- a tiny model and a batch of a task's bundled sample (ONNX and compile tests) ----------------------------
@cache
def sample_data(task: str, *overrides: str) -> Any:
    """The read DataModule of a task's bundled sample (its label vocabularies: the model's sizes), once."""
    from relx.build import build_datamodule, build_tokenizer

    cfg = compose_config([f"task={task}", *TINY_FAST, *overrides])
    return build_datamodule(cfg, build_tokenizer(cfg), splits=("train", "validation"))


@cache
def tiny_model(task: str, head: str, *overrides: str) -> tuple[dict[str, Any], Any, Any]:
    """(config, module in eval mode with random tiny weights, the sample's DataModule), built once."""
    import torch

    from relx.build import build_module

    cfg = compose_config([f"task={task}", f"head={head}", *TINY_FAST, *overrides])
    datamodule = sample_data(task, *overrides)
    torch.manual_seed(0)
    module = build_module(cfg, datamodule.task, vocab_size=len(datamodule.tokenizer)).eval()
    return cfg, module, datamodule


def sample_batch(datamodule: Any, size: int = 12) -> Any:
    """The task's batch of the first ``size`` validation examples, encoded and collated as the DataModule's
    loaders do (``Task.columns`` -> ``encode`` -> ``collator``), without its feature cache."""
    task = datamodule.task
    columns = task.columns(datamodule.examples["validation"][:size], "validation")
    raw = {**columns, "example_id": list(range(len(next(iter(columns.values())))))}
    features = {**raw, **task.encode(raw)}  # as datasets.map: the encoded columns beside the raw ones
    batch = task.collator()([dict(zip(features, row, strict=True)) for row in zip(*features.values(), strict=True)])
    lengths = batch.attention_mask.sum(1)
    assert len(batch) > 1 and lengths.min() < lengths.max()  # padded rows of different lengths
    return batch
