"""Property tests: the sentence-level relation readers (SemEval-2010 Task 8 in both layouts, labelled and
unlabelled; KLUE-RE as a JSON list and as JSON lines) and the relation Task's ``read_raw``, on damaged
copies of the bundled samples. Each reads the file or raises a ``RelxError`` naming it, in one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mutations import MUTATION_SETTINGS, mutated, reads_or_names_the_file, restructured
from relx.build import sample_dir
from relx.data.relations import SEMEVAL_LABELS, RelationExample, read_klue_re, read_semeval
from relx.data.vocab import LabelVocab
from relx.tasks.datamodule import TaskDataModule
from relx.tasks.relations import KlueReTask, SemEvalTask

SEMEVAL = sample_dir("semeval")
# The first ten 4-line blocks of each sample file (the files hold 400 and 100).
BLOCKS = "".join((SEMEVAL / "TRAIN_FILE.TXT").read_text(encoding="utf-8").splitlines(keepends=True)[:40])
TEST_BLOCKS = "".join((SEMEVAL / "TEST_FILE_FULL.TXT").read_text(encoding="utf-8").splitlines(keepends=True)[:40])
_BLOCK = re.compile(r'^\d+\t"(.*)"\n(\S+)\n', re.MULTILINE)
# The same examples in the other layouts: ``LABEL<TAB>sentence`` (train.tsv), unlabelled blocks
# (TEST_FILE.TXT), and raw marked sentences (what relx.predict reads).
TSV = "".join(f"{label}\t{sentence}\n" for sentence, label in _BLOCK.findall(BLOCKS))
UNLABELLED = re.sub(r'^(\d+\t".*")\n\S+\n', r"\1\n", TEST_BLOCKS, flags=re.MULTILINE)
RAW = "".join(f"{sentence}\n" for sentence, _ in _BLOCK.findall(BLOCKS))
KLUE = json.loads((sample_dir("klue_re") / "klue-re-v1.1_dev.json").read_text(encoding="utf-8"))
KLUE_LINES = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in KLUE)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def spans_and_labels_hold(examples: list[RelationExample]) -> None:
    """What a successful read must give: entity spans that are the entity words, two disjoint entities,
    relation labels that are one token, and a file labelled throughout or not at all."""
    for ex in examples:
        for entity in (ex.e1, ex.e2):
            assert ex.text[entity.start : entity.end] == entity.text and entity.text
        assert ex.e1.end <= ex.e2.start or ex.e2.end <= ex.e1.start
        assert ex.label is None or (ex.label and ex.label.split() == [ex.label])
    assert len({ex.label is None for ex in examples}) <= 1


def checked(read: Callable[[Path], list[RelationExample]]) -> Callable[[Path], None]:
    def read_and_check(path: Path) -> None:
        spans_and_labels_hold(read(path))

    return read_and_check


read_semeval_checked = checked(lambda path: read_semeval(path, None))
read_klue_checked = checked(lambda path: read_klue_re(path, None))


@pytest.mark.parametrize(
    ("name", "original"),
    [("TRAIN_FILE.TXT", BLOCKS), ("train.tsv", TSV), ("TEST_FILE.TXT", UNLABELLED)],
    ids=["blocks", "tsv", "unlabelled-blocks"],
)
@given(data=st.data())
@MUTATION_SETTINGS
def test_semeval_reader_on_damaged_files(tmp_path: Path, name: str, original: str, data: st.DataObject) -> None:
    damaged = data.draw(mutated(original.encode("utf-8")))
    reads_or_names_the_file(read_semeval_checked, _write(tmp_path / name, damaged))


@given(st.one_of(mutated(KLUE_LINES.encode("utf-8")), mutated(json.dumps(KLUE, ensure_ascii=False).encode("utf-8"))))
@MUTATION_SETTINGS
def test_klue_reader_on_damaged_files(tmp_path: Path, data: bytes) -> None:
    reads_or_names_the_file(read_klue_checked, _write(tmp_path / "klue-re-v1.1_dev.json", data))


@given(st.one_of(restructured(KLUE), restructured(KLUE, json_lines=True)))
@MUTATION_SETTINGS
def test_klue_reader_on_restructured_json(tmp_path: Path, data: bytes) -> None:
    reads_or_names_the_file(read_klue_checked, _write(tmp_path / "klue-re-v1.1_dev.json", data))


@pytest.fixture(scope="module")
def relation_task(tokenizer: Any) -> SemEvalTask:
    """The Task ``relx.predict`` reads with from a SemEval checkpoint: no data directory, the checkpoint's vocabs."""
    vocabs = {"sentence": LabelVocab(list(SEMEVAL_LABELS)), "entity_type": LabelVocab([])}
    return TaskDataModule(SemEvalTask("semeval"), None, tokenizer, vocabs=vocabs).task


@given(mutated(RAW.encode("utf-8")))
@MUTATION_SETTINGS
def test_relation_read_raw_on_damaged_input(tmp_path: Path, relation_task: SemEvalTask, data: bytes) -> None:
    reads_or_names_the_file(checked(relation_task.read_raw), _write(tmp_path / "sentences.txt", data))


def test_the_originals_read_cleanly(tmp_path: Path, relation_task: SemEvalTask, tokenizer: Any) -> None:
    """The undamaged originals are valid input: every failure above comes from the damage."""
    for name, text in (("a.TXT", BLOCKS), ("b.tsv", TSV)):
        examples = read_semeval(_write(tmp_path / name, text.encode()), set(SEMEVAL_LABELS))
        assert len(examples) == 10 and all(ex.label for ex in examples)
    assert all(ex.label is None for ex in read_semeval(_write(tmp_path / "c.TXT", UNLABELLED.encode())))
    assert len(read_klue_re(_write(tmp_path / "d.json", KLUE_LINES.encode()))) == len(KLUE)
    assert len(relation_task.read_raw(_write(tmp_path / "e.txt", RAW.encode()))) == 10
    vocabs = {"sentence": LabelVocab(["no_relation"]), "entity_type": LabelVocab([])}
    klue = TaskDataModule(KlueReTask("klue_re", negative_label="no_relation"), None, tokenizer, vocabs=vocabs).task
    assert len(klue.read_raw(_write(tmp_path / "f.txt", RAW.encode()))) == 10
