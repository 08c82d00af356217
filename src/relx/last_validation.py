"""Reusing fit's last validation instead of validating the best checkpoint again.

A run scores its best checkpoint on dev after training. When that checkpoint *is* the final state (the last
validation scored best, and no optimiser step came after it), validating it again repeats the pass fit just
made over the same weights: on a large dev set and a short run (DocRED, CMRC 2018, C3 on CPU) that pass costs
as much as the training. ``LastValidation`` remembers what fit's last validation logged and at which step, and
``reusable_dev_metrics`` hands those metrics back only when they are the best checkpoint's. A validation after
which the task retuned a head's decision rule on dev (the DocRE baseline's threshold, ``Task.calibrate``) is
never reused: the checkpoint decides with the retuned rule, which that validation did not score.

With ``keep_predictions`` the callback also keeps the decoded predictions of each validation during fit (the
module's ``kept_predictions``, by task one entry per batch, as ``predict_step`` gives them; only the latest
validation's are held), so that a reused validation also gives the dev prediction files: a run whose best
checkpoint is its final state then reads dev no more after training.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn

from relx.checkpointing import checkpoint_progress
from relx.errors import ConfigError

DEV_PREFIX = "val/"


class LastValidation(Callback):
    """The ``val/...`` metrics of the most recent validation during fit and the optimiser step it scored
    (``None`` until one has run: the sanity check does not count); no metrics when the heads' decision rules
    were retuned after it."""

    def __init__(self, keep_predictions: bool = False) -> None:
        self.keep_predictions = keep_predictions
        self.step: int | None = None
        self.metrics: dict[str, float] = {}
        # the last validation's per-batch predictions by task (``keep_predictions``), None when not kept
        self.predictions: dict[str, list[dict[str, Any]]] | None = None

    @staticmethod
    def _during_fit(trainer: L.Trainer) -> bool:
        return not trainer.sanity_checking and trainer.state.fn == TrainerFn.FITTING

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # one process only: under DDP each rank sees a shard of dev
        if self.keep_predictions and self._during_fit(trainer) and trainer.world_size == 1:
            pl_module.kept_predictions = {}  # type: ignore[assignment]  # TaskModule's evaluation steps fill it

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._during_fit(trainer):
            return
        self.predictions, pl_module.kept_predictions = getattr(pl_module, "kept_predictions", None), None  # type: ignore[assignment]
        # the logger connector has merged this validation's epoch metrics into callback_metrics already;
        # every validation logs the same keys (the module's metric collection and the loss)
        self.step = trainer.global_step
        if getattr(pl_module, "recalibrated", False):
            # the heads decide differently now: not the checkpoint's figures or predictions
            self.metrics, self.predictions = {}, None
            return
        self.metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(DEV_PREFIX)}


def reusable_dev_metrics(last: LastValidation, trainer: L.Trainer, best: str) -> dict[str, float] | None:
    """Fit's last validation metrics when the checkpoint ``best`` holds exactly the weights they scored: it
    was written at the step of that validation, and training ended at that step. Otherwise ``None`` (the
    caller validates ``best``): an earlier epoch scored best, the run resumed after training had ended, or
    the checkpoint's step cannot be read."""
    if last.step is None or not last.metrics or last.step != trainer.global_step:
        return None
    try:
        _, best_step = checkpoint_progress(best)
    except ConfigError:
        return None
    return dict(last.metrics) if best_step == last.step else None
