"""Word-level tasks: BIO NER (MIT Movie ``.bio``, CoNLL columns) and intent + slots (ATIS/SNIPS in the
JointBERT layout)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import datasets

from relx.data.batch import IGNORE_INDEX, WordCollator
from relx.data.examples import WordExample
from relx.data.readers import read_bio_file, read_jointbert_split, read_label_file, read_raw_lines
from relx.data.settings import POOLED
from relx.data.subwords import continuation_ids, encode_words, subword_units
from relx.data.vocab import LabelVocab
from relx.errors import DataFormatError
from relx.tasks.base import LabelPairs, Task, sentence_label_pairs
from relx.tasks.word_outputs import raw_word_records, write_split_predictions


class WordTask(Task[WordExample]):
    """Word-level tasks: each word is represented by its first subword (``data.subword``: its last, or the
    mean or max of all of them); vocabularies ``token`` (BIO tags) and/or ``sentence`` (a sentence label
    such as an intent). ``data.label_all_subwords`` trains on every subword (``subword_units``); dev, test
    and prediction features stay one entry per word, so each word is scored once.

    Subclasses implement ``read_split`` and ``build_vocabs`` (and ``describe_split`` when a split is not
    one file).
    """

    input_format = "words"

    def check_train_labels(self, train: list[WordExample], vocabs: Mapping[str, LabelVocab]) -> None:
        """Every training label must be a class (a label file that does not match its data fails here)."""
        for ex in train:
            if "token" in vocabs and ex.tags is not None:
                missing = [t for t in ex.tags if t not in vocabs["token"]]
                if missing:
                    raise DataFormatError(ex.source, f"tag {missing[0]!r} is not in the label vocabulary")
            if "sentence" in vocabs and ex.label is not None and ex.label not in vocabs["sentence"]:
                raise DataFormatError(ex.source, f"label {ex.label!r} is not in the label vocabulary")

    def columns(self, examples: list[WordExample], split: str) -> dict[str, list[Any]]:
        """Words and gold ids; labels met outside training are registered as unseen (scored, never predicted)."""

        def ids(vocab: LabelVocab, label: str) -> int:
            return vocab.index(label) if split == "train" else vocab.index_for_eval(label)

        tokens, sentences = self.vocabs.get("token"), self.vocabs.get("sentence")
        columns: dict[str, list[Any]] = {
            "words": [list(ex.words) for ex in examples],
            "tag_ids": [[ids(tokens, t) for t in ex.tags] if ex.tags is not None and tokens else [] for ex in examples],
            "label_id": [
                ids(sentences, ex.label) if ex.label is not None and sentences else IGNORE_INDEX for ex in examples
            ],
        }
        if split == "train" and self.settings.label_all_subwords and tokens is not None:
            columns["subword_units"] = [True] * len(examples)  # encode() adds the units
        return columns

    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        units = "subword_units" in batch
        enc = encode_words(
            batch["words"], self.tokenizer, self.settings.max_length, self.settings.subword, owners=units
        )
        out: dict[str, list[Any]] = dict(enc)
        if units:
            continuation = continuation_ids(self.vocabs["token"])
            rows = [
                subword_units(o, t, continuation) for o, t in zip(enc["subword_word"], batch["tag_ids"], strict=True)
            ]
            out["unit_index"] = [r["unit_index"] for r in rows]
            out["unit_tag_ids"] = [r["unit_tag_ids"] for r in rows]
            if self.settings.subword not in POOLED:
                out.pop("subword_word")
        return out

    def fingerprint(self) -> Any:
        return {"label_all_subwords": True} if self.settings.label_all_subwords else None

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        lost = sentences = 0
        for word_index in features["word_index"]:
            n = sum(1 for i in word_index if i < 0)
            lost += n
            sentences += n > 0
        return {"lost_words": lost, "sentences_with_lost_words": sentences}

    def collator(self) -> WordCollator:
        return WordCollator(self.tokenizer.pad_token_id or 0, self.settings.pad_to_multiple_of, self.settings.subword)

    def without_labels(self, example: WordExample) -> WordExample:
        return WordExample(example.words, source=example.source)

    def passages(self, example: WordExample) -> list[list[str]]:
        """The sentence's words."""
        return [list(example.words)]

    def write_outputs(
        self, run_dir: Path, split: str, examples: list[WordExample], predictions: dict[str, list[Any]]
    ) -> list[Path]:
        return write_split_predictions(run_dir, split, examples, predictions)

    def read_raw(self, path: str | Path) -> list[WordExample]:
        return read_raw_lines(path)

    def raw_records(self, examples: list[WordExample], predictions: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
        return raw_word_records(examples, predictions)


class BioNerTask(WordTask):
    """BIO NER from one-token-per-line files (MIT Movie ``.bio``: ``TAG<TAB>word``; or CoNLL columns,
    ``column_format``). ``files``: split -> file name (``validation`` may be absent: it is carved from train).
    """

    label_spaces = ("token",)

    def __init__(self, name: str, files: Mapping[str, str | None], column_format: str = "tag_word", **common: Any):
        super().__init__(name, files, **common)
        self.column_format = column_format

    def read_split(self, data_dir: Path, split: str) -> tuple[list[WordExample], dict[str, int]] | None:
        """The split's sentences; in ``train`` a stray ``I-X`` (no ``B-X`` in the file) is an error, since
        repairing it would make up a class."""
        path = self.split_file(data_dir, split)
        if path is None:
            return None
        examples, stats = read_bio_file(path, self.column_format, training=split == "train")
        return examples, {"repaired_bio_tags": stats.repaired_tags}

    def build_vocabs(self, data_dir: Path, train: list[WordExample]) -> dict[str, LabelVocab]:
        return {"token": LabelVocab.from_labels((t for ex in train for t in ex.tags or ()), first="O")}


class IntentSlotTask(WordTask):
    """Intent + slots in the JointBERT layout: ``{train,dev,test}/{seq.in,seq.out,label}`` with
    ``intent_label.txt`` and ``slot_label.txt`` beside them."""

    label_spaces = ("token", "sentence")
    default_split_dirs: ClassVar[dict[str, str]] = {"train": "train", "validation": "dev", "test": "test"}

    def __init__(self, name: str, **common: Any) -> None:
        super().__init__(name, **common)
        self.split_dirs = dict(self.default_split_dirs)

    def use_file(self, split: str, path: Path) -> Path:
        """``path`` is a split directory of the layout (``seq.in``, ``seq.out``, ``label``), under any name."""
        self.split_dirs[split] = path.name
        return path.parent

    def describe_split(self, data_dir: Path | None, split: str) -> str:
        return str(Path(data_dir or ".") / self.split_dirs[split] / "{seq.in,seq.out,label}")

    def read_split(self, data_dir: Path, split: str) -> tuple[list[WordExample], dict[str, int]] | None:
        """The split's utterances; in ``train`` a stray ``I-X`` slot (no ``B-X`` in ``seq.out``) is an error."""
        split_dir = data_dir / self.split_dirs[split]
        if not split_dir.is_dir():
            return None
        examples, stats = read_jointbert_split(split_dir, training=split == "train")
        return examples, {"repaired_bio_tags": stats.repaired_tags}

    def build_vocabs(self, data_dir: Path, train: list[WordExample]) -> dict[str, LabelVocab]:
        intents = read_label_file(data_dir / "intent_label.txt")
        slots = read_label_file(data_dir / "slot_label.txt")
        if "O" not in slots:
            raise DataFormatError(data_dir / "slot_label.txt", "the outside tag 'O' is missing")
        slots = ["O"] + [s for s in slots if s != "O"]
        return {"sentence": LabelVocab(intents), "token": LabelVocab(slots)}

    def label_pairs(self, examples: list[WordExample], predictions: dict[str, list[Any]]) -> LabelPairs | None:
        """Gold and predicted intents (None for a slot-only head or unlabelled utterances)."""
        vocab = self._vocabs.get("sentence") if self._vocabs else None
        return sentence_label_pairs("intent", [ex.label for ex in examples], predictions, vocab)
