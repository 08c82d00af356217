"""Tokens added to a pretrained tokenizer (``encoder.extend_vocab``) and the embedding rows they get.

The rule for a new token's row: the mean of the rows of the subwords the tokenizer split it into before it
was added, leaving out ``[UNK]`` (``covid`` -> mean of ``co``, ``##vid``); a token with no known piece (a CJK
character the vocabulary lacks reads as one ``[UNK]``) gets the mean of all rows the model had. Rows of the
tokens the model already had are never touched (bit-identical).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from relx.errors import ConfigError


@dataclass
class VocabExtension:
    """Tokens added to the tokenizer and how to initialise their rows.

    ``tokens``: as added (stored in checkpoints, so that evaluation rebuilds the same tokenizer);
    ``pieces``: new token id -> the ids of its known pieces before it was added (empty: the mean of all rows);
    ``summary``: what the data summary reports (source, counts, ``[UNK]`` rates before and after).
    """

    tokens: list[str]
    pieces: dict[int, list[int]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def known_pieces(tokenizer: PreTrainedTokenizerBase, tokens: Sequence[str]) -> dict[str, list[int]]:
    """Per token, the ids of the pieces ``tokenizer`` splits it into, ``[UNK]`` left out (call it before the
    tokens are added)."""
    unk = tokenizer.unk_token_id
    out = {}
    for token in tokens:
        ids = tokenizer(token, add_special_tokens=False)["input_ids"]
        out[token] = [i for i in ids if i != unk]
    return out


def add_tokens(tokenizer: PreTrainedTokenizerBase, tokens: Sequence[str]) -> VocabExtension:
    """Add ``tokens`` (those the tokenizer does not read as one token already) as ordinary tokens; returns
    the ``VocabExtension`` with each new id's known pieces (from before the addition)."""
    new = [t for t in tokens if not _is_one_token(tokenizer, t)]
    pieces = known_pieces(tokenizer, new)
    tokenizer.add_tokens(new, special_tokens=False)
    by_id: dict[int, list[int]] = {}
    for token in new:
        ids = tokenizer(token, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ConfigError(
                f"encoder.extend_vocab: the tokenizer does not read the added token {token!r} as one token"
            )
        by_id[ids[0]] = pieces[token]
    return VocabExtension(tokens=new, pieces=by_id)


def _is_one_token(tokenizer: PreTrainedTokenizerBase, token: str) -> bool:
    ids = tokenizer(token, add_special_tokens=False)["input_ids"]
    return len(ids) == 1 and ids[0] != tokenizer.unk_token_id


@torch.no_grad()
def initialise_rows(model: PreTrainedModel, pieces: Mapping[int, Sequence[int]], old_rows: int) -> None:
    """Set the input-embedding rows of new ids (``pieces``: new id -> its known piece ids) by the rule of the
    module docstring; ``old_rows``: how many rows the model had before it was resized (their mean is the
    fallback). Rows not in ``pieces`` are left as they are."""
    weight = cast(nn.Embedding, model.get_input_embeddings()).weight
    fallback = weight[:old_rows].float().mean(dim=0)
    for new_id, ids in pieces.items():
        if new_id < old_rows:
            raise ValueError(f"token id {new_id} is not a new row (the model had {old_rows})")
        known = [i for i in ids if i < old_rows]
        row = weight[known].float().mean(dim=0) if known else fallback
        weight[new_id] = row.to(weight.dtype)
