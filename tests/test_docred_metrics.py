from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from relx.data.vocab import LabelVocab
from relx.metrics.docred_scores import (
    DocREScores,
    curve_scores,
    descending_order,
    official_evaluate,
    plot_pr_curve,
    subsample_indices,
)

RELS = ["Na", "P17", "P150"]
VOCAB = LabelVocab(RELS)


def mentions(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "sent_id": 0, "pos": [0, 1], "type": "LOC"} for n in names]


def label(h: int, t: int, r: str) -> dict[str, Any]:
    return {"h": h, "t": t, "r": r, "evidence": [0]}


TRUTH = [
    {
        "title": "A",
        "vertexSet": [mentions("Paris", "City of Paris"), mentions("France"), mentions("Seine")],
        # (0,1,P17) is listed twice: the gold set counts it once
        "labels": [label(0, 1, "P17"), label(2, 1, "P17"), label(0, 1, "P17")],
    },
    {
        "title": "B",
        "vertexSet": [mentions("Berlin"), mentions("Germany")],
        "labels": [label(0, 1, "P17"), label(1, 0, "P150")],
    },
]
# std = {(A,P17,0,1), (A,P17,2,1), (B,P17,0,1), (B,P150,1,0)} -> tot_relations = 4
TRAIN = [
    {
        "title": "T",
        "vertexSet": [
            mentions("City of Paris"),
            mentions("France"),
            mentions("Germany"),
            mentions("Berlin"),
            mentions("Seine"),
        ],
        # fact_in_train = {(City of Paris, France, P17), (Germany, Berlin, P17), (France, Seine, P17)};
        # the last two reverse B's (Berlin, Germany, P17) and A's (Seine, France, P17): neither is "in train"
        "labels": [label(0, 1, "P17"), label(2, 3, "P17"), label(1, 4, "P17")],
    }
]


def sub(title: str, h: int, t: int, r: str) -> dict[str, Any]:
    return {"title": title, "h_idx": h, "t_idx": t, "r": r}


SUBMISSION = [
    sub("A", 0, 1, "P17"),  # correct, in train through the mention "City of Paris"
    sub("A", 0, 1, "P17"),  # duplicate line: dropped
    sub("A", 2, 1, "P17"),  # correct, not in train (only the reverse triple is)
    sub("A", 1, 0, "P17"),  # wrong direction: wrong
    sub("B", 0, 1, "P17"),  # correct, not in train (only the reverse triple is)
    sub("Z", 0, 1, "P17"),  # unknown title: skipped, but still in len(submission) as in the official script
]


def test_official_evaluate_hand_computed() -> None:
    s = official_evaluate(SUBMISSION, TRUTH, TRAIN)
    # deduplicated submission: 5 lines; correct = 3; correct_in_train = 1; tot_relations = 4
    assert s["precision"] == pytest.approx(3 / 5, abs=1e-12)
    assert s["recall"] == pytest.approx(3 / 4, abs=1e-12)
    # f1 = 2 * 3/5 * 3/4 / (3/5 + 3/4) = (9/10) / (27/20) = 2/3
    assert s["f1"] == pytest.approx(2 / 3, abs=1e-12)
    # ign_p = (3 - 1) / (5 - 1 + 1e-5)  (~1/2); ign_f1 = 2 * ign_p * 3/4 / (ign_p + 3/4)  (~0.6)
    ign_p = 2 / (4 + 1e-5)
    assert s["ign_precision"] == pytest.approx(ign_p, abs=1e-12)
    assert s["ign_f1"] == pytest.approx(2 * ign_p * 0.75 / (ign_p + 0.75), abs=1e-12)
    assert s["ign_f1"] != pytest.approx(0.6, abs=1e-9)  # the 1e-5 guard is in


def test_official_evaluate_empty() -> None:
    s = official_evaluate([], TRUTH, TRAIN)
    assert s == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "ign_precision": 0.0, "ign_f1": 0.0}
    s = official_evaluate([sub("A", 0, 1, "P17")], [], [])
    assert s["f1"] == 0.0 and s["recall"] == 0.0


# Candidates, given out of order; sorted by score they are:
#   rank  score  correct  in_train
#   1     0.9    1        1
#   2     0.8    0        0
#   3     0.7    1        0
#   4     0.6    1        0
#   5     0.5    0        1   (in train but not correct: never counted)
#   6     0.4    0        0
SCORES = np.array([0.6, 0.9, 0.4, 0.8, 0.5, 0.7])
CORRECT = np.array([1, 1, 0, 0, 0, 1], dtype=bool)
IN_TRAIN = np.array([0, 1, 0, 0, 1, 0], dtype=bool)
N_GOLD = 4


def test_curve_scores_hand_computed() -> None:
    c = curve_scores(SCORES, CORRECT, IN_TRAIN, N_GOLD)
    # cumsum(correct) = 1,1,2,3,3,3
    np.testing.assert_allclose(c["precision"], [1, 1 / 2, 2 / 3, 3 / 4, 3 / 5, 1 / 2])
    np.testing.assert_allclose(c["recall"], [1 / 4, 1 / 4, 1 / 2, 3 / 4, 3 / 4, 3 / 4])
    # f1 = 0.4, 1/3, 4/7, 3/4, 2/3, 3/5 -> best 3/4 at rank 4, theta = 0.6
    assert c["best_f1"] == pytest.approx(3 / 4)
    assert c["theta"] == pytest.approx(0.6)
    assert c["threshold"] == pytest.approx(0.55)  # half-way to the next lower score, 0.5
    # trapezoids over recall: 0 + 1/4*(1/2+2/3)/2 + 1/4*(2/3+3/4)/2 + 0 + 0 = 7/48 + 17/96 = 31/96
    assert c["auc"] == pytest.approx(31 / 96)
    # correct_in_train cumsum = 1,1,1,1,1,1 -> ign_p = 0, 0, (2-1)/(3-1), (3-1)/(4-1), 2/(5-1), 2/(6-1)
    np.testing.assert_allclose(c["ign_precision"], [0, 0, 1 / 2, 2 / 3, 1 / 2, 2 / 5])
    # ign f1 = 0, 0, 1/2, 2*(2/3)(3/4)/(17/12) = 12/17, 3/5, 12/23 -> best 12/17
    assert c["best_ign_f1"] == pytest.approx(12 / 17)
    # ign auc: 0 + 1/4*(0+1/2)/2 + 1/4*(1/2+2/3)/2 = 1/16 + 7/48 = 5/24
    assert c["ign_auc"] == pytest.approx(5 / 24)


def test_curve_scores_ties_keep_input_order() -> None:
    # equal scores: the earlier candidate comes first -> precision 0, 1/2; recall 0, 1
    c = curve_scores(np.array([0.5, 0.5]), np.array([False, True]), np.array([False, False]), 1)
    np.testing.assert_allclose(c["precision"], [0, 1 / 2])
    np.testing.assert_allclose(c["recall"], [0, 1])
    assert c["auc"] == pytest.approx(0.25)  # 1 * (0 + 1/2) / 2


def test_descending_order_is_a_stable_sort() -> None:
    rng = np.random.default_rng(1)
    scores = np.round(rng.normal(size=2000), 1).astype(np.float32)  # many ties, negatives
    scores[:4] = [-0.0, 0.0, -0.0, np.inf]
    for s in (scores, scores.astype(np.float64), scores.astype(np.float16)):
        np.testing.assert_array_equal(descending_order(s), np.argsort(-s, kind="stable"))


def test_curve_scores_degenerate_inputs() -> None:
    with np.errstate(all="raise"):
        empty = curve_scores(np.zeros(0), np.zeros(0, bool), np.zeros(0, bool), 0)
        no_gold = curve_scores(np.array([0.3, 0.2]), np.zeros(2, bool), np.zeros(2, bool), 0)
        single = curve_scores(np.array([0.3]), np.ones(1, bool), np.ones(1, bool), 1)
    for c in (empty, no_gold):
        assert all(c[k] == 0.0 for k in ("best_f1", "auc", "best_ign_f1", "ign_auc"))
    assert len(empty["precision"]) == 0 and len(no_gold["recall"]) == 2
    assert single["best_f1"] == pytest.approx(1.0) and single["auc"] == 0.0 and single["best_ign_f1"] == 0.0


def tensors_for(
    truth: list[dict[str, Any]], submission: list[dict[str, Any]], train: list[dict[str, Any]]
) -> tuple[dict[str, torch.Tensor], SimpleNamespace]:
    """All ordered entity pairs of the truth documents as rows, in the metric's batch contract."""
    facts = {
        (n1["name"], n2["name"], lab["r"])
        for doc in train
        for lab in doc["labels"]
        for n1 in doc["vertexSet"][lab["h"]]
        for n2 in doc["vertexSet"][lab["t"]]
    }
    answers = {(x["title"], x["h_idx"], x["t_idx"], x["r"]) for x in submission}
    labels, in_train, pred, probs = [], [], [], []
    for doc in truth:
        vs, gold = doc["vertexSet"], {(lab["h"], lab["t"], lab["r"]) for lab in doc["labels"]}
        for h in range(len(vs)):
            for t in range(len(vs)):
                if h == t:
                    continue
                row_gold = [float((h, t, r) in gold) for r in RELS]
                row_gold[0] = float(not any(row_gold[1:]))
                labels.append(row_gold)
                in_train.append([any((a["name"], b["name"], r) in facts for a in vs[h] for b in vs[t]) for r in RELS])
                pred.append([(doc["title"], h, t, r) in answers for r in RELS])
                probs.append([(0.6 if pred[-1][i] else 0.0) + 0.04 * ((h * 7 + t * 3 + i) % 10) for i in range(3)])
    predictions = {"pair": torch.tensor(pred), "pair_probs": torch.tensor(probs)}
    return predictions, SimpleNamespace(pair_labels=torch.tensor(labels), pair_in_train=torch.tensor(in_train))


def scores_of(metric: DocREScores) -> dict[str, float]:
    return {k: float(v) for k, v in metric.compute().items()}


def test_metric_matches_official_evaluate() -> None:
    known = [x for x in SUBMISSION if x["title"] != "Z"]  # the metric only sees the truth's pairs
    official = official_evaluate(known, TRUTH, TRAIN)
    # 4 distinct lines, 3 correct, 1 in train: p = 3/4, r = 3/4, ign_p = 2 / (3 + 1e-5)
    assert official["precision"] == pytest.approx(3 / 4)
    metric = DocREScores(VOCAB, prefix="dev/")
    metric.update(*tensors_for(TRUTH, known, TRAIN))
    s = scores_of(metric)
    for key in ("precision", "recall", "f1", "ign_f1"):
        assert s[f"dev/{key}"] == pytest.approx(official[key], rel=1e-6), key
    ign_p = 2 / (3 + 1e-5)
    assert s["dev/ign_f1"] == pytest.approx(2 * ign_p * 0.75 / (ign_p + 0.75), rel=1e-6)
    assert set(s) == {
        f"dev/{k}"
        for k in (
            *("precision", "recall", "f1", "ign_f1", "auc", "ign_auc", "best_f1", "best_ign_f1", "theta", "threshold"),
            *("na_acc", "not_na_acc", "acc"),
        )
    }
    # predicted facts score >= 0.6 and the rest <= 0.36: the sweep passes through the decision rule's point
    assert s["dev/best_f1"] >= s["dev/f1"] - 1e-6
    precision, recall = metric.last_curve["all"]
    assert len(precision) == len(recall) == (6 + 2) * 2  # 8 pairs x 2 relation columns
    assert recall[-1] == pytest.approx(1.0)  # every gold fact is a candidate


def test_two_updates_equal_one() -> None:
    preds, gold = tensors_for(TRUTH, SUBMISSION, TRAIN)
    whole = DocREScores(VOCAB)
    whole.update(preds, gold)
    split = DocREScores(VOCAB)
    for rows in (slice(0, 6), slice(6, 8)):  # doc A's 6 pairs, then doc B's 2
        split.update(
            {k: v[rows] for k, v in preds.items()},
            SimpleNamespace(pair_labels=gold.pair_labels[rows], pair_in_train=gold.pair_in_train[rows]),
        )
    assert scores_of(split) == scores_of(whole)
    np.testing.assert_array_equal(split.last_curve["ignore train"][0], whole.last_curve["ignore train"][0])


def test_na_and_not_na_accuracy() -> None:
    # columns: NA, r1, r2
    gold = torch.tensor(
        [
            [1, 0, 0],  # NA, nothing predicted -> NA hit
            [1, 0, 0],  # NA, r1 predicted -> NA miss
            [0, 1, 0],  # gold r1, best score r1 (NA column's 0.99 ignored), predicted -> hit
            [0, 0, 1],  # gold r2, best score r1 (not gold) -> miss although r2 is predicted
            [0, 1, 0],  # gold r1, best score r1 but not predicted -> miss
        ],
        dtype=torch.float32,
    )
    pred = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 1], [1, 0, 0]])
    probs = torch.tensor([[0.9, 0.1, 0.2], [0.2, 0.8, 0.1], [0.99, 0.7, 0.3], [0.1, 0.9, 0.8], [0.9, 0.4, 0.3]])
    metric = DocREScores(VOCAB)
    metric.update({"pair": pred, "pair_probs": probs}, SimpleNamespace(pair_labels=gold, pair_in_train=gold < 0))
    s = scores_of(metric)
    assert s["na_acc"] == pytest.approx(1 / 2)
    assert s["not_na_acc"] == pytest.approx(1 / 3)
    assert s["acc"] == pytest.approx(2 / 5)
    # decision rule: predicted facts (row, rel) = (1,r1), (2,r1), (3,r1), (3,r2); gold 3; correct 2
    assert s["precision"] == pytest.approx(2 / 4) and s["recall"] == pytest.approx(2 / 3)


def test_metric_empty() -> None:
    metric = DocREScores(VOCAB, prefix="x_")
    s = scores_of(metric)
    assert len(s) == 13 and all(v == 0.0 for v in s.values())
    metric.update(
        {"pair": torch.zeros(0, 3, dtype=torch.bool), "pair_probs": torch.zeros(0, 3)},
        SimpleNamespace(pair_labels=torch.zeros(0, 3), pair_in_train=torch.zeros(0, 3, dtype=torch.bool)),
    )
    s = scores_of(metric)
    assert all(v == 0.0 for v in s.values())
    assert len(metric.last_curve["all"][0]) == 0


def test_plot_pr_curve_writes_png(tmp_path: Any) -> None:
    c = curve_scores(SCORES, CORRECT, IN_TRAIN, N_GOLD)
    rng = np.random.default_rng(0)
    long = curve_scores(rng.random(20_000), rng.random(20_000) < 0.1, rng.random(20_000) < 0.5, 2_000)
    out = tmp_path / "plots" / "pr.png"
    plot_pr_curve(
        out,
        {"all": (c["precision"], c["recall"]), "ignore train": (long["ign_precision"], long["recall"])},
        "dev",
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["pr.png"]  # no temporary file left behind


def test_subsample_indices() -> None:
    assert list(subsample_indices(4)) == [0, 1, 2, 3]
    keep = subsample_indices(3_000_000)
    assert len(keep) <= 5000 and keep[0] == 0 and keep[-1] == 2_999_999
    assert np.all(np.diff(keep) > 0) and keep[10] < 20  # dense at the head of the curve
