"""Mixing several datasets in one training loop: which dataset each step draws a batch from.

Multi-task training sees whole batches of one source at a time (a source: one dataset, with its own batch
size, length grouping and collate function). ``MixedBatchSampler`` decides the order: per step it draws a
source under a schedule, then takes that source's next batch from its own (length-grouped, DDP-sharded)
batch sampler. ``MixedDataset`` concatenates the sources' datasets so that one ``DataLoader`` serves them
all, and ``SourceCollator`` collates each batch with its source's collate function into a ``SourceBatch``.

Schedules (MaChAmp's smoothing; Sanh et al. / Stickland & Murray's annealed sampling): a source of ``n_i``
training examples is drawn with probability ``n_i ** alpha / sum_j n_j ** alpha``; ``proportional`` is
alpha 1, ``smoothed`` the given alpha (default 0.5), ``uniform`` alpha 0; ``round_robin`` takes the sources
in turn. The draws depend only on (seed, epoch), identical on every rank, so under DDP all ranks train the
same source at each step (each on its own shard of that source's batches), and a resumed run sees the same
steps as an uninterrupted one.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

from relx.data.sampler import EpochForwarder, MidEpochResume

SCHEDULES = ("proportional", "smoothed", "uniform", "round_robin")
PASSES_PER_EPOCH = 1_000_000  # a source's sampler epochs reserved per mixed epoch (passes of a small source)
EPOCHS = ("sum", "largest")


def schedule_probabilities(sizes: Mapping[str, int], schedule: str, alpha: float = 0.5) -> dict[str, float]:
    """Probability of drawing each source at a step: ``n_i ** a / sum_j n_j ** a`` with ``a`` 1
    (proportional), ``alpha`` (smoothed) or 0 (uniform); round_robin takes each equally often."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, not {schedule!r}")
    exponent = {"proportional": 1.0, "smoothed": float(alpha), "uniform": 0.0, "round_robin": 0.0}[schedule]
    weights = {name: float(n) ** exponent if n > 0 else 0.0 for name, n in sizes.items()}
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("every source is empty")
    return {name: w / total for name, w in weights.items()}


def steps_per_epoch(batches: Mapping[str, int], epoch: str | int) -> int:
    """Steps in one epoch: ``sum`` of the sources' batches (every example once, in expectation, under the
    proportional schedule), the ``largest`` source's batches, or a fixed number."""
    if isinstance(epoch, int) and not isinstance(epoch, bool):
        if epoch < 1:
            raise ValueError(f"an epoch must have at least one step, not {epoch}")
        return epoch
    if epoch == "sum":
        return sum(batches.values())
    if epoch == "largest":
        return max(batches.values())
    raise ValueError(f"epoch must be one of {', '.join(EPOCHS)} or a number of steps, not {epoch!r}")


class MixedBatchSampler(MidEpochResume, Sampler[list[int]]):
    """Batches of one source at a time, as indices into a ``MixedDataset`` of the same sources.

    ``samplers``: each source's batch sampler (``set_epoch``-able, already sharded for this rank);
    ``offsets``: where each source starts in the ``MixedDataset``. Training (``shuffle=True``) draws
    ``steps`` sources per epoch under ``schedule`` from a generator seeded with ``(seed, epoch)``; a source
    whose batches run out within an epoch starts a new pass (its sampler's epoch ``epoch * 10**6 + pass``).
    Evaluation (``shuffle=False``) yields every batch of each source in turn.
    """

    def __init__(
        self,
        samplers: Mapping[str, Any],
        offsets: Mapping[str, int],
        shuffle: bool,
        probabilities: Mapping[str, float] | None = None,
        steps: int | None = None,
        round_robin: bool = False,
        seed: int = 0,
    ) -> None:
        self.samplers = dict(samplers)
        self.names = list(self.samplers)
        self.offsets = dict(offsets)
        self.shuffle = shuffle
        self.probabilities = dict(probabilities or {})
        self.steps = steps
        self.round_robin = round_robin
        self.seed = seed
        self.epoch = 0
        self.sampler = EpochForwarder(self)
        if shuffle and steps is None:
            raise ValueError("a training sampler needs the number of steps per epoch")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def sources(self) -> list[str]:
        """The source of each step of this epoch (the same on every rank)."""
        assert self.steps is not None
        if self.round_robin:
            return [self.names[i % len(self.names)] for i in range(self.steps)]
        weights = torch.tensor([self.probabilities[name] for name in self.names], dtype=torch.double)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        draws = torch.multinomial(weights, self.steps, replacement=True, generator=generator)
        return [self.names[i] for i in draws.tolist()]

    def _passes(self, name: str) -> Iterator[list[int]]:
        """Endless batches of one source for this epoch: pass after pass, each freshly shuffled."""
        sampler = self.samplers[name]
        for number in itertools.count():
            sampler.set_epoch(self.epoch * PASSES_PER_EPOCH + number)
            batches = list(sampler)
            if not batches:
                return
            yield from batches

    def __iter__(self) -> Iterator[list[int]]:
        # A generator: the order is drawn at the first next(), after Lightning's set_epoch.
        if not self.shuffle:
            for name in self.names:
                offset = self.offsets[name]
                for batch in self.samplers[name]:
                    yield [offset + i for i in batch]
            return
        streams = {name: self._passes(name) for name in self.names}
        batches = (
            [self.offsets[name] + i for i in batch]
            for name in self.sources()
            if (batch := next(streams[name], None)) is not None
        )
        # a resumed epoch draws its first batches again (the streams depend on them), unused
        yield from itertools.islice(batches, self._batches_to_skip(), None)

    def __len__(self) -> int:
        if self.shuffle:
            assert self.steps is not None
            return self.steps
        return sum(len(sampler) for sampler in self.samplers.values())


@dataclass
class SourceBatch:
    """A batch of one source: its name and the batch its collate function made (moved to the device by
    Lightning like any dataclass)."""

    source: str
    batch: Any

    def __len__(self) -> int:
        return len(self.batch)


class MixedDataset(Dataset[tuple[str, Any]]):
    """The sources' datasets end to end; item ``i`` is ``(source, row)``."""

    def __init__(self, datasets: Mapping[str, Sequence[Any]]) -> None:
        self.names = list(datasets)
        self.datasets = dict(datasets)
        self.offsets: dict[str, int] = {}
        self._starts: list[int] = []
        start = 0
        for name in self.names:
            self.offsets[name] = start
            self._starts.append(start)
            start += len(self.datasets[name])
        self._length = start

    def __len__(self) -> int:
        return self._length

    def locate(self, index: int) -> tuple[str, int]:
        position = bisect.bisect_right(self._starts, index) - 1
        name = self.names[position]
        return name, index - self.offsets[name]

    def __getitem__(self, index: int) -> tuple[str, Any]:
        name, local = self.locate(index)
        return name, self.datasets[name][local]

    def __getitems__(self, indices: list[int]) -> list[tuple[str, Any]]:
        """Rows of one batch, fetched together from their source (one Arrow read for a ``datasets.Dataset``)."""
        located = [self.locate(i) for i in indices]
        names = {name for name, _ in located}
        if len(names) != 1:
            return [self[i] for i in indices]
        name = names.pop()
        dataset = self.datasets[name]
        local = [i for _, i in located]
        fetch = getattr(dataset, "__getitems__", None)
        rows = fetch(local) if fetch is not None else [dataset[i] for i in local]
        return [(name, row) for row in rows]


class SourceCollator:
    """Collates a batch of ``(source, row)`` items, all of one source, with that source's collate function."""

    def __init__(self, collators: Mapping[str, Callable[[list[Any]], Any]]) -> None:
        self.collators = dict(collators)

    def __call__(self, items: list[tuple[str, Any]]) -> SourceBatch:
        names = {name for name, _ in items}
        if len(names) != 1:
            raise ValueError(f"a batch mixes sources {sorted(names)}")
        name = names.pop()
        return SourceBatch(name, self.collators[name]([row for _, row in items]))
