"""BIO tag grammar: validation, and conlleval-style repair of ill-formed I- tags."""

from __future__ import annotations

import re
from collections.abc import Sequence

_TAG = re.compile(r"O|[BI]-\S+")


def is_bio_tag(tag: str) -> bool:
    """``O``, ``B-TYPE`` or ``I-TYPE`` (a type: no whitespace); the whole string, not a prefix."""
    return bool(_TAG.fullmatch(tag))


def repair_bio(tags: Sequence[str]) -> tuple[list[str], int]:
    """Turn an ``I-X`` that does not continue an ``X`` chunk into ``B-X``.

    This is how conlleval (and seqeval's default mode) reads such a tag: as the start of a chunk. Doing
    it on the training data makes the targets agree with the scorer. Returns the tags and how many
    were repaired.
    """
    fixed: list[str] = []
    repaired = 0
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
            repaired += 1
        fixed.append(tag)
        previous = tag
    return fixed, repaired
