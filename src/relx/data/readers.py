"""Pure readers of the word-level formats: file -> ``WordExample`` list, validated line by line.

Ill-formed input raises ``DataFormatError`` naming file and line. Ill-formed BIO transitions (an
``I-X`` not continuing an ``X`` chunk) are repaired as conlleval reads them and counted in
``ReadStats``; tags outside the BIO grammar are an error. In training data (``training=True``) an
``I-X`` whose type never starts a chunk anywhere in the file (no ``B-X`` at all) is an error too: it is
a stray tag, and repairing it would silently add a class ``B-X`` to the label space.
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
    trees_repaired: int = 0  # treebanks read with repair_trees: sentences whose roots/cycles were repaired


def require_data_dir(data_dir: str | Path) -> Path:
    """``data_dir`` as a path, or the one-line error when it is not a directory."""
    path = Path(data_dir)
    if not path.is_dir():
        raise DataFormatError(path, "data directory not found")
    return path


def read_text(path: Path) -> str:
    """The UTF-8 text of a data file (a byte-order mark is dropped); missing, unreadable, undecodable or
    empty files are ``DataFormatError``s (undecodable: naming the line of the first bad byte)."""
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataFormatError(path, f"cannot be read ({err.strerror or err})") from err
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        bad = data[err.start : err.end].hex(" ")
        raise DataFormatError(path, f"not UTF-8 text (byte {bad} at offset {err.start}: {err.reason})", line) from err
    if not text.strip():
        raise DataFormatError(path, "file is empty")
    return text


def read_lines(path: Path) -> list[str]:
    """The lines of a data file as a text editor numbers them: split at ``\\n`` only (``\\r\\n`` endings
    accepted), so that line numbers in messages are right even when a line holds a form feed, U+2028 or
    another character ``str.splitlines`` would break at."""
    text = read_text(path)
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


class _ChunkTypes:
    """The chunk types of one file: those some ``B-X`` starts, and the first line of each ``I-X``."""

    def __init__(self) -> None:
        self.begun: set[str] = set()
        self.first_inside: dict[str, int] = {}

    def see(self, tag: str, lineno: int) -> None:
        if tag.startswith("B-"):
            self.begun.add(tag[2:])
        elif tag.startswith("I-"):
            self.first_inside.setdefault(tag[2:], lineno)

    def check_no_stray_types(self, path: Path) -> None:
        """Training data: an ``I-X`` whose type never appears as ``B-X`` is a stray tag, not a class."""
        stray = {kind: line for kind, line in self.first_inside.items() if kind not in self.begun}
        if stray:
            kind = min(stray, key=stray.__getitem__)
            raise DataFormatError(
                path, f"tag 'I-{kind}' but no 'B-{kind}' anywhere in the training file (a stray tag?)", stray[kind]
            )


def _checked_tags(
    path: Path, line_of: list[int], tags: list[str], stats: ReadStats, types: _ChunkTypes
) -> tuple[str, ...]:
    """Tags validated against the BIO grammar, ill-formed ``I-`` transitions repaired (and counted)."""
    for lineno, tag in zip(line_of, tags, strict=True):
        if not is_bio_tag(tag):
            raise DataFormatError(path, f"tag {tag!r} is not in the BIO grammar (O, B-TYPE, I-TYPE)", lineno)
        types.see(tag, lineno)
    fixed, repaired = repair_bio(tags)
    stats.repaired_tags += repaired
    return tuple(fixed)


def read_bio_file(
    path: str | Path, column_format: str = "tag_word", training: bool = False
) -> tuple[list[WordExample], ReadStats]:
    """Read a one-token-per-line file; blank lines separate sentences.

    ``column_format="tag_word"``: MIT Movie ``.bio`` files, exactly ``TAG<TAB>word``.
    ``column_format="conll"``: CoNLL-style whitespace columns, word first and tag last
    (``-DOCSTART-`` lines skipped). ``training``: reject stray ``I-X`` types (module docstring).
    """
    if column_format not in ("tag_word", "conll"):
        raise ValueError(f"column_format must be 'tag_word' or 'conll', not {column_format!r}")
    path = Path(path)
    stats = ReadStats()
    examples: list[WordExample] = []
    words: list[str] = []
    tags: list[str] = []
    line_of: list[int] = []
    types = _ChunkTypes()
    start = 0

    def flush() -> None:
        if words:
            examples.append(
                WordExample(tuple(words), _checked_tags(path, line_of, tags, stats, types), source=f"{path}:{start}")
            )
            stats.words += len(words)
        words.clear()
        tags.clear()
        line_of.clear()

    for lineno, line in enumerate(read_lines(path), start=1):
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
    if training:
        types.check_no_stray_types(path)
    stats.examples = len(examples)
    return examples, stats


def read_label_file(path: str | Path, drop: tuple[str, ...] = ("PAD", "UNK")) -> list[str]:
    """A JointBERT label list (one label a line). Its ``PAD``/``UNK`` book-keeping entries are dropped:
    relx keeps padding out of the label space and scores unseen labels explicitly."""
    path = Path(path)
    labels: list[str] = []
    for lineno, line in enumerate(read_lines(path), start=1):
        label = line.strip()
        if not label:
            raise DataFormatError(path, "empty label line", lineno)
        if label in labels:
            raise DataFormatError(path, f"duplicate label {label!r}", lineno)
        if label not in drop:
            labels.append(label)
    if not labels:
        raise DataFormatError(path, f"no labels besides the book-keeping entries {', '.join(drop)}")
    return labels


def _check_parallel(files: dict[Path, list[str]]) -> None:
    """Parallel files must have one line per example. The odd one out is named (the file whose count
    no other shares; ``seq.out`` when all three differ), at the first line one of them lacks."""
    counts = {path: len(lines) for path, lines in files.items()}
    if len(set(counts.values())) == 1:
        return
    unique = [p for p, n in counts.items() if list(counts.values()).count(n) == 1]
    odd = unique[0] if len(unique) == 1 else list(counts)[1]
    others = ", ".join(f"{p.name} {n}" for p, n in counts.items() if p != odd)
    raise DataFormatError(
        odd,
        f"line counts differ: this file has {counts[odd]}, {others} (one line per utterance in each)",
        min(counts.values()) + 1,
    )


def read_jointbert_split(split_dir: str | Path, training: bool = False) -> tuple[list[WordExample], ReadStats]:
    """Read ``seq.in`` (space-split words), ``seq.out`` (BIO slots) and ``label`` (intent) of one split.

    ``training``: reject stray ``I-X`` slot types (module docstring)."""
    split_dir = Path(split_dir)
    seq_in, seq_out, label = (split_dir / name for name in ("seq.in", "seq.out", "label"))
    lines_in, lines_out, lines_label = read_lines(seq_in), read_lines(seq_out), read_lines(label)
    _check_parallel({seq_in: lines_in, seq_out: lines_out, label: lines_label})
    types = _ChunkTypes()
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
        tags = _checked_tags(seq_out, [lineno] * len(slots), slots, stats, types)
        examples.append(WordExample(tuple(words), tags, intent, source=f"{seq_in}:{lineno}"))
        stats.words += len(words)
    if training:
        types.check_no_stray_types(seq_out)
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
        for lineno, line in enumerate(read_lines(path), start=1)
        if line.strip()
    ]
    return examples
