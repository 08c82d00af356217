"""relx.significance (paired bootstrap, approximate randomisation, per-item statistics of the official metrics)
and the relx.report commands built on it: ``--seeds`` groups and ``--compare RUN_A RUN_B``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from seqeval.metrics import f1_score

from relx.comparison import compare
from relx.errors import DataFormatError, RelxError
from relx.metrics.attachment import attachment_scores
from relx.metrics.relation_scores import semeval_official_scores
from relx.report import SeedStat, main, seed_groups
from relx.significance import (
    approximate_randomisation,
    attachment_counts,
    entity_counts,
    f1_from_counts,
    las_from_counts,
    paired_bootstrap,
    score,
    semeval_counts,
    semeval_f1_metric,
    semeval_labels,
)


def accuracy(totals: np.ndarray) -> np.ndarray:
    return totals[..., 0] / totals[..., 1]


def correct(flags: list[int]) -> np.ndarray:
    """Per-item (correct, 1): accuracy's sufficient statistics."""
    return np.array([[f, 1] for f in flags], dtype=float)


# ---- the tests ---------------------------------------------------------------------------------------------------
def test_bootstrap_interval_from_given_resamples_is_the_hand_computed_percentile_interval() -> None:
    a, b = correct([1, 0, 1, 0]), correct([1, 1, 1, 1])
    indices = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 2, 3]])  # diffs 0, 1, 0.5
    diff, low, high = paired_bootstrap(a, b, accuracy, indices=indices, confidence=0.5)
    # the 25th and 75th percentiles of (0, 0.5, 1), interpolated linearly: 0.25 and 0.75
    assert (diff, low, high) == pytest.approx((0.5, 0.25, 0.75))


def test_every_item_favouring_b_gives_a_degenerate_interval_and_the_smallest_p() -> None:
    a, b = correct([0] * 60), correct([1] * 60)
    assert paired_bootstrap(a, b, accuracy, resamples=200, seed=3) == pytest.approx((1.0, 1.0, 1.0))
    assert approximate_randomisation(a, b, accuracy, resamples=200, seed=3) == pytest.approx(1 / 201)


def test_identical_systems_differ_by_nothing_with_p_one() -> None:
    a = correct([1, 0, 1, 1, 0, 1])
    assert paired_bootstrap(a, a.copy(), accuracy, resamples=500) == (0.0, 0.0, 0.0)
    assert approximate_randomisation(a, a.copy(), accuracy, resamples=500) == 1.0


def test_a_clearly_better_system_is_significant() -> None:
    a, b = correct([1, 0] * 30), correct([1] * 60)
    diff, low, high = paired_bootstrap(a, b, accuracy, resamples=1000, seed=0)
    assert diff == pytest.approx(0.5) and 0 < low < 0.5 < high
    assert approximate_randomisation(a, b, accuracy, resamples=1000, seed=0) < 0.05
    # the direction is B - A; swapping the systems mirrors the interval, the p-value is two-sided
    assert paired_bootstrap(b, a, accuracy, resamples=1000, seed=0) == pytest.approx((-diff, -high, -low))
    assert approximate_randomisation(b, a, accuracy, resamples=1000, seed=0) < 0.05


def test_given_shuffles_count_as_the_formula_says() -> None:
    a, b = correct([0, 0]), correct([1, 1])  # observed diff 1
    swaps = np.array([[False, False], [True, True], [True, False], [False, True]])  # diffs 1, -1, 0, 0
    assert approximate_randomisation(a, b, accuracy, swaps=swaps) == pytest.approx((2 + 1) / (4 + 1))


def test_a_resample_is_seeded() -> None:
    a, b = correct([1, 0, 0, 1, 1, 0, 1]), correct([1, 1, 0, 1, 1, 1, 0])
    assert paired_bootstrap(a, b, accuracy, 300, seed=7) == paired_bootstrap(a, b, accuracy, 300, seed=7)
    assert approximate_randomisation(a, b, accuracy, 300, seed=7) == approximate_randomisation(a, b, accuracy, 300, 7)
    with pytest.raises(ValueError, match="one shape"):
        paired_bootstrap(a, b[:3], accuracy)


# ---- per-item statistics reproduce the official metrics ------------------------------------------------------------
GOLD_TAGS = [
    ["B-PER", "I-PER", "O", "B-LOC"],
    ["O", "O"],
    ["B-ORG", "I-ORG", "I-ORG", "O", "B-PER"],
    ["B-LOC"],
]
PRED_TAGS = [
    ["B-PER", "I-PER", "O", "B-ORG"],
    ["I-LOC", "O"],  # an ill-formed chunk, read as seqeval reads it
    ["B-ORG", "I-ORG", "O", "O", "B-PER"],
    ["B-LOC"],
]


def test_entity_counts_give_seqeval_f1_on_the_set_and_on_resamples() -> None:
    stats = entity_counts(GOLD_TAGS, PRED_TAGS)
    assert score(stats, f1_from_counts) == pytest.approx(f1_score(GOLD_TAGS, PRED_TAGS), abs=1e-12)
    for idx in ([0, 0, 3], [1], [2, 2, 1, 0]):
        resampled = f1_score([GOLD_TAGS[i] for i in idx], [PRED_TAGS[i] for i in idx])
        assert score(stats[idx], f1_from_counts) == pytest.approx(resampled, abs=1e-12)


SEMEVAL_GOLD = [
    "Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)", "Other", "Entity-Origin(e1,e2)", "Member-Collection(e2,e1)",
    "Other", "Entity-Origin(e2,e1)", "Cause-Effect(e1,e2)",
]  # fmt: skip
SEMEVAL_PRED = [
    "Cause-Effect(e1,e2)", "Cause-Effect(e1,e2)", "Entity-Origin(e1,e2)", "Entity-Origin(e1,e2)", "Other",
    "Other", "Entity-Origin(e2,e1)", "Member-Collection(e1,e2)",
]  # fmt: skip


def test_semeval_counts_give_the_official_macro_f1_on_the_set_and_on_resamples() -> None:
    labels = semeval_labels(SEMEVAL_GOLD, SEMEVAL_PRED)
    stats, metric = semeval_counts(SEMEVAL_PRED, SEMEVAL_GOLD, labels), semeval_f1_metric(labels)
    official = semeval_official_scores(SEMEVAL_PRED, SEMEVAL_GOLD)["f1"]
    assert score(stats, metric) == pytest.approx(official, abs=1e-12)
    # resamples that lose relations from the answer key average over the relations they keep, as the scorer
    for idx in ([0, 1, 1, 2], [5, 5], [3, 6, 7, 7, 0], [4, 2]):
        resampled = semeval_official_scores([SEMEVAL_PRED[i] for i in idx], [SEMEVAL_GOLD[i] for i in idx])["f1"]
        assert score(stats[idx], metric) == pytest.approx(resampled, abs=1e-12)


def test_attachment_counts_give_las_with_both_conventions() -> None:
    gold_heads, gold_rels = [[2, 0, 2], [0, 1]], [["nsubj", "root", "punct"], ["root", "nmod:poss"]]
    pred_heads, pred_rels = [[2, 0, 1], [0, 1]], [["nsubj:pass", "root", "punct"], ["root", "nmod"]]
    tags = [["NN", "VB", "."], ["NN", "NN"]]
    for kwargs in (
        {},
        {"universal_relations": True},
        {"tags": tags, "punct_tags": frozenset({"."}), "universal_relations": True},
    ):
        stats = attachment_counts(gold_heads, gold_rels, pred_heads, pred_rels, **kwargs)  # type: ignore[arg-type]
        expected = attachment_scores(gold_heads, gold_rels, pred_heads, pred_rels, **kwargs)["las"]  # type: ignore[arg-type]
        assert score(stats, las_from_counts) == pytest.approx(expected, abs=1e-12)


# ---- relx.report --seeds ----------------------------------------------------------------------------------------
def run_dir(root: Path, name: str, overrides: list[str] | None, metrics: dict[str, float]) -> Path:
    d = root / name
    d.mkdir(parents=True)
    if overrides is not None:
        (d / ".hydra").mkdir()
        (d / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (d / "metrics.json").write_text(json.dumps(metrics))
    return d


def test_seed_groups_give_mean_sample_sd_and_n(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i, (seed, f1) in enumerate([(1, 0.80), (2, 0.82), (3, 0.87)]):
        run_dir(tmp_path, str(i), ["task=semeval", f"seed={seed}"], {"val/f1": f1, "val/acc": 0.5})
    run_dir(tmp_path, "3", ["task=semeval", "seed=1", "optim.lr=1e-5"], {"val/f1": 0.6})
    run_dir(tmp_path, "plain-s1", None, {"val/f1": 0.7})
    run_dir(tmp_path, "plain_seed2", None, {"val/f1": 0.9})
    columns, rows = seed_groups(tmp_path, ["val/f1"])
    assert columns == ["run", "seeds", "val/f1"]
    by_name = {row["run"]: row for row in rows}
    assert sorted(by_name) == ["plain", "task=semeval", "task=semeval optim.lr=1e-5"]
    stat = by_name["task=semeval"]["val/f1"]
    assert stat.n == 3 and stat.mean == pytest.approx(0.83)
    assert stat.sd == pytest.approx(np.std([0.80, 0.82, 0.87], ddof=1))  # sample sd: 0.0361
    assert by_name["task=semeval"]["seeds"] == "1,2,3"
    assert by_name["task=semeval optim.lr=1e-5"]["val/f1"] == SeedStat(0.6, None, 1)
    assert by_name["plain"]["val/f1"].mean == pytest.approx(0.8) and by_name["plain"]["seeds"] == "1,2"

    main([str(tmp_path), "--seeds", "--metrics", "val/f1,val/acc"])
    printed = capsys.readouterr().out
    assert "| task=semeval | 1,2,3 | 0.8300 ± 0.0361 (n=3) | 0.5000 ± 0.0000 (n=3) |" in printed
    assert "| task=semeval optim.lr=1e-5 | 1 | 0.6000 (n=1) |  |" in printed
    csv_lines = (tmp_path / "report.csv").read_text().splitlines()
    assert csv_lines[0] == "run,seeds,val/f1 mean,val/f1 sd,val/f1 n,val/acc mean,val/acc sd,val/acc n"
    assert csv_lines[1].startswith('task=semeval,"1,2,3",0.83')
    tex = (tmp_path / "report.tex").read_text()
    assert tex.startswith("\\begin{tabular}{llrr}\n") and tex.rstrip().endswith("\\end{tabular}")
    assert "task=semeval optim.lr=1e-5 & 1 & 0.6000 (n=1) &  \\\\" in tex
    assert "0.8300 $\\pm$ 0.0361 (n=3)" in tex


# ---- relx.report --compare ----------------------------------------------------------------------------------------
def semeval_run(root: Path, name: str, predicted: list[str], gold: list[str], split: str = "test") -> Path:
    d = root / name
    d.mkdir()
    (d / f"predictions_{split}.txt").write_text("".join(f"{i}\t{p}\n" for i, p in enumerate(predicted, start=1)))
    (d / f"answer_key_{split}.txt").write_text("".join(f"{i}\t{g}\n" for i, g in enumerate(gold, start=1)))
    return d


def test_compare_scores_semeval_runs_with_the_official_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gold = SEMEVAL_GOLD * 8
    a = semeval_run(tmp_path, "a", SEMEVAL_PRED * 8, gold)
    b = semeval_run(tmp_path, "b", gold, gold)
    result = compare(a, b, resamples=200)
    assert result.items == 64 and result.score_b == 1.0
    assert result.score_a == pytest.approx(semeval_official_scores(SEMEVAL_PRED, SEMEVAL_GOLD)["f1"])
    assert result.diff == pytest.approx(1.0 - result.score_a) and 0 < result.low <= result.high
    assert result.p_value == pytest.approx(1 / 201)
    main(["--compare", str(a), str(b), "--resamples", "200"])
    printed = capsys.readouterr().out
    assert printed.startswith("SemEval-2010 Task 8 official macro-F1 on test (64 sentences)\n")
    assert f"B - A  {result.diff:+.4f}  95% CI [{result.low:+.4f}, {result.high:+.4f}]" in printed
    assert "p = 0.0050  (approximate randomisation, two-sided, 200 shuffles)" in printed


def test_seed_groups_are_tested_against_the_baseline_seed_by_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dev-only sweep (no test predictions: ``--split auto`` takes the dev files): the baseline's runs are
    perfect, ``head=sequence``'s seed-1 run is the weak one and its seed-2 run equals the baseline."""
    gold = SEMEVAL_GOLD * 8
    runs = [("rbert", "1", gold), ("sequence", "1", SEMEVAL_PRED * 8), ("rbert", "2", gold), ("sequence", "2", gold)]
    for i, (head, seed, predicted) in enumerate(runs):
        d = semeval_run(tmp_path, str(i), predicted, gold, split="validation")
        (d / ".hydra").mkdir()
        (d / ".hydra" / "overrides.yaml").write_text(f"- task=semeval\n- head={head}\n- seed={seed}\n")
        (d / "metrics.json").write_text(json.dumps({"val/f1": 1.0}))
    weak = semeval_official_scores(SEMEVAL_PRED, SEMEVAL_GOLD)["f1"]

    main([str(tmp_path), "--seeds", "--baseline", "head=rbert", "--resamples", "200"])
    printed = capsys.readouterr().out
    assert "against the baseline (head=rbert), seed by seed:" in printed
    header, seed1, seed2 = csv.reader((tmp_path / "significance.csv").read_text().splitlines())
    assert header == ["run", "seed", "metric", "baseline", "score", "diff", "95% CI", "p"]
    assert seed1[6].startswith("[-") and seed2[6] == "[+0.0000, +0.0000]"
    assert seed1[:3] == ["task=semeval head=sequence", "1", "SemEval-2010 Task 8 official macro-F1 (validation)"]
    assert float(seed1[4]) == pytest.approx(weak) and float(seed1[5]) == pytest.approx(weak - 1.0)
    assert float(seed1[-1]) == pytest.approx(1 / 201)  # every resampled difference favours the baseline
    assert seed2[1] == "2" and float(seed2[5]) == 0.0 and float(seed2[-1]) == 1.0  # identical systems
    assert (tmp_path / "significance.md").is_file() and "95\\% CI" in (tmp_path / "significance.tex").read_text()

    with pytest.raises(SystemExit, match="--baseline 'task=semeval' matches 2 seed groups"):
        main([str(tmp_path), "--seeds", "--baseline", "task=semeval"])
    with pytest.raises(SystemExit) as usage:
        main([str(tmp_path), "--baseline", "head=rbert"])
    assert usage.value.code == 2 and "--baseline needs --seeds" in capsys.readouterr().err


def test_compare_scores_ner_runs_with_seqeval(tmp_path: Path) -> None:
    for name, predicted in (("a", PRED_TAGS), ("b", GOLD_TAGS)):
        (tmp_path / name).mkdir()
        lines = [
            "".join(f"w{i} {g} {p}\n" for i, (g, p) in enumerate(zip(gs, ps, strict=True))) + "\n"
            for gs, ps in zip(GOLD_TAGS, predicted, strict=True)
        ]
        (tmp_path / name / "predictions_test.conll").write_text("".join(lines))
    result = compare(tmp_path / "a", tmp_path / "b", resamples=100)
    assert (result.score_a, result.score_b) == pytest.approx((f1_score(GOLD_TAGS, PRED_TAGS), 1.0))


CONLLU = (  # one sentence; {0}: the relation of word 1, {1}: the head of the full stop
    "1\tDogs\t_\tNOUN\tNNS\t_\t2\t{0}\t_\t_\n"
    "2\tbark\t_\tVERB\tVBP\t_\t0\troot\t_\t_\n"
    "3\t.\t_\tPUNCT\t.\t_\t{1}\tpunct\t_\t_\n\n"
)


def test_compare_scores_parsing_runs_against_the_gold_treebank(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "gold.conllu").write_text(CONLLU.format("nsubj", 2) * 4)
    task = {"files": {"test": "gold.conllu"}, "punctuation": "ptb", "punct_column": "xpos"}
    for name, sentences in (("a", [("nsubj", 1), ("obj", 2), ("obj", 2), ("nsubj", 2)]), ("b", [("nsubj", 2)] * 4)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"data_dir": str(tmp_path / "data"), "task": task}))
        (tmp_path / name / "predictions_test.conllu").write_text("".join(CONLLU.format(*s) for s in sentences))
    result = compare(tmp_path / "a", tmp_path / "b", resamples=100)
    assert (result.items, result.score_a, result.score_b) == (4, pytest.approx(6 / 8), 1.0)  # punctuation unscored


QA_GOLD = [("q1", ["北京"]), ("q2", ["1998年", "1998"]), ("q3", ["上海市"]), ("q4", ["长江"])]


def span_qa_run(root: Path, name: str, answers: list[str]) -> Path:
    """A span QA run's dev files: the answer key (two articles, SQuAD layout, as relx writes it) and predictions."""
    from relx.data.mrc import QAExample, squad_answer_key

    examples = [
        QAExample(qid, f"question {qid}?", f"context {i // 2}", tuple(gold), (0,) * len(gold), f"article {i // 3}")
        for i, (qid, gold) in enumerate(QA_GOLD)
    ]
    run = root / name
    run.mkdir()
    (run / "answer_key_validation.json").write_text(json.dumps(squad_answer_key(examples), ensure_ascii=False))
    (run / "predictions_validation.json").write_text(
        json.dumps(dict(zip([q for q, _ in QA_GOLD], answers, strict=False)))
    )
    return run


def test_compare_scores_span_qa_runs_by_the_cmrc_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from relx.metrics.mrc_scores import qa_scores

    gold = [answers for _, answers in QA_GOLD]
    weak_answers = ["北京市", "1998", "江苏", "长江"]  # partial, exact (second answer), wrong, exact
    weak, strong = (
        span_qa_run(tmp_path, "a", weak_answers),
        span_qa_run(tmp_path, "b", ["北京", "1998年", "上海", "长江"]),
    )
    f1 = compare(weak, strong, resamples=100)
    expected_a, expected_b = qa_scores(weak_answers, gold), qa_scores(["北京", "1998年", "上海", "长江"], gold)
    assert (f1.items, f1.item_name, f1.split) == (4, "questions", "validation")
    assert (f1.score_a, f1.score_b) == pytest.approx((expected_a["f1"], expected_b["f1"]))
    assert f1.metric == "F1 (CMRC 2018 script)" and 0 < f1.score_a < f1.score_b < 1
    em = compare(weak, strong, resamples=100, metric="em")
    assert (em.score_a, em.score_b, em.metric) == (0.5, 0.75, "EM (CMRC 2018 script)")
    main(["--compare", str(weak), str(strong), "--test-metric", "em", "--resamples", "50"])
    assert capsys.readouterr().out.startswith("EM (CMRC 2018 script) on validation (4 questions)\n")
    with pytest.raises(SystemExit, match="--test-metric acc does not apply to predictions_.* one of f1, em"):
        main(["--compare", str(weak), str(strong), "--test-metric", "acc"])
    partial = span_qa_run(tmp_path, "partial", weak_answers[:3])
    with pytest.raises(SystemExit, match=r"predictions_validation.json: no answer for question q4 \(1 of 4 missing\)"):
        main(["--compare", str(weak), str(partial)])


def test_compare_scores_choice_runs_by_accuracy(tmp_path: Path) -> None:
    gold = [0, 2, 1, 3, 0]
    for name, chosen in (("a", [0, 1, 1, 0, 0]), ("b", gold)):
        (tmp_path / name).mkdir()
        records = [
            {"id": f"d-{i}", "question": "?", "pred": p, "gold": g}
            for i, (p, g) in enumerate(zip(chosen, gold, strict=True))
        ]
        (tmp_path / name / "predictions_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = compare(tmp_path / "a", tmp_path / "b", resamples=100)
    assert (result.metric, result.items, result.score_a, result.score_b) == ("accuracy", 5, 0.6, 1.0)
    with pytest.raises(RelxError, match="--test-metric em does not apply to predictions_.*jsonl: auto"):
        compare(tmp_path / "a", tmp_path / "b", metric="em")
    (tmp_path / "a" / "predictions_test.jsonl").write_text(json.dumps({"id": "d-0", "pred": 1}) + "\n")
    with pytest.raises(DataFormatError, match="predictions_test.jsonl:1: expected a multiple-choice record"):
        compare(tmp_path / "a", tmp_path / "b")
    (tmp_path / "a" / "predictions_test.jsonl").write_text('{"id": "d-0", "pred": 1, "gold": 0}\n{"id": \n')
    with pytest.raises(DataFormatError, match="predictions_test.jsonl:2: not JSON"):
        compare(tmp_path / "a", tmp_path / "b")


def test_compare_without_comparable_files_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = semeval_run(tmp_path, "a", ["Other"], ["Other"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as no_files:
        main(["--compare", str(a), str(tmp_path / "empty")])
    message = str(no_files.value.code)
    assert message.startswith("relx: error: ") and "no official prediction files of split 'test'" in message
    assert "\n" not in message
    c = semeval_run(tmp_path, "c", ["Other", "Other"], ["Other", "Cause-Effect(e1,e2)"])
    with pytest.raises(SystemExit, match="relx: error: .* scored different test items"):
        main(["--compare", str(a), str(c)])
    with pytest.raises(SystemExit) as usage:
        main([])
    assert usage.value.code == 2 and "give either DIR" in capsys.readouterr().err
