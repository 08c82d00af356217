"""Typed examples produced by the readers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WordExample:
    """One pre-split sentence of a word-level task.

    ``tags`` are BIO tags, one per word (NER entities or slots); ``label`` is a sentence label (an
    intent). Either may be ``None`` when the data has no such annotation (raw text to predict).
    ``source`` is ``file:line`` of the record, used in error messages.
    """

    words: tuple[str, ...]
    tags: tuple[str, ...] | None = None
    label: str | None = None
    source: str = ""


@dataclass(frozen=True)
class TextExample:
    """A passage of raw text as words (a sentence, a paragraph, a piece of a document): what continued
    pretraining (``task=mlm``) reads. ``source`` is where it came from (``file:line``, or the source task's
    record), for messages."""

    words: tuple[str, ...]
    source: str = ""
