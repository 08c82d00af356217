"""Sentence-level relation examples and their readers: SemEval-2010 Task 8 (official 4-line blocks
and the tab-separated ``label<TAB>sentence`` layout) and KLUE-RE (JSON).

Entities are character spans of the plain sentence (end exclusive). Bad input raises
``DataFormatError`` naming file and line (or record).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relx.data.readers import read_lines, read_text
from relx.errors import DataFormatError

SEMEVAL_RELATIONS = (
    "Cause-Effect", "Instrument-Agency", "Product-Producer", "Content-Container", "Entity-Origin",
    "Entity-Destination", "Component-Whole", "Member-Collection", "Message-Topic",
)  # fmt: skip
SEMEVAL_OTHER = "Other"
SEMEVAL_LABELS = (SEMEVAL_OTHER,) + tuple(f"{r}({d})" for r in SEMEVAL_RELATIONS for d in ("e1,e2", "e2,e1"))


@dataclass(frozen=True)
class Entity:
    """A mention: ``text == sentence[start:end]``; ``type`` when the data has one (KLUE: PER, ORG, ...)."""

    start: int
    end: int
    text: str
    type: str | None = None


@dataclass(frozen=True)
class RelationExample:
    """A sentence with two entities (``e1`` = subject, ``e2`` = object) and their relation."""

    id: str
    text: str
    e1: Entity
    e2: Entity
    label: str | None = None
    source: str = ""


_TAG = re.compile(r"</?e[12]>")
_ORDERS = (["<e1>", "</e1>", "<e2>", "</e2>"], ["<e2>", "</e2>", "<e1>", "</e1>"])
_BLOCK_SENTENCE = re.compile(r'^(\d+)\t"(.*)"$')


def parse_marked_sentence(marked: str, path: str | Path, line: int | None = None) -> tuple[str, Entity, Entity]:
    """Strip ``<e1>..</e1>`` / ``<e2>..</e2>`` from a sentence; return the plain text and both spans.
    Errors name ``path`` and ``line``, the place of the sentence."""
    tags = [m.group() for m in _TAG.finditer(marked)]
    if tags not in _ORDERS:
        raise DataFormatError(
            path,
            f"expected one <e1>..</e1> and one <e2>..</e2>, not nested or overlapping; found {tags or 'none'}",
            line,
        )
    pieces = _TAG.split(marked)  # before, ent, between, ent, after
    first, second = ("e1", "e2") if tags[0] == "<e1>" else ("e2", "e1")
    text, spans = pieces[0], {}
    for name, content, after in ((first, pieces[1], pieces[2]), (second, pieces[3], pieces[4])):
        word = content.strip()
        if not word:
            raise DataFormatError(path, f"entity <{name}> is empty", line)
        spans[name] = Entity(len(text), len(text) + len(word), word)
        text += word + after
    return text, spans["e1"], spans["e2"]


def _check_label(label: str, labels: set[str] | None, path: str | Path, line: int | None = None) -> str:
    """A relation label is one non-empty token (``Other``, ``Cause-Effect(e1,e2)``, ``per:title``): anything
    else is a damaged line (e.g. a sentence line that lost its ID) and must not silently become a class."""
    if not label or any(c.isspace() for c in label):
        raise DataFormatError(path, f"expected a relation label (one token, no spaces), got {label[:60]!r}", line)
    if labels is not None and label not in labels:
        raise DataFormatError(path, f"unknown relation label {label!r}", line)
    return label


def _is_block_layout(lines: list[str]) -> bool:
    """The official 4-line blocks start with ``ID<TAB>"sentence"``; ``train.tsv`` lines with a label. A few
    lines are looked at, so that one damaged first line does not make a block file read as TSV."""
    non_blank = [line for line in lines if line.strip()][:8]
    return any(re.match(r'^\d+\t"', line) for line in non_blank)


def read_semeval(path: str | Path, labels: set[str] | None = None) -> list[RelationExample]:
    """Either SemEval layout, told apart by its first lines: ``ID<TAB>"sentence"`` starts the official
    4-line blocks (``TRAIN_FILE.TXT``, ``TEST_FILE_FULL.TXT``, or unlabelled ``TEST_FILE.TXT``);
    otherwise each line is ``LABEL<TAB>sentence`` (``train.tsv``), whose example ids are line numbers."""
    path = Path(path)
    lines = read_lines(path)
    if _is_block_layout(lines):
        return _read_semeval_blocks(path, lines, labels)
    examples = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != 2:
            raise DataFormatError(path, f"expected 'LABEL<TAB>sentence', got {len(cols)} columns", lineno)
        label = _check_label(cols[0].strip(), labels, path, lineno)
        text, e1, e2 = parse_marked_sentence(cols[1].strip(), path, lineno)
        examples.append(RelationExample(str(lineno), text, e1, e2, label, f"{path}:{lineno}"))
    return examples


def _read_semeval_blocks(path: Path, lines: list[str], labels: set[str] | None) -> list[RelationExample]:
    """The official blocks: a sentence line, its relation line (absent in ``TEST_FILE.TXT``), a comment.
    A file is labelled throughout or not at all: a block without its relation line in a labelled file is an
    error here (it would otherwise train or score as unlabelled, and fail far from the file)."""
    examples: list[RelationExample] = []
    lines_of: list[int] = []
    pending: tuple[str, str, Entity, Entity, int] | None = None  # id, text, e1, e2, line

    def flush(label: str | None) -> None:
        nonlocal pending
        if pending is not None:
            ex_id, text, e1, e2, lineno = pending
            examples.append(RelationExample(ex_id, text, e1, e2, label, f"{path}:{lineno}"))
            lines_of.append(lineno)
            pending = None

    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("Comment"):
            continue
        sentence = _BLOCK_SENTENCE.match(line)
        if sentence:
            flush(None)  # the previous example had no label line (unlabelled test file)
            text, e1, e2 = parse_marked_sentence(sentence.group(2), path, lineno)
            pending = (sentence.group(1), text, e1, e2, lineno)
        elif pending is not None and not _TAG.search(line):  # entity tags: a damaged sentence line, not a label
            flush(_check_label(line, labels, path, lineno))
        else:
            raise DataFormatError(path, f"expected 'ID<TAB>\"sentence\"' or a relation line, got {line[:60]!r}", lineno)
    flush(None)
    _check_all_or_none_labelled(
        path, examples, [(f"example {ex.id}", n) for ex, n in zip(examples, lines_of, strict=True)]
    )
    first_line: dict[str, int] = {}
    for ex, lineno in zip(examples, lines_of, strict=True):
        if ex.id in first_line:
            raise DataFormatError(
                path, f"example id {ex.id} appears more than once (first at line {first_line[ex.id]})", lineno
            )
        first_line[ex.id] = lineno
    return examples


def _check_all_or_none_labelled(
    path: Path, examples: list[RelationExample], places: Sequence[tuple[str, int | None]]
) -> None:
    """Labelled and unlabelled examples in one file mean a lost relation line (or label field): name the first
    unlabelled example by its ``places`` entry (what it is called, its line)."""
    labelled = [ex.label is not None for ex in examples]
    if any(labelled) and not all(labelled):
        name, line = places[labelled.index(False)]
        raise DataFormatError(
            path,
            f"{name} has no relation label, but {sum(labelled)} of the {len(examples)} examples in this file have one"
            " (a relation line or label field is missing)",
            line,
        )


def read_marked_sentences(path: str | Path) -> list[RelationExample]:
    """Raw input for ``relx.predict``: one sentence a line with ``<e1>..</e1>`` and ``<e2>..</e2>`` around the
    two entities (blank lines skipped); example ids are line numbers."""
    path = Path(path)
    examples = []
    for lineno, line in enumerate(read_lines(path), start=1):
        if line.strip():
            text, e1, e2 = parse_marked_sentence(line.strip(), path, lineno)
            examples.append(RelationExample(str(lineno), text, e1, e2, None, f"{path}:{lineno}"))
    return examples


def _json_records(path: Path, text: str) -> list[tuple[Any, int | None]]:
    """(record, line) of a JSON list (line ``None``) or of JSON lines (one record a line)."""
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataFormatError(path, f"malformed JSON: {err.msg} (column {err.colno})", err.lineno) from err
        if not isinstance(data, list):
            raise DataFormatError(path, f"expected a JSON list of records, got {type(data).__name__}")
        return [(record, None) for record in data]
    records: list[tuple[Any, int | None]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):  # not splitlines: JSON strings may hold U+2028
        if line.strip():
            try:
                records.append((json.loads(line), lineno))
            except json.JSONDecodeError as err:
                raise DataFormatError(
                    path,
                    f"malformed JSON: {err.msg} (column {err.colno}); expected a JSON list of records or one JSON"
                    " record a line",
                    lineno,
                ) from err
    return records


def read_klue_re(path: str | Path, labels: set[str] | None = None) -> list[RelationExample]:
    """KLUE-RE: a JSON list (or JSON lines) of ``{guid, sentence, subject_entity, object_entity, label}``;
    entity offsets ``start_idx``/``end_idx`` are inclusive and must match ``word``. Errors name the record
    (index and guid), and the line for JSON lines."""
    path = Path(path)
    records = _json_records(path, read_text(path))
    if not records:
        raise DataFormatError(path, "no records")
    examples = [_klue_example(path, i, record, lineno, labels) for i, (record, lineno) in enumerate(records)]
    places = [
        (f"record {i} (guid {ex.id})", lineno)
        for i, (ex, (_, lineno)) in enumerate(zip(examples, records, strict=True))
    ]
    _check_all_or_none_labelled(path, examples, places)
    return examples


def _klue_example(path: Path, i: int, record: Any, line: int | None, labels: set[str] | None) -> RelationExample:
    """One validated KLUE-RE record (every field checked for type and range, so that no malformed value
    reaches the marker or the tokenizer)."""
    guid = str(record.get("guid", i)) if isinstance(record, dict) else str(i)
    where = f"record {i} (guid {guid})"

    def error(message: str) -> DataFormatError:
        return DataFormatError(path, f"{where}: {message}", line)

    if not isinstance(record, dict):
        raise error(f"expected a JSON object, got {type(record).__name__}")
    for key in ("sentence", "subject_entity", "object_entity"):
        if key not in record:
            raise error(f"missing field '{key}'")
    sentence = record["sentence"]
    if not isinstance(sentence, str) or not sentence.strip():
        raise error(f"field 'sentence': expected a non-empty string, got {sentence!r:.60}")
    e1, e2 = (_klue_entity(record[key], sentence, key, error) for key in ("subject_entity", "object_entity"))
    if e1.start < e2.end and e2.start < e1.end:
        raise error("subject and object entities overlap")
    label = record.get("label")
    if label is not None:
        if not isinstance(label, str):
            raise error(f"field 'label': expected a relation label string, got {label!r:.60}")
        label = _check_label(label, labels, path, line)
    return RelationExample(guid, sentence, e1, e2, label, f"{path}: {where}")


def _klue_entity(entity: Any, sentence: str, key: str, error: Callable[[str], DataFormatError]) -> Entity:
    """A KLUE entity whose inclusive offsets give exactly its ``word`` in ``sentence``; its type is one token
    (typed markers turn it into a marker token such as ``[E1-PER]``)."""
    if not isinstance(entity, dict):
        raise error(f"field '{key}': expected an object {{word, start_idx, end_idx, type}}, got {entity!r:.60}")
    for field in ("word", "start_idx", "end_idx"):
        if field not in entity:
            raise error(f"field '{key}': missing '{field}'")
    start, last, word, etype = entity["start_idx"], entity["end_idx"], entity["word"], entity.get("type")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, last)):
        raise error(f"field '{key}': start_idx and end_idx must be integers, got {start!r:.30} and {last!r:.30}")
    if not isinstance(word, str) or not word:
        raise error(f"field '{key}': 'word' must be a non-empty string, got {word!r:.60}")
    if etype is not None and (not isinstance(etype, str) or not etype.strip() or any(c.isspace() for c in etype)):
        raise error(f"field '{key}': 'type' must be a type name (one token), got {etype!r:.60}")
    end = last + 1
    if not 0 <= start < end <= len(sentence) or sentence[start:end] != word:
        found = sentence[start:end] if 0 <= start < end <= len(sentence) else "(outside the sentence)"
        raise error(f"{key} offsets {start}..{last} give {found!r}, not the entity word {word!r}")
    return Entity(start, end, word, etype)


def read_relation_labels(path: str | Path) -> list[str]:
    """Label inventory: ``relation_list.json`` (``{"relations": [...]}``) or one label a line (``label.txt``)."""
    path = Path(path)
    text = read_text(path)
    labels: Any
    if path.suffix == ".json":
        try:
            labels = json.loads(text)["relations"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataFormatError(path, f'expected {{"relations": [...]}} ({err})') from err
        if not isinstance(labels, list) or not all(isinstance(label, str) and label.strip() for label in labels):
            raise DataFormatError(path, 'expected {"relations": [...]}, a list of label strings')
    else:
        labels = [line.strip() for line in text.splitlines() if line.strip()]
    if len(set(labels)) != len(labels):
        dup = next(label for label in labels if labels.count(label) > 1)
        raise DataFormatError(path, f"duplicate label {dup!r}")
    return [str(label) for label in labels]
