"""Paired significance tests for two systems scored on the same test items, with the field's own metric.

A system's output on the test set is given as **per-item sufficient statistics**: an array ``[items, k]``
whose column sums determine the corpus-level metric, and a ``metric`` that maps summed statistics
``[..., k]`` to scores ``[...]`` (vectorised over the leading axes). Resampling then never re-reads
predictions: a bootstrap resample is an item-count vector ``w`` and its statistics are ``w @ stats``, so
``resamples`` resamples are one matrix product. The statistics here reproduce the official corpus metrics
exactly (``tests/test_significance.py`` checks them against the scorers on the full set):

- ``entity_counts`` + ``f1_from_counts``: seqeval's entity F1 (default mode, as conlleval reads tags)
  from per-sentence (true positives, predicted entities, gold entities);
- ``attachment_counts`` + ``las_from_counts``: LAS from per-sentence (correctly attached and labelled,
  scored words), with the PTB punctuation and UD universal-relation conventions of ``attachment_scores``;
- ``semeval_counts`` + ``semeval_f1_metric``: SemEval-2010 Task 8's official macro-F1 ((9+1)-way,
  direction taken into account) from per-sentence, per-relation (correct, proposed, wrong direction,
  gold) counts; a resample's macro average runs over the relations its answer key contains, as the
  scorer does;
- ``qa_counts`` + ``mean_of``: the CMRC 2018 (or SQuAD v1.1) EM or F1, means over questions;
- ``choice_counts`` + ``mean_of(0)``: multiple-choice accuracy.

The tests, both two-sided on the difference ``metric(B) - metric(A)``:

- ``paired_bootstrap``: resample items with replacement (the same items for both systems) and take the
  percentile interval of the resampled differences (Koehn 2004; Berg-Kirkpatrick et al. 2012);
- ``approximate_randomisation``: swap each item's pair of outputs with probability 1/2 and count the
  shuffles whose absolute difference is at least the observed one; ``p = (count + 1) / (R + 1)``
  (Noreen 1989; Riezler and Maxwell 2005).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from seqeval.metrics.sequence_labeling import get_entities

from relx.metrics.attachment import sentence_attachment_counts
from relx.metrics.mrc_scores import SCORERS
from relx.metrics.relation_scores import OTHER, _undirected

# Summed statistics [..., k] -> scores [...].
Metric = Callable[[np.ndarray], np.ndarray]

# Resamples are drawn in chunks of about this many (resample, item) cells, to bound memory.
_CHUNK_CELLS = 1 << 22
# Shuffled differences this close to the observed one count as "at least as large" (float noise).
_TIE = 1e-12


def _check(stats_a: np.ndarray, stats_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(stats_a, dtype=np.float64), np.asarray(stats_b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"per-item statistics must be two arrays [items, k] of one shape, not {a.shape} and {b.shape}")
    if a.shape[0] == 0:
        raise ValueError("no items to compare")
    return a, b


def _chunks(resamples: int, items: int) -> list[int]:
    size = max(1, _CHUNK_CELLS // max(1, items))
    return [min(size, resamples - start) for start in range(0, resamples, size)]


def _counts(indices: np.ndarray, items: int) -> np.ndarray:
    """Item-count vectors ``[resamples, items]`` of index rows ``[resamples, draws]``."""
    rows = indices.shape[0]
    flat = (indices + np.arange(rows)[:, None] * items).ravel()
    return np.bincount(flat, minlength=rows * items).reshape(rows, items).astype(np.float64)


def score(stats: np.ndarray, metric: Metric) -> float:
    """The corpus-level metric of per-item statistics ``[items, k]``."""
    return float(metric(np.asarray(stats, dtype=np.float64).sum(axis=0)))


def paired_bootstrap(
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    metric: Metric,
    resamples: int = 1000,
    seed: int = 0,
    *,
    confidence: float = 0.95,
    indices: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """(observed ``metric(B) - metric(A)``, lower, upper bound of its ``confidence`` percentile interval)
    over ``resamples`` paired bootstrap resamples of the items. ``indices`` ``[resamples, items]``: the
    resampled item indices to use instead of drawing them (``resamples`` and ``seed`` are then unused)."""
    a, b = _check(stats_a, stats_b)
    n = a.shape[0]
    observed = score(b, metric) - score(a, metric)
    diffs: list[np.ndarray] = []
    if indices is not None:
        weights = _counts(np.asarray(indices, dtype=np.int64), n)
        diffs.append(metric(weights @ b) - metric(weights @ a))
    else:
        if resamples < 1:
            raise ValueError(f"resamples must be positive, not {resamples}")
        rng = np.random.default_rng(seed)
        for size in _chunks(resamples, n):
            weights = _counts(rng.integers(0, n, size=(size, n)), n)
            diffs.append(metric(weights @ b) - metric(weights @ a))
    all_diffs = np.concatenate(diffs)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(all_diffs, [tail, 100 - tail])
    return observed, float(low), float(high)


def approximate_randomisation(
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    metric: Metric,
    resamples: int = 1000,
    seed: int = 0,
    *,
    swaps: np.ndarray | None = None,
) -> float:
    """Two-sided p-value of ``metric(B) - metric(A)`` under the null that the systems are exchangeable:
    each of ``resamples`` shuffles swaps every item's pair of outputs with probability 1/2;
    ``p = (#{|diff_shuffled| >= |diff_observed|} + 1) / (resamples + 1)``. ``swaps`` ``[resamples, items]``
    (booleans): the shuffles to use instead of drawing them."""
    a, b = _check(stats_a, stats_b)
    n = a.shape[0]
    total_a, total_b = a.sum(axis=0), b.sum(axis=0)
    observed = abs(float(metric(total_b)) - float(metric(total_a)))
    delta = b - a

    def extreme(swapped: np.ndarray) -> int:
        moved = swapped.astype(np.float64) @ delta  # what swapping moves from B's total to A's
        diff = metric(total_b - moved) - metric(total_a + moved)
        return int(np.count_nonzero(np.abs(diff) >= observed - _TIE))

    if swaps is not None:
        swaps = np.asarray(swaps, dtype=bool)
        return (extreme(swaps) + 1) / (swaps.shape[0] + 1)
    if resamples < 1:
        raise ValueError(f"resamples must be positive, not {resamples}")
    rng = np.random.default_rng(seed)
    count = sum(extreme(rng.random((size, n)) < 0.5) for size in _chunks(resamples, n))
    return (count + 1) / (resamples + 1)


# ---- per-item sufficient statistics and the metrics over their sums ----------------------------------------
def entity_counts(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> np.ndarray:
    """Per sentence (true positives, predicted entities, gold entities) ``[sentences, 3]``, the entities
    read by seqeval's ``get_entities`` (default mode) and matched by type and span, as ``f1_score``."""
    rows = []
    for g, p in zip(gold, predicted, strict=True):
        gold_entities, pred_entities = set(get_entities(list(g))), set(get_entities(list(p)))
        rows.append((len(gold_entities & pred_entities), len(pred_entities), len(gold_entities)))
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def f1_from_counts(totals: np.ndarray) -> np.ndarray:
    """Micro F1 of summed (true positives, predicted, gold) ``[..., 3]``; 0 where undefined (as seqeval)."""
    tp, pred, gold = totals[..., 0], totals[..., 1], totals[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(pred > 0, tp / pred, 0.0)
        r = np.where(gold > 0, tp / gold, 0.0)
        return np.where(p + r > 0, 2 * p * r / (p + r), 0.0)


def attachment_counts(
    gold_heads: Sequence[Sequence[int]],
    gold_rels: Sequence[Sequence[str]],
    pred_heads: Sequence[Sequence[int]],
    pred_rels: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]] | None = None,
    punct_tags: frozenset[str] | set[str] | None = None,
    universal_relations: bool = False,
) -> np.ndarray:
    """Per sentence (words attached to the right head with the right relation, scored words) ``[sentences,
    2]``, with ``attachment_scores``' conventions (``punct_tags``: gold tags not scored; ``universal_relations``:
    compare relations without their subtype)."""
    rows = sentence_attachment_counts(
        gold_heads, gold_rels, pred_heads, pred_rels, tags, punct_tags, universal_relations=universal_relations
    )
    return np.array([(labelled, total) for _, labelled, total in rows], dtype=np.float64).reshape(-1, 2)


def las_from_counts(totals: np.ndarray) -> np.ndarray:
    """LAS of summed (correct, scored words) ``[..., 2]``; 0 without scored words."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(totals[..., 1] > 0, totals[..., 0] / totals[..., 1], 0.0)


def semeval_labels(*label_lists: Sequence[str]) -> list[str]:
    """The undirected relations (``Other`` included) of any number of label lists, sorted: the columns of
    ``semeval_counts``."""
    return sorted({_undirected(label) for labels in label_lists for label in labels})


def semeval_counts(predicted: Sequence[str], gold: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Per sentence, four blocks of ``len(labels)`` counts ``[sentences, 4 * len(labels)]``: correct,
    proposed, wrong direction and gold, per undirected relation, as the official scorer counts them (a right
    relation with the wrong direction is not proposed but charged to the relation's precision)."""
    column = {label: i for i, label in enumerate(labels)}
    width = len(labels)
    out = np.zeros((len(gold), 4 * width), dtype=np.float64)
    for row, (p, g) in enumerate(zip(predicted, gold, strict=True)):
        p10, g10 = _undirected(p), _undirected(g)
        out[row, 3 * width + column[g10]] = 1  # gold
        if p == g or p10 != g10:
            out[row, width + column[p10]] = 1  # proposed
            if p == g:
                out[row, column[g10]] = 1  # correct
        else:
            out[row, 2 * width + column[g10]] = 1  # right relation, wrong direction
    return out


def semeval_f1_metric(labels: Sequence[str]) -> Metric:
    """The official macro-F1 over summed ``semeval_counts`` ``[..., 4 * len(labels)]``: per relation of the
    (resampled) answer key other than ``Other``, ``P = correct / (proposed + wrong direction)``,
    ``R = correct / gold``, averaged F1."""
    width = len(labels)
    kept = np.array([label != OTHER for label in labels])

    def metric(totals: np.ndarray) -> np.ndarray:
        blocks = totals.reshape(*totals.shape[:-1], 4, width)
        correct, proposed, wrong, gold = (blocks[..., i, :] for i in range(4))
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(proposed > 0, correct / (proposed + wrong), 0.0)
            r = np.where(gold > 0, correct / gold, 0.0)
            f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
        scored = (gold > 0) & kept
        return np.where(scored, f, 0.0).sum(axis=-1) / np.maximum(1, scored.sum(axis=-1))

    return metric


def qa_counts(answers: Sequence[Sequence[str]], predicted: Sequence[str], language: str = "zh") -> np.ndarray:
    """Per question (exact match, F1, 1) ``[questions, 3]`` by the official reading-comprehension script
    (``relx.metrics.mrc_scores``: CMRC 2018 for ``"zh"``, SQuAD v1.1 for ``"en"``), whose corpus scores are
    the means over questions."""
    em, f1 = SCORERS[language]
    rows = [(em(gold, text), f1(gold, text), 1.0) for gold, text in zip(answers, predicted, strict=True)]
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def choice_counts(gold: Sequence[int], predicted: Sequence[int]) -> np.ndarray:
    """Per question (chose the gold candidate, 1) ``[questions, 2]``: accuracy's statistics."""
    return np.array([(float(p == g), 1.0) for g, p in zip(gold, predicted, strict=True)]).reshape(-1, 2)


def mean_of(column: int) -> Metric:
    """The mean per item of statistic ``column`` from summed statistics whose last column counts the items
    (``qa_counts``: 0 = EM, 1 = F1; ``choice_counts``: 0 = accuracy); 0 without items."""

    def metric(totals: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(totals[..., -1] > 0, totals[..., column] / totals[..., -1], 0.0)

    return metric
