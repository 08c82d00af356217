"""Progress without a terminal: plain lines instead of a progress bar.

Under ``nohup``, in CI or with output piped to a file, a progress bar prints nothing useful until the end;
``PlainProgress`` prints one line every ``every_n_steps`` optimiser steps (epoch, step of total, loss, rate,
ETA) and one per validation (its metrics). ``build_trainer`` uses it instead of the bar when stdout is not
a terminal.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn


def format_duration(seconds: float) -> str:
    """``1h02m03s`` / ``2m03s`` / ``3s``."""
    if not math.isfinite(seconds):
        return "?"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class PlainProgress(Callback):
    """One line per ``every_n_steps`` training steps and one per validation, on the first process only."""

    def __init__(self, every_n_steps: int = 50, stream: TextIO | None = None) -> None:
        if every_n_steps < 1:
            raise ValueError(f"trainer.progress_every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.stream = stream
        self._started = 0.0
        self._first_step = 0
        self._last_printed = -1

    def _print(self, trainer: L.Trainer, text: str) -> None:
        if trainer.is_global_zero:
            print(text, file=self.stream or sys.stdout, flush=True)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.monotonic()
        self._first_step = trainer.global_step  # a resumed run counts its rate from where it resumed

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step == self._last_printed or step % self.every_n_steps:
            return
        self._last_printed = step
        total = int(trainer.estimated_stepping_batches)
        elapsed = time.monotonic() - self._started
        rate = (step - self._first_step) / elapsed if elapsed > 0 else float("nan")
        eta = (total - step) / rate if rate and math.isfinite(rate) and rate > 0 else float("nan")
        loss = trainer.callback_metrics.get("train/loss")
        loss_text = f"loss {float(loss):.4f}  " if loss is not None else ""
        self._print(
            trainer,
            f"epoch {trainer.current_epoch}  step {step}/{total}  {loss_text}{rate:.2f} steps/s  "
            f"elapsed {format_duration(elapsed)}  ETA {format_duration(eta)}",
        )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:  # evaluations print their table
            return
        values = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        shown = "  ".join(f"{k}={v:.4f}" for k, v in sorted(values.items()) if math.isfinite(v))
        self._print(trainer, f"epoch {trainer.current_epoch}  step {trainer.global_step}  validation  {shown}")
