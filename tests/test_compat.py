"""Checkpoints written by relx 0.1 (whose stored config named a DataModule, ``task.datamodule._target_``) still
evaluate: their stored run configurations were recorded before the Task redesign
(``tests/fixtures/behaviour/<run>.stored.json``) and are put into checkpoints of the same runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers import FIXTURES, TINY_FAST, compose_config
from relx.checkpointing import load_relx_checkpoint
from relx.errors import ConfigError
from relx.inference import evaluate
from relx.runs import restore, train


@pytest.mark.parametrize(("task", "head"), [("semeval", "rbert")])  # entity-marker tokens: the harder case
def test_a_relx_0_1_checkpoint_evaluates_as_it_did(tmp_path: Path, task: str, head: str) -> None:
    run = tmp_path / "run"
    train(compose_config([f"task={task}", f"head={head}", *TINY_FAST, "write_predictions=false"]), run)
    checkpoint = load_relx_checkpoint(run / "checkpoints" / "last.ckpt")
    old = json.loads((FIXTURES / "behaviour" / f"{task}-{head}.stored.json").read_text())
    assert "datamodule" in old["config"]["task"] and "version" in old  # the 0.1 layout
    checkpoint["relx"] = old
    torch.save(checkpoint, tmp_path / "old.ckpt")

    _, now = evaluate(run / "checkpoints" / "last.ckpt", split="test", output_dir=tmp_path / "now", accelerator="cpu")
    _, then = evaluate(tmp_path / "old.ckpt", split="test", output_dir=tmp_path / "then", accelerator="cpu")
    assert then == pytest.approx(now, abs=1e-6)
    assert sorted(p.name for p in (tmp_path / "then").iterdir()) == sorted(p.name for p in (tmp_path / "now").iterdir())


def test_a_checkpoint_naming_an_unknown_datamodule_is_one_line_with_its_version(tmp_path: Path) -> None:
    old = json.loads((FIXTURES / "behaviour" / "mit_movie-token.stored.json").read_text())
    old["config"]["task"]["datamodule"]["_target_"] = "relx.data.gone.SomeDataModule"
    with pytest.raises(ConfigError, match=r"^checkpoint written by relx 0\.1\.0: .*relx\.data\.gone\.SomeDataModule"):
        restore({"relx": old, "state_dict": {}}, read_data=False)
