"""Property tests: the document-level RE readers (DocRED JSON, CDR) and the MRC readers (span QA JSON, C3,
context selection, the pipeline's ``read_questions``), and the ``read_raw`` of their Tasks, on damaged
copies of the bundled samples. Each reads the file or raises a ``RelxError`` naming it, in one line.

Two kinds of damage: ``mutations.mutated`` damages the bytes (most JSON then fails to parse); ``restructured``
keeps the JSON valid but drops, renames or retypes one key or value somewhere in a record, where the
``KeyError``/``TypeError``/``IndexError`` tracebacks of a careless reader hide.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mutations import MUTATION_SETTINGS, mutated, reads_or_names_the_file, restructured
from relx.build import sample_dir
from relx.data.documents import Document, docred_json, read_cdr, read_docred, read_rel_info
from relx.data.mrc import ChoiceExample, QAExample, read_c3, read_contexts, read_questions, read_selection, read_squad
from relx.data.vocab import LabelVocab
from relx.tasks.base import Task
from relx.tasks.datamodule import TaskDataModule
from relx.tasks.documents import NA, CdrTask, DocumentRETask
from relx.tasks.mrc import MAX_CHOICES, C3Task, ContextSelectionTask, SpanQATask


def _dump(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---- originals: the bundled samples (their first records where the file is big) ------------------
DOCRED_DOCS = json.loads((sample_dir("docred") / "dev.json").read_text(encoding="utf-8"))[:2]
DOCRED_TEST_DOCS = json.loads((sample_dir("docred") / "test.json").read_text(encoding="utf-8"))[:2]
RELATIONS = read_rel_info(sample_dir("docred").parent.parent / "docred" / "rel_info.json")
CDR = b"".join((sample_dir("cdr") / "dev_filter.data").read_bytes().splitlines(keepends=True)[:2])


def _first_articles(path: Path, n: int) -> Any:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {**data, "data": data["data"][:n]}


CMRC = _first_articles(sample_dir("cmrc2018") / "cmrc2018_dev.json", 2)
DRCD = _first_articles(sample_dir("drcd") / "DRCD_dev.json", 1)
C3 = json.loads((sample_dir("c3") / "c3-d-dev.json").read_text(encoding="utf-8"))
SELECT_DIR = sample_dir("drcd_select")
SELECTION = json.loads((SELECT_DIR / "valid.json").read_text(encoding="utf-8"))[:8]
CONTEXTS = (SELECT_DIR / "context.json").read_bytes()
FEW_CONTEXTS = json.loads(CONTEXTS.decode("utf-8"))[:4]


# ---- what a successful read must give (so that damage is not silently passed on) -----------------
def documents_are_whole(documents: list[Document]) -> None:
    """Every mention inside the words, every fact over existing entities: the layout round-trips."""
    for doc in documents:
        for entity in doc.entities:
            assert entity.mentions and all(0 <= m.start < m.end <= len(doc.words) for m in entity.mentions)
        assert all(0 <= h < len(doc.entities) and 0 <= t < len(doc.entities) and h != t for h, t, _ in doc.facts)
        docred_json(doc)


def answers_are_in_their_contexts(examples: list[QAExample]) -> None:
    for ex in examples:
        assert isinstance(ex.question, str) and isinstance(ex.context, str) and ex.context
        for text, start in zip(ex.answers, ex.answer_starts, strict=True):
            assert isinstance(text, str) and (start == -1 or ex.context[start : start + len(text)] == text)


def labels_are_candidates(examples: list[ChoiceExample]) -> None:
    for ex in examples:
        assert ex.candidates and all(isinstance(c, str) for c in ex.candidates)
        assert ex.label is None or 0 <= ex.label < len(ex.candidates)
        assert isinstance(ex.question, str) and isinstance(ex.passage, str)


def checked(read: Callable[[Path], Any], check: Callable[[Any], None]) -> Callable[[Path], None]:
    """``read``, and ``check`` on what it read (the examples, or the first item of an (examples, stats) pair)."""

    def read_and_check(path: Path) -> None:
        result = read(path)
        check(result[0] if isinstance(result, tuple) else result)

    return read_and_check


# ---- DocRED / CDR -------------------------------------------------------------------------------
read_docred_checked = checked(lambda path: read_docred(path, set(RELATIONS)), documents_are_whole)
read_cdr_checked = checked(read_cdr, documents_are_whole)


@given(mutated(_dump(DOCRED_DOCS)))
@MUTATION_SETTINGS
def test_docred_reader_on_damaged_bytes(tmp_path: Path, data: bytes) -> None:
    reads_or_names_the_file(read_docred_checked, _write(tmp_path / "dev.json", data))


@given(restructured(DOCRED_DOCS))
@MUTATION_SETTINGS
def test_docred_reader_on_restructured_json(tmp_path: Path, data: bytes) -> None:
    reads_or_names_the_file(read_docred_checked, _write(tmp_path / "dev.json", data))


@given(mutated(CDR))
@MUTATION_SETTINGS
def test_cdr_reader_on_damaged_bytes(tmp_path: Path, data: bytes) -> None:
    reads_or_names_the_file(read_cdr_checked, _write(tmp_path / "dev_filter.data", data))


def for_prediction(task: Task[Any], tokenizer: Any, vocabs: dict[str, LabelVocab]) -> Any:
    """``task`` as ``relx.predict`` sets it up from a checkpoint: no data directory, the checkpoint's vocabs."""
    TaskDataModule(task, None, tokenizer, vocabs=vocabs).read()
    return task


@pytest.fixture(scope="module")
def docred_module(tokenizer: Any) -> DocumentRETask:
    return for_prediction(DocumentRETask(name="docred"), tokenizer, {"pair": LabelVocab([NA, *RELATIONS])})


@pytest.fixture(scope="module")
def cdr_module(tokenizer: Any) -> CdrTask:
    return for_prediction(CdrTask(name="cdr"), tokenizer, {"pair": LabelVocab([NA, "CID"])})


@given(st.one_of(mutated(_dump(DOCRED_TEST_DOCS)), restructured(DOCRED_TEST_DOCS, json_lines=True)))
@MUTATION_SETTINGS
def test_docred_read_raw_on_damaged_input(tmp_path: Path, docred_module: DocumentRETask, data: bytes) -> None:
    read = checked(docred_module.read_raw, documents_are_whole)
    reads_or_names_the_file(read, _write(tmp_path / "documents.json", data))


@given(mutated(CDR))
@MUTATION_SETTINGS
def test_cdr_read_raw_on_damaged_input(tmp_path: Path, cdr_module: CdrTask, data: bytes) -> None:
    reads_or_names_the_file(checked(cdr_module.read_raw, documents_are_whole), _write(tmp_path / "test.data", data))


# ---- MRC ----------------------------------------------------------------------------------------
read_squad_training = checked(lambda path: read_squad(path, training=True), answers_are_in_their_contexts)
read_squad_evaluation = checked(read_squad, answers_are_in_their_contexts)


@pytest.mark.parametrize("original", [CMRC, DRCD], ids=["cmrc2018", "drcd"])
@given(data=st.data())
@MUTATION_SETTINGS
def test_span_qa_reader_on_damaged_bytes(tmp_path: Path, original: Any, data: st.DataObject) -> None:
    damaged = data.draw(mutated(_dump(original)))
    reads_or_names_the_file(read_squad_training, _write(tmp_path / "train.json", damaged))


@pytest.mark.parametrize("original", [CMRC, DRCD], ids=["cmrc2018", "drcd"])
@given(data=st.data())
@MUTATION_SETTINGS
def test_span_qa_reader_on_restructured_json(tmp_path: Path, original: Any, data: st.DataObject) -> None:
    path = _write(tmp_path / "train.json", data.draw(restructured(original)))
    reads_or_names_the_file(read_squad_training, path)
    reads_or_names_the_file(read_squad_evaluation, path)
    from_squad = checked(lambda p: read_selection(p, None, training=True), labels_are_candidates)
    reads_or_names_the_file(from_squad, path)  # context selection built from a SQuAD-style file


@given(st.one_of(mutated(_dump(C3)), restructured(C3)))
@MUTATION_SETTINGS
def test_c3_reader_on_damaged_input(tmp_path: Path, data: bytes) -> None:
    reads_or_names_the_file(checked(read_c3, labels_are_candidates), _write(tmp_path / "c3-d-dev.json", data))


def _selection_dir(tmp_path: Path) -> Path:
    (tmp_path / "context.json").write_bytes(CONTEXTS)
    return tmp_path


@given(st.one_of(mutated(_dump(SELECTION)), restructured(SELECTION)))
@MUTATION_SETTINGS
def test_selection_reader_on_damaged_questions(tmp_path: Path, data: bytes) -> None:
    folder = _selection_dir(tmp_path)
    path = _write(folder / "valid.json", data)
    read = checked(lambda p: read_selection(p, folder / "context.json", training=True), labels_are_candidates)
    reads_or_names_the_file(read, path)
    reads_or_names_the_file(checked(read_questions, labels_are_candidates), path)  # context.json beside it


@given(st.one_of(mutated(_dump(FEW_CONTEXTS)), restructured(FEW_CONTEXTS)))
@MUTATION_SETTINGS
def test_selection_reader_on_a_damaged_contexts_file(tmp_path: Path, data: bytes) -> None:
    reads_or_names_the_file(read_contexts, _write(tmp_path / "context.json", data))


@given(st.one_of(restructured(SELECTION), restructured(DRCD), mutated(_dump(DRCD))))
@MUTATION_SETTINGS
def test_pipeline_read_questions_on_damaged_input(tmp_path: Path, data: bytes) -> None:
    from relx.mrc_pipeline import read_questions as pipeline_read_questions

    folder = _selection_dir(tmp_path)
    read = checked(pipeline_read_questions, labels_are_candidates)
    reads_or_names_the_file(read, _write(folder / "questions.json", data))


@pytest.fixture(scope="module")
def mrc_modules(tokenizer: Any) -> dict[str, Any]:
    """The Tasks ``relx.predict`` sets up from MRC checkpoints (no data directory)."""
    choice = {"choice": LabelVocab([str(i) for i in range(MAX_CHOICES)])}
    return {
        "span": for_prediction(SpanQATask(name="span", files={}), tokenizer, {"span": LabelVocab(["start", "end"])}),
        "c3": for_prediction(C3Task(name="c3", files={}), tokenizer, choice),
        "select": for_prediction(ContextSelectionTask(name="select", files={}), tokenizer, choice),
    }


RAW: dict[str, tuple[Any, Callable[[Any], None]]] = {
    "span": (CMRC, answers_are_in_their_contexts),
    "c3": (C3, labels_are_candidates),
    "select": (SELECTION, labels_are_candidates),
}


@pytest.mark.parametrize("kind", list(RAW))
@given(data=st.data())
@MUTATION_SETTINGS
def test_mrc_read_raw_on_damaged_input(tmp_path: Path, mrc_modules: dict[str, Any], kind: str, data: Any) -> None:
    original, check = RAW[kind]
    damaged = data.draw(st.one_of(mutated(_dump(original)), restructured(original)))
    read = checked(mrc_modules[kind].read_raw, check)
    reads_or_names_the_file(read, _write(_selection_dir(tmp_path) / "input.json", damaged))


def test_the_originals_read_cleanly(tmp_path: Path, docred_module: DocumentRETask) -> None:
    """The undamaged originals are valid input: every failure above comes from the damage."""
    docs, _ = read_docred(_write(tmp_path / "a.json", _dump(DOCRED_DOCS)), set(RELATIONS))
    assert len(docs) == 2 and all(doc.facts for doc in docs)
    assert len(read_cdr(_write(tmp_path / "b.data", CDR))[0]) == 2
    assert len(docred_module.read_raw(_write(tmp_path / "c.json", _dump(DOCRED_TEST_DOCS)))) == 2
    examples, _ = read_squad(_write(tmp_path / "d.json", _dump(CMRC)), training=True)
    assert examples and all(ex.answers for ex in examples)
    assert all(ex.label is not None for ex in read_c3(_write(tmp_path / "e.json", _dump(C3)))[0])
    folder = _selection_dir(tmp_path)
    assert len(read_questions(_write(folder / "f.json", _dump(SELECTION)))) == 8
    assert read_contexts(_write(tmp_path / "g.json", _dump(FEW_CONTEXTS))) == FEW_CONTEXTS
