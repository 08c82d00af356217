"""Sentence-level relation examples and their readers: SemEval-2010 Task 8 (official 4-line blocks
and the tab-separated ``label<TAB>sentence`` layout) and KLUE-RE (JSON).

Entities are character spans of the plain sentence (end exclusive). Bad input raises
``DataFormatError`` naming file and line (or record).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relx.data.readers import read_text
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


def parse_marked_sentence(marked: str, where: str) -> tuple[str, Entity, Entity]:
    """Strip ``<e1>..</e1>`` / ``<e2>..</e2>`` from a sentence; return the plain text and both spans."""
    tags = [m.group() for m in _TAG.finditer(marked)]
    if tags not in _ORDERS:
        raise DataFormatError(
            where, f"expected one <e1>..</e1> and one <e2>..</e2>, not nested or overlapping; found {tags or 'none'}"
        )
    pieces = _TAG.split(marked)  # before, ent, between, ent, after
    first, second = ("e1", "e2") if tags[0] == "<e1>" else ("e2", "e1")
    text, spans = pieces[0], {}
    for name, content, after in ((first, pieces[1], pieces[2]), (second, pieces[3], pieces[4])):
        word = content.strip()
        if not word:
            raise DataFormatError(where, f"entity <{name}> is empty")
        spans[name] = Entity(len(text), len(text) + len(word), word)
        text += word + after
    return text, spans["e1"], spans["e2"]


def _check_label(label: str, labels: set[str] | None, where: str) -> str:
    if labels is not None and label not in labels:
        raise DataFormatError(where, f"unknown relation label {label!r}")
    return label


def read_semeval(path: str | Path, labels: set[str] | None = None) -> list[RelationExample]:
    """Either SemEval layout, told apart by the first line: ``ID<TAB>"sentence"`` starts the official
    4-line blocks (``TRAIN_FILE.TXT``, ``TEST_FILE_FULL.TXT``, or unlabelled ``TEST_FILE.TXT``);
    otherwise each line is ``LABEL<TAB>sentence`` (``train.tsv``), whose example ids are line numbers."""
    path = Path(path)
    lines = read_text(path).splitlines()
    first = next(line for line in lines if line.strip())
    if re.match(r'^\d+\t"', first):
        return _read_semeval_blocks(path, lines, labels)
    examples = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        cols = line.split("\t")
        if len(cols) != 2:
            raise DataFormatError(path, f"expected 'LABEL<TAB>sentence', got {len(cols)} columns", lineno)
        label = _check_label(cols[0].strip(), labels, where)
        text, e1, e2 = parse_marked_sentence(cols[1].strip(), where)
        examples.append(RelationExample(str(lineno), text, e1, e2, label, where))
    return examples


def _read_semeval_blocks(path: Path, lines: list[str], labels: set[str] | None) -> list[RelationExample]:
    examples: list[RelationExample] = []
    pending: tuple[str, str, Entity, Entity, str] | None = None  # id, text, e1, e2, where

    def flush(label: str | None) -> None:
        nonlocal pending
        if pending is not None:
            ex_id, text, e1, e2, where = pending
            examples.append(RelationExample(ex_id, text, e1, e2, label, where))
            pending = None

    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("Comment"):
            continue
        sentence = re.match(r'^(\d+)\t"(.*)"$', line)
        if sentence:
            flush(None)  # the previous example had no label line (unlabelled test file)
            where = f"{path}:{lineno}"
            text, e1, e2 = parse_marked_sentence(sentence.group(2), where)
            pending = (sentence.group(1), text, e1, e2, where)
        elif pending is not None:
            flush(_check_label(line, labels, f"{path}:{lineno}"))
        else:
            raise DataFormatError(path, f"expected 'ID<TAB>\"sentence\"' or a relation line, got {line[:60]!r}", lineno)
    flush(None)
    ids = [ex.id for ex in examples]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataFormatError(path, f"example id {dup} appears more than once")
    return examples


def read_klue_re(path: str | Path, labels: set[str] | None = None) -> list[RelationExample]:
    """KLUE-RE: a JSON list (or JSON lines) of ``{guid, sentence, subject_entity, object_entity, label}``;
    entity offsets ``start_idx``/``end_idx`` are inclusive and must match ``word``."""
    path = Path(path)
    text = read_text(path)
    try:
        records = (
            json.loads(text)
            if text.lstrip().startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    except json.JSONDecodeError as err:
        raise DataFormatError(path, f"malformed JSON: {err.msg} (line {err.lineno}, column {err.colno})") from err
    examples = []
    for i, record in enumerate(records):
        guid = str(record.get("guid", i)) if isinstance(record, dict) else str(i)
        where = f"{path}: record {i} (guid {guid})"
        try:
            sentence = record["sentence"]
            e1, e2 = (_klue_entity(record[key], sentence, where, key) for key in ("subject_entity", "object_entity"))
        except (KeyError, TypeError) as err:
            raise DataFormatError(where, f"missing or malformed field {err}") from err
        if e1.start < e2.end and e2.start < e1.end:
            raise DataFormatError(where, "subject and object entities overlap")
        label = record.get("label")
        if label is not None:
            label = _check_label(str(label), labels, where)
        examples.append(RelationExample(guid, sentence, e1, e2, label, where))
    return examples


def _klue_entity(entity: dict[str, Any], sentence: str, where: str, key: str) -> Entity:
    start, end, word = int(entity["start_idx"]), int(entity["end_idx"]) + 1, str(entity["word"])
    if sentence[start:end] != word:
        raise DataFormatError(
            where, f"{key} offsets {start}..{end - 1} give {sentence[start:end]!r}, not the entity word {word!r}"
        )
    return Entity(start, end, word, entity.get("type"))


def read_relation_labels(path: str | Path) -> list[str]:
    """Label inventory: ``relation_list.json`` (``{"relations": [...]}``) or one label a line (``label.txt``)."""
    path = Path(path)
    text = read_text(path)
    if path.suffix == ".json":
        try:
            labels = json.loads(text)["relations"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataFormatError(path, f'expected {{"relations": [...]}} ({err})') from err
    else:
        labels = [line.strip() for line in text.splitlines() if line.strip()]
    if len(set(labels)) != len(labels):
        raise DataFormatError(path, "duplicate labels")
    return [str(label) for label in labels]
