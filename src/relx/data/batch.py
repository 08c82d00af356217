"""The batch contract of word-level tasks, and its collate function (dynamic padding)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

IGNORE_INDEX = -100


@dataclass
class WordBatch:
    """A padded batch of pre-split sentences.

    Shapes: ``input_ids``/``attention_mask`` ``[batch, seq]``; ``word_index`` ``[batch, words]`` holds
    the subword position that represents each word (its first subword), ``-1`` for padding and for
    words lost to truncation; ``word_mask`` ``[batch, words]`` is true for every real word, truncated or
    not, so lost words are still scored; ``word_labels`` ``[batch, words]`` (``-100`` at padding) and
    ``sentence_labels`` ``[batch]`` are present when the data is labelled; ``example_ids`` ``[batch]``
    index the DataModule's examples of the split.
    """

    input_ids: Tensor
    attention_mask: Tensor
    word_index: Tensor
    word_mask: Tensor
    example_ids: Tensor
    word_labels: Tensor | None = None
    sentence_labels: Tensor | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def pad_rows(rows: Sequence[Sequence[int]], value: int, multiple_of: int = 1) -> Tensor:
    width = max((len(r) for r in rows), default=0)
    width = max(1, -(-width // multiple_of) * multiple_of)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


class WordCollator:
    """Pads features to the longest row of the batch (optionally to a multiple, e.g. 8 for tensor cores)."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int = 1) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> WordBatch:
        input_ids = pad_rows([f["input_ids"] for f in features], self.pad_token_id, self.pad_to_multiple_of)
        attention_mask = pad_rows([[1] * len(f["input_ids"]) for f in features], 0, self.pad_to_multiple_of)
        word_index = pad_rows([f["word_index"] for f in features], -1)
        word_mask = pad_rows([[1] * len(f["word_index"]) for f in features], 0).bool()
        labelled_words = all(len(f["tag_ids"]) > 0 for f in features)
        labelled_sentences = all(f["label_id"] != IGNORE_INDEX for f in features)
        return WordBatch(
            input_ids=input_ids,
            attention_mask=attention_mask,
            word_index=word_index,
            word_mask=word_mask,
            example_ids=torch.tensor([f["example_id"] for f in features], dtype=torch.long),
            word_labels=pad_rows([f["tag_ids"] for f in features], IGNORE_INDEX) if labelled_words else None,
            sentence_labels=(
                torch.tensor([f["label_id"] for f in features], dtype=torch.long) if labelled_sentences else None
            ),
        )
