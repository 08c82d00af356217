"""Reusing fit's last validation instead of validating the best checkpoint again.

A run scores its best checkpoint on dev after training. When that checkpoint *is* the final state (the last
validation scored best, and no optimiser step came after it), validating it again repeats the pass fit just
made over the same weights: on a large dev set and a short run (DocRED, CMRC 2018, C3 on CPU) that pass costs
as much as the training. ``LastValidation`` remembers what fit's last validation logged and at which step, and
``reusable_dev_metrics`` hands those metrics back only when they are the best checkpoint's. A validation after
which the task retuned a head's decision rule on dev (the DocRE baseline's threshold, ``Task.calibrate``) is
never reused: the checkpoint decides with the retuned rule, which that validation did not score.
"""

from __future__ import annotations

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

    def __init__(self) -> None:
        self.step: int | None = None
        self.metrics: dict[str, float] = {}

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        # the logger connector has merged this validation's epoch metrics into callback_metrics already;
        # every validation logs the same keys (the module's metric collection and the loss)
        self.step = trainer.global_step
        if getattr(pl_module, "recalibrated", False):
            self.metrics = {}  # the heads decide differently now: not the checkpoint's figures
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
