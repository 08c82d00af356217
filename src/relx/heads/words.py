"""Word states from subword states: gather one representative subword, or pool all of a word's subwords.

``data.subword`` decides (the DataModule puts it in the batch): ``first``/``last`` gather the state at
``word_index``; ``mean``/``max`` pool over every subword position the word owns (``subword_word``),
with one scatter over the whole batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from relx.data.settings import POOLED
from relx.heads.batches import WordLevel


def gather_words(hidden: Tensor, word_index: Tensor) -> Tensor:
    """``hidden`` ``[batch, seq, hidden]`` at ``word_index`` ``[batch, words]`` -> ``[batch, words, hidden]``;
    words without a subword (``-1``) get position 0's state (callers mask them)."""
    index = word_index.clamp(min=0).unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
    return torch.gather(hidden, 1, index)


def pool_subwords(hidden: Tensor, subword_word: Tensor, num_words: int, mode: str) -> Tensor:
    """Mean or max of each word's subword states.

    ``hidden`` ``[batch, seq, hidden]``; ``subword_word`` ``[batch, seq]``: the word each position belongs
    to, ``-1`` for special tokens and padding. Returns ``[batch, num_words, hidden]``; a word with no
    subword (lost to truncation) gets zeros. Positions outside any word are sent to an extra slot that
    is dropped.
    """
    if mode not in POOLED:
        raise ValueError(f"pooling must be one of {POOLED}, not {mode!r}")
    batch, _, size = hidden.shape
    owner = subword_word.masked_fill(subword_word < 0, num_words)  # [batch, seq]; num_words = the dropped slot
    index = owner.unsqueeze(-1).expand(-1, -1, size)
    if mode == "mean":
        sums = hidden.new_zeros(batch, num_words + 1, size).scatter_add(1, index, hidden)
        counts = hidden.new_zeros(batch, num_words + 1).scatter_add(
            1, owner, torch.ones_like(owner, dtype=hidden.dtype)
        )
        pooled = sums / counts.clamp(min=1).unsqueeze(-1)
    else:
        pooled = hidden.new_zeros(batch, num_words + 1, size).scatter_reduce(
            1, index, hidden, reduce="amax", include_self=False
        )
    return pooled[:, :num_words]


def word_states(hidden: Tensor, batch: WordLevel) -> Tensor:
    """``[batch, words, hidden]`` states of ``batch``'s words, as its ``pooling`` (``data.subword``) says."""
    pooling = getattr(batch, "pooling", "first")
    if pooling in POOLED:
        assert batch.subword_word is not None, f"{pooling} pooling needs subword_word"
        return pool_subwords(hidden, batch.subword_word, batch.word_index.shape[1], pooling)
    return gather_words(hidden, batch.word_index)
