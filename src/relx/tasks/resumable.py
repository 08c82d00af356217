"""Training DataLoaders that a run resumed mid-epoch continues exactly.

Lightning saves and restores a DataLoader's state when it has ``state_dict``/``load_state_dict`` (its
``_Stateful`` protocol, the one torchdata's ``StatefulDataLoader`` follows), and otherwise warns that a
mid-epoch resume "can cause unreliable results": the epoch would start over from its first batch and stop
after the remaining count, training twice on the first batches and never on the last. relx's training
batch orders depend only on (seed, epoch) (``relx.data.sampler``), so the state is two numbers: the epoch
and how many of its batches the optimiser has already stepped on. Restoring it makes the batch sampler
skip those (``MidEpochResume``).

With gradient accumulation a checkpoint taken inside an accumulation window loses that window's partial
gradients, as in any Lightning run; the batches are still not repeated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

from relx.data.sampler import MidEpochResume


def trained_batches_in_epoch(trainer: L.Trainer | None) -> int:
    """The current epoch's training batches whose step has run (Lightning's ``processed`` counter: a batch
    is counted after its optimiser step, before ``on_train_batch_end``, where relx's signal stop saves)."""
    if trainer is None:
        return 0
    current = trainer.fit_loop.epoch_loop.batch_progress.current  # a _ProcessedTracker at run time
    return int(getattr(current, "processed", current.completed))


class ResumableDataLoader(DataLoader):
    """A training DataLoader over a ``MidEpochResume`` batch sampler; ``progress`` gives the batches of the
    current epoch already trained on (``trained_batches_in_epoch`` of the datamodule's trainer)."""

    def __init__(self, *args: Any, progress: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.batch_sampler, MidEpochResume):
            raise TypeError(f"{type(self.batch_sampler).__name__} cannot resume mid-epoch")
        self.progress = progress

    def state_dict(self) -> dict[str, int]:
        assert isinstance(self.batch_sampler, MidEpochResume)
        return {"epoch": self.batch_sampler.epoch, "batches_done": self.progress()}

    def load_state_dict(self, state: dict[str, int]) -> None:
        assert isinstance(self.batch_sampler, MidEpochResume)
        self.batch_sampler.resume_at(int(state["epoch"]), int(state["batches_done"]))


class RestoreLoaderPosition(L.Callback):
    """Restores the training loader's position from the checkpoint a run resumes from.

    Lightning restores a stateful loader only when it builds the training loader after loading the
    checkpoint. relx's LR schedule asks for ``trainer.estimated_stepping_batches`` while the optimisers are
    configured, which builds the loader before, so Lightning's own restore is skipped. This callback
    reads the state Lightning saved (``loops.fit_loop.state_dict.combined_loader``) and applies it when
    training starts, before the first batch is drawn (the batch order is drawn lazily); applying it twice
    is harmless."""

    def __init__(self) -> None:
        self.states: list[dict[str, int]] = []

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
        self.states = list(fit_loop.get("state_dict", {}).get("combined_loader", []))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loader = trainer.train_dataloader
        if self.states and isinstance(loader, ResumableDataLoader):
            loader.load_state_dict(self.states[0])
        self.states = []
