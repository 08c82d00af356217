"""Document-level relation extraction scores as DocRED reports them.

``official_evaluate``: the relation part of the official DocRED ``evaluation.py`` over DocRED JSON
documents (F1 and Ign F1, where "Ign" leaves out the correct facts whose (head name, tail name,
relation) triple already occurs in the training annotations).

``curve_scores``: the DocRED BERT baseline's threshold sweep. Every scored (entity pair, relation)
candidate is sorted by score, descending; after the i-th candidate, precision is the share of the
first i+1 candidates that are gold facts and recall the share of gold facts found. ``best_f1`` is the
best F1 along that list, ``theta`` the score where it is reached (the threshold the baseline then uses
on test), and ``auc`` the area under the precision-recall curve (``sklearn.metrics.auc``, trapezoids).

``DocREScores``: a torchmetrics Metric computing both from multi-label pair predictions, plus the
baseline's training accuracies on NA and non-NA pairs.

``plot_pr_curve``: precision-recall curves written to a PNG.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import auc as sklearn_auc
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from relx.data.vocab import LabelVocab
from relx.io import atomic_write

IGN_EPS = 1e-5  # the official script's guard in the Ign precision denominator
F1_EPS = 1e-20  # the baseline's guard in the F1 curve denominator
MAX_PLOT_POINTS = 5000


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def decision_scores(n_predicted: int, correct: int, correct_in_train: int, n_gold: int) -> dict[str, float]:
    """The official script's formulas from counts: ``n_predicted`` submitted facts, ``correct`` of them
    gold, ``correct_in_train`` of those with a name triple seen in training, ``n_gold`` gold facts."""
    precision = correct / n_predicted if n_predicted else 0.0
    recall = correct / n_gold if n_gold else 0.0
    ign_precision = (correct - correct_in_train) / (n_predicted - correct_in_train + IGN_EPS)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "ign_precision": ign_precision,
        "ign_f1": _f1(ign_precision, recall),
    }


def train_facts(train: Iterable[Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    """(head mention name, tail mention name, relation) for every mention pair of every training label."""
    facts: set[tuple[str, str, str]] = set()
    for doc in train:
        vertex_set = doc["vertexSet"]
        for label in doc.get("labels", []):
            for n1 in vertex_set[label["h"]]:
                for n2 in vertex_set[label["t"]]:
                    facts.add((n1["name"], n2["name"], label["r"]))
    return facts


def official_evaluate(
    submission: list[dict[str, Any]],
    truth: list[dict[str, Any]],
    train: list[dict[str, Any]] | None = None,
    fact_in_train: set[tuple[str, str, str]] | None = None,
) -> dict[str, float]:
    """Relation scores of the official DocRED ``evaluation.py`` (evidence scores left out).

    ``submission`` lines ``{title, h_idx, t_idx, r}`` are deduplicated on all four fields. A line whose
    title is not in ``truth`` is skipped when matching but, as in the official script, still counts in
    the precision denominator (``len(submission)`` after deduplication). Ign F1's training facts come from
    the ``train`` documents, or ready-made as ``fact_in_train`` (``train_facts`` of them).
    """
    if fact_in_train is None:
        fact_in_train = train_facts(train or [])
    std: set[tuple[str, str, int, int]] = set()
    vertex_sets: dict[str, list[list[dict[str, Any]]]] = {}
    for doc in truth:
        title = doc["title"]
        vertex_sets[title] = doc["vertexSet"]
        for label in doc.get("labels", []):
            std.add((title, label["r"], label["h"], label["t"]))
    answers = {(x["title"], x["h_idx"], x["t_idx"], x["r"]) for x in submission}
    correct = correct_in_train = 0
    for title, h_idx, t_idx, r in answers:
        if title not in vertex_sets or (title, r, h_idx, t_idx) not in std:
            continue
        correct += 1
        vertex_set = vertex_sets[title]
        if any((n1["name"], n2["name"], r) in fact_in_train for n1 in vertex_set[h_idx] for n2 in vertex_set[t_idx]):
            correct_in_train += 1
    return decision_scores(len(answers), correct, correct_in_train, len(std))


def _area(recall: np.ndarray, precision: np.ndarray) -> float:
    return float(sklearn_auc(recall, precision)) if len(recall) >= 2 else 0.0


def descending_order(scores: np.ndarray) -> np.ndarray:
    """Indices sorting ``scores`` from high to low, ties in input order (a stable sort, as Python's
    ``sort(reverse=True)``). float32 scores take a fast path: the order-preserving integer image of each
    score packed above its index into one uint64, so a plain sort of distinct keys is stable."""
    n = len(scores)
    if scores.dtype in (np.float16, np.float32) and n < 2**32 and not np.isnan(scores).any():
        bits = (scores.astype(np.float32) + np.float32(0.0)).view(np.uint32)  # + 0.0: -0.0 becomes 0.0
        ascending = np.where(bits >> np.uint32(31) == 1, ~bits, bits | np.uint32(0x80000000))
        keys = ((~ascending).astype(np.uint64) << np.uint64(32)) | np.arange(n, dtype=np.uint64)
        keys.sort()
        return (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return np.argsort(-scores, kind="stable")


def _f1_curve(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """``2 p r / (p + r + 1e-20)`` elementwise, with in-place steps (the curves run to millions of points)."""
    f1 = precision * recall
    f1 *= 2
    denominator = precision + recall
    denominator += F1_EPS
    f1 /= denominator
    return f1


def _midpoint_below(scores: np.ndarray, order: np.ndarray, best: int) -> float:
    """Half-way between ``scores[order[best]]`` and the next strictly lower score (itself when none)."""
    theta = float(scores[order[best]])
    lower = scores[order[best + 1 :]]
    lower = lower[lower < theta]
    return (theta + float(lower[0])) / 2 if len(lower) else theta


def curve_scores(scores: np.ndarray, correct: np.ndarray, in_train: np.ndarray, n_gold: int) -> dict[str, Any]:
    """The baseline's sweep over all candidates (one entry per scored (pair, relation)).

    ``correct``: the candidate is a gold fact; ``in_train``: its name triple occurs in training (only
    counted where ``correct``). Returns floats ``best_f1``, ``theta``, ``threshold`` (a decision threshold
    between ``theta`` and the next lower score), ``auc``, ``best_ign_f1``,
    ``ign_auc`` and float64 arrays ``precision``, ``ign_precision`` and ``recall`` along the sorted list.
    """
    scores = np.asarray(scores).reshape(-1)
    hit = np.asarray(correct, dtype=bool).reshape(-1)
    hit_in_train = hit & np.asarray(in_train, dtype=bool).reshape(-1)
    n = len(scores)
    if n == 0:
        empty = np.zeros(0, dtype=np.float64)
        return {
            "best_f1": 0.0,
            "theta": 0.0,
            "threshold": 0.0,
            "auc": 0.0,
            "best_ign_f1": 0.0,
            "ign_auc": 0.0,
            "precision": empty,
            "ign_precision": empty.copy(),
            "recall": empty.copy(),
        }
    order = descending_order(scores)
    # one gather of both flags: bit 0 = correct, bit 1 = correct and in train
    flags = (hit.view(np.uint8) | (hit_in_train.view(np.uint8) << 1))[order]
    found = np.cumsum(flags & 1, dtype=np.int64)
    found_in_train = np.cumsum(flags >> 1, dtype=np.int64)
    del flags
    seen = np.arange(1, n + 1, dtype=np.float64)
    precision = found / seen
    recall = found / n_gold if n_gold > 0 else np.zeros(n, dtype=np.float64)
    f1 = _f1_curve(precision, recall)
    best = int(np.argmax(f1))
    best_f1 = float(f1[best])
    del f1
    # 0 where every correct candidate so far is in train (the baseline's rule; also avoids 0/0)
    fresh = found - found_in_train
    seen -= found_in_train
    ign_precision = np.zeros(n, dtype=np.float64)
    np.divide(fresh, seen, out=ign_precision, where=fresh != 0)
    del fresh, seen
    best_ign_f1 = float(_f1_curve(ign_precision, recall).max())
    return {
        "best_f1": best_f1,
        "theta": float(scores[order[best]]),
        # between the best-F1 candidate and the next lower one: `score >= threshold` selects the same
        # candidates as `score >= theta`, but a tiny numerical change (another batching) cannot flip one
        "threshold": _midpoint_below(scores, order, best),
        "auc": _area(recall, precision),
        "best_ign_f1": best_ign_f1,
        "ign_auc": _area(recall, ign_precision),
        "precision": precision,
        "ign_precision": ign_precision,
        "recall": recall,
    }


def _as_bool(t: Tensor) -> Tensor:
    return t > 0.5 if t.is_floating_point() else t.bool()


class DocREScores(Metric):
    """DocRED scores over multi-label entity-pair predictions.

    ``update(predictions, batch)``: ``predictions["pair"]`` the predicted relations ``[pairs, R]`` (bool
    or 0/1), ``predictions["pair_probs"]`` their scores ``[pairs, R]``; ``batch.pair_labels`` the gold
    multi-hot ``[pairs, R]`` and ``batch.pair_in_train`` ``[pairs, R]`` (the gold fact's name triple is in
    the training annotations). Column 0 is the NA / threshold class and is never a candidate.

    ``compute()``: ``precision``, ``recall``, ``f1``, ``ign_f1`` of the predicted facts with the official
    formulas; ``auc``, ``ign_auc``, ``best_f1``, ``best_ign_f1``, ``theta``, ``threshold`` from the score sweep; and
    ``na_acc`` (NA pairs with no predicted relation), ``not_na_acc`` (non-NA pairs whose best-scored
    relation is gold and predicted) and ``acc`` (both over all pairs). The sweep's curves are left in
    ``last_curve``: ``{"all": (precision, recall), "ignore train": (ign_precision, recall)}`` (float32).
    """

    full_state_update = False
    scores: list[Tensor]
    correct: list[Tensor]
    in_train: list[Tensor]
    predicted: list[Tensor]
    na_total: Tensor
    na_hits: Tensor
    not_na_total: Tensor
    not_na_hits: Tensor

    def __init__(self, vocab: LabelVocab, prefix: str = "") -> None:
        super().__init__()
        self.vocab = vocab
        self.prefix = prefix
        self.last_curve: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in ("scores", "correct", "in_train", "predicted"):
            self.add_state(name, default=[], dist_reduce_fx="cat")
        for name in ("na_total", "na_hits", "not_na_total", "not_na_hits"):
            self.add_state(name, default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predictions: dict[str, Tensor], batch: Any) -> None:
        predicted = _as_bool(predictions["pair"].detach())[:, 1:]
        scores = predictions["pair_probs"].detach()[:, 1:].float()
        gold = _as_bool(batch.pair_labels.detach())[:, 1:]
        in_train = _as_bool(batch.pair_in_train.detach())[:, 1:]
        self.scores.append(scores.reshape(-1))
        self.correct.append(gold.reshape(-1))
        self.in_train.append(in_train.reshape(-1))
        self.predicted.append(predicted.reshape(-1))
        is_na = ~gold.any(dim=1)
        self.na_total += is_na.sum()
        self.na_hits += (is_na & ~predicted.any(dim=1)).sum()
        self.not_na_total += (~is_na).sum()
        if scores.shape[1] > 0 and scores.shape[0] > 0:
            best = scores.argmax(dim=1, keepdim=True)
            top_right = (gold.gather(1, best) & predicted.gather(1, best)).squeeze(1)
            self.not_na_hits += (~is_na & top_right).sum()

    @staticmethod
    def _numpy(state: list[Tensor] | Tensor) -> np.ndarray:
        if isinstance(state, list) and not state:
            return np.zeros(0)
        return dim_zero_cat(state).cpu().numpy()

    def compute(self) -> dict[str, Tensor]:
        scores = self._numpy(self.scores)
        correct = self._numpy(self.correct).astype(bool)
        in_train = self._numpy(self.in_train).astype(bool) & correct
        predicted = self._numpy(self.predicted).astype(bool)
        n_gold = int(correct.sum())
        values = decision_scores(
            int(predicted.sum()), int((predicted & correct).sum()), int((predicted & in_train).sum()), n_gold
        )
        del values["ign_precision"]
        curve = curve_scores(scores, correct, in_train, n_gold)
        values.update({k: curve[k] for k in ("auc", "ign_auc", "best_f1", "best_ign_f1", "theta", "threshold")})
        recall = curve["recall"].astype(np.float32)
        self.last_curve = {
            "all": (curve["precision"].astype(np.float32), recall),
            "ignore train": (curve["ign_precision"].astype(np.float32), recall),
        }
        na_total, not_na_total = int(self.na_total), int(self.not_na_total)
        na_hits, not_na_hits = int(self.na_hits), int(self.not_na_hits)
        values["na_acc"] = na_hits / na_total if na_total else 0.0
        values["not_na_acc"] = not_na_hits / not_na_total if not_na_total else 0.0
        total = na_total + not_na_total
        values["acc"] = (na_hits + not_na_hits) / total if total else 0.0
        return {f"{self.prefix}{k}": torch.tensor(v, dtype=torch.float32) for k, v in values.items()}


def subsample_indices(n: int, max_points: int = MAX_PLOT_POINTS) -> np.ndarray:
    """At most ``max_points`` sorted indices into a curve of ``n`` points, first and last included: half
    spread evenly, half log-spaced so the steep head of a precision-recall curve keeps its shape."""
    if n <= max_points:
        return np.arange(n)
    half = max_points // 2
    linear = np.linspace(0, n - 1, max_points - half)
    head = np.geomspace(1, n, half) - 1
    return np.unique(np.concatenate([linear, head]).round().astype(np.int64))


def plot_pr_curve(path: str | Path, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str) -> None:
    """Write a precision-recall PNG to ``path`` (atomically), one line per ``name: (precision, recall)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, (precision, recall) in curves.items():
        precision, recall = np.asarray(precision).reshape(-1), np.asarray(recall).reshape(-1)
        keep = subsample_indices(len(precision))
        ax.plot(recall[keep], precision[keep], label=name, linewidth=1.2)
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(loc="upper right")
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png"), binary=True)
