"""The DataModule machinery every relx task shares.

A task's DataModule says how to read a split (pure: file -> typed examples, validated), how to
build label vocabularies from training examples, how to turn examples into raw columns and encode
them (run through ``datasets.Dataset.map``, cached on disk by content), how to collate features
into its batch dataclass, and how to write predictions in its field's official format. This base
does the rest: splits (dev carved from train when absent, training fractions), cached encoding,
length-grouped loaders, the data summary of the run directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import datasets
import lightning as L
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from relx.data.sampler import LengthGroupedBatchSampler
from relx.data.settings import DataSettings
from relx.data.splits import carve_dev, take_fraction
from relx.data.vocab import LabelVocab
from relx.errors import DataFormatError

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
E = TypeVar("E")


class TaskDataModule(L.LightningDataModule, Generic[E]):
    """Shared machinery; see the module docstring for what a subclass provides.

    ``vocabs`` may be passed in (from a checkpoint): the training split is then optional, and
    ``data_dir=None`` reads no files at all (prediction on raw text).
    """

    encoding_version: ClassVar[int] = 1  # bump in a subclass when its encoding changes (invalidates caches)
    files: dict[str, str | None]  # split -> file name in data_dir, for tasks with one file a split

    def __init__(
        self,
        data_dir: str | Path | None,
        tokenizer: PreTrainedTokenizerBase,
        settings: DataSettings | None = None,
        vocabs: dict[str, LabelVocab] | None = None,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir) if data_dir is not None else None
        if self.data_dir is not None and not self.data_dir.is_dir():
            raise DataFormatError(self.data_dir, "data directory not found")
        self.tokenizer = tokenizer
        self.settings = settings or DataSettings()
        self.dev_carved = False
        self.read_stats: dict[str, dict[str, int]] = {}
        self.examples: dict[str, list[E]] = {}
        for split in SPLITS if self.data_dir is not None else ():
            found = self.read_split(split)
            if found is not None:
                self.examples[split], self.read_stats[split] = found
        if vocabs is None:
            if "train" not in self.examples:
                raise DataFormatError(
                    str(self.data_dir), f"no training split found (expected {self.describe_split('train')})"
                )
            vocabs = self.build_vocabs(self.examples["train"])
            self.check_train_labels(self.examples["train"], vocabs)
        self.vocabs = vocabs
        if "train" in self.examples:
            if "validation" not in self.examples:
                if len(self.examples["train"]) < 2:
                    raise DataFormatError(
                        self.describe_split("train"),
                        f"{len(self.examples['train'])} training example(s) and no dev split to score on: "
                        "give a dev file or at least 2 training examples to carve one from",
                    )
                self.examples["train"], self.examples["validation"] = self.carve_dev_split(self.examples["train"])
                self.dev_carved = True
            self.examples["train"] = take_fraction(
                self.examples["train"], self.settings.train_fraction, self.settings.seed
            )
        self.features: dict[str, datasets.Dataset] = {}
        self.encoding_stats: dict[str, dict[str, int]] = {}

    # ---- what a task provides ----------------------------------------------------------------------
    @abstractmethod
    def read_split(self, split: str) -> tuple[list[E], dict[str, int]] | None:
        """(examples, reading statistics) of ``split`` in ``data_dir``, or ``None`` when absent."""

    def describe_split(self, split: str) -> str:
        """Where ``split`` is looked for, for messages."""
        return str(Path(self.data_dir or ".") / (self.files.get(split) or f"<no {split} file configured>"))

    def split_file(self, split: str) -> Path | None:
        """The existing file of ``split`` (from ``files``), or ``None``."""
        name = self.files.get(split)
        if self.data_dir is None or not name or not (self.data_dir / name).exists():
            return None
        return self.data_dir / name

    @abstractmethod
    def build_vocabs(self, train: list[E]) -> dict[str, LabelVocab]:
        """Label vocabularies from the training data (and label files, where the format has them)."""

    def check_train_labels(self, train: list[E], vocabs: dict[str, LabelVocab]) -> None:
        """Raise ``DataFormatError`` when a training label is not a class (e.g. a label file mismatch)."""

    @abstractmethod
    def columns(self, examples: list[E], split: str) -> dict[str, list[Any]]:
        """Raw columns of ``examples`` (label ids included) for ``datasets.Dataset.from_dict``."""

    @abstractmethod
    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Batched ``map`` function: raw columns -> model features (must include ``input_ids``)."""

    @abstractmethod
    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        """What encoding could not keep (truncated words, examples that do not fit), for the summary."""

    @property
    @abstractmethod
    def collator(self) -> Callable[[list[dict[str, Any]]], Any]:
        """Features -> the task's batch dataclass."""

    @abstractmethod
    def without_labels(self, example: E) -> E:
        """The example with its gold labels removed (for prediction)."""

    @abstractmethod
    def write_predictions(self, run_dir: Path, split: str, predictions: dict[str, list[Any]]) -> list[Path]:
        """Write ``split``'s predictions in the field's official format; return the paths written."""

    @abstractmethod
    def read_raw(self, path: str | Path) -> list[E]:
        """Unlabelled inputs for ``relx.predict``."""

    @abstractmethod
    def write_raw_predictions(self, path: Path, examples: list[E], predictions: dict[str, list[Any]]) -> None:
        """JSON lines for ``relx.predict``."""

    def keep_for_training(self, features: datasets.Dataset) -> datasets.Dataset:
        """Training features to keep (e.g. drop examples that cannot be encoded); default: all."""
        return features

    def carve_dev_split(self, train: list[E]) -> tuple[list[E], list[E]]:
        """(train, dev) when the data has no dev split; default: a deterministic share of the examples."""
        return carve_dev(train, self.settings.dev_fraction, self.settings.seed)

    def fingerprint_extra(self) -> Any:
        """Settings of the subclass that change its features (part of the cache key)."""
        return None

    # ---- shared ------------------------------------------------------------------------------------
    def _fingerprint(self, split: str, examples: list[E]) -> str:
        h = hashlib.sha1()
        key = [
            type(self).__name__,
            self.encoding_version,
            self.tokenizer.name_or_path,
            len(self.tokenizer),
            self.settings.max_length,
            self.settings.subword,
            split,
            {k: v.to_dict() for k, v in self.vocabs.items()},
            self.fingerprint_extra(),
        ]
        h.update(json.dumps(key, default=str).encode())
        for ex in examples:
            h.update(repr(ex).encode())
        return h.hexdigest()[:20]

    def encode_split(self, split: str, examples: list[E]) -> datasets.Dataset:
        """Features of ``examples`` (cached on disk under ``cache_dir``, keyed by content and settings)."""
        raw = datasets.Dataset.from_dict({**self.columns(examples, split), "example_id": list(range(len(examples)))})
        cache_file = None
        if self.settings.cache_dir:
            cache_dir = Path(self.settings.cache_dir).expanduser()
            cache_dir.mkdir(parents=True, exist_ok=True)
            cache_file = str(cache_dir / f"{type(self).__name__}-{self._fingerprint(split, examples)}.arrow")
        features = raw.map(
            self.encode,
            batched=True,
            cache_file_name=cache_file,
            load_from_cache_file=cache_file is not None,
            desc=f"tokenising {split}",
        )
        self.encoding_stats[split] = self.count_encoding_losses(features)
        return self.keep_for_training(features) if split == "train" else features

    def setup(self, stage: str | None = None) -> None:
        pending = [split for split in self.examples if split not in self.features]
        for split in pending:
            self.features[split] = self.encode_split(split, self.examples[split])
            losses = {k: v for k, v in self.encoding_stats[split].items() if v}
            if losses:
                log.warning("%s (max_length=%d): %s", split, self.settings.max_length, losses)
        for space, vocab in self.vocabs.items():
            if pending and vocab.unseen:
                log.warning(
                    "%s labels never seen in training (scored as errors, never predicted): %s",
                    space,
                    ", ".join(vocab.unseen),
                )

    def data_summary(self) -> dict[str, Any]:
        """Counts per split, what reading repaired, what encoding lost, unseen labels."""
        summary: dict[str, Any] = {"data_dir": str(self.data_dir), "dev_carved_from_train": self.dev_carved}
        for split, examples in self.examples.items():
            summary[split] = {
                "examples": len(examples),
                **self.read_stats.get(split, {}),
                **self.encoding_stats.get(split, {}),
            }
        summary["unseen_labels"] = {k: list(v.unseen) for k, v in self.vocabs.items() if v.unseen}
        return summary

    def loader(self, split: str, shuffle: bool = False, shard: bool = True) -> DataLoader:
        """DataLoader of ``split``; ``shard=False`` gives every example to this process even under DDP
        (single-process prediction after distributed training)."""
        if split not in self.features:
            self.setup()
        features = self.features[split]
        batch_size = self.settings.batch_size if shuffle else self.settings.eval_batch_size
        lengths = [len(ids) for ids in features["input_ids"]]
        if not self.settings.length_grouping and shuffle:
            lengths = [0] * len(lengths)  # one length: plain shuffling
        sampler = LengthGroupedBatchSampler(lengths, batch_size, shuffle=shuffle, seed=self.settings.seed, shard=shard)
        return DataLoader(
            features,  # type: ignore[arg-type]
            batch_sampler=sampler,
            collate_fn=self.collator,
            num_workers=self.settings.num_workers,
            persistent_workers=self.settings.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("validation")

    def test_dataloader(self) -> DataLoader:
        if "test" not in self.examples:
            raise DataFormatError(str(self.data_dir), f"no test split found (expected {self.describe_split('test')})")
        return self.loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self.loader("predict")

    def set_predict_examples(self, examples: list[E]) -> None:
        """Examples to predict (gold labels, if any, are dropped)."""
        self.examples["predict"] = [self.without_labels(ex) for ex in examples]
        self.features.pop("predict", None)

    def has_split(self, split: str) -> bool:
        return split in self.examples

    def is_labelled(self, split: str) -> bool:
        """Whether ``split`` has gold labels to score (DocRED's official test file has none)."""
        return True
