"""``TaskDataModule``: the one DataModule, for every Task.

It does what is the same for every task: reading the splits through the Task (in ``read``, called by
``setup``, never by the constructor), label vocabularies (built from training data, or given from a
checkpoint), a dev split carved from train when the data has none, training fractions, encoding through
``datasets.map`` cached on disk by content, length-grouped DDP-aware loaders, and the data summary of the
run directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import datasets
import lightning as L
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from relx.data.readers import require_data_dir
from relx.data.sampler import LengthGroupedBatchSampler
from relx.data.settings import DataSettings
from relx.data.splits import take_fraction
from relx.data.vocab import LabelVocab
from relx.errors import DataFormatError
from relx.tasks.base import Task
from relx.tasks.resumable import ResumableDataLoader, trained_batches_in_epoch

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
E = TypeVar("E")


class TaskDataModule(L.LightningDataModule, Generic[E]):
    """Splits, vocabularies, cached encoding and loaders of one ``task`` over ``data_dir``.

    ``vocabs`` may be given (from a checkpoint): the training split is then optional, ``splits`` may name
    only the splits wanted (evaluation reads just the one it scores; a dev split carved from train still
    reads train to carve it), and ``data_dir=None`` reads no files at all (prediction on raw text,
    ``set_predict_examples``). ``read()`` reads the splits and fixes the vocabularies; ``setup()`` also
    encodes every split not yet encoded.
    """

    def __init__(
        self,
        task: Task[E],
        data_dir: str | Path | None,
        tokenizer: PreTrainedTokenizerBase,
        settings: DataSettings | None = None,
        vocabs: dict[str, LabelVocab] | None = None,
        splits: Sequence[str] = SPLITS,
    ) -> None:
        super().__init__()
        self.task = task
        self.splits = tuple(splits)
        self.data_dir = require_data_dir(data_dir) if data_dir is not None else None
        self.tokenizer = tokenizer
        self.settings = settings or DataSettings()
        self.task.attach(tokenizer, self.settings)
        self.given_vocabs = vocabs
        if vocabs is not None:
            self.task.use_vocabs(vocabs)
        self.dev_carved = False
        self.read_stats: dict[str, dict[str, int]] = {}
        self.examples: dict[str, list[E]] = {}
        self.features: dict[str, datasets.Dataset] = {}
        self.encoding_stats: dict[str, dict[str, int]] = {}
        self.extra_summary: dict[str, Any] = {}  # what else shaped the data (vocab_extension: relx.tasks.vocabulary)
        self._read = False

    @property
    def vocabs(self) -> dict[str, LabelVocab]:
        return self.task.vocabs

    # ---- reading -------------------------------------------------------------------------------------
    def read(self) -> None:
        """Read the wanted splits of ``data_dir`` (once), fix the vocabularies, carve dev, take the training
        fraction."""
        if self._read:
            return
        self._read = True
        if self.data_dir is not None:
            for split in [s for s in SPLITS if s in self.splits]:
                self._read_split(split)
            if "validation" in self.splits and not {"validation", "train"} & set(self.examples):
                self._read_split("train")  # the dev split is carved from it
        if self.given_vocabs is None:
            if "train" not in self.examples or self.data_dir is None:
                raise DataFormatError(
                    str(self.data_dir), f"no training split found (expected {self.describe_split('train')})"
                )
            vocabs = self.task.build_vocabs(self.data_dir, self.examples["train"])
            self.task.check_train_labels(self.examples["train"], vocabs)
            self.task.use_vocabs(vocabs)
        if "train" in self.examples:
            if "validation" not in self.examples:
                if len(self.examples["train"]) < 2:
                    raise DataFormatError(
                        self.describe_split("train"),
                        f"{len(self.examples['train'])} training example(s) and no dev split to score on: "
                        "give a dev file or at least 2 training examples to carve one from",
                    )
                self.examples["train"], self.examples["validation"] = self.task.carve_dev(self.examples["train"])
                self.dev_carved = True
            self.examples["train"] = take_fraction(
                self.examples["train"], self.settings.train_fraction, self.settings.seed
            )
            # after carving and subsetting: what the model is trained on (DocRED's Ign F1 facts)
            self.task.learn_from_train(self.examples["train"])
            if "train" not in self.splits:  # read only to carve the dev split from
                del self.examples["train"]
                self.read_stats.pop("train", None)

    def _read_split(self, split: str) -> None:
        assert self.data_dir is not None
        found = self.task.read_split(self.data_dir, split)
        if found is not None:
            self.examples[split], self.read_stats[split] = found

    def describe_split(self, split: str) -> str:
        return self.task.describe_split(self.data_dir, split)

    def has_split(self, split: str) -> bool:
        self.read()
        return split in self.examples

    def is_labelled(self, split: str) -> bool:
        """Whether ``split`` has gold labels to score (DocRED's official test file has none)."""
        self.read()
        return self.task.is_labelled(self.examples.get(split, []))

    def keep_only(self, *splits: str) -> None:
        """Drop every split but ``splits`` before encoding (evaluation reads only what it scores)."""
        self.read()
        for other in [s for s in self.examples if s not in splits]:
            del self.examples[other]
            self.read_stats.pop(other, None)
            self.features.pop(other, None)

    def set_predict_examples(self, examples: list[E]) -> None:
        """Examples to predict (gold labels, if any, are dropped)."""
        self.read()
        self.examples["predict"] = [self.task.without_labels(ex) for ex in examples]
        self.features.pop("predict", None)

    # ---- encoding ------------------------------------------------------------------------------------
    def _fingerprint(self, split: str, examples: list[E]) -> str:
        h = hashlib.sha1()
        key = [
            type(self.task).__name__,
            self.task.encoding_version,
            self.tokenizer.name_or_path,
            len(self.tokenizer),
            sorted(self.tokenizer.get_added_vocab().items()),  # the tokens a run added (markers, extend_vocab)
            self.settings.max_length,
            self.settings.subword,
            split,
            {k: v.to_dict() for k, v in self.vocabs.items()},
            self.task.fingerprint(),
        ]
        h.update(json.dumps(key, default=str).encode())
        for ex in examples:
            h.update(repr(ex).encode())
        return h.hexdigest()[:20]

    def encode_split(self, split: str, examples: list[E]) -> datasets.Dataset:
        """Features of ``examples`` (cached on disk under ``cache_dir``, keyed by content and settings)."""
        columns = self.task.columns(examples, split)
        raw = datasets.Dataset.from_dict({**columns, "example_id": list(range(len(examples)))})
        cache_file = None
        if self.settings.cache_dir:
            cache_dir = Path(self.settings.cache_dir).expanduser()
            cache_dir.mkdir(parents=True, exist_ok=True)
            cache_file = str(cache_dir / f"{type(self.task).__name__}-{self._fingerprint(split, examples)}.arrow")
        features = raw.map(
            self.task.encode,
            batched=True,
            cache_file_name=cache_file,
            load_from_cache_file=cache_file is not None,
            desc=f"tokenising {split}",
        )
        self.encoding_stats[split] = self.task.count_encoding_losses(features)
        if split != "train":
            return features
        kept = self.task.keep_for_training(features)
        # never silent: what the task left out of training (unencodable examples, data.too_long=drop)
        self.encoding_stats[split]["dropped_from_training"] = len(features) - len(kept)
        return kept

    def setup(self, stage: str | None = None) -> None:
        self.read()
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
            if split in self.features:
                summary[split].update(self.task.summarize_features(split, self.features[split]))
        summary.update(self.task.summary())
        summary.update(self.extra_summary)
        summary["unseen_labels"] = {k: list(v.unseen) for k, v in self.vocabs.items() if v.unseen}
        return summary

    # ---- loaders -------------------------------------------------------------------------------------
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
        options: dict[str, Any] = {
            "batch_sampler": sampler,
            "collate_fn": self.task.collator(),
            "num_workers": self.settings.num_workers,
            "persistent_workers": self.settings.num_workers > 0,
            "pin_memory": self.settings.pin_memory,
        }
        if shuffle:  # training: resumable mid-epoch
            return ResumableDataLoader(features, progress=lambda: trained_batches_in_epoch(self.trainer), **options)
        return DataLoader(features, **options)  # type: ignore[arg-type]

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("validation")

    def test_dataloader(self) -> DataLoader:
        if not self.has_split("test"):
            raise DataFormatError(str(self.data_dir), f"no test split found (expected {self.describe_split('test')})")
        return self.loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self.loader("predict")

    def write_outputs(self, run_dir: Path, split: str, predictions: dict[str, list[Any]]) -> list[Path]:
        """``split``'s predictions in the task's official files."""
        return self.task.write_outputs(run_dir, split, self.examples[split], predictions)
