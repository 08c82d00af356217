"""Scoring and predicting with a trained module: the passes over a split that follow training (and that
``relx.evaluate``, ``relx.predict`` and the Python API make with a restored checkpoint)."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, cast

import lightning as L
import torch
from torch.utils.data import DataLoader

from relx.build import build_trainer
from relx.checkpointing import checkpoint_progress
from relx.data.vocab import LabelVocab
from relx.errors import ConfigError
from relx.heads.switching import restore_decoders, switch_decoder
from relx.last_validation import LastValidation, reusable_dev_metrics
from relx.modules.gather import gather_predictions
from relx.modules.task import SINGLE_TASK, TaskModule
from relx.tasks.datamodule import TaskDataModule
from relx.tasks.mixture import MultiTaskDataModule

log = logging.getLogger(__name__)

STAGE_PREFIX = {"validation": "val", "test": "test"}


def _as_floats(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}


def evaluate_split(
    trainer: L.Trainer,
    module: TaskModule,
    datamodule: TaskDataModule | MultiTaskDataModule,
    split: str,
    ckpt_path: str | None = None,
) -> dict[str, float]:
    """Official metrics of one split, keyed ``val/...`` or ``test/...``."""
    if split == "validation":
        results = trainer.validate(module, dataloaders=datamodule.val_dataloader(), ckpt_path=ckpt_path, verbose=False)
    else:
        results = trainer.test(module, dataloaders=datamodule.test_dataloader(), ckpt_path=ckpt_path, verbose=False)
    prefix = STAGE_PREFIX[split] + "/"
    return {k: v for k, v in _as_floats(results[0]).items() if k.startswith(prefix)}


Predictions = dict[str, list[Any]]
# Per task (a multi-task run's task names; ``SINGLE_TASK`` for a single-task run): a split's predictions
TaskPredictions = dict[str, Predictions]


def score_split(
    trainer: L.Trainer,
    module: TaskModule,
    datamodule: TaskDataModule | MultiTaskDataModule,
    split: str,
    ckpt_path: str | None = None,
    predict: bool = False,
) -> tuple[dict[str, float], TaskPredictions]:
    """``split``'s official metrics and, with ``predict``, its decoded predictions (``predict_split``'s) from
    the same pass, so that a split is read once, not once to score and once to predict.

    A task's predictions are left out when they cannot come from this pass: under DDP each rank keeps only its
    shard, and a pass cut short (``trainer.limit_val_batches``) leaves examples unpredicted; the caller
    then predicts the split on its own (``predict_split``)."""
    if not predict or trainer.world_size > 1:
        return evaluate_split(trainer, module, datamodule, split, ckpt_path), {}
    module.kept_predictions = {}
    try:
        metrics = evaluate_split(trainer, module, datamodule, split, ckpt_path)
        kept = module.kept_predictions
    finally:
        module.kept_predictions = None
    return metrics, complete_predictions(kept, datamodule, split)


def complete_predictions(
    kept: Mapping[str, list[dict[str, Any]]], datamodule: TaskDataModule | MultiTaskDataModule, split: str
) -> TaskPredictions:
    """The per-example predictions of an evaluation pass's kept batches (``TaskModule.kept_predictions``), for
    each task whose examples of ``split`` it predicted every one of."""
    tasks = datamodule.datamodules if isinstance(datamodule, MultiTaskDataModule) else {SINGLE_TASK: datamodule}
    complete: TaskPredictions = {}
    for name, task_data in tasks.items():
        if name not in kept or split not in task_data.examples:
            continue
        predictions = gather_predictions(kept[name], dict(task_data.vocabs), len(task_data.examples[split]))
        if predictions and all(value is not None for column in predictions.values() for value in column):
            complete[name] = predictions
    return complete


def dev_metrics(
    trainer: L.Trainer,
    module: TaskModule,
    datamodule: TaskDataModule | MultiTaskDataModule,
    best: str,
    last_validation: LastValidation,
    predict: bool = False,
) -> tuple[dict[str, float], TaskPredictions]:
    """The best checkpoint's dev metrics: fit's last validation when it scored exactly these weights
    (``relx.last_validation``), else a validation pass with ``best`` loaded. With ``predict`` also the dev
    predictions of the same pass (fit's when it kept them, else ``score_split``'s), of each task that pass
    predicted in full. Either way ``module`` holds the best weights afterwards, which the prediction files and
    ``save_encoder`` rely on."""
    reused = reusable_dev_metrics(last_validation, trainer, best)
    if reused is not None:
        log.info("dev metrics: fit's last validation (the best checkpoint is the final state)")
        kept = last_validation.predictions
        if not predict or kept is None:
            return reused, {}
        return reused, complete_predictions(kept, datamodule, "validation")
    return score_split(trainer, module, datamodule, "validation", best, predict)


def predict_split(module: TaskModule, datamodule: TaskDataModule, split: str, accelerator: str = "cpu") -> Predictions:
    """Decoded predictions of every example of ``split``, in order (single process)."""
    loader = datamodule.loader(split, shard=False)
    return predict_loader(module, loader, datamodule.vocabs, len(datamodule.examples[split]), accelerator)


def predict_loader(
    module: TaskModule, loader: DataLoader, vocabs: Mapping[str, LabelVocab], examples: int, accelerator: str
) -> dict[str, list[Any]]:
    predictor, _ = build_trainer({"trainer": {"accelerator": accelerator, "enable_progress_bar": False}})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*custom batch sampler.*")  # ours yields every index
        outputs = predictor.predict(module, dataloaders=loader)
    return gather_predictions(cast(list[dict[str, torch.Tensor]], outputs or []), dict(vocabs), examples)


def format_summary(metrics: dict[str, float]) -> str:
    """A two-column table of the run's metrics."""
    width = max((len(k) for k in metrics), default=6)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ------"]
    lines += [f"{k:<{width}}  {v:.4f}" for k, v in sorted(metrics.items()) if not math.isnan(v)]
    return "\n".join(lines)


def score_with_decoders(
    decoders: Sequence[str],
    trainer: L.Trainer,
    module: TaskModule,
    datamodule: TaskDataModule,
    splits: Sequence[str],
    ckpt_path: str,
) -> dict[str, float]:
    """The checkpoint's metrics of ``splits`` decoded with each of ``decoders`` in turn (the same weights,
    no retraining), keyed ``<split>/<metric>@<decoder>``; a decoder no head of the model uses is skipped
    (logged). The heads get their own decoders back afterwards."""
    metrics: dict[str, float] = {}
    for decoder in decoders:
        previous = switch_decoder(module.heads.values(), decoder)
        if not previous:
            log.info("evaluation.decoders: %s skipped: no head of this model decodes with it", decoder)
            continue
        try:
            for split in splits:
                scores = evaluate_split(trainer, module, datamodule, split, ckpt_path)
                metrics.update({f"{key}@{decoder}": value for key, value in scores.items()})
        finally:
            restore_decoders(previous)
    return metrics


def best_epoch_summary(best: str) -> dict[str, int]:
    """Where the best checkpoint was written: ``best_epoch`` (counted from 1, the epoch whose validation
    scored best) and ``best_step`` (optimiser steps), for the data summary and ``relx.report``."""
    try:
        epoch, step = checkpoint_progress(best)
    except ConfigError as err:
        log.warning("best epoch unknown: %s", err)
        return {}
    return {"best_epoch": epoch + 1, "best_step": step}
