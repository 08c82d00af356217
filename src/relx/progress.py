"""What training prints: plain progress lines without a terminal, and a table row per validation.

Under ``nohup``, in CI or with output piped to a file, a progress bar prints nothing useful until the end;
``PlainProgress`` prints one line every ``every_n_steps`` optimiser steps (epoch, step of total, loss, rate,
ETA). ``build_trainer`` uses it instead of the bar when stdout is not a terminal. ``EpochTable`` prints,
spaCy-style, one row per validation while fitting (epoch, step, train loss, the main dev metrics, the best
so far marked ``*``), instead of dev metrics squeezed into the progress bar.
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


class EpochTable(Callback):
    """A row per validation while fitting: ``epoch  step  train loss  <metrics...>``, the first metric the one
    that selects the best checkpoint (``mode`` max or min), ``*`` on its best row so far. First process only."""

    def __init__(self, metrics: list[str], mode: str = "max", stream: TextIO | None = None) -> None:
        self.metrics = metrics
        self.mode = mode
        self.stream = stream
        self.best: float | None = None
        self.widths = [max(10, len(m)) for m in metrics]

    def _print(self, trainer: L.Trainer, text: str) -> None:
        if trainer.is_global_zero:
            print(text, file=self.stream or sys.stdout, flush=True)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        header = "  ".join(f"{m:>{w}}" for m, w in zip(self.metrics, self.widths, strict=True))
        self._print(trainer, f"{'epoch':>5}  {'step':>7}  {'train loss':>10}  {header}")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:  # evaluations print their table
            return
        found = trainer.callback_metrics

        def value(name: str) -> float:
            return float(found[name]) if name in found else math.nan

        main = value(self.metrics[0])
        improved = math.isfinite(main) and (
            self.best is None or (main > self.best if self.mode == "max" else main < self.best)
        )
        if improved:
            self.best = main
        cells = "  ".join(f"{value(m):>{w}.4f}" for m, w in zip(self.metrics, self.widths, strict=True))
        loss = value("train/loss")
        mark = " *" if improved else ""
        self._print(trainer, f"{trainer.current_epoch:>5}  {trainer.global_step:>7}  {loss:>10.4f}  {cells}{mark}")
