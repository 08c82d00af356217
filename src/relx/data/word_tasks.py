"""DataModules of the word-level tasks: BIO NER (MIT Movie, CoNLL columns) and intent + slots
(ATIS/SNIPS in the JointBERT layout)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

from relx.data.base import TaskDataModule
from relx.data.batch import IGNORE_INDEX, WordCollator
from relx.data.examples import WordExample
from relx.data.readers import read_bio_file, read_jointbert_split, read_label_file, read_raw_lines
from relx.data.settings import POOLED, DataSettings
from relx.data.vocab import LabelVocab
from relx.errors import DataFormatError
from relx.predictions import write_raw_predictions, write_split_predictions


def encode_words(
    words: Sequence[Sequence[str]],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    subword: str = "first",
    owners: bool = False,
) -> dict[str, list[list[int]]]:
    """Tokenise pre-split sentences; each word is represented by its first (or ``last``) subword.

    Returns ``input_ids`` and ``word_index`` (per word: position of its representative subword, the
    first one for ``mean``/``max``; ``-1`` when truncation removed it or it produced no subword), plus
    ``subword_word`` (per position: the word it belongs to, ``-1`` for special tokens) for ``mean``/``max``
    pooling or when ``owners`` is asked for. Special tokens come from the tokenizer itself.
    """
    enc = tokenizer([list(w) for w in words], is_split_into_words=True, truncation=True, max_length=max_length)
    word_index: list[list[int]] = []
    subword_word: list[list[int]] = []
    for i, sentence in enumerate(words):
        owner = [-1 if word_id is None else word_id for word_id in enc.word_ids(i)]
        first = [-1] * len(sentence)
        for pos, word_id in enumerate(owner):
            if word_id >= 0 and (first[word_id] < 0 or subword == "last"):
                first[word_id] = pos
        word_index.append(first)
        subword_word.append(owner)
    out = {"input_ids": enc["input_ids"], "word_index": word_index}
    if owners or subword in POOLED:
        out["subword_word"] = subword_word
    return out


def continuation_ids(vocab: LabelVocab) -> list[int]:
    """Per tag id, the tag of a word's later subwords: ``I-X`` for ``B-X`` (``B-X`` itself when the
    vocabulary has no ``I-X``, as the Hugging Face example's ``b_to_i_label``), the tag itself otherwise."""
    return [
        vocab.index("I-" + tag[2:]) if tag.startswith("B-") and "I-" + tag[2:] in vocab else i
        for i, tag in enumerate(vocab.labels)
    ]


def subword_units(
    subword_word: Sequence[int], tag_ids: Sequence[int], continuation: Sequence[int]
) -> dict[str, list[int]]:
    """Every kept subword of a sentence as a training unit (``data.label_all_subwords``): ``unit_index``
    (its position) and ``unit_tag_ids`` (the word's tag on its first subword, ``continuation`` of it on
    the others). Words lost to truncation have no unit."""
    index: list[int] = []
    tags: list[int] = []
    previous = -1
    for pos, word in enumerate(subword_word):
        if word < 0:
            continue
        index.append(pos)
        tags.append(tag_ids[word] if word != previous else continuation[tag_ids[word]])
        previous = word
    return {"unit_index": index, "unit_tag_ids": tags}


class WordTaskDataModule(TaskDataModule[WordExample]):
    """Word-level tasks: each word is represented by its first subword (``data.subword``: its last, or
    the mean or max of all of them); vocabularies ``token`` (BIO tags) and/or ``sentence`` (a sentence
    label such as an intent). ``data.label_all_subwords`` trains on every subword (``subword_units``);
    dev, test and prediction features stay one entry per word, so each word is scored once.

    Subclasses implement ``read_split`` and ``build_vocabs`` (and ``describe_split`` when a split is not one file).
    """

    def check_train_labels(self, train: list[WordExample], vocabs: dict[str, LabelVocab]) -> None:
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

    def fingerprint_extra(self) -> Any:
        return {"label_all_subwords": True} if self.settings.label_all_subwords else None

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        lost = sentences = 0
        for word_index in features["word_index"]:
            n = sum(1 for i in word_index if i < 0)
            lost += n
            sentences += n > 0
        return {"lost_words": lost, "sentences_with_lost_words": sentences}

    @property
    def collator(self) -> WordCollator:
        return WordCollator(self.tokenizer.pad_token_id or 0, self.settings.pad_to_multiple_of, self.settings.subword)

    def without_labels(self, example: WordExample) -> WordExample:
        return WordExample(example.words, source=example.source)

    def write_predictions(self, run_dir: Path, split: str, predictions: dict[str, list[Any]]) -> list[Path]:
        return write_split_predictions(run_dir, split, self.examples[split], predictions)

    def read_raw(self, path: str | Path) -> list[WordExample]:
        return read_raw_lines(path)

    def write_raw_predictions(self, path: Path, examples: list[WordExample], predictions: dict[str, list[Any]]) -> None:
        write_raw_predictions(path, examples, predictions)


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

    def read_split(self, split: str) -> tuple[list[WordExample], dict[str, int]] | None:
        """The split's sentences; in ``train`` a stray ``I-X`` (no ``B-X`` in the file) is an error, since
        repairing it would make up a class."""
        path = self.split_file(split)
        if path is None:
            return None
        examples, stats = read_bio_file(path, self.column_format, training=split == "train")
        return examples, {"repaired_bio_tags": stats.repaired_tags}

    def build_vocabs(self, train: list[WordExample]) -> dict[str, LabelVocab]:
        return {"token": LabelVocab.from_labels((t for ex in train for t in ex.tags or ()), first="O")}


class IntentSlotDataModule(WordTaskDataModule):
    """Intent + slots in the JointBERT layout: ``{train,dev,test}/{seq.in,seq.out,label}`` with
    ``intent_label.txt`` and ``slot_label.txt`` beside them."""

    split_dirs = {"train": "train", "validation": "dev", "test": "test"}

    def describe_split(self, split: str) -> str:
        return str(Path(self.data_dir or ".") / self.split_dirs[split] / "{seq.in,seq.out,label}")

    def read_split(self, split: str) -> tuple[list[WordExample], dict[str, int]] | None:
        """The split's utterances; in ``train`` a stray ``I-X`` slot (no ``B-X`` in ``seq.out``) is an error."""
        if self.data_dir is None:
            return None
        split_dir = self.data_dir / self.split_dirs[split]
        if not split_dir.is_dir():
            return None
        examples, stats = read_jointbert_split(split_dir, training=split == "train")
        return examples, {"repaired_bio_tags": stats.repaired_tags}

    def build_vocabs(self, train: list[WordExample]) -> dict[str, LabelVocab]:
        assert self.data_dir is not None
        intents = read_label_file(self.data_dir / "intent_label.txt")
        slots = read_label_file(self.data_dir / "slot_label.txt")
        if "O" not in slots:
            raise DataFormatError(self.data_dir / "slot_label.txt", "the outside tag 'O' is missing")
        slots = ["O"] + [s for s in slots if s != "O"]
        return {"sentence": LabelVocab(intents), "token": LabelVocab(slots)}
