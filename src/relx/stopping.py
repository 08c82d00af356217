"""Lightning's side of ``relx.interrupts.SignalGuard``: stop at a batch boundary, save ``last.ckpt`` there."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from relx.interrupts import SignalGuard


class StopOnSignal(L.Callback):
    """Lightning's side of ``SignalGuard``: stop at a batch boundary, save ``last.ckpt`` there."""

    def __init__(self, guard: SignalGuard) -> None:
        self.guard = guard

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.guard.trainer = trainer
        if stage == "fit":
            self.guard.in_fit = True

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            self.guard.in_fit = False

    def _ask_to_stop(self, trainer: L.Trainer) -> None:
        # Lightning's SIGTERM handler sets this flag (and resets it when fit starts); SIGINT never sets it.
        # The loops check it right after these hooks and raise SIGTERMException at that clean point.
        if self.guard.in_fit and not trainer.received_sigterm:
            trainer._signal_connector.received_sigterm = True

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        wanted = self.guard.signum is not None or trainer.received_sigterm
        if trainer.world_size > 1:
            # Every rank must stop at the same batch (the save is collective), though the signal may have
            # reached only one of them: agree here, where every rank is at the same step.
            wanted = trainer.strategy.reduce_boolean_decision(wanted, all=False)
        if wanted:
            self._ask_to_stop(trainer)

    def on_validation_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        # Under DDP ranks may hold different numbers of validation batches: no agreement possible here.
        if trainer.world_size == 1 and self.guard.signum is not None:
            self._ask_to_stop(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException) and trainer.state.fn == "fit":
            trainer.save_checkpoint(self.guard.checkpoint)
            self.guard.saved = True
