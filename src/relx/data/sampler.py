"""Length-grouped batch sampler: batches of similar lengths, so dynamic padding wastes little compute."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Protocol

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class HasEpoch(Protocol):
    def set_epoch(self, epoch: int) -> None: ...


class EpochForwarder:
    """Lightning calls ``batch_sampler.sampler.set_epoch(epoch)`` before each epoch; forward it to the batch
    sampler that owns this one."""

    def __init__(self, owner: HasEpoch) -> None:
        self.owner = owner

    def set_epoch(self, epoch: int) -> None:
        self.owner.set_epoch(epoch)


class MidEpochResume:
    """For training batch samplers whose order depends only on (seed, epoch): ``resume_at(epoch, done)`` makes
    the next pass over ``epoch`` skip its first ``done`` batches, so a run resumed from a checkpoint taken
    mid-epoch (a signal, a crash after ``last.ckpt``) trains on exactly the rest of that epoch, not on its
    first batches again."""

    epoch: int
    _resume: tuple[int, int] | None = None

    def resume_at(self, epoch: int, batches_done: int) -> None:
        self._resume = (epoch, batches_done)

    def _batches_to_skip(self) -> int:
        """The batches this pass skips (once: a later pass over the same epoch is whole)."""
        resume, self._resume = self._resume, None
        return resume[1] if resume is not None and resume[0] == self.epoch else 0


class LengthGroupedBatchSampler(MidEpochResume, Sampler[list[int]]):
    """Yields lists of indices whose lengths are close.

    Training (``shuffle=True``): indices are shuffled with ``seed + epoch``, cut into mega-batches of
    ``mega_batches * batch_size``, each sorted by length and cut into batches; the batch order is
    shuffled again. The order depends only on (seed, epoch), so a resumed run sees the same batches.
    Evaluation (``shuffle=False``): the whole set sorted by length.

    Under DDP (and ``shard=True``) each rank takes every ``world``-th batch. Training pads the batch
    list to a multiple of the world size (every rank must run the same number of steps); evaluation
    does not, so no example is scored twice, and uses smaller batches when a set is too small to give
    every rank one (Lightning refuses a rank without batches).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        mega_batches: int = 50,
        shard: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.mega_batches = mega_batches
        self.shard = shard
        self.epoch = 0
        self.sampler = EpochForwarder(self)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _eval_batch_size(self, world: int) -> int:
        return max(1, min(self.batch_size, math.ceil(len(self.lengths) / world)))

    def _batches(self, world: int = 1) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            size = self._eval_batch_size(world)
            order = torch.argsort(self.lengths, descending=True, stable=True)
            return [order[i : i + size].tolist() for i in range(0, n, size)]
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        perm = torch.randperm(n, generator=gen)
        mega = self.batch_size * self.mega_batches
        batches: list[list[int]] = []
        for start in range(0, n, mega):
            chunk = perm[start : start + mega]
            chunk = chunk[torch.argsort(self.lengths[chunk], descending=True, stable=True)]
            batches.extend(chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size))
        return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]

    def __iter__(self) -> Iterator[list[int]]:
        # A generator: the order is drawn at the first ``next()``, not when the DataLoader iterator is
        # created (Lightning creates it before ``set_epoch`` when it resumes a run).
        rank, world = _rank_and_world() if self.shard else (0, 1)
        batches = self._batches(world)
        if world > 1 and self.shuffle and batches:
            total = math.ceil(len(batches) / world) * world
            batches = batches + batches[: total - len(batches)]
        yield from batches[rank::world][self._batches_to_skip() :]

    def __len__(self) -> int:
        rank, world = _rank_and_world() if self.shard else (0, 1)
        n = math.ceil(len(self.lengths) / (self.batch_size if self.shuffle else self._eval_batch_size(world)))
        if self.shuffle:
            # Mega-batch boundaries can add partial batches.
            mega = self.batch_size * self.mega_batches
            full, rest = divmod(len(self.lengths), mega)
            n = full * math.ceil(mega / self.batch_size) + math.ceil(rest / self.batch_size)
            return math.ceil(n / world)
        return len(range(rank, n, world))
