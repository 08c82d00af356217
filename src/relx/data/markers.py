"""Entity marking schemes for relation classification (the KLUE-RE R-BERT report's table; Zhou & Chen 2021).

``mark(example, scheme)`` returns the marked text and, for each entity, the character span the
model should pool (the entity words; the mask token for ``entity_mask``) and the span of everything
inserted around it (so that windowing never cuts a marker).

| scheme               | ``Bill`` (e1, PERSON) ... ``Seattle`` (e2, CITY)      | special tokens added |
|----------------------|-------------------------------------------------------|----------------------|
| ``none``             | Bill ... Seattle                                      | -                    |
| ``rbert``            | $ Bill $ ... # Seattle #  (R-BERT)                    | -                    |
| ``entity_marker``    | [E1] Bill [/E1] ... [E2] Seattle [/E2]                | 4                    |
| ``entity_marker_punct`` | @ Bill @ ... # Seattle #                           | -                    |
| ``entity_mask``      | [SUBJ-PERSON] ... [OBJ-CITY]                          | 2 per type           |
| ``typed_marker``     | [E1-PERSON] Bill [/E1-PERSON] ... [E2-CITY] Seattle [/E2-CITY] | 4 per type  |
| ``typed_marker_punct`` | @ * person * Bill @ ... # ^ city ^ Seattle #        | -                    |
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from relx.data.relations import RelationExample
from relx.errors import ConfigError

# scheme -> ((prefix, content, suffix) for e1, (...) for e2); {text}: the entity, {TYPE}/{type}: its type.
TEMPLATES: dict[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    "none": (("", "{text}", ""), ("", "{text}", "")),
    "rbert": (("$ ", "{text}", " $"), ("# ", "{text}", " #")),
    "entity_marker": (("[E1] ", "{text}", " [/E1]"), ("[E2] ", "{text}", " [/E2]")),
    "entity_marker_punct": (("@ ", "{text}", " @"), ("# ", "{text}", " #")),
    "entity_mask": (("", "[SUBJ-{TYPE}]", ""), ("", "[OBJ-{TYPE}]", "")),
    "typed_marker": (("[E1-{TYPE}] ", "{text}", " [/E1-{TYPE}]"), ("[E2-{TYPE}] ", "{text}", " [/E2-{TYPE}]")),
    "typed_marker_punct": (("@ * {type} * ", "{text}", " @"), ("# ^ {type} ^ ", "{text}", " #")),
}
SCHEMES = tuple(TEMPLATES)
UNTYPED = "ENTITY"  # the type typed schemes use when the data has no entity types (SemEval)
_BRACKETED = re.compile(r"\[[^\]\s]+\]")


@dataclass(frozen=True)
class MarkedSpan:
    """Character spans in the marked text: ``content`` is pooled, ``outer`` includes the markers."""

    content: tuple[int, int]
    outer: tuple[int, int]


def _templates(scheme: str) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    if scheme not in TEMPLATES:
        raise ConfigError(f"unknown entity marking scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    return TEMPLATES[scheme]


def _fill(parts: tuple[str, str, str], text: str, entity_type: str) -> tuple[str, str, str]:
    prefix, content, suffix = (p.format(text=text, TYPE=entity_type, type=entity_type.lower()) for p in parts)
    return prefix, content, suffix


def special_tokens(scheme: str, entity_types: Iterable[str]) -> list[str]:
    """Bracketed tokens of ``scheme`` (``[E1]``, ``[SUBJ-PER]``...) the tokenizer must learn as single tokens."""
    tokens: list[str] = []
    for entity_type in sorted(set(entity_types) | {UNTYPED}):
        for parts in _templates(scheme):
            for token in _BRACKETED.findall(" ".join(_fill(parts, "", entity_type))):
                if token not in tokens:
                    tokens.append(token)
    return tokens


def mark(example: RelationExample, scheme: str) -> tuple[str, MarkedSpan, MarkedSpan]:
    """Insert the scheme's markers around both entities (right-most first, so offsets stay valid)."""
    order = sorted((("e1", example.e1), ("e2", example.e2)), key=lambda item: item[1].start)
    text, pieces = example.text, []
    cursor = 0
    e1_parts, e2_parts = _templates(scheme)
    for which, entity in order:
        parts = e1_parts if which == "e1" else e2_parts
        prefix, content, suffix = _fill(parts, entity.text, entity.type or UNTYPED)
        pieces.append((which, text[cursor : entity.start], prefix, content, suffix))
        cursor = entity.end
    out, spans = "", {}
    for which, before, prefix, content, suffix in pieces:
        out += before
        outer_start = len(out)
        out += prefix
        content_span = (len(out), len(out) + len(content))
        out += content + suffix
        spans[which] = MarkedSpan(content_span, (outer_start, len(out)))
    out += text[cursor:]
    return out, spans["e1"], spans["e2"]
