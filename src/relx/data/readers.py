"""Pure readers of the word-level formats: file -> ``WordExample`` list, validated line by line.

Ill-formed input raises ``DataFormatError`` naming file and line. Ill-formed BIO transitions (an
``I-X`` not continuing an ``X`` chunk) are repaired as conlleval reads them and counted in
``ReadStats``; tags outside the BIO grammar are an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from relx.data.bio import is_bio_tag, repair_bio
from relx.data.examples import WordExample
from relx.errors import DataFormatError


@dataclass
class ReadStats:
    """What a reader noticed while reading one file (reported in the run's data summary)."""

    examples: int = 0
    words: int = 0
    repaired_tags: int = 0


def read_text(path: Path) -> str:
    """The UTF-8 text of a data file (a byte-order mark is dropped); missing, undecodable or empty files
    are ``DataFormatError``s."""
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataFormatError(path, f"not UTF-8 text ({err})") from err
    if not text.strip():
        raise DataFormatError(path, "file is empty")
    return text


def _read_lines(path: Path) -> list[str]:
    return read_text(path).splitlines()


def _checked_tags(path: Path, line_of: list[int], tags: list[str], stats: ReadStats) -> tuple[str, ...]:
    for lineno, tag in zip(line_of, tags, strict=True):
        if not is_bio_tag(tag):
            raise DataFormatError(path, f"tag {tag!r} is not in the BIO grammar (O, B-TYPE, I-TYPE)", lineno)
    fixed, repaired = repair_bio(tags)
    stats.repaired_tags += repaired
    return tuple(fixed)


def read_bio_file(path: str | Path, column_format: str = "tag_word") -> tuple[list[WordExample], ReadStats]:
    """Read a one-token-per-line file; blank lines separate sentences.

    ``column_format="tag_word"``: MIT Movie ``.bio`` files, exactly ``TAG<TAB>word``.
    ``column_format="conll"``: CoNLL-style whitespace columns, word first and tag last
    (``-DOCSTART-`` lines skipped).
    """
    if column_format not in ("tag_word", "conll"):
        raise ValueError(f"column_format must be 'tag_word' or 'conll', not {column_format!r}")
    path = Path(path)
    stats = ReadStats()
    examples: list[WordExample] = []
    words: list[str] = []
    tags: list[str] = []
    line_of: list[int] = []
    start = 0

    def flush() -> None:
        if words:
            examples.append(
                WordExample(tuple(words), _checked_tags(path, line_of, tags, stats), source=f"{path}:{start}")
            )
            stats.words += len(words)
        words.clear()
        tags.clear()
        line_of.clear()

    for lineno, raw in enumerate(_read_lines(path), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            flush()
            continue
        if column_format == "tag_word":
            cols = line.split("\t")
            if len(cols) != 2 or not cols[0] or not cols[1].strip():
                raise DataFormatError(path, f"expected 'TAG<TAB>word' (2 columns), got {len(cols)}: {line!r}", lineno)
            tag, word = cols[0].strip(), cols[1].strip()
        else:
            cols = line.split()
            if cols[0] == "-DOCSTART-":
                continue
            if len(cols) < 2:
                raise DataFormatError(
                    path, f"expected 'word ... TAG' (>= 2 columns), got {len(cols)}: {line!r}", lineno
                )
            word, tag = cols[0], cols[-1]
        if not words:
            start = lineno
        words.append(word)
        tags.append(tag)
        line_of.append(lineno)
    flush()
    if not examples:
        raise DataFormatError(path, "no sentences found")
    stats.examples = len(examples)
    return examples, stats


def read_label_file(path: str | Path, drop: tuple[str, ...] = ("PAD", "UNK")) -> list[str]:
    """A JointBERT label list (one label a line). Its ``PAD``/``UNK`` book-keeping entries are dropped:
    relx keeps padding out of the label space and scores unseen labels explicitly."""
    path = Path(path)
    labels: list[str] = []
    for lineno, line in enumerate(_read_lines(path), start=1):
        label = line.strip()
        if not label:
            raise DataFormatError(path, "empty label line", lineno)
        if label in labels:
            raise DataFormatError(path, f"duplicate label {label!r}", lineno)
        if label not in drop:
            labels.append(label)
    return labels


def read_jointbert_split(split_dir: str | Path) -> tuple[list[WordExample], ReadStats]:
    """Read ``seq.in`` (space-split words), ``seq.out`` (BIO slots) and ``label`` (intent) of one split."""
    split_dir = Path(split_dir)
    seq_in, seq_out, label = (split_dir / name for name in ("seq.in", "seq.out", "label"))
    lines_in, lines_out, lines_label = _read_lines(seq_in), _read_lines(seq_out), _read_lines(label)
    if not len(lines_in) == len(lines_out) == len(lines_label):
        raise DataFormatError(
            split_dir,
            f"line counts differ: seq.in {len(lines_in)}, seq.out {len(lines_out)}, label {len(lines_label)}",
        )
    stats = ReadStats()
    examples: list[WordExample] = []
    for lineno, (text, slot_line, intent) in enumerate(zip(lines_in, lines_out, lines_label, strict=True), 1):
        words, slots, intent = text.split(), slot_line.split(), intent.strip()
        if not words:
            raise DataFormatError(seq_in, "empty utterance", lineno)
        if len(words) != len(slots):
            raise DataFormatError(seq_out, f"{len(slots)} slot tags for {len(words)} words in seq.in", lineno)
        if not intent:
            raise DataFormatError(label, "empty intent label", lineno)
        tags = _checked_tags(seq_out, [lineno] * len(slots), slots, stats)
        examples.append(WordExample(tuple(words), tags, intent, source=f"{seq_in}:{lineno}"))
        stats.words += len(words)
    stats.examples = len(examples)
    return examples, stats


_WORD = re.compile(r"\w+(?:[-'.]\w+)*|[^\w\s]")


def split_words(text: str) -> list[str]:
    """Pre-split raw text into words and punctuation, the way the bundled datasets are split."""
    return _WORD.findall(text)


def read_raw_lines(path: str | Path) -> list[WordExample]:
    """Raw text, one input per line (blank lines skipped), for ``relx.predict``."""
    path = Path(path)
    examples = [
        WordExample(tuple(split_words(line)), source=f"{path}:{lineno}")
        for lineno, line in enumerate(_read_lines(path), start=1)
        if line.strip()
    ]
    return examples
