"""Chinese MRC: official EM/F1 definitions, n-best span decoding, context windows, the choice mask,
readers' validation, end-to-end training of every MRC task and the two-stage prediction pipeline."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from behaviour import check_behaviour
from helpers import TINY_FAST, compose_config
from relx.build import sample_dir
from relx.comparison import compare
from relx.data.mrc import (
    read_c3,
    read_contexts,
    read_questions,
    read_seed_selection,
    read_selection,
    read_squad,
    selection_candidates,
)
from relx.data.settings import DataSettings
from relx.encoders import Encoded
from relx.errors import DataFormatError
from relx.heads import ChoiceHead
from relx.metrics.mrc_scores import cmrc_em, cmrc_f1, mixed_segmentation, qa_scores, squad_em, squad_f1
from relx.postprocess import best_span
from relx.runs import train
from relx.tasks.mrc import ChoiceCollator, SpanQATask


# ---- metrics: hand-computed ---------------------------------------------------------------------
def test_cmrc_scores_follow_the_official_script() -> None:
    # answer 北京大学 = [北,京,大,学] (4 tokens), prediction 北京大学图书馆 (7 tokens): LCS 4,
    # P = 4/7, R = 4/4, F1 = 2 * (4/7) / (4/7 + 1) = 8/11
    assert cmrc_f1(["北京大学"], "北京大学图书馆") == pytest.approx(8 / 11)
    assert cmrc_em(["北京大学"], "北京大学图书馆") == 0.0
    # the script's punctuation (《》) is removed for EM and F1: both exact
    assert cmrc_em(["《战国无双3》"], "战国无双3") == 1.0 and cmrc_f1(["《战国无双3》"], "战国无双3") == 1.0
    # digit runs are one word: [1966, 年] vs [1966, 年, 發, 現]: LCS 2, P = 2/4, R = 2/2, F1 = 2/3
    assert mixed_segmentation("1966年發現") == ["1966", "年", "發", "現"]
    assert cmrc_f1(["1966年"], "1966年發現") == pytest.approx(2 / 3)
    # the *contiguous* longest common substring: [甲,乙,丙,丁] vs [甲,乙,x,丙,丁]: LCS 2 (not 4),
    # P = 2/5, R = 2/4, F1 = 2 * 0.4 * 0.5 / 0.9 = 4/9
    assert cmrc_f1(["甲乙丙丁"], "甲乙X丙丁") == pytest.approx(4 / 9)
    # ASCII ',' is not in the script's list: [hello, ",", world] vs [hello, world]: LCS 1,
    # P = 1/2, R = 1/3, F1 = 2 * (1/6) / (5/6) = 0.4; EM compares "hello, world" with "hello world": 0
    assert cmrc_f1(["Hello, World"], "hello world") == pytest.approx(0.4)
    assert cmrc_em(["Hello, World"], "hello world") == 0.0
    # maximum over gold answers, then the mean over questions: ((1 + 0) / 2, (1 + 8/11) / 2)
    scores = qa_scores(["北京大学", "北京大学图书馆"], [["北京", "北京大学"], ["北京大学"]], "zh")
    assert scores["em"] == pytest.approx(0.5) and scores["f1"] == pytest.approx((1 + 8 / 11) / 2)
    assert cmrc_f1(["北京"], "") == 0.0


def test_squad_scores_follow_evaluate_v11() -> None:
    # normalize_answer: "the Eiffel Tower!" -> "eiffel tower"
    assert squad_em(["Eiffel Tower"], "the Eiffel Tower!") == 1.0
    # pred [in, paris, france] vs [paris]: 1 common, P = 1/3, R = 1, F1 = 2 * (1/3) / (4/3) = 0.5
    assert squad_f1(["Paris"], "in Paris, France") == pytest.approx(0.5)
    # vs [paris, france]: 2 common, P = 2/3, R = 1, F1 = 0.8; the maximum over gold answers wins
    assert squad_f1(["Paris", "Paris France"], "in Paris, France") == pytest.approx(0.8)
    assert qa_scores(["in Paris, France"], [["Paris"]], "en") == {"em": 0.0, "f1": pytest.approx(0.5)}


# ---- n-best decoding ----------------------------------------------------------------------------
def _offsets(rows: list[list[tuple[int, int]]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)


def test_best_span_pairs_n_best_context_tokens_within_the_length_limit() -> None:
    # tokens: CLS, question, SEP, then context characters [0,2) [2,4) [4,6)
    offsets = _offsets([[(-1, -1), (-1, -1), (-1, -1), (0, 2), (2, 4), (4, 6)]])
    start = torch.tensor([[5.0, 9.0, 0.0, 1.0, 3.0, 0.0]])
    end = torch.tensor([[5.0, 9.0, 0.0, 0.0, 1.0, 3.5]])
    # the question token (9 + 9) is never an answer; best: start 4 (3) + end 5 (3.5) -> chars [2, 6)
    assert best_span(start, end, offsets, n_best_size=20, max_answer_length=30)[:2] == (2, 6)
    # one token at most: (4, 4) scores 3 + 1 = 4 > (5, 5) 0 + 3.5 and (3, 3) 1 + 0
    assert best_span(start, end, offsets, max_answer_length=1)[:2] == (2, 4)
    # n_best_size=1: only start 4 and end 5 are paired
    assert best_span(start, end, offsets, n_best_size=1)[:2] == (2, 6)
    # end before start is never paired
    assert best_span(torch.tensor([[0, 0, 0, 0, 0, 9.0]]), torch.tensor([[0, 0, 0, 9.0, 0, 0]]), offsets)[:2] != (4, 2)
    assert best_span(start, end, _offsets([[(-1, -1)] * 6])) is None


def test_best_span_takes_the_best_window() -> None:
    offsets = _offsets([[(-1, -1), (0, 1), (1, 2)], [(-1, -1), (1, 2), (2, 3)]])
    start = torch.tensor([[0.0, 2.0, 0.0], [0.0, 0.0, 4.0]])
    end = torch.tensor([[0.0, 2.0, 0.0], [0.0, 0.0, 4.0]])
    assert best_span(start, end, offsets) == (2, 3, 8.0)  # window 2's token 2: chars [2, 3)


# ---- windows --------------------------------------------------------------------------------------
def _span_task(tokenizer: Any, max_length: int, doc_stride: int) -> SpanQATask:
    """A span QA task attached to ``tokenizer``, as ``relx.predict`` builds it (no data directory)."""
    task = SpanQATask(name="span", files={}, max_query_length=8)
    task.attach(tokenizer, DataSettings(max_length=max_length, doc_stride=doc_stride, cache_dir=None))
    return task


def test_answer_in_a_later_window_is_labelled_and_other_windows_point_at_cls(tokenizer: Any) -> None:
    task = _span_task(tokenizer, max_length=32, doc_stride=8)
    context = " ".join(["the river runs north"] * 12) + " a purple elephant sleeps"
    answer = "purple elephant"
    start_char = context.index(answer)
    out = task.encode({"question": ["what sleeps?"], "context": [context], "answers": [[answer]],
                       "answer_starts": [[start_char]]})  # fmt: skip
    windows, starts, ends = out["input_ids"][0], out["start_positions"][0], out["end_positions"][0]
    assert len(windows) > 2 and all(len(w) <= 32 for w in windows)
    holding = [w for w in range(len(windows)) if starts[w] != 0]
    assert holding and holding[0] >= 1  # not in the first window
    for w in range(len(windows)):
        offsets = out["offsets"][0][w]
        if w in holding:
            assert context[offsets[starts[w]][0] : offsets[ends[w]][1]] == answer
        else:
            assert starts[w] == ends[w] == windows[w].index(tokenizer.cls_token_id) == 0
    # decoding logits peaked on the gold tokens of that window recovers the answer text
    batch = task.collator()([{**{k: v[0] for k, v in out.items()}, "example_id": 0, "context": context,
                              "answers": [answer]}])  # fmt: skip
    start = torch.zeros(batch.input_ids.shape)
    end = torch.zeros(batch.input_ids.shape)
    w = holding[0]
    start[w, starts[w]] = end[w, ends[w]] = 10.0
    s, e, _ = best_span(start, end, batch.offsets)
    assert context[s:e] == answer
    assert batch.start_positions is not None and batch.start_positions.tolist() == starts


def test_consecutive_windows_share_doc_stride_context_tokens(tokenizer: Any) -> None:
    """The overlap that keeps every answer inside some window (tokenizers 0.23.2 overlapped less: pinned >= 0.23.3)."""
    task = _span_task(tokenizer, max_length=48, doc_stride=12)
    context = "".join(f"{i} 度" for i in range(200))  # digits and CJK characters, as in CMRC contexts
    out = task.encode({"question": ["什么?"], "context": [context], "answers": [[]], "answer_starts": [[]]})
    spans = [[tuple(o) for o in window if o[0] >= 0] for window in out["offsets"][0]]
    assert len(spans) > 3
    for a, b in zip(spans, spans[1:], strict=False):
        assert a[-12:] == b[:12]  # the last doc_stride context tokens of a window open the next one


def test_question_context_windows_carry_segment_ids(tokenizer: Any) -> None:
    task = _span_task(tokenizer, max_length=32, doc_stride=8)
    context = " ".join(["the river runs north"] * 6)
    out = task.encode({"question": ["where?"], "context": [context], "answers": [[]], "answer_starts": [[]]})
    batch = task.collator()([{**{k: v[0] for k, v in out.items()}, "example_id": 0, "context": context, "answers": []}])
    assert batch.token_type_ids is not None and batch.token_type_ids.shape == batch.input_ids.shape
    for w, offsets in enumerate(out["offsets"][0]):  # segment 1 exactly on the context tokens and the final [SEP]
        context_tokens = [i for i, o in enumerate(offsets) if o[0] >= 0]
        ones = batch.token_type_ids[w].nonzero().squeeze(1).tolist()
        assert ones == [*context_tokens, context_tokens[-1] + 1]


# ---- choice mask ----------------------------------------------------------------------------------
def test_padded_candidates_never_win_and_carry_no_probability() -> None:
    batch = ChoiceCollator(pad_token_id=0)([
        {"input_ids": [[101, 5, 102], [101, 6, 102]], "label_id": 1, "example_id": 0},
        {"input_ids": [[101, 7, 102], [101, 8, 102], [101, 9, 102], [101, 9, 9, 102]], "label_id": 3, "example_id": 1},
    ])  # fmt: skip
    assert batch.input_ids.shape == (8, 4) and batch.choice_mask.tolist() == [[True, True, False, False], [True] * 4]
    assert batch.attention_mask.sum(-1).min() >= 1  # padded candidates attend to one token: no NaN
    head = ChoiceHead(hidden_size=4, num_labels=4, dropout=0.0)
    hidden = torch.zeros(8, 4, 4)
    hidden[2:4, 0] = 100.0  # the padded candidates of question 0 would score highest
    with torch.no_grad():
        head.scorer.weight.fill_(1.0)
    logits = head(Encoded(hidden=hidden), batch)
    assert logits.shape == (2, 4)
    assert head.decode(logits, batch).tolist()[0] in (0, 1)
    assert head.probabilities(logits)[0, 2:].sum() == 0.0
    loss = head.loss(logits, batch)
    assert torch.isfinite(loss)
    smoothed = ChoiceHead(hidden_size=4, num_labels=4, dropout=0.0, label_smoothing=0.1)
    smoothed.load_state_dict(head.state_dict())
    # with smoothing over the real candidates only, the loss stays finite and close to the plain one
    assert torch.isfinite(smoothed.loss(logits, batch)) and smoothed.loss(logits, batch) < loss + 1.0


# ---- readers --------------------------------------------------------------------------------------
def _squad(tmp_path: Path, context: str, answer: str, start: int, question: str = "哪里？") -> Path:
    path = tmp_path / "train.json"
    qa = {"id": "q1", "question": question, "answers": [{"text": answer, "answer_start": start}]}
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": context, "qas": [qa]}]}]}))
    return path


def test_answer_starts_are_verified_and_fixed_only_when_unambiguous(tmp_path: Path) -> None:
    examples, stats = read_squad(_squad(tmp_path, "我在北京工作", "北京", 3), training=True)
    assert examples[0].answer_starts == (2,) and stats == {"answer_starts_fixed": 1}
    examples, stats = read_squad(_squad(tmp_path, "北京和北京", "北京", 1), training=True)
    assert examples[0].answer_starts == (-1,) and stats == {"answer_starts_ambiguous": 1}


def test_bad_inputs_name_file_and_record(tmp_path: Path) -> None:
    path = _squad(tmp_path, "我在北京工作", "上海", 2)
    with pytest.raises(DataFormatError, match=r"train\.json: question q1: answer '上海' is not in its context"):
        read_squad(path, training=True)
    assert read_squad(path)[1] == {"answers_not_in_context": 1}  # evaluation files: counted, scored by text
    with pytest.raises(DataFormatError, match="train.json: question q1: empty question"):
        read_squad(_squad(tmp_path, "我在北京工作", "北京", 2, question="  "))
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [\n  {"title": "t",\n   "paragraphs": [}\n]}')
    with pytest.raises(DataFormatError, match=r"bad\.json:3: malformed JSON: .*\(column 19\)"):
        read_squad(bad)
    contexts = tmp_path / "context.json"
    contexts.write_text(json.dumps(["第一段", "第二段"]))
    questions = tmp_path / "valid.json"
    questions.write_text(json.dumps([{"id": "x7", "question": "哪段？", "paragraphs": [0, 7], "relevant": 0}]))
    with pytest.raises(DataFormatError, match=r"valid\.json: question x7: candidate paragraph id 7 does not exist in"):
        read_seed_selection(questions, read_contexts(contexts), contexts)
    questions.write_text(json.dumps([{"id": "x8", "question": "哪段？", "paragraphs": [0], "relevant": 1}]))
    with pytest.raises(DataFormatError, match="question x8: relevant paragraph 1 is not a candidate"):
        read_selection(questions, contexts)
    c3 = tmp_path / "c3-m-train.json"
    c3.write_text(json.dumps([[["文"], [{"question": "问", "choice": ["甲", "乙"], "answer": "丙"}], "d1"]]))
    with pytest.raises(DataFormatError, match="question d1-0: answer '丙' is not among its choices"):
        read_c3(c3)


def test_mrc_input_that_is_not_utf8_is_a_data_format_error(tmp_path: Path) -> None:
    """Reported with relation input: mrc.py read files itself, so non-UTF-8 input gave a UnicodeDecodeError."""
    path = _squad(tmp_path, "我在北京工作", "北京", 2)
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))
    for read in (read_squad, read_c3, read_questions, lambda p: read_selection(p, None)):
        with pytest.raises(DataFormatError, match="not UTF-8 text") as info:
            read(path)
        assert str(path) in str(info.value)
    contexts = tmp_path / "context.json"
    contexts.write_bytes(json.dumps(["第一段"], ensure_ascii=False).encode("gb18030"))
    with pytest.raises(DataFormatError, match=r"context\.json:1: not UTF-8 text"):
        read_contexts(contexts)


@pytest.mark.parametrize(
    ("qa", "message"),
    [
        ({"id": "q1", "question": "哪里？", "answers": 3}, "question q1: 'answers' must be a list, got int"),
        (
            {"id": "q1", "question": "哪里？", "answers": [{"text": "北京", "answer_start": True}]},
            "question q1: answer needs a text and an integer answer_start",
        ),
        ({"id": "q1", "question": ["哪里？"]}, "question q1: empty question"),
    ],
)
def test_squad_fields_of_the_wrong_type_name_the_question(tmp_path: Path, qa: dict[str, Any], message: str) -> None:
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "我在北京工作", "qas": [qa]}]}]}))
    with pytest.raises(DataFormatError, match=re.escape(f"{path}: {message}")):
        read_squad(path)
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": 7}]}))
    with pytest.raises(DataFormatError, match="article t: 'paragraphs' must be a list, got int"):
        read_squad(path)


def test_c3_and_selection_fields_of_the_wrong_type(tmp_path: Path) -> None:
    c3 = tmp_path / "c3-m-dev.json"
    c3.write_text(json.dumps([[["文", ["嵌套"]], [{"question": "问", "choice": ["甲"]}], "d1"]]))
    with pytest.raises(DataFormatError, match=r"document 0 \(d1\): the passage must be a list of strings"):
        read_c3(c3)
    c3.write_text(json.dumps([[["文"], 5, "d1"]]))
    with pytest.raises(DataFormatError, match=r"document 0 \(d1\): the questions must be a list"):
        read_c3(c3)
    c3.write_text(json.dumps([[["文"], [{"question": "问", "choice": ["甲", 2]}], "d1"]]))
    with pytest.raises(DataFormatError, match="question d1-0: 'choice' must be a non-empty list of strings"):
        read_c3(c3)
    contexts = tmp_path / "context.json"
    contexts.write_text(json.dumps(["第一段", "第二段"]))
    questions = tmp_path / "valid.json"
    for answer, message in (
        ({"text": 5, "start": 0}, "with a text string"),
        ({"text": "第", "start": None}, "integer"),
    ):
        questions.write_text(json.dumps([{"id": "x9", "question": "哪段？", "paragraphs": [0, 1], "relevant": 0,
                                          "answer": answer}]))  # fmt: skip
        with pytest.raises(DataFormatError, match=f"valid.json: question x9: .*{message}"):
            read_selection(questions, contexts)


def test_question_list_without_its_paragraphs_file(tmp_path: Path) -> None:
    questions = tmp_path / "valid.json"
    questions.write_text(json.dumps([{"id": "x1", "question": "哪段？", "paragraphs": [0]}]))
    with pytest.raises(
        DataFormatError, match=r"valid\.json: a question list needs its paragraphs file: .*context\.json"
    ):
        read_questions(questions)


def test_selection_candidates_are_deterministic_and_hold_the_answer() -> None:
    chosen, label = selection_candidates("q-1", 2, 9)
    assert len(chosen) == 4 and chosen[label] == 2 and (chosen, label) == selection_candidates("q-1", 2, 9)
    assert selection_candidates("q-1", 0, 2)[0] in ([0, 1], [1, 0])
    labels = {selection_candidates(f"q{i}", 0, 5)[1] for i in range(20)}
    assert len(labels) > 1  # the right paragraph is not always first
    examples, _ = read_selection(sample_dir("drcd") / "DRCD_dev.json", None)
    assert all(ex.candidates[ex.label] for ex in examples if ex.label is not None)


# ---- end to end -----------------------------------------------------------------------------------
MRC_RUNS = [
    ("drcd", "span_qa", ("val/em", "val/f1")),
    ("cmrc2018", "span_qa", ("val/em", "val/f1")),
    ("drcd_select", "choice", ("val/acc",)),
    ("c3", "choice", ("val/acc",)),
]


@pytest.mark.parametrize(("task", "head", "keys"), MRC_RUNS)
def test_every_mrc_task_trains_and_writes_metrics(tmp_path: Path, task: str, head: str, keys: tuple[str, ...]) -> None:
    cfg = compose_config([f"task={task}", f"head={head}", *TINY_FAST, "trainer.val_check_interval=1"])
    metrics = train(cfg, tmp_path)
    check_behaviour(f"{task}-{head}", tmp_path, metrics)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert all(k in saved and 0.0 <= saved[k] <= 1.0 for k in keys) and saved == pytest.approx(metrics)
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert [p["step"] for p in curves] == [1.0, 2.0] and all(k in curves[0] for k in keys)
    assert (tmp_path / "curves.png").stat().st_size > 0
    if head == "span_qa":
        answers = json.loads((tmp_path / "predictions_validation.json").read_text())
        summary = json.loads((tmp_path / "data_summary.json").read_text())
        assert len(answers) == summary["validation"]["examples"] and summary["validation"]["windows"] > len(answers)
        # the answer key is the dev split as a SQuAD-style file: the official scores recomputed from the two files
        key, _ = read_squad(tmp_path / "answer_key_validation.json")
        assert sorted(ex.id for ex in key) == sorted(answers)
        recomputed = qa_scores([answers[ex.id] for ex in key], [ex.answers for ex in key])
        assert recomputed == pytest.approx({"em": saved["val/em"], "f1": saved["val/f1"]})
    else:
        rows = (tmp_path / "predictions_validation.jsonl").read_text().splitlines()
        assert all(0 <= json.loads(r)["pred"] < 4 for r in rows)
    itself = compare(tmp_path, tmp_path, resamples=20)  # relx.report --compare reads the files back
    assert itself.score_a == pytest.approx(saved[keys[-1]]) and itself.diff == 0.0 and itself.p_value == 1.0


def test_drcd_carved_from_one_file_keeps_articles_apart(tmp_path: Path) -> None:
    cfg = compose_config(["task=drcd", "head=span_qa", *TINY_FAST, f"data_dir={sample_dir('drcd')}",
                          "task.files.train=DRCD_training.json", "task.files.validation=null",
                          "task.files.test=null", "data.dev_fraction=0.3"])  # fmt: skip
    from relx.build import build_datamodule, build_tokenizer

    dm = build_datamodule(cfg, build_tokenizer(cfg))
    assert dm.dev_carved
    train_articles = {ex.article for ex in dm.examples["train"]}
    assert train_articles and not train_articles & {ex.article for ex in dm.examples["validation"]}


@pytest.fixture(scope="module")
def trained_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("mrc-pipeline")
    for task, head in (("drcd", "span_qa"), ("drcd_select", "choice")):
        cfg = compose_config([f"task={task}", f"head={head}", *TINY_FAST, "data.cache_dir=null",
                              "write_predictions=false"])  # fmt: skip
        train(cfg, root / task)
    return root / "drcd" / "checkpoints" / "last.ckpt", root / "drcd_select" / "checkpoints" / "last.ckpt"


def test_pipeline_command_selects_extracts_and_scores(tmp_path: Path, trained_pair: tuple[Path, Path]) -> None:
    qa, select = trained_pair
    questions = sample_dir("drcd_select") / "valid.json"
    output = tmp_path / "answers"
    done = subprocess.run(
        [sys.executable, "-m", "relx.predict", f"ckpt_path={qa}", f"select_ckpt_path={select}", f"input={questions}",
         f"output={output}", "accelerator=cpu"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    gold = json.loads(questions.read_text())
    answers = json.loads((tmp_path / "answers.json").read_text())
    assert list(answers) == [q["id"] for q in gold]
    rows = list(csv.reader((tmp_path / "answers.csv").open(encoding="utf-8")))
    assert rows[0] == ["id", "answer"] and len(rows) == 1 + len(gold)
    metrics = json.loads((tmp_path / "answers.metrics.json").read_text())
    assert set(metrics) == {"em", "f1", "answered", "select_acc"} and metrics["answered"] == len(gold)
    assert "f1=" in done.stdout


def test_pipeline_over_a_squad_file_uses_every_paragraph_of_the_article(trained_pair: tuple[Path, Path]) -> None:
    from relx.checkpointing import load_relx_checkpoint
    from relx.mrc_pipeline import read_questions, run_pipeline

    qa, select = trained_pair
    questions = read_questions(sample_dir("drcd") / "DRCD_dev.json")
    assert max(len(q.candidates) for q in questions) > 2
    result = run_pipeline(load_relx_checkpoint(qa), load_relx_checkpoint(select), questions)
    assert len(result.answers) == len(questions)
    assert all(0 <= c < len(q.candidates) for c, q in zip(result.chosen, questions, strict=True))
    # the answers are substrings of the chosen paragraphs, scored against the gold answers
    assert all(a in q.candidates[c] for a, c, q in zip(result.answers, result.chosen, questions, strict=True))
    assert 0.0 <= result.metrics["f1"] <= 1.0 and 0.0 <= result.metrics["select_acc"] <= 1.0
    # top_k=3: an answer from each of the 3 best-ranked paragraphs, the best kept (same ranking as top-1)
    three = run_pipeline(load_relx_checkpoint(qa), load_relx_checkpoint(select), questions, top_k=3)
    assert [k[0] for k in three.kept] == [k[0] for k in result.kept] == result.chosen
    for q, kept, chosen, answer in zip(questions, three.kept, three.chosen, three.answers, strict=True):
        assert len(kept) == min(3, len(q.candidates)) == len(set(kept)) and chosen in kept
        assert answer in q.candidates[chosen]
    assert three.metrics["select_recall_at_k"] >= three.metrics["select_acc"] == result.metrics["select_acc"]
    assert 0.0 <= three.metrics["answer_paragraph_acc"] <= 1.0
