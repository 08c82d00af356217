"""Batches: ``EncodedBatch`` (what every task's batch holds: the encoder's inputs and which examples the rows
are), one padding helper for every collator (``pad_rows``, ``encoded_inputs``), and the word-level batch
with its collate function (dynamic padding)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Self

import torch
from torch import Tensor

from relx.data.settings import POOLED

IGNORE_INDEX = -100


@dataclass(kw_only=True)
class EncodedBatch:
    """The fields every batch has: ``input_ids``/``attention_mask`` ``[rows, seq]`` (padded; a row per
    example, or several: MRC windows and candidates), ``example_ids`` ``[batch]`` (indices into the split's
    examples, for writing predictions; ``len(batch)``), ``token_type_ids`` ``[rows,
    seq]`` for inputs of two segments (question + context), else ``None``. A task's batch extends it with its
    own fields; the encoder reads only these."""

    input_ids: Tensor
    attention_mask: Tensor
    example_ids: Tensor
    token_type_ids: Tensor | None = None

    def __len__(self) -> int:
        """Examples in the batch (rows may be more: MRC windows and candidates)."""
        return int(self.example_ids.shape[0])

    def pin_memory(self) -> Self:
        """The batch with its tensors in page-locked memory (the DataLoader calls this under
        ``data.pin_memory``), so Lightning's non-blocking copy to the GPU overlaps the step before."""
        tensors = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(self, **{k: v.pin_memory() for k, v in tensors.items() if isinstance(v, Tensor)})

    def for_step(self, epoch: int | None) -> EncodedBatch:
        """The batch as the model reads it in a training step of ``epoch`` (``None``: evaluation or
        prediction). Batches whose inputs are drawn anew each epoch (masked-LM masks) draw them here, on the
        CPU before the batch moves to the device (``TaskModule.on_before_batch_transfer``); default: itself."""
        return self


@dataclass(kw_only=True)
class WordBatch(EncodedBatch):
    """A padded batch of pre-split sentences.

    Shapes: ``input_ids``/``attention_mask`` ``[batch, seq]``; ``word_index`` ``[batch, words]`` holds
    the subword position that represents each word (its first subword, or its last with
    ``data.subword=last``), ``-1`` for padding and for words lost to truncation; ``word_mask``
    ``[batch, words]`` is true for every real word, truncated or not, so lost words are still scored;
    ``word_labels`` ``[batch, words]`` (``-100`` at padding) and ``sentence_labels`` ``[batch]`` are
    present when the data is labelled; ``example_ids`` ``[batch]`` index the DataModule's examples of
    the split.

    ``pooling`` is ``data.subword``: heads gather ``word_index`` for ``first``/``last`` and pool every
    subword of a word for ``mean``/``max``, reading ``subword_word`` ``[batch, seq]`` (the word each
    subword position belongs to, ``-1`` for special tokens and padding; present only for those two).
    Training batches under ``data.label_all_subwords`` treat every subword as a word of its own:
    ``word_index`` lists each kept subword position and ``word_labels`` gives the first subword of a
    word its tag and the others the continuation tag; evaluation batches are always one entry per word.
    """

    word_index: Tensor
    word_mask: Tensor
    word_labels: Tensor | None = None
    sentence_labels: Tensor | None = None
    subword_word: Tensor | None = None
    pooling: str = "first"


def pad_rows(rows: Sequence[Sequence[int]], value: int, multiple_of: int = 1) -> Tensor:
    """``[len(rows), width]`` long tensor of ``rows`` padded with ``value`` to the longest row, rounded up to
    ``multiple_of`` (8 suits tensor cores)."""
    width = max((len(r) for r in rows), default=0)
    width = max(1, -(-width // multiple_of) * multiple_of)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def encoded_inputs(
    rows: Sequence[Sequence[int]],
    pad_token_id: int,
    multiple_of: int = 1,
    segments: Sequence[Sequence[int]] | None = None,
) -> dict[str, Tensor]:
    """``input_ids``, ``attention_mask`` (and ``token_type_ids`` when ``segments`` are given) of token-id
    ``rows``, padded alike: the inputs part of every ``EncodedBatch``."""
    out = {
        "input_ids": pad_rows(rows, pad_token_id, multiple_of),
        "attention_mask": pad_rows([[1] * len(r) for r in rows], 0, multiple_of),
    }
    if segments is not None:
        out["token_type_ids"] = pad_rows(segments, 0, multiple_of)
    return out


def example_ids(features: Sequence[dict[str, Any]]) -> Tensor:
    """``[batch]`` the ``example_id`` of each feature."""
    return torch.tensor([f["example_id"] for f in features], dtype=torch.long)


class WordCollator:
    """Pads features to the longest row of the batch (optionally to a multiple, e.g. 8 for tensor cores).

    ``pooling``: ``data.subword``, handed to the heads; ``mean``/``max`` features carry ``subword_word``.
    Features with ``unit_index``/``unit_tag_ids`` (training under ``data.label_all_subwords``) are
    collated with every subword as a word.
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int = 1, pooling: str = "first") -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of
        self.pooling = pooling

    def __call__(self, features: list[dict[str, Any]]) -> WordBatch:
        inputs = encoded_inputs([f["input_ids"] for f in features], self.pad_token_id, self.pad_to_multiple_of)
        units = all("unit_index" in f for f in features)
        index_key, tags_key = ("unit_index", "unit_tag_ids") if units else ("word_index", "tag_ids")
        word_index = pad_rows([f[index_key] for f in features], -1)
        word_mask = pad_rows([[1] * len(f[index_key]) for f in features], 0).bool()
        pooled = self.pooling in POOLED and not units
        subword_word = pad_rows([f["subword_word"] for f in features], -1, self.pad_to_multiple_of) if pooled else None
        labelled_words = all(len(f[tags_key]) > 0 for f in features)
        labelled_sentences = all(f["label_id"] != IGNORE_INDEX for f in features)
        return WordBatch(
            **inputs,
            word_index=word_index,
            word_mask=word_mask,
            example_ids=example_ids(features),
            word_labels=pad_rows([f[tags_key] for f in features], IGNORE_INDEX) if labelled_words else None,
            sentence_labels=(
                torch.tensor([f["label_id"] for f in features], dtype=torch.long) if labelled_sentences else None
            ),
            subword_word=subword_word,
            pooling="first" if units else self.pooling,  # a unit is one subword: nothing to pool
        )
