"""After training, a run reads each scored split at most once: the pass that scores dev (or test) with the
best checkpoint also gives that split's prediction files, and when the best checkpoint is the final state, fit's
last validation gives dev's (no pass over dev after training at all). Either way the files equal what a separate
prediction pass over the restored checkpoint writes. A pass that did not see every example
(``limit_val_batches``) leaves the files to a prediction pass of their own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.trainer.states import TrainerFn

import relx.runs
import relx.scoring
from helpers import TINY_FAST, compose_config
from relx.runs import restore, train
from relx.scoring import predict_split


class ValidationsAfterFit(L.Callback):
    """How many ``trainer.validate`` passes (dev scored again after fit) the run made."""

    def __init__(self) -> None:
        self.count = 0

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.count += trainer.state.fn == TrainerFn.VALIDATING


def _predict_split_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The splits ``relx.runs`` predicts in a pass of their own, recorded (the pass still runs)."""
    calls: list[str] = []

    def recorded(module: Any, datamodule: Any, split: str, accelerator: str = "cpu") -> Any:
        calls.append(split)
        return predict_split(module, datamodule, split, accelerator)

    monkeypatch.setattr(relx.runs, "predict_split", recorded)
    return calls


def _written(run_dir: Path) -> dict[str, bytes]:
    """Every prediction file of a run (a multi-task run's under ``<task>/``)."""
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.suffix in {".txt", ".json", ".conllu", ".conll", ".jsonl"}
        and p.parent.name not in {"checkpoints", "logs", "tensorboard"}
        and p.name
        not in {"config.json", "data_summary.json", "metrics.json", "curves.json", "multitask.json", "summary.txt"}
    }


# One epoch of two batches, validated at its end: the best checkpoint is the final state (fit's validation is
# reused). TINY_FAST alone stops after two steps mid-epoch, before any validation: dev is validated again.
BEST_IS_FINAL = ["trainer.max_steps=-1", "trainer.max_epochs=1", "trainer.limit_train_batches=2"]


@pytest.mark.parametrize(
    ("overrides", "splits", "dev_validations_after_fit"),
    [
        (["task=semeval", "head=rbert"], ["validation", "test"], 1),
        (["task=ud_ewt"], ["validation"], 1),
        (["task=semeval", "head=rbert", *BEST_IS_FINAL], ["validation", "test"], 0),
        (["task=redocred", "head=atlop", "data.batch_size=4", *BEST_IS_FINAL], ["validation"], 0),
    ],
    ids=["semeval-dev-and-test", "ud-dev", "semeval-best-is-final", "redocred-best-is-final"],
)
def test_the_scoring_pass_writes_the_prediction_files_a_separate_prediction_pass_would(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    overrides: list[str],
    splits: list[str],
    dev_validations_after_fit: int,
) -> None:
    calls = _predict_split_calls(monkeypatch)
    validations = ValidationsAfterFit()
    run_dir = tmp_path / "run"
    train(compose_config([*TINY_FAST, *overrides]), run_dir, extra_callbacks=[validations])
    assert calls == []  # every written split came from the pass that scored it
    assert validations.count == dev_validations_after_fit

    best = json.loads((run_dir / "data_summary.json").read_text())["best_checkpoint"]
    _, module, datamodule = restore(torch.load(best, map_location="cpu", weights_only=True))
    separate = tmp_path / "separate"
    for split in splits:
        datamodule.write_outputs(separate, split, predict_split(module, datamodule, split))
    expected = _written(separate)
    assert expected  # the task wrote prediction files
    run_files = _written(run_dir)
    assert {name: run_files.get(name) for name in expected} == expected


def test_a_pass_cut_short_leaves_the_prediction_files_to_a_pass_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _predict_split_calls(monkeypatch)
    cut_short = ["data.eval_batch_size=8", "trainer.limit_val_batches=1"]
    cfg = compose_config([*TINY_FAST, "task=semeval", "head=rbert", *cut_short])
    run_dir = tmp_path / "run"
    train(cfg, run_dir)
    # dev was scored on its first batch only; test (limit_test_batches unset) in full
    assert calls == ["validation"]
    examples = len((run_dir / "answer_key_validation.txt").read_text().splitlines())
    assert examples > cfg["data"]["eval_batch_size"]  # the dev sample is more than the one batch scored
    assert len((run_dir / "predictions_validation.txt").read_text().splitlines()) == examples


# Two tasks over one encoder (UD and SemEval), an epoch of their bundled samples: dev scored during fit, test after
MULTITASK = ["+experiment=multitask", *TINY_FAST, "trainer.max_steps=-1", "trainer.max_epochs=1", "multitask.epoch=3"]


def test_a_multitask_run_s_files_from_the_scoring_pass_equal_those_of_a_prediction_pass_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same seeded multi-task run twice: as it runs, and with every scoring pass's predictions thrown away (so
    every file comes from ``predict_loader``). The files are byte-equal; only the second predicts. (A single-task
    run's files are checked against the restored checkpoint above.)"""
    cfg = compose_config(MULTITASK)
    loader_calls: list[int] = []
    original = relx.runs.predict_loader

    def counted(*args: Any, **kwargs: Any) -> Any:
        loader_calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(relx.runs, "predict_loader", counted)
    split_calls = _predict_split_calls(monkeypatch)
    train(cfg, tmp_path / "one-pass")
    assert loader_calls == [] and split_calls == []

    monkeypatch.setattr(relx.scoring, "complete_predictions", lambda *args: {})
    train(cfg, tmp_path / "separate")
    assert len(loader_calls) + len(split_calls) >= 2  # dev and test predicted on their own

    one_pass, separate = _written(tmp_path / "one-pass"), _written(tmp_path / "separate")
    assert {Path(name).parts[0] for name in separate} == {"ud", "rel"} and one_pass == separate
