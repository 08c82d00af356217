"""Decoding a trained model with another decoder than the one it was trained with (no retraining): the tree
decoders of parsers (``mst | eisner | greedy``) and the tag decoders of word taggers (``argmax | bio_viterbi``).
``relx.evaluate decoder=...`` and ``evaluation.decoders`` of ``relx.train`` both switch heads through here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from torch import nn

from relx.errors import ConfigError
from relx.heads.biaffine import DECODERS
from relx.heads.decoding import TAG_DECODERS

ALL_DECODERS = (*DECODERS, *TAG_DECODERS)


def check_decoder(decoder: str, option: str = "decoder") -> None:
    """A ``ConfigError`` naming ``option`` unless ``decoder`` is a decoder some head can use."""
    if decoder not in ALL_DECODERS:
        raise ConfigError(f"{option} must be one of {', '.join(ALL_DECODERS)}, not {decoder!r}")


def decoder_family(decoder: str) -> tuple[str, ...]:
    """The decoders interchangeable with ``decoder``: tree decoders or tag decoders."""
    check_decoder(decoder)
    return tuple(TAG_DECODERS) if decoder in TAG_DECODERS else tuple(DECODERS)


def heads_using(heads: Iterable[nn.Module], decoder: str) -> list[nn.Module]:
    """The heads that decode with ``decoder``'s family (a ``decoder`` attribute and those ``decoders``)."""
    family = decoder_family(decoder)
    return [h for h in heads if hasattr(h, "decoder") and tuple(getattr(h, "decoders", DECODERS)) == family]


def switch_decoder(heads: Iterable[nn.Module], decoder: str) -> dict[nn.Module, str]:
    """Set ``decoder`` on every head of its family; returns each switched head's previous decoder (to switch
    back); empty when no head uses that family."""
    previous = {}
    for head in heads_using(heads, decoder):
        previous[head] = str(head.decoder)
        cast(Any, head).decoder = decoder  # a parser's or tagger's decoder (a property that checks it)
    return previous


def restore_decoders(previous: dict[nn.Module, str]) -> None:
    """Undo ``switch_decoder``."""
    for head, decoder in previous.items():
        cast(Any, head).decoder = decoder
