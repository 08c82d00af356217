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
from relx.data.settings import DataSettings
from relx.data.vocab import LabelVocab
from relx.errors import DataFormatError
from relx.predictions import write_raw_predictions, write_split_predictions


def encode_words(
    words: Sequence[Sequence[str]], tokenizer: PreTrainedTokenizerBase, max_length: int, subword: str = "first"
) -> dict[str, list[list[int]]]:
    """Tokenise pre-split sentences; each word is represented by its first (or ``last``) subword.

    Returns ``input_ids`` and ``word_index`` (per word: position of its representative subword, ``-1``
    when truncation removed it or it produced no subword). Special tokens come from the tokenizer itself.
    """
    enc = tokenizer([list(w) for w in words], is_split_into_words=True, truncation=True, max_length=max_length)
    word_index: list[list[int]] = []
    for i, sentence in enumerate(words):
        first = [-1] * len(sentence)
        for pos, word_id in enumerate(enc.word_ids(i)):
            if word_id is not None and (first[word_id] < 0 or subword == "last"):
                first[word_id] = pos
        word_index.append(first)
    return {"input_ids": enc["input_ids"], "word_index": word_index}


class WordTaskDataModule(TaskDataModule[WordExample]):
    """Word-level tasks: each word is represented by its first subword; vocabularies ``token`` (BIO
    tags) and/or ``sentence`` (a sentence label such as an intent).

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
        return {
            "words": [list(ex.words) for ex in examples],
            "tag_ids": [[ids(tokens, t) for t in ex.tags] if ex.tags is not None and tokens else [] for ex in examples],
            "label_id": [
                ids(sentences, ex.label) if ex.label is not None and sentences else IGNORE_INDEX for ex in examples
            ],
        }

    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return dict(encode_words(batch["words"], self.tokenizer, self.settings.max_length, self.settings.subword))

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        lost = sentences = 0
        for word_index in features["word_index"]:
            n = sum(1 for i in word_index if i < 0)
            lost += n
            sentences += n > 0
        return {"lost_words": lost, "sentences_with_lost_words": sentences}

    @property
    def collator(self) -> WordCollator:
        return WordCollator(self.tokenizer.pad_token_id or 0, self.settings.pad_to_multiple_of)

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
        path = self.split_file(split)
        if path is None:
            return None
        examples, stats = read_bio_file(path, self.column_format)
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
        if self.data_dir is None:
            return None
        split_dir = self.data_dir / self.split_dirs[split]
        if not split_dir.is_dir():
            return None
        examples, stats = read_jointbert_split(split_dir)
        return examples, {"repaired_bio_tags": stats.repaired_tags}

    def build_vocabs(self, train: list[WordExample]) -> dict[str, LabelVocab]:
        assert self.data_dir is not None
        intents = read_label_file(self.data_dir / "intent_label.txt")
        slots = read_label_file(self.data_dir / "slot_label.txt")
        if "O" not in slots:
            raise DataFormatError(self.data_dir / "slot_label.txt", "the outside tag 'O' is missing")
        slots = ["O"] + [s for s in slots if s != "O"]
        return {"sentence": LabelVocab(intents), "token": LabelVocab(slots)}
