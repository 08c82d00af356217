"""Property tests of the word-level readers: each bundled sample file, damaged the way users' files get
damaged (``tests/mutations.py``), is either read into well-formed examples or refused with a one-line
``RelxError`` naming the file — never another exception, never a malformed example let through."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mutations import KINDS, MUTATION_SETTINGS, TEXT_KINDS, mutated, reads_or_names_the_file
from relx.build import sample_dir
from relx.data.bio import is_bio_tag
from relx.data.conll import DependencyExample, read_conll
from relx.data.examples import WordExample
from relx.data.readers import read_bio_file, read_jointbert_split, read_label_file
from relx.structs import is_tree
from relx.tasks.treebanks import DependencyTask
from relx.tasks.words import BioNerTask

MOVIE = sample_dir("mit_movie") / "engtest.bio"
CONLL_NER = sample_dir("conll_ner") / "dev.txt"
ATIS = sample_dir("atis")
UD = sample_dir("ud_ewt") / "en_ewt-ud-dev.conllu"
PTB = sample_dir("ptb_sd") / "dev.conll"
JOINTBERT_FILES = ("train/seq.in", "train/seq.out", "train/label", "intent_label.txt", "slot_label.txt")
# The shared damage plus the kinds that keep the text UTF-8 (changed digits: word ids and heads; inserted
# separators), so that more of the examples get past decoding into the formats' own checks.
DAMAGE = KINDS + TEXT_KINDS


def ud_text() -> bytes:
    """Raw text for the parser's ``read_raw``: the sentences of the UD sample (its ``# text =`` lines)."""
    lines = UD.read_text(encoding="utf-8").splitlines()
    return "".join(line.split("=", 1)[1].strip() + "\n" for line in lines if line.startswith("# text =")).encode()


def damaged(tmp_path: Path, name: str, data: bytes) -> Path:
    """``data`` written as ``tmp_path/name`` (a fresh file per example: the fixture's directory is shared)."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def well_formed_words(examples: list[WordExample], labelled: bool) -> None:
    """What every word-level consumer relies on: non-empty sentences, one valid BIO tag per word."""
    assert examples
    for ex in examples:
        assert ex.words and all(w.strip() for w in ex.words), ex
        if labelled:
            assert ex.tags is not None and len(ex.tags) == len(ex.words) and all(map(is_bio_tag, ex.tags)), ex


def well_formed_trees(examples: list[DependencyExample]) -> None:
    """What the parser relies on: every sentence is one single-rooted tree over its words."""
    assert examples
    for ex in examples:
        n = len(ex.words)
        assert n and len(ex.heads) == len(ex.rels) == len(ex.upos) == len(ex.xpos) == n, ex
        assert is_tree([-1, *ex.heads]), ex


@given(data=mutated(MOVIE.read_bytes(), kinds=DAMAGE))
@MUTATION_SETTINGS
def test_bio_ner_reader_tag_word(tmp_path: Path, data: bytes) -> None:
    def read(path: Path) -> None:
        examples, _ = read_bio_file(path, "tag_word", training=True)
        well_formed_words(examples, labelled=True)

    reads_or_names_the_file(read, damaged(tmp_path, "engtrain.bio", data))


@given(data=mutated(CONLL_NER.read_bytes(), kinds=DAMAGE))
@MUTATION_SETTINGS
def test_bio_ner_reader_conll_columns(tmp_path: Path, data: bytes) -> None:
    def read(path: Path) -> None:
        examples, _ = read_bio_file(path, "conll", training=True)
        well_formed_words(examples, labelled=True)

    reads_or_names_the_file(read, damaged(tmp_path, "train.txt", data))


@given(which=st.sampled_from(JOINTBERT_FILES), data=st.data())
@MUTATION_SETTINGS
def test_intent_slot_reader(tmp_path: Path, which: str, data: Any) -> None:
    root = tmp_path / "atis"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(ATIS, root)
    target = damaged(root, which, data.draw(mutated((ATIS / which).read_bytes(), kinds=DAMAGE)))

    def read(_: Path) -> None:
        examples, _stats = read_jointbert_split(root / "train", training=True)
        well_formed_words(examples, labelled=True)
        assert all(ex.label for ex in examples)
        assert read_label_file(root / "intent_label.txt") and read_label_file(root / "slot_label.txt")

    reads_or_names_the_file(read, target)


@given(data=mutated(UD.read_bytes(), kinds=DAMAGE))
@MUTATION_SETTINGS
def test_conllu_reader(tmp_path: Path, data: bytes) -> None:
    reads_or_names_the_file(
        lambda p: well_formed_trees(read_conll(p)), damaged(tmp_path, "en_ewt-ud-train.conllu", data)
    )


@given(data=mutated(PTB.read_bytes(), kinds=DAMAGE))
@MUTATION_SETTINGS
def test_conllx_reader(tmp_path: Path, data: bytes) -> None:
    reads_or_names_the_file(lambda p: well_formed_trees(read_conll(p)), damaged(tmp_path, "train.conll", data))


@given(data=mutated(UD.read_bytes(), kinds=DAMAGE))
@MUTATION_SETTINGS
def test_conllu_reader_repair_mode(tmp_path: Path, data: bytes) -> None:
    """Repair mode fixes roots and cycles; whatever it still refuses is named, whatever it returns is a tree."""
    reads_or_names_the_file(
        lambda p: well_formed_trees(read_conll(p, repair_trees=True)), damaged(tmp_path, "en_ewt-ud-dev.conllu", data)
    )


# The predict-input readers of the word and parsing DataModules (raw text, one input a line). They need
# no tokenizer and no data to read raw text, only label vocabularies (as restored from a checkpoint).
WORD_TASK = BioNerTask("words", files={})
TREE_TASK = DependencyTask(name="ud_ewt", files={})


@given(data=mutated((ATIS / "train" / "seq.in").read_bytes(), kinds=DAMAGE))
@MUTATION_SETTINGS
def test_word_task_raw_input_reader(tmp_path: Path, data: bytes) -> None:
    reads_or_names_the_file(
        lambda p: well_formed_words(WORD_TASK.read_raw(p), labelled=False), damaged(tmp_path, "input.txt", data)
    )


@given(data=mutated(ud_text(), kinds=DAMAGE))
@MUTATION_SETTINGS
def test_parsing_raw_input_reader(tmp_path: Path, data: bytes) -> None:
    def read(path: Path) -> None:
        examples = TREE_TASK.read_raw(path)
        assert examples and all(ex.words and not ex.heads for ex in examples)

    reads_or_names_the_file(read, damaged(tmp_path, "sentences.txt", data))
