"""Dependency treebanks: CoNLL-U (Universal Dependencies) and CoNLL-X (e.g. PTB Stanford Dependencies).

Both have ten tab-separated columns and blank lines between sentences. CoNLL-U: ``#`` comment lines;
multiword-token ranges (``1-2``) and empty nodes (``1.1``) are not words of the basic tree and are
skipped. CoNLL-X: columns ``ID FORM LEMMA CPOSTAG POSTAG FEATS HEAD DEPREL PHEAD PDEPREL``.
Every problem raises ``DataFormatError`` naming file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from relx.errors import DataFormatError

# PTB convention: tokens whose gold POS tag is punctuation are left out of UAS/LAS.
PTB_PUNCTUATION_TAGS = frozenset({"``", "''", ",", ".", ":", "-LRB-", "-RRB-", "#", "$"})
_INTEGER = re.compile(r"^[1-9][0-9]*$")


@dataclass(frozen=True)
class DependencyExample:
    """A sentence with its basic dependency tree: ``heads[i]`` is the head of word ``i + 1`` (0 = ROOT)."""

    words: tuple[str, ...]
    upos: tuple[str, ...]  # UPOS (CoNLL-U) or CPOSTAG (CoNLL-X)
    xpos: tuple[str, ...]  # XPOS (CoNLL-U) or POSTAG (CoNLL-X)
    heads: tuple[int, ...]
    rels: tuple[str, ...]
    source: str = ""


def read_conll(path: str | Path) -> list[DependencyExample]:
    """Read a CoNLL-U or CoNLL-X file (the layouts share the columns relx needs)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    examples: list[DependencyExample] = []
    rows: list[list[str]] = []
    start = 0

    def flush() -> None:
        if rows:
            n = len(rows)
            heads = tuple(int(r[6]) for r in rows)
            for offset, head in enumerate(heads):
                if head > n:
                    raise DataFormatError(path, f"head {head} is beyond the sentence's {n} words", start + offset)
            examples.append(
                DependencyExample(
                    tuple(r[1] for r in rows),
                    tuple(r[3] for r in rows),
                    tuple(r[4] for r in rows),
                    heads,
                    tuple(r[7] for r in rows),
                    f"{path}:{start}",
                )  # fmt: skip
            )
        rows.clear()

    expected = 1
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                flush()
                expected = 1
                continue
            if line.startswith("#") and not rows:
                continue
            cols = line.split("\t")
            if len(cols) != 10:
                raise DataFormatError(path, f"expected 10 tab-separated columns, got {len(cols)}", lineno)
            if "-" in cols[0] or "." in cols[0]:
                continue  # multiword token range or empty node: not part of the basic tree
            if not _INTEGER.match(cols[0]) or int(cols[0]) != expected:
                raise DataFormatError(path, f"word id {cols[0]!r} where {expected} was expected", lineno)
            if not cols[6].isdigit():
                raise DataFormatError(path, f"head {cols[6]!r} is not a word id", lineno)
            if not rows:
                start = lineno
            rows.append(cols)
            expected += 1
    flush()
    if not examples:
        raise DataFormatError(path, "no sentences found")
    return examples
