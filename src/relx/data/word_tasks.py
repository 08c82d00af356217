"""DataModules of the word-level tasks: BIO NER (MIT Movie) and intent + slots (ATIS/SNIPS).

Reading is pure and eager (label vocabularies are known before ``setup()``); tokenisation runs in
``setup()`` through ``datasets.Dataset.map`` and is cached on disk when ``cache_dir`` is set.
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import lightning as L
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from relx.data.batch import IGNORE_INDEX, WordCollator
from relx.data.examples import WordExample
from relx.data.readers import ReadStats, read_bio_file, read_jointbert_split, read_label_file
from relx.data.sampler import LengthGroupedBatchSampler
from relx.data.settings import DataSettings
from relx.data.splits import carve_dev, take_fraction
from relx.data.vocab import LabelVocab
from relx.errors import DataFormatError

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
ENCODING_VERSION = 1  # bump when encode_words changes, to invalidate cached features


def encode_words(
    words: Sequence[Sequence[str]], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> dict[str, list[list[int]]]:
    """Tokenise pre-split sentences; each word is represented by its first subword.

    Returns ``input_ids`` and ``word_index`` (per word: position of its first subword, ``-1`` when
    truncation removed it or it produced no subword). Special tokens come from the tokenizer itself.
    """
    enc = tokenizer([list(w) for w in words], is_split_into_words=True, truncation=True, max_length=max_length)
    word_index: list[list[int]] = []
    for i, sentence in enumerate(words):
        first = [-1] * len(sentence)
        for pos, word_id in enumerate(enc.word_ids(i)):
            if word_id is not None and first[word_id] < 0:
                first[word_id] = pos
        word_index.append(first)
    return {"input_ids": enc["input_ids"], "word_index": word_index}


class WordTaskDataModule(L.LightningDataModule):
    """Shared machinery: vocabularies, splits, cached encoding, length-grouped loaders.

    Subclasses implement ``read_split`` (one split's examples, or ``None`` when the data has none) and
    ``build_vocabs`` (from the training examples). ``vocabs`` may be passed in (from a checkpoint),
    in which case the training split is optional.
    """

    def __init__(
        self,
        data_dir: str | Path | None,
        tokenizer: PreTrainedTokenizerBase,
        settings: DataSettings | None = None,
        vocabs: dict[str, LabelVocab] | None = None,
    ) -> None:
        super().__init__()
        # data_dir=None: no data files (prediction on raw text with vocabularies from a checkpoint).
        self.data_dir = Path(data_dir) if data_dir is not None else None
        if self.data_dir is not None and not self.data_dir.is_dir():
            raise DataFormatError(self.data_dir, "data directory not found")
        self.tokenizer = tokenizer
        self.settings = settings or DataSettings()
        self.dev_carved = False
        self.read_stats: dict[str, ReadStats] = {}
        self.examples: dict[str, list[WordExample]] = {}
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
            self._check_train_labels(self.examples["train"], vocabs)
        self.vocabs = vocabs
        if "train" in self.examples:
            if "validation" not in self.examples:
                self.examples["train"], self.examples["validation"] = carve_dev(
                    self.examples["train"], self.settings.dev_fraction, self.settings.seed
                )
                self.dev_carved = True
            self.examples["train"] = take_fraction(
                self.examples["train"], self.settings.train_fraction, self.settings.seed
            )
        self.features: dict[str, datasets.Dataset] = {}
        self.truncation: dict[str, dict[str, int]] = {}
        self.collator = WordCollator(tokenizer.pad_token_id or 0, self.settings.pad_to_multiple_of)

    # ---- format-specific -------------------------------------------------------------------------
    @abstractmethod
    def read_split(self, split: str) -> tuple[list[WordExample], ReadStats] | None:
        """Examples of ``split`` read from ``data_dir``, or ``None`` when that split is absent."""

    @abstractmethod
    def describe_split(self, split: str) -> str:
        """Where ``split`` is looked for, for messages."""

    @abstractmethod
    def build_vocabs(self, train: list[WordExample]) -> dict[str, LabelVocab]:
        """Label vocabularies from the training data (and label files, where the format has them)."""

    # ---- shared ----------------------------------------------------------------------------------
    @staticmethod
    def _check_train_labels(train: list[WordExample], vocabs: dict[str, LabelVocab]) -> None:
        """Every training label must be a class (a label file that does not match its data fails here)."""
        for ex in train:
            if "token" in vocabs and ex.tags is not None:
                missing = [t for t in ex.tags if t not in vocabs["token"]]
                if missing:
                    raise DataFormatError(ex.source, f"tag {missing[0]!r} is not in the label vocabulary")
            if "sentence" in vocabs and ex.label is not None and ex.label not in vocabs["sentence"]:
                raise DataFormatError(ex.source, f"label {ex.label!r} is not in the label vocabulary")

    def _label_ids(self, examples: list[WordExample], split: str) -> tuple[list[list[int]], list[int]]:
        """Gold ids; labels met outside training are registered as unseen (scored, never predicted)."""

        def ids(vocab: LabelVocab, label: str) -> int:
            return vocab.index(label) if split == "train" else vocab.index_for_eval(label)

        tag_ids = [
            [ids(self.vocabs["token"], t) for t in ex.tags] if ex.tags is not None and "token" in self.vocabs else []
            for ex in examples
        ]
        label_ids = [
            ids(self.vocabs["sentence"], ex.label)
            if ex.label is not None and "sentence" in self.vocabs
            else IGNORE_INDEX
            for ex in examples
        ]
        return tag_ids, label_ids

    def _fingerprint(self, split: str, examples: list[WordExample]) -> str:
        h = hashlib.sha1()
        h.update(
            json.dumps(
                [
                    ENCODING_VERSION,
                    self.tokenizer.name_or_path,
                    len(self.tokenizer),
                    self.settings.max_length,
                    split,
                    {k: v.to_dict() for k, v in self.vocabs.items()},
                ]
            ).encode()
        )
        for ex in examples:
            h.update(json.dumps([ex.words, ex.tags, ex.label]).encode())
        return h.hexdigest()[:20]

    def encode_split(self, split: str, examples: list[WordExample]) -> datasets.Dataset:
        """Features of ``examples`` (cached on disk under ``cache_dir`` keyed by content)."""
        tag_ids, label_ids = self._label_ids(examples, split)
        raw = datasets.Dataset.from_dict(
            {
                "words": [list(ex.words) for ex in examples],
                "tag_ids": tag_ids,
                "label_id": label_ids,
                "example_id": list(range(len(examples))),
            }
        )
        cache_file = None
        if self.settings.cache_dir:
            cache_dir = Path(self.settings.cache_dir).expanduser()
            cache_dir.mkdir(parents=True, exist_ok=True)
            cache_file = str(cache_dir / f"words-{self._fingerprint(split, examples)}.arrow")
        features = raw.map(
            lambda b: encode_words(b["words"], self.tokenizer, self.settings.max_length),
            batched=True,
            cache_file_name=cache_file,
            load_from_cache_file=cache_file is not None,
            desc=f"tokenising {split}",
        )
        self.truncation[split] = self._count_lost_words(features)
        return features

    @staticmethod
    def _count_lost_words(features: datasets.Dataset) -> dict[str, int]:
        lost = sentences = 0
        for word_index in features["word_index"]:
            n = sum(1 for i in word_index if i < 0)
            lost += n
            sentences += n > 0
        return {"lost_words": lost, "sentences_with_lost_words": sentences}

    def setup(self, stage: str | None = None) -> None:
        pending = [split for split in self.examples if split not in self.features]
        for split, examples in self.examples.items():
            if split in pending:
                self.features[split] = self.encode_split(split, examples)
                lost = self.truncation[split]
                if lost["lost_words"]:
                    log.warning(
                        "%s: %d words in %d sentences lost to truncation at max_length=%d; they are scored as missed",
                        split,
                        lost["lost_words"],
                        lost["sentences_with_lost_words"],
                        self.settings.max_length,
                    )
        for space, vocab in self.vocabs.items():
            if pending and vocab.unseen:
                log.warning(
                    "%s labels never seen in training (scored as errors, never predicted): %s",
                    space,
                    ", ".join(vocab.unseen),
                )

    def data_summary(self) -> dict[str, Any]:
        """Counts per split, repaired tags, lost words and unseen labels, for the run directory."""
        summary: dict[str, Any] = {"data_dir": str(self.data_dir), "dev_carved_from_train": self.dev_carved}
        for split, examples in self.examples.items():
            entry: dict[str, Any] = {"examples": len(examples)}
            if split in self.read_stats:
                entry["repaired_bio_tags"] = self.read_stats[split].repaired_tags
            entry.update(self.truncation.get(split, {}))
            summary[split] = entry
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

    def set_predict_examples(self, examples: list[WordExample]) -> None:
        """Raw examples to predict (labels, if any, are ignored)."""
        self.examples["predict"] = [WordExample(ex.words, source=ex.source) for ex in examples]
        self.features.pop("predict", None)

    def has_split(self, split: str) -> bool:
        return split in self.examples


class BioNerDataModule(WordTaskDataModule):
    """BIO NER from one-token-per-line files (MIT Movie ``.bio``: ``TAG<TAB>word``; or CoNLL columns).

    ``files`` maps split -> file name inside ``data_dir`` (``validation`` may be absent: it is then
    carved from train).
    """

    def __init__(
        self,
        data_dir: str | Path | None,
        tokenizer: PreTrainedTokenizerBase,
        files: dict[str, str | None],
        column_format: str = "tag_word",
        settings: DataSettings | None = None,
        vocabs: dict[str, LabelVocab] | None = None,
    ) -> None:
        self.files = dict(files)
        self.column_format = column_format
        super().__init__(data_dir, tokenizer, settings, vocabs)

    def describe_split(self, split: str) -> str:
        return str(Path(self.data_dir or ".") / (self.files.get(split) or f"<no {split} file configured>"))

    def read_split(self, split: str) -> tuple[list[WordExample], ReadStats] | None:
        name = self.files.get(split)
        if self.data_dir is None or not name or not (self.data_dir / name).exists():
            return None
        return read_bio_file(self.data_dir / name, self.column_format)

    def build_vocabs(self, train: list[WordExample]) -> dict[str, LabelVocab]:
        return {"token": LabelVocab.from_labels((t for ex in train for t in ex.tags or ()), first="O")}


class IntentSlotDataModule(WordTaskDataModule):
    """Intent + slots in the JointBERT layout: ``{train,dev,test}/{seq.in,seq.out,label}`` with
    ``intent_label.txt`` and ``slot_label.txt`` beside them."""

    split_dirs = {"train": "train", "validation": "dev", "test": "test"}

    def describe_split(self, split: str) -> str:
        return str(Path(self.data_dir or ".") / self.split_dirs[split] / "{seq.in,seq.out,label}")

    def read_split(self, split: str) -> tuple[list[WordExample], ReadStats] | None:
        if self.data_dir is None:
            return None
        split_dir = self.data_dir / self.split_dirs[split]
        if not split_dir.is_dir():
            return None
        return read_jointbert_split(split_dir)

    def build_vocabs(self, train: list[WordExample]) -> dict[str, LabelVocab]:
        assert self.data_dir is not None
        intents = read_label_file(self.data_dir / "intent_label.txt")
        slots = read_label_file(self.data_dir / "slot_label.txt")
        if "O" not in slots:
            raise DataFormatError(self.data_dir / "slot_label.txt", "the outside tag 'O' is missing")
        slots = ["O"] + [s for s in slots if s != "O"]
        return {"sentence": LabelVocab(intents), "token": LabelVocab(slots)}
