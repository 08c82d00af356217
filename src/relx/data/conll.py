"""Dependency treebanks: CoNLL-U (Universal Dependencies) and CoNLL-X (e.g. PTB Stanford Dependencies).

Both have ten tab-separated columns and blank lines between sentences. CoNLL-U: ``#`` comment lines;
multiword-token ranges (``1-2``) and empty nodes (``1.1``) are not words of the basic tree and are
not encoded. CoNLL-X: columns ``ID FORM LEMMA CPOSTAG POSTAG FEATS HEAD DEPREL PHEAD PDEPREL``.

Each example also keeps its sentence's lines as read (comments, ranges, empty nodes and all ten columns of
every word line), so that ``sentence_text`` writes a prediction file that differs from its input only in
the HEAD and DEPREL of the words: the official scorers' token, tag, lemma and feature metrics (the CoNLL
2018 script's UPOS, XPOS, UFeats, Lemmas, MLAS, BLEX...) then compare like with like. A block of comment
lines with no word (a trailing ``# newdoc`` say) is not a sentence and is not kept.

Every sentence must be one tree: word ids ``1..n`` in sequence, heads in ``0..n``, exactly one word
attached to ROOT (head 0), no cycle. Every problem raises ``DataFormatError`` naming file and line (for a
tree defect: the line of the sentence's first word). With ``repair_trees`` (``data.repair_trees``), for
treebanks with known defects, a sentence with several root words or a cycle is repaired instead, as
treebank-cleaning scripts do (``relx.structs.trees.repair_tree``: extra root words and one word of each
cycle are attached to the first root word), and counted (``trees_repaired`` in the data summary).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    # The sentence's lines as read, line ending stripped (empty for input that is not a treebank, e.g. raw
    # text to predict), and the index in ``lines`` of each word's line: what writing predictions keeps.
    lines: tuple[str, ...] = ()
    word_lines: tuple[int, ...] = ()


def read_conll(path: str | Path, repair_trees: bool = False) -> list[DependencyExample]:
    """Read a CoNLL-U or CoNLL-X file (the layouts share the columns relx needs); see the module docstring."""
    return read_treebank(path, repair_trees)[0]


def read_treebank(path: str | Path, repair_trees: bool = False) -> tuple[list[DependencyExample], ReadStats]:
    """``read_conll`` with what reading noticed (``ReadStats.trees_repaired``: sentences repaired)."""
    path = Path(path)
    stats = ReadStats()
    examples: list[DependencyExample] = []
    block = _Block()

    def flush() -> None:
        if block.rows:
            examples.append(_sentence(path, block, repair_trees, stats))
            stats.words += len(block.rows)
        block.clear()

    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            flush()
        elif line.startswith("#") and not block.rows:
            block.lines.append(line)
        else:
            block.add(line, lineno, _word_columns(path, line, lineno, expected=len(block.rows) + 1))
    flush()
    if not examples:
        raise DataFormatError(path, "no sentences found")
    stats.examples = len(examples)
    return examples, stats


@dataclass
class _Block:
    """The lines of the sentence being read: all of them (``lines``) and, per word, its columns, its line
    number in the file (for messages) and its index in ``lines`` (to write predictions back into)."""

    lines: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    line_of: list[int] = field(default_factory=list)
    word_lines: list[int] = field(default_factory=list)

    def add(self, line: str, lineno: int, cols: list[str] | None) -> None:
        """A word line (``cols``) or a multiword-token / empty-node line (``None``: kept, not a word)."""
        if cols is not None:
            self.rows.append(cols)
            self.line_of.append(lineno)
            self.word_lines.append(len(self.lines))
        self.lines.append(line)

    def clear(self) -> None:
        for part in (self.lines, self.rows, self.line_of, self.word_lines):
            part.clear()


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


def _sentence(path: Path, block: _Block, repair: bool, stats: ReadStats) -> DependencyExample:
    """One sentence, its tree validated (heads in range always; roots and cycles repaired when asked)."""
    rows, line_of = block.rows, block.line_of
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
        tuple(block.lines),
        tuple(block.word_lines),
    )


def sentence_text(example: DependencyExample, heads: Sequence[int], rels: Sequence[str]) -> str:
    """The sentence with ``heads``/``rels`` (one per word) in CoNLL, ending in the blank line that ends a
    sentence: its lines as read with only HEAD and DEPREL of the word lines replaced (DEPS, the enhanced
    graph, is left as read: relx does not predict it), or, for an example not read from a treebank, ten
    fresh columns a word with the tags it has and ``_`` for the rest."""
    if len(heads) != len(example.words) or len(rels) != len(example.words):
        raise ValueError(f"{len(heads)} heads and {len(rels)} relations for {len(example.words)} words")
    lines = list(example.lines) if example.lines else _fresh_lines(example)
    word_lines = example.word_lines if example.lines else range(len(lines))
    for index, head, rel in zip(word_lines, heads, rels, strict=True):
        cols = lines[index].split("\t")
        cols[6], cols[7] = str(head), rel
        lines[index] = "\t".join(cols)
    return "".join(f"{line}\n" for line in lines) + "\n"


def _fresh_lines(example: DependencyExample) -> list[str]:
    """Word lines for an example with no lines of its own (HEAD and DEPREL left ``_`` for the caller)."""
    return [
        f"{i}\t{word}\t_\t{example.upos[i - 1] if example.upos else '_'}"
        f"\t{example.xpos[i - 1] if example.xpos else '_'}\t_\t_\t_\t_\t_"
        for i, word in enumerate(example.words, start=1)
    ]


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
