"""``MultiTaskDataModule``: several tasks' DataModules behind one training loop (multi-task runs).

Each task keeps its own ``TaskDataModule`` (reader, vocabularies, batch size, length grouping, cache); this
module only mixes their loaders (``relx.data.mixing``): training draws one task per step under the schedule,
evaluation runs every task's batches in turn. Batches arrive as ``SourceBatch(task name, batch)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

from relx.data.mixing import (
    MixedBatchSampler,
    MixedDataset,
    SourceCollator,
    schedule_probabilities,
    steps_per_epoch,
)
from relx.data.sampler import LengthGroupedBatchSampler
from relx.tasks.datamodule import TaskDataModule
from relx.tasks.resumable import ResumableDataLoader, trained_batches_in_epoch


@dataclass
class MixtureSettings:
    """``multitask.*``: the sampling schedule (proportional | smoothed | uniform | round_robin), the smoothing
    exponent ``alpha`` of ``smoothed``, and the length of an epoch (``sum`` of the tasks' batches, the
    ``largest`` task's batches, or a number of steps)."""

    schedule: str = "smoothed"
    alpha: float = 0.5
    epoch: str | int = "sum"


class MultiTaskDataModule(L.LightningDataModule):
    """The tasks' DataModules, keyed by task name, mixed into one loader per stage."""

    def __init__(self, datamodules: Mapping[str, TaskDataModule[Any]], mixture: MixtureSettings, seed: int) -> None:
        super().__init__()
        self.datamodules = dict(datamodules)
        self.mixture = mixture
        self.seed = seed

    def setup(self, stage: str | None = None) -> None:
        for datamodule in self.datamodules.values():
            datamodule.setup(stage)

    def _task_sampler(self, name: str, split: str, shuffle: bool, shard: bool) -> LengthGroupedBatchSampler:
        datamodule = self.datamodules[name]
        loader = datamodule.loader(split, shuffle=shuffle, shard=shard)
        sampler = loader.batch_sampler
        assert isinstance(sampler, LengthGroupedBatchSampler)
        return sampler

    def plan(self) -> dict[str, Any]:
        """What one training epoch is: each task's training examples and batches (this rank's), the draw
        probabilities and the number of steps (written to the run directory as ``multitask.json``)."""
        sizes = {name: len(dm.features["train"]) for name, dm in self.datamodules.items()}
        batches = {name: len(self._task_sampler(name, "train", True, True)) for name in self.datamodules}
        probabilities = schedule_probabilities(sizes, self.mixture.schedule, self.mixture.alpha)
        steps = steps_per_epoch(batches, self.mixture.epoch)
        return {
            "schedule": self.mixture.schedule,
            "alpha": self.mixture.alpha if self.mixture.schedule == "smoothed" else None,
            "epoch": self.mixture.epoch,
            "steps_per_epoch": steps,
            "tasks": {
                name: {
                    "train_examples": sizes[name],
                    "batch_size": self.datamodules[name].settings.batch_size,
                    "batches_per_pass": batches[name],
                    "probability": probabilities[name],
                    "expected_batches_per_epoch": probabilities[name] * steps,
                }
                for name in self.datamodules
            },
        }

    def loader(
        self, split: str, names: Sequence[str] | None = None, shuffle: bool = False, shard: bool = True
    ) -> DataLoader:
        """One DataLoader over ``split`` of the tasks ``names`` (default: every task that has the split)."""
        names = [n for n in (names or self.datamodules) if self.datamodules[n].has_split(split)]
        for name in names:
            if split not in self.datamodules[name].features:
                self.datamodules[name].setup()
        dataset = MixedDataset({name: self.datamodules[name].features[split] for name in names})
        samplers = {name: self._task_sampler(name, split, shuffle, shard) for name in names}
        plan = self.plan() if shuffle else None
        sampler = MixedBatchSampler(
            samplers,
            dataset.offsets,
            shuffle=shuffle,
            probabilities={n: t["probability"] for n, t in plan["tasks"].items()} if plan else None,
            steps=plan["steps_per_epoch"] if plan else None,
            round_robin=self.mixture.schedule == "round_robin",
            seed=self.seed,
        )
        workers = max(dm.settings.num_workers for dm in self.datamodules.values())
        options: dict[str, Any] = {
            "batch_sampler": sampler,
            "collate_fn": SourceCollator({name: self.datamodules[name].task.collator() for name in names}),
            "num_workers": workers,
            "persistent_workers": workers > 0,
            "pin_memory": any(dm.settings.pin_memory for dm in self.datamodules.values()),
        }
        if shuffle:  # training: resumable mid-epoch
            return ResumableDataLoader(dataset, progress=lambda: trained_batches_in_epoch(self.trainer), **options)
        return DataLoader(dataset, **options)

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("validation")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test", self.labelled("test"))

    def labelled(self, split: str) -> list[str]:
        """The tasks whose ``split`` exists and has gold labels."""
        return [n for n, dm in self.datamodules.items() if dm.has_split(split) and dm.is_labelled(split)]

    def data_summary(self) -> dict[str, Any]:
        return {name: dm.data_summary() for name, dm in self.datamodules.items()}
