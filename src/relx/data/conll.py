"""Dependency treebanks: CoNLL-U (Universal Dependencies) and CoNLL-X (e.g. PTB Stanford Dependencies).

Both have ten tab-separated columns and blank lines between sentences. CoNLL-U: ``#`` comment lines;
multiword-token ranges (``1-2``) and empty nodes (``1.1``) are not words of the basic tree and are
skipped. CoNLL-X: columns ``ID FORM LEMMA CPOSTAG POSTAG FEATS HEAD DEPREL PHEAD PDEPREL``.

Every sentence must be one tree: word ids ``1..n`` in sequence, heads in ``0..n``, exactly one word
attached to ROOT (head 0), no cycle. Every problem raises ``DataFormatError`` naming file and line (for a
tree defect: the line of the sentence's first word). With ``repair_trees`` (``data.repair_trees``), for
treebanks with known defects, a sentence with several root words or a cycle is repaired instead, as
treebank-cleaning scripts do (``relx.structs.trees.repair_tree``: extra root words and one word of each
cycle are attached to the first root word), and counted (``trees_repaired`` in the data summary).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from relx.data.readers import ReadStats, read_lines
from relx.errors import DataFormatError
from relx.structs.trees import repair_tree, tree_defect

# PTB convention: tokens whose gold POS tag is punctuation are left out of UAS/LAS.
PTB_PUNCTUATION_TAGS = frozenset({"``", "''", ",", ".", ":", "-LRB-", "-RRB-", "#", "$"})
_INTEGER = re.compile(r"[1-9][0-9]*")
_HEAD = re.compile(r"[0-9]+")
_RANGE = re.compile(r"[1-9][0-9]*-[1-9][0-9]*")  # CoNLL-U multiword token
_EMPTY_NODE = re.compile(r"[0-9]+\.[1-9][0-9]*")  # CoNLL-U enhanced-graph empty node
# Columns relx reads (besides ID and HEAD), which must not be empty (the formats write "_" for "none").
_READ_COLUMNS = {1: "FORM", 3: "UPOS/CPOSTAG", 4: "XPOS/POSTAG", 7: "DEPREL"}
ROOT_RELATION = "root"
REATTACHED_ROOT_RELATION = "dep"  # UD's (and Stanford's) unspecified dependency


@dataclass(frozen=True)
class DependencyExample:
    """A sentence with its basic dependency tree: ``heads[i]`` is the head of word ``i + 1`` (0 = ROOT)."""

    words: tuple[str, ...]
    upos: tuple[str, ...]  # UPOS (CoNLL-U) or CPOSTAG (CoNLL-X)
    xpos: tuple[str, ...]  # XPOS (CoNLL-U) or POSTAG (CoNLL-X)
    heads: tuple[int, ...]
    rels: tuple[str, ...]
    source: str = ""


def read_conll(path: str | Path, repair_trees: bool = False) -> list[DependencyExample]:
    """Read a CoNLL-U or CoNLL-X file (the layouts share the columns relx needs); see the module docstring."""
    return read_treebank(path, repair_trees)[0]


def read_treebank(path: str | Path, repair_trees: bool = False) -> tuple[list[DependencyExample], ReadStats]:
    """``read_conll`` with what reading noticed (``ReadStats.trees_repaired``: sentences repaired)."""
    path = Path(path)
    stats = ReadStats()
    examples: list[DependencyExample] = []
    rows: list[list[str]] = []
    line_of: list[int] = []

    def flush() -> None:
        if rows:
            examples.append(_sentence(path, rows, line_of, repair_trees, stats))
            stats.words += len(rows)
        rows.clear()
        line_of.clear()

    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            flush()
            continue
        if line.startswith("#") and not rows:
            continue
        cols = _word_columns(path, line, lineno, expected=len(rows) + 1)
        if cols is not None:
            rows.append(cols)
            line_of.append(lineno)
    flush()
    if not examples:
        raise DataFormatError(path, "no sentences found")
    stats.examples = len(examples)
    return examples, stats


def _word_columns(path: Path, line: str, lineno: int, expected: int) -> list[str] | None:
    """The ten columns of a word line (``expected`` is the word id due next), ``None`` for a multiword
    token or empty node line; anything else malformed is an error naming the line."""
    cols = line.split("\t")
    if len(cols) != 10:
        raise DataFormatError(path, f"expected 10 tab-separated columns, got {len(cols)}", lineno)
    if _RANGE.fullmatch(cols[0]) or _EMPTY_NODE.fullmatch(cols[0]):
        return None  # not part of the basic tree
    if not _INTEGER.fullmatch(cols[0]) or int(cols[0]) != expected:
        raise DataFormatError(path, f"word id {cols[0]!r} where {expected} was expected", lineno)
    if not _HEAD.fullmatch(cols[6]):
        raise DataFormatError(path, f"head {cols[6]!r} is not a word id", lineno)
    for column, name in _READ_COLUMNS.items():
        if not cols[column].strip():
            raise DataFormatError(path, f"column {column + 1} ({name}) is empty (write '_' for none)", lineno)
    return cols


def _sentence(
    path: Path, rows: list[list[str]], line_of: list[int], repair: bool, stats: ReadStats
) -> DependencyExample:
    """One sentence, its tree validated (heads in range always; roots and cycles repaired when asked)."""
    n = len(rows)
    heads = [int(r[6]) for r in rows]
    rels = [r[7] for r in rows]
    for offset, head in enumerate(heads):
        if head > n:
            raise DataFormatError(path, f"head {head} is beyond the sentence's {n} words", line_of[offset])
    defect = tree_defect([-1, *heads])
    if defect is not None:
        if not repair:
            raise DataFormatError(
                path, f"the sentence is not a tree: {defect} (data.repair_trees=true repairs it)", line_of[0]
            )
        heads, rels = _repaired(heads, rels)
        stats.trees_repaired += 1
    return DependencyExample(
        tuple(r[1] for r in rows),
        tuple(r[3] for r in rows),
        tuple(r[4] for r in rows),
        tuple(heads),
        tuple(rels),
        f"{path}:{line_of[0]}",
    )


def _repaired(heads: list[int], rels: list[str]) -> tuple[list[int], list[str]]:
    """``repair_tree``'s heads, with relations kept consistent: a word moved off ROOT that was labelled
    ``root`` becomes ``dep``; the word that becomes the root (a cycle in a rootless sentence) ``root``."""
    fixed = repair_tree([-1, *heads])[1:]
    new_rels = list(rels)
    for i, (old, new) in enumerate(zip(heads, fixed, strict=True)):
        if old != new and new == 0:
            new_rels[i] = ROOT_RELATION
        elif old == 0 and new != 0 and rels[i] == ROOT_RELATION:
            new_rels[i] = REATTACHED_ROOT_RELATION
    return fixed, new_rels
