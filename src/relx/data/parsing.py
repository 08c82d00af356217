"""Dependency parsing DataModules over CoNLL-U (UD) and CoNLL-X (PTB-SD) treebanks.

Each word is represented by its first subword; the ROOT is represented by the tokenizer's first
special token (``[CLS]``/``<s>``). Words lost to truncation are counted and still scored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import torch
from torch import Tensor

from relx.data.base import TaskDataModule
from relx.data.batch import IGNORE_INDEX, pad_rows
from relx.data.conll import PTB_PUNCTUATION_TAGS, DependencyExample, read_treebank
from relx.data.readers import read_raw_lines
from relx.data.settings import DataSettings
from relx.data.vocab import LabelVocab
from relx.data.word_tasks import encode_words
from relx.errors import ConfigError
from relx.io import atomic_write

PUNCTUATION = {"none": frozenset(), "ptb": PTB_PUNCTUATION_TAGS}


@dataclass
class TreeBatch:
    """Shapes: ``input_ids``/``attention_mask`` ``[batch, seq]``; ``word_index``/``word_mask`` ``[batch, words]``
    as in ``WordBatch``; gold ``heads`` (0 = ROOT, word ``i`` is index ``i + 1``) and relation ids ``rels``
    ``[batch, words]`` (``-100`` at padding) when labelled; ``score_mask`` ``[batch, words]``: the words
    that count for UAS/LAS (punctuation excluded under the PTB convention)."""

    input_ids: Tensor
    attention_mask: Tensor
    word_index: Tensor
    word_mask: Tensor
    score_mask: Tensor
    example_ids: Tensor
    heads: Tensor | None = None
    rels: Tensor | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


class TreeCollator:
    def __init__(self, pad_token_id: int, pad_to_multiple_of: int = 1) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> TreeBatch:
        ids = [f["input_ids"] for f in features]
        labelled = all(f["heads"] for f in features)
        return TreeBatch(
            input_ids=pad_rows(ids, self.pad_token_id, self.pad_to_multiple_of),
            attention_mask=pad_rows([[1] * len(r) for r in ids], 0, self.pad_to_multiple_of),
            word_index=pad_rows([f["word_index"] for f in features], -1),
            word_mask=pad_rows([[1] * len(f["word_index"]) for f in features], 0).bool(),
            score_mask=pad_rows([f["scored"] for f in features], 0).bool(),
            example_ids=torch.tensor([f["example_id"] for f in features], dtype=torch.long),
            heads=pad_rows([f["heads"] for f in features], IGNORE_INDEX) if labelled else None,
            rels=pad_rows([f["rel_ids"] for f in features], IGNORE_INDEX) if labelled else None,
        )


class DependencyDataModule(TaskDataModule[DependencyExample]):
    """``files``: split -> treebank file; ``punctuation``: ``none`` (UD: every word scored) or ``ptb``
    (words whose gold tag is punctuation are not scored); ``punct_column``: ``xpos`` or ``upos``."""

    def __init__(
        self,
        data_dir: str | Path | None,
        tokenizer: Any,
        files: dict[str, str | None],
        punctuation: str = "none",
        punct_column: str = "xpos",
        settings: DataSettings | None = None,
        vocabs: dict[str, LabelVocab] | None = None,
    ) -> None:
        if punctuation not in PUNCTUATION:
            raise ConfigError(f"task.datamodule.punctuation must be one of {sorted(PUNCTUATION)}, not {punctuation!r}")
        if punct_column not in ("xpos", "upos"):
            raise ConfigError(f"task.datamodule.punct_column must be 'xpos' or 'upos', not {punct_column!r}")
        self.files = dict(files)
        self.punct_tags = PUNCTUATION[punctuation]
        self.punct_column = punct_column
        super().__init__(data_dir, tokenizer, settings, vocabs)

    def read_split(self, split: str) -> tuple[list[DependencyExample], dict[str, int]] | None:
        """The split's trees; a sentence that is not one tree is an error, or with ``data.repair_trees``
        repaired and counted (``trees_repaired`` in the data summary)."""
        path = self.split_file(split)
        if path is None:
            return None
        examples, stats = read_treebank(path, repair_trees=self.settings.repair_trees)
        return examples, {"trees_repaired": stats.trees_repaired}

    def build_vocabs(self, train: list[DependencyExample]) -> dict[str, LabelVocab]:
        return {"tree": LabelVocab.from_labels(r for ex in train for r in ex.rels)}

    def columns(self, examples: list[DependencyExample], split: str) -> dict[str, list[Any]]:
        vocab = self.vocabs["tree"]
        rel_id = vocab.index if split == "train" else vocab.index_for_eval
        return {
            "words": [list(ex.words) for ex in examples],
            "heads": [list(ex.heads) for ex in examples],
            "rel_ids": [[rel_id(r) for r in ex.rels] for ex in examples],
            "scored": [
                [int(tag not in self.punct_tags) for tag in getattr(ex, self.punct_column)]
                if ex.heads
                else [1] * len(ex.words)
                for ex in examples
            ],
        }

    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return dict(encode_words(batch["words"], self.tokenizer, self.settings.max_length, self.settings.subword))

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        lost = [sum(1 for i in index if i < 0) for index in features["word_index"]]
        return {"lost_words": sum(lost), "sentences_with_lost_words": sum(1 for n in lost if n)}

    @property
    def collator(self) -> TreeCollator:
        return TreeCollator(self.tokenizer.pad_token_id or 0, self.settings.pad_to_multiple_of)

    def without_labels(self, example: DependencyExample) -> DependencyExample:
        return DependencyExample(example.words, example.upos, example.xpos, (), (), example.source)

    def write_predictions(self, run_dir: Path, split: str, predictions: dict[str, list[Any]]) -> list[Path]:
        """The predicted trees in ten CoNLL columns (``predictions_<split>.conllu``), gold tags kept."""
        path = run_dir / f"predictions_{split}.conllu"

        def write(fh: Any) -> None:
            for ex, tree in zip(self.examples[split], predictions["tree"], strict=True):
                for i, (word, (head, rel)) in enumerate(zip(ex.words, tree, strict=True), start=1):
                    upos = ex.upos[i - 1] if ex.upos else "_"
                    xpos = ex.xpos[i - 1] if ex.xpos else "_"
                    fh.write(f"{i}\t{word}\t_\t{upos}\t{xpos}\t_\t{head}\t{rel}\t_\t_\n")
                fh.write("\n")

        atomic_write(path, write)
        return [path]

    def read_raw(self, path: str | Path) -> list[DependencyExample]:
        return [DependencyExample(ex.words, (), (), (), (), ex.source) for ex in read_raw_lines(path)]

    def write_raw_predictions(
        self, path: Path, examples: list[DependencyExample], predictions: dict[str, list[Any]]
    ) -> None:
        def write(fh: Any) -> None:
            for ex, tree in zip(examples, predictions["tree"], strict=True):
                heads, rels = [h for h, _ in tree], [r for _, r in tree]
                record = {"source": ex.source, "words": list(ex.words), "heads": heads, "rels": rels}
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")

        atomic_write(path, write)
