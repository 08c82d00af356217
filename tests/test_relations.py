"""Relation classification: readers, marking, windowing, the R-BERT head, and the official scores."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from relx.build import add_special_tokens
from relx.data.markers import SCHEMES, mark, special_tokens
from relx.data.relations import (
    SEMEVAL_LABELS,
    Entity,
    RelationExample,
    read_klue_re,
    read_semeval,
)
from relx.data.settings import DataSettings
from relx.data.vocab import LabelVocab
from relx.errors import ConfigError, DataFormatError
from relx.metrics.relation_scores import klue_re_scores, semeval_official_scores
from relx.tasks.datamodule import TaskDataModule
from relx.tasks.relations import KlueReTask, RelationBatch, SemEvalTask

LABELS = set(SEMEVAL_LABELS)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---- readers -------------------------------------------------------------------------------------
def test_both_semeval_layouts_give_the_same_example(tmp_path: Path) -> None:
    blocks = write(
        tmp_path / "TRAIN_FILE.TXT",
        '7\t"The <e1>child</e1> was wrapped into the <e2>cradle</e2>."\nOther\nComment:\n\n',
    )
    tsv = write(tmp_path / "train.tsv", "Other\tThe <e1> child </e1> was wrapped into the <e2> cradle </e2>.\n")
    (a,), (b,) = read_semeval(blocks, LABELS), read_semeval(tsv, LABELS)
    assert (a.text, a.e1, a.e2, a.label) == (b.text, b.e1, b.e2, b.label)
    assert a.text == "The child was wrapped into the cradle." and a.text[a.e2.start : a.e2.end] == "cradle"
    assert (a.id, b.id) == ("7", "1")


def test_unlabelled_official_test_file(tmp_path: Path) -> None:
    f = write(tmp_path / "TEST_FILE.TXT", '8001\t"A <e1>b</e1> c <e2>d</e2>."\n8002\t"<e2>x</e2> and <e1>y</e1>"\n')
    examples = read_semeval(f, LABELS)
    assert [ex.id for ex in examples] == ["8001", "8002"] and all(ex.label is None for ex in examples)
    assert examples[1].e2.start == 0 and examples[1].e1.text == "y"


@pytest.mark.parametrize(
    ("sentence", "message"),
    [
        ("The <e1>child</e1> was there.", "expected one <e1>..</e1> and one <e2>..</e2>"),
        ("The <e1>child <e2>x</e1> y</e2>.", "not nested or overlapping"),
        ("The <e1></e1> and <e2>x</e2>.", "entity <e1> is empty"),
    ],
)
def test_bad_markers_name_the_line(tmp_path: Path, sentence: str, message: str) -> None:
    f = write(tmp_path / "train.tsv", f"Other\tok <e1>a</e1> <e2>b</e2>\nOther\t{sentence}\n")
    with pytest.raises(DataFormatError, match=message) as info:
        read_semeval(f, LABELS)
    assert f"{f}:2" in str(info.value)


def test_unknown_semeval_label(tmp_path: Path) -> None:
    f = write(tmp_path / "train.tsv", "Cause-Effekt(e1,e2)\t<e1>a</e1> <e2>b</e2>\n")
    with pytest.raises(DataFormatError, match=r"train.tsv:1: unknown relation label 'Cause-Effekt\(e1,e2\)'"):
        read_semeval(f, LABELS)


BLOCKS = [
    '1\t"The <e1>child</e1> was put in the <e2>cradle</e2>."\nContent-Container(e1,e2)\nComment:\n\n',
    '2\t"A <e1>virus</e1> caused the <e2>fever</e2>."\nCause-Effect(e1,e2)\nComment:\n\n',
    '3\t"The <e1>pen</e1> is in the <e2>box</e2>."\nContent-Container(e1,e2)\nComment:\n\n',
]


@pytest.mark.parametrize("name", ["TRAIN_FILE.TXT", "TEST_FILE_FULL.TXT"])
def test_semeval_block_without_its_relation_line_is_an_error_at_read_time(tmp_path: Path, name: str) -> None:
    """Reported: a block missing its relation line crashed in the loss (train) or after training (test)."""
    lost = BLOCKS[1].replace("Cause-Effect(e1,e2)\n", "")
    f = write(tmp_path / name, BLOCKS[0] + lost + BLOCKS[2])
    with pytest.raises(DataFormatError, match="example 2 has no relation label, but 2 of the 3 examples") as info:
        read_semeval(f, LABELS)
    assert info.value.path == str(f) and info.value.line == 5  # the sentence line of the block
    assert str(info.value).startswith(f"{f}:5: ")


def test_semeval_file_without_a_relation_line_fails_before_training(tmp_path: Path, tokenizer: Any) -> None:
    semeval_dir(tmp_path)
    lost = BLOCKS[1].replace("Cause-Effect(e1,e2)\n", "")
    write(tmp_path / "TEST_FILE_FULL.TXT", BLOCKS[0] + lost + BLOCKS[2])
    with pytest.raises(DataFormatError, match=r"TEST_FILE_FULL\.TXT:5: example 2 has no relation label"):
        TaskDataModule(SemEvalTask("semeval", FILES), tmp_path, tokenizer).read()


def test_semeval_unlabelled_training_file_is_an_error(tmp_path: Path, tokenizer: Any) -> None:
    semeval_dir(tmp_path)
    write(tmp_path / "TRAIN_FILE.TXT", '8001\t"A <e1>b</e1> c <e2>d</e2>."\n8002\t"<e2>x</e2> and <e1>y</e1>"\n')
    with pytest.raises(DataFormatError, match=r"TRAIN_FILE\.TXT:1: training example without a relation label"):
        TaskDataModule(SemEvalTask("semeval", FILES), tmp_path, tokenizer).read()


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        # a damaged sentence line after a lost relation line must not become the previous example's label
        (BLOCKS[0].replace("Content-Container(e1,e2)\n", "") + BLOCKS[1].replace("\t", " ", 1), "ID<TAB>", 4),
        (BLOCKS[0] + BLOCKS[0], "example id 1 appears more than once (first at line 1)", 5),
        (BLOCKS[0] + "Cause-Effect(e1,e2)\n", "or a relation line", 5),
    ],
    ids=["sentence-as-label", "duplicate-id", "second-relation-line"],
)
def test_semeval_damaged_blocks_name_the_line(tmp_path: Path, text: str, message: str, line: int) -> None:
    f = write(tmp_path / "TRAIN_FILE.TXT", text)
    with pytest.raises(DataFormatError, match=re.escape(message)) as info:
        read_semeval(f)
    assert info.value.line == line and str(f) in str(info.value)


def raw_reader(tokenizer: Any) -> SemEvalTask:
    """The Task ``relx.predict`` reads with from a SemEval checkpoint (no data directory)."""
    vocabs = {"sentence": LabelVocab(list(SEMEVAL_LABELS)), "entity_type": LabelVocab([])}
    return TaskDataModule(SemEvalTask("semeval"), None, tokenizer, vocabs=vocabs).task


def test_relation_raw_input_that_is_not_utf8_is_a_data_format_error(tmp_path: Path, tokenizer: Any) -> None:
    """Reported: non-UTF-8 input to relx.predict gave a UnicodeDecodeError traceback."""
    f = tmp_path / "sentences.txt"
    f.write_bytes("The <e1>café</e1> is in <e2>Paris</e2>.\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match="not UTF-8 text") as info:
        raw_reader(tokenizer).read_raw(f)
    assert str(f) in str(info.value) and info.value.line == 1
    (ex,) = raw_reader(tokenizer).read_raw(write(tmp_path / "ok.txt", "\nThe <e1>café</e1> is in <e2>Paris</e2>.\n"))
    assert (ex.id, ex.e1.text, ex.e2.text, ex.source) == ("2", "café", "Paris", f"{tmp_path / 'ok.txt'}:2")
    with pytest.raises(DataFormatError, match=r"sentences\.txt:2: expected one <e1>"):
        raw_reader(tokenizer).read_raw(write(f, "<e1>a</e1> <e2>b</e2>\nno markers here\n"))


def klue_record(**changes: Any) -> dict[str, Any]:
    record = {
        "guid": "g1", "sentence": "이순신은 1545년 한성에서 태어났다.", "label": "per:date_of_birth",
        "subject_entity": {"word": "이순신", "start_idx": 0, "end_idx": 2, "type": "PER"},
        "object_entity": {"word": "1545년", "start_idx": 5, "end_idx": 9, "type": "DAT"},
    }  # fmt: skip
    record.update(changes)
    return record


def test_klue_reader_checks_offsets_against_the_word(tmp_path: Path) -> None:
    (ex,) = read_klue_re(write(tmp_path / "a.json", json.dumps([klue_record()], ensure_ascii=False)))
    assert (ex.e1.text, ex.e1.type, ex.e2.text, ex.e2.type) == ("이순신", "PER", "1545년", "DAT")
    bad = klue_record(object_entity={"word": "1545년", "start_idx": 4, "end_idx": 8, "type": "DAT"})
    with pytest.raises(DataFormatError, match=r"record 0 \(guid g1\): object_entity offsets 4..8 give"):
        read_klue_re(write(tmp_path / "b.json", json.dumps([bad], ensure_ascii=False)))
    with pytest.raises(DataFormatError, match="malformed JSON"):
        read_klue_re(write(tmp_path / "c.json", "[{"))
    with pytest.raises(DataFormatError, match="missing field 'sentence'"):
        read_klue_re(write(tmp_path / "d.json", json.dumps([{"guid": "x"}])))
    overlap = klue_record(object_entity={"word": "순신", "start_idx": 1, "end_idx": 2, "type": "PER"})
    with pytest.raises(DataFormatError, match="overlap"):
        read_klue_re(write(tmp_path / "e.json", json.dumps([overlap], ensure_ascii=False)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subject_entity": {"word": "이순신", "start_idx": "x", "end_idx": 2}}, "must be integers"),
        ({"subject_entity": {"word": "이순신", "start_idx": -3, "end_idx": -1}}, "(outside the sentence)"),
        ({"subject_entity": "이순신"}, "subject_entity': expected an object"),
        ({"sentence": ["이순신"]}, "field 'sentence': expected a non-empty string"),
        ({"label": ["per:title"]}, "field 'label': expected a relation label string"),
        ({"object_entity": {"word": "1545년", "start_idx": 5, "end_idx": 9, "type": ["DAT"]}}, "'type' must be"),
    ],
)
def test_klue_malformed_values_name_file_and_record(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    f = write(tmp_path / "a.json", json.dumps([klue_record(), klue_record(guid="g2", **change)], ensure_ascii=False))
    with pytest.raises(DataFormatError, match=re.escape(message)) as info:
        read_klue_re(f)
    assert str(info.value).startswith(f"{f}: record 1 (guid g2): ")


def test_klue_json_lines_errors_name_the_line(tmp_path: Path) -> None:
    lines = [json.dumps(klue_record(), ensure_ascii=False), "", json.dumps(klue_record(guid="g3", label=None))]
    with pytest.raises(
        DataFormatError, match=r"a\.jsonl:3: record 1 \(guid g3\) has no relation label, but 1 of the 2"
    ):
        read_klue_re(write(tmp_path / "a.jsonl", "\n".join(lines) + "\n"))
    with pytest.raises(DataFormatError, match=r"b\.jsonl:2: malformed JSON"):
        read_klue_re(write(tmp_path / "b.jsonl", lines[0] + "\n{oops\n"))


# ---- marking -------------------------------------------------------------------------------------
EX = RelationExample("1", "In Seattle, Bill lived.", Entity(12, 16, "Bill", "PERSON"), Entity(3, 10, "Seattle", "CITY"))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_keeps_entity_spans_right(scheme: str) -> None:
    text, e1, e2 = mark(EX, scheme)
    content = {"entity_mask": ("[SUBJ-PERSON]", "[OBJ-CITY]")}.get(scheme, ("Bill", "Seattle"))
    assert (text[slice(*e1.content)], text[slice(*e2.content)]) == content
    assert e2.outer[1] <= e1.outer[0]  # e2 comes first in this sentence
    for token in special_tokens(scheme, ["PERSON", "CITY"]):
        assert token.startswith("[")


def test_typed_punct_marker_matches_the_paper() -> None:
    ex = RelationExample(
        "1", "Bill was born in Seattle.", Entity(0, 4, "Bill", "PERSON"), Entity(17, 24, "Seattle", "CITY")
    )
    assert mark(ex, "typed_marker_punct")[0] == "@ * person * Bill @ was born in # ^ city ^ Seattle #."
    assert mark(ex, "entity_marker")[0] == "[E1] Bill [/E1] was born in [E2] Seattle [/E2]."
    with pytest.raises(ConfigError, match="unknown entity marking scheme"):
        mark(ex, "brackets")


# ---- Task and DataModule -------------------------------------------------------------------------
def semeval_dir(tmp_path: Path, filler: int = 0) -> Path:
    pad = " ".join(["word"] * filler)
    blocks = "".join(
        f'{i}\t"The <e1>child</e1> {pad} was put in the <e2>cradle</e2>."\nContent-Container(e1,e2)\nComment:\n\n'
        for i in range(1, 11)
    )
    write(tmp_path / "TRAIN_FILE.TXT", blocks)
    write(tmp_path / "TEST_FILE_FULL.TXT", blocks.replace("Content-Container(e1,e2)", "Other"))
    return tmp_path


FILES = {"train": "TRAIN_FILE.TXT", "test": "TEST_FILE_FULL.TXT"}


def relation_module(
    task: SemEvalTask | KlueReTask, data_dir: Path, tokenizer: Any, settings: DataSettings | None = None
) -> TaskDataModule[RelationExample]:
    """The task's DataModule, read, with the task's markers added to (a copy of) ``tokenizer``, as
    ``relx.build.build_datamodule`` makes it."""
    dm = TaskDataModule(task, data_dir, copy.deepcopy(tokenizer), settings=settings)
    dm.read()
    add_special_tokens(dm.tokenizer, task)
    return dm


def test_entity_spans_point_at_the_entity_subwords(tmp_path: Path, tokenizer: Any) -> None:
    dm = relation_module(SemEvalTask("semeval", FILES, marker="entity_marker"), semeval_dir(tmp_path), tokenizer)
    tokenizer = dm.tokenizer
    assert "[E1]" in tokenizer.get_vocab()
    dm.setup()
    f = dm.features["test"][0]
    pieces = tokenizer.convert_ids_to_tokens(f["input_ids"])
    assert pieces[f["e1_span"][0] - 1] == "[E1]" and pieces[slice(f["e1_span"][0], f["e1_span"][1] + 1)] == ["child"]
    assert pieces[slice(f["e2_span"][0], f["e2_span"][1] + 1)] == tokenizer.tokenize("cradle")
    batch = next(iter(dm.test_dataloader()))
    assert isinstance(batch, RelationBatch) and batch.input_ids.shape[0] == len(batch) == 10
    assert batch.e1_span.shape == (10, 2) and batch.fits.all() and batch.sentence_labels.tolist() == [0] * 10


def test_long_inputs_are_windowed_around_both_entities(tmp_path: Path, tokenizer: Any) -> None:
    settings = DataSettings(max_length=24)
    dm = relation_module(SemEvalTask("semeval", FILES), semeval_dir(tmp_path, filler=40), tokenizer, settings)
    dm.setup()
    f = dm.features["test"][0]
    assert len(f["input_ids"]) <= 24 and not f["fits"]  # 40 words apart: no 24-token window holds both
    assert dm.encoding_stats["test"] == {"windowed_examples": 10, "unfit_examples": 10}
    assert len(dm.features["train"]) == 0  # unfit examples are not trained on, and counted
    dm = relation_module(SemEvalTask("semeval", FILES), semeval_dir(tmp_path, filler=8), tokenizer, settings)
    dm.setup()
    f = dm.features["test"][0]
    pieces = tokenizer.convert_ids_to_tokens(f["input_ids"])
    assert f["fits"] and pieces[0] == tokenizer.cls_token and pieces[-1] == tokenizer.sep_token
    assert pieces[f["e1_span"][0]] == "child" and pieces[f["e2_span"][0]] == tokenizer.tokenize("cradle")[0]


def test_klue_sample_datamodule_with_typed_markers(tokenizer: Any) -> None:
    from relx.build import sample_dir

    task = KlueReTask(
        "klue_re", {"train": "klue-re-v1.1_train.json", "validation": "klue-re-v1.1_dev.json"},
        marker="typed_marker", negative_label="no_relation", label_file="relation_list.json",
    )  # fmt: skip
    dm = relation_module(task, sample_dir("klue_re"), tokenizer)
    assert dm.vocabs["sentence"].num_labels == 30 and "PER" in dm.vocabs["entity_type"]
    assert "[E1-PER]" in dm.tokenizer.get_vocab() and "[E1-PER]" not in tokenizer.get_vocab()


def test_relation_task_options_are_checked(tmp_path: Path, tokenizer: Any) -> None:
    """An unknown marking scheme fails on construction; a negative label that is no class, once the
    vocabularies are known."""
    with pytest.raises(ConfigError, match="task.marker must be one of"):
        SemEvalTask("semeval", FILES, marker="brackets")
    with pytest.raises(ConfigError, match="negative label 'none' is not among the relation labels"):
        TaskDataModule(SemEvalTask("semeval", FILES, negative_label="none"), semeval_dir(tmp_path), tokenizer).read()


# ---- head ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("entity_fc", ["shared", "split"])
@pytest.mark.parametrize("concat", ["cls_e1_e2", "cls_e1_e2_absdiff_prod"])
def test_rbert_head_shapes_and_gradients(entity_fc: str, concat: str) -> None:
    from types import SimpleNamespace

    from relx.encoders import Encoded
    from relx.heads import RBertHead
    from relx.heads.rbert import span_mean

    hidden = torch.randn(2, 7, 8, requires_grad=True)
    batch = SimpleNamespace(
        e1_span=torch.tensor([[1, 2], [3, 3]]),
        e2_span=torch.tensor([[4, 5], [1, 1]]),
        sentence_labels=torch.tensor([1, 0]),
        fits=torch.tensor([True, False]),
        fallback_id=0,
    )
    assert torch.allclose(span_mean(hidden, batch.e1_span)[0], hidden[0, 1:3].mean(0))
    head = RBertHead(8, num_labels=3, entity_fc=entity_fc, concat=concat, activation="gelu")
    assert (head.e1_fc is head.e2_fc) == (entity_fc == "shared")
    logits = head(Encoded(hidden=hidden, pooled=None), batch)
    assert logits.shape == (2, 3)
    head.loss(logits, batch).backward()
    assert hidden.grad is not None and hidden.grad[0, 1:3].abs().sum() > 0
    assert head.decode(logits, batch)[1] == 0  # unfit row -> the negative class


# ---- official scores -----------------------------------------------------------------------------
def test_semeval_official_score_by_hand() -> None:
    gold = [
        "Cause-Effect(e1,e2)",
        "Cause-Effect(e1,e2)",
        "Cause-Effect(e2,e1)",
        "Component-Whole(e1,e2)",
        "Other",
        "Other",
    ]
    pred = [
        "Cause-Effect(e1,e2)",
        "Cause-Effect(e2,e1)",
        "Cause-Effect(e2,e1)",
        "Other",
        "Component-Whole(e1,e2)",
        "Other",
    ]
    s = semeval_official_scores(pred, gold)
    # official (9+1, directed): Cause-Effect correct 2 of gold 3; proposed 2 in the matrix + 1 wrong
    # direction -> P 2/3, R 2/3, F1 2/3. Component-Whole: 0 correct -> F1 0. Macro over the key's 2
    # relations: (2/3 + 0) / 2.
    assert s["f1"] == pytest.approx(1 / 3) and s["precision"] == pytest.approx(1 / 3)
    # micro: correct 2 / proposed (3 C-E incl. wrong dir + 1 C-W) = 1/2; recall 2/4 -> F1 1/2
    assert s["micro_f1"] == pytest.approx(0.5)
    # undirected: C-E all 3 right (P 3/3, R 3/3); C-W F1 0 -> 0.5
    assert s["f1_undirected"] == pytest.approx(0.5)
    # 19-way over the key's directed labels C-E(e1,e2), C-E(e2,e1), C-W(e1,e2):
    # C-E(e1,e2): P 1/1 R 1/2 F1 2/3; C-E(e2,e1): P 1/2 R 1/1 F1 2/3; C-W: 0 -> 4/9
    assert s["f1_19way"] == pytest.approx(4 / 9)
    assert s["acc"] == pytest.approx(3 / 6)


def test_klue_scores_by_hand() -> None:
    labels = ["no_relation", "per:title", "org:founded"]
    gold, pred = [0, 1, 2, 1], [1, 1, 0, 1]
    probs = torch.tensor([[0.4, 0.5, 0.1], [0.1, 0.8, 0.1], [0.5, 0.2, 0.3], [0.2, 0.7, 0.1]]).numpy()
    s = klue_re_scores(pred, gold, probs, labels)
    # micro F1 without no_relation: TP 2, predicted 3, gold 3 -> 2/3
    assert s["micro_f1"] == pytest.approx(2 / 3) and s["acc"] == pytest.approx(0.5)
    # AUPRC, one-vs-rest PR curves as scikit-learn draws them (the KLUE baseline's code):
    # class 1: scores .8(+) .7(+) .5 .2 -> both positives ranked first -> area 1.0
    # class 2: its one positive scores highest (.3) -> 1.0
    # class 0: .5(-) then .4(+) -> points (R, P) = (0, 1), (0, 0), (1, 0.5) -> trapezoid 0.25
    assert s["auprc"] == pytest.approx((0.25 + 1.0 + 1.0) / 3)
