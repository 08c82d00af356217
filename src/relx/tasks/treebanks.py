"""Dependency parsing over CoNLL-U (UD) and CoNLL-X (PTB-SD) treebanks: ``DependencyTask``.

Each word is represented by its first subword; the ROOT is represented by the tokenizer's first
special token (``[CLS]``/``<s>``). Words lost to truncation are counted and still scored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import datasets
from torch import Tensor

from relx.data.batch import IGNORE_INDEX, EncodedBatch, encoded_inputs, example_ids, pad_rows
from relx.data.conll import PTB_PUNCTUATION_TAGS, DependencyExample, read_treebank, sentence_text
from relx.data.readers import read_raw_lines
from relx.data.subwords import encode_words
from relx.data.vocab import LabelVocab
from relx.errors import ConfigError
from relx.io import atomic_write
from relx.tasks.base import Task

# ``punctuation`` option -> the gold tags whose words are left out of UAS/LAS.
PUNCTUATION = {"none": frozenset(), "ptb": PTB_PUNCTUATION_TAGS}
PUNCT_COLUMNS = ("xpos", "upos")


@dataclass(kw_only=True)
class TreeBatch(EncodedBatch):
    """A padded batch of sentences with (optionally) their gold trees.

    Shapes: ``word_index``/``word_mask`` ``[batch, words]`` as in ``WordBatch`` (the subword position of
    each word, ``-1`` at padding and for words lost to truncation; true for every real word); gold
    ``heads`` (0 = ROOT, word ``i`` is index ``i + 1``) and relation ids ``rels`` ``[batch, words]``
    (``-100`` at padding) when labelled; ``score_mask`` ``[batch, words]``: the words that count for
    UAS/LAS (punctuation excluded under the PTB convention).
    """

    word_index: Tensor
    word_mask: Tensor
    score_mask: Tensor
    heads: Tensor | None = None
    rels: Tensor | None = None


class TreeCollator:
    """Features -> ``TreeBatch``; token rows are padded to a multiple of ``pad_to_multiple_of``."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int = 1) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> TreeBatch:
        labelled = all(f["heads"] for f in features)
        return TreeBatch(
            **encoded_inputs([f["input_ids"] for f in features], self.pad_token_id, self.pad_to_multiple_of),
            example_ids=example_ids(features),
            word_index=pad_rows([f["word_index"] for f in features], -1),
            word_mask=pad_rows([[1] * len(f["word_index"]) for f in features], 0).bool(),
            score_mask=pad_rows([f["scored"] for f in features], 0).bool(),
            heads=pad_rows([f["heads"] for f in features], IGNORE_INDEX) if labelled else None,
            rels=pad_rows([f["rel_ids"] for f in features], IGNORE_INDEX) if labelled else None,
        )


class DependencyTask(Task[DependencyExample]):
    """Dependency trees (vocabulary ``tree``: the relation labels) from one treebank file a split.

    ``files``: split -> treebank file (``validation`` may be absent: it is carved from train);
    ``punctuation``: ``none`` (UD: every word scored) or ``ptb`` (words whose gold tag is punctuation are
    not scored); ``punct_column``: the tag column that decides it, ``xpos`` or ``upos``. A sentence that is
    not one tree is an error, or with ``data.repair_trees`` repaired and counted.
    """

    label_spaces = ("tree",)
    input_format = "parsing"

    def __init__(
        self,
        name: str,
        files: Mapping[str, str | None],
        punctuation: str = "none",
        punct_column: str = "xpos",
        **common: Any,
    ) -> None:
        if punctuation not in PUNCTUATION:
            raise ConfigError(f"task.punctuation must be one of {sorted(PUNCTUATION)}, not {punctuation!r}")
        if punct_column not in PUNCT_COLUMNS:
            raise ConfigError(f"task.punct_column must be 'xpos' or 'upos', not {punct_column!r}")
        super().__init__(name, files, **common)
        self.punct_tags = PUNCTUATION[punctuation]
        self.punct_column = punct_column

    # ---- reading -------------------------------------------------------------------------------------
    def read_split(self, data_dir: Path, split: str) -> tuple[list[DependencyExample], dict[str, int]] | None:
        """The split's trees and how many were repaired (``trees_repaired`` in the data summary)."""
        path = self.split_file(data_dir, split)
        if path is None:
            return None
        examples, stats = read_treebank(path, repair_trees=self.settings.repair_trees)
        return examples, {"trees_repaired": stats.trees_repaired}

    def read_raw(self, path: str | Path) -> list[DependencyExample]:
        return [DependencyExample(ex.words, (), (), (), (), ex.source) for ex in read_raw_lines(path)]

    def without_labels(self, example: DependencyExample) -> DependencyExample:
        """The gold tree dropped; the lines read are kept, for writing the predicted tree back into them."""
        return replace(example, heads=(), rels=())

    def build_vocabs(self, data_dir: Path, train: list[DependencyExample]) -> dict[str, LabelVocab]:
        return {"tree": LabelVocab.from_labels(r for ex in train for r in ex.rels)}

    def passages(self, example: DependencyExample) -> list[list[str]]:
        """The sentence's words."""
        return [list(example.words)]

    # ---- encoding ------------------------------------------------------------------------------------
    def columns(self, examples: list[DependencyExample], split: str) -> dict[str, list[Any]]:
        """Words, gold heads and relation ids (relations met outside training are registered as unseen:
        scored, never predicted), and which words are scored (every word of an unlabelled sentence)."""
        vocab = self.vocabs["tree"]
        rel_id = vocab.index if split == "train" else vocab.index_for_eval
        return {
            "words": [list(ex.words) for ex in examples],
            "heads": [list(ex.heads) for ex in examples],
            "rel_ids": [[rel_id(r) for r in ex.rels] for ex in examples],
            "scored": [self._scored(ex) if ex.heads else [1] * len(ex.words) for ex in examples],
        }

    def _scored(self, example: DependencyExample) -> list[int]:
        """Per word, 1 when it counts for UAS/LAS (its gold tag is not punctuation under ``punctuation``)."""
        return [int(tag not in self.punct_tags) for tag in getattr(example, self.punct_column)]

    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return dict(encode_words(batch["words"], self.tokenizer, self.settings.max_length, self.settings.subword))

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        lost = [sum(1 for i in index if i < 0) for index in features["word_index"]]
        return {"lost_words": sum(lost), "sentences_with_lost_words": sum(1 for n in lost if n)}

    def collator(self) -> TreeCollator:
        return TreeCollator(self.tokenizer.pad_token_id or 0, self.settings.pad_to_multiple_of)

    # ---- outputs -------------------------------------------------------------------------------------
    def write_outputs(
        self, run_dir: Path, split: str, examples: list[DependencyExample], predictions: dict[str, list[Any]]
    ) -> list[Path]:
        """The predicted trees as the input treebank with only HEAD and DEPREL of each word replaced
        (``predictions_<split>.conllu``; ``conll.sentence_text``): comments, multiword tokens, empty nodes,
        lemmas, tags and features are kept so that an official scorer's full report on it is meaningful."""
        path = run_dir / f"predictions_{split}.conllu"

        def write(fh: IO[Any]) -> None:
            for ex, tree in zip(examples, predictions["tree"], strict=True):
                fh.write(sentence_text(ex, [head for head, _ in tree], [rel for _, rel in tree]))

        atomic_write(path, write)
        return [path]

    def raw_records(
        self, examples: list[DependencyExample], predictions: dict[str, list[Any]]
    ) -> Iterator[dict[str, Any]]:
        """One record a sentence: its words with the predicted ``heads`` (0 = ROOT) and ``rels``."""
        return (
            {"source": ex.source, "words": list(ex.words), "heads": [h for h, _ in tree], "rels": [r for _, r in tree]}
            for ex, tree in zip(examples, predictions["tree"], strict=True)
        )
