"""Relation classification scores exactly as the official scorers compute them.

``SemEvalScores``: the SemEval-2010 Task 8 scorer (``semeval2010_task8_scorer-v1.2.pl``). For each
relation L present in the answer key, ``P = correct_L / (proposed_L + wrong_direction_L)``,
``R = correct_L / gold_L``, ``F1_L = 2PR / (P + R)``; the macro average is the mean of the per-relation
values over the key's relations other than ``Other``. Three views, as the scorer prints them:
(2*9+1)-way (direction is part of the label), (9+1)-way ignoring direction, and the official (9+1)-way
with direction taken into account (right relation, wrong direction = wrong, charged to the relation's
precision). Values are fractions (the scorer prints percentages).

``KlueReScores``: the KLUE baseline's ``klue_re_micro_f1`` (micro F1 over every label except
``no_relation``) and ``klue_re_auprc`` (one-vs-rest area under the precision-recall curve averaged over
all classes, computed with scikit-learn as the baseline does), plus accuracy.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.metrics import auc, precision_recall_curve
from torch import Tensor
from torchmetrics import Metric

from relx.data.vocab import LabelVocab

OTHER = "Other"
_DIRECTION = re.compile(r"\(e[12],e[12]\)$")


def _undirected(label: str) -> str:
    return _DIRECTION.sub("", label)


def _prf(
    pairs: Sequence[tuple[str, str]], gold_counts: Counter[str], wrong_dir: Counter[str], negative: str
) -> dict[str, float]:
    """Per-label P/R/F1 over the key's labels, then micro and macro averages excluding ``negative``."""
    correct = Counter(g for p, g in pairs if p == g)
    proposed = Counter(p for p, _ in pairs)
    per_label: dict[str, tuple[float, float, float]] = {}
    for label in sorted(gold_counts):
        prop = proposed[label]
        p = 0.0 if prop == 0 else correct[label] / (prop + wrong_dir[label])
        r = correct[label] / gold_counts[label]
        f = 0.0 if p + r == 0 else 2 * p * r / (p + r)
        per_label[label] = (p, r, f)
    kept = [label for label in per_label if label != negative]
    n = max(1, len(kept))
    micro_correct = sum(correct[label] for label in kept)
    micro_proposed = sum(proposed[label] + wrong_dir[label] for label in kept)
    micro_gold = sum(gold_counts[label] for label in kept)
    micro_p = micro_correct / micro_proposed if micro_proposed else 0.0
    micro_r = micro_correct / micro_gold if micro_gold else 0.0
    return {
        "macro_p": sum(per_label[label][0] for label in kept) / n,
        "macro_r": sum(per_label[label][1] for label in kept) / n,
        "macro_f1": sum(per_label[label][2] for label in kept) / n,
        "micro_f1": 0.0 if micro_p + micro_r == 0 else 2 * micro_p * micro_r / (micro_p + micro_r),
    }


def semeval_official_scores(predicted: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    """All three SemEval views from label strings (``Other`` or ``Relation(e1,e2)``)."""
    pairs19 = list(zip(predicted, gold, strict=True))
    gold19 = Counter(gold)
    none: Counter[str] = Counter()
    full = _prf(pairs19, gold19, none, OTHER)
    pairs10 = [(_undirected(p), _undirected(g)) for p, g in pairs19]
    gold10 = Counter(_undirected(g) for g in gold)
    undirected = _prf(pairs10, gold10, none, OTHER)
    # Official: a right relation with the wrong direction leaves the matrix and is charged to the
    # relation's precision as "xDIRx".
    wrong_dir = Counter(g10 for (p, g), (p10, g10) in zip(pairs19, pairs10, strict=True) if p != g and p10 == g10)
    official_pairs = [(p10, g10) for (p, g), (p10, g10) in zip(pairs19, pairs10, strict=True) if p == g or p10 != g10]
    official = _prf(official_pairs, gold10, wrong_dir, OTHER)
    accuracy = sum(p == g for p, g in pairs19) / max(1, len(pairs19))
    return {
        "f1": official["macro_f1"],
        "precision": official["macro_p"],
        "recall": official["macro_r"],
        "micro_f1": official["micro_f1"],
        "f1_19way": full["macro_f1"],
        "f1_undirected": undirected["macro_f1"],
        "acc": accuracy,
    }


class _LabelPairs(Metric):
    """Accumulates predicted and gold ids (and class probabilities when the head gives them)."""

    full_state_update = False
    preds: list[Tensor]
    target: list[Tensor]
    probs: list[Tensor]

    def __init__(self, vocab: LabelVocab, prefix: str = "") -> None:
        super().__init__()
        self.vocab = vocab
        self.prefix = prefix
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")
        self.add_state("probs", default=[], dist_reduce_fx="cat")

    def update(self, predictions: dict[str, Tensor], batch: Any) -> None:
        self.preds.append(predictions["sentence"])
        self.target.append(batch.sentence_labels)
        if "sentence_probs" in predictions:
            self.probs.append(predictions["sentence_probs"].float())

    @staticmethod
    def _cat(state: Any) -> Tensor:
        return torch.cat(state) if isinstance(state, list) else state

    def labels(self) -> tuple[list[str], list[str]]:
        if isinstance(self.preds, list) and not self.preds:
            return [], []
        preds, target = self._cat(self.preds).tolist(), self._cat(self.target).tolist()
        return [self.vocab.label(i) for i in preds], [self.vocab.label(i) for i in target]

    def _named(self, values: dict[str, float]) -> dict[str, Tensor]:
        return {f"{self.prefix}{k}": torch.tensor(v, dtype=torch.float32) for k, v in values.items()}


class SemEvalScores(_LabelPairs):
    """SemEval-2010 Task 8 official scores; ``f1`` is the official macro-F1 ((9+1)-way, directed)."""

    def compute(self) -> dict[str, Tensor]:
        predicted, gold = self.labels()
        if not gold:
            return self._named(
                dict.fromkeys(("f1", "precision", "recall", "micro_f1", "f1_19way", "f1_undirected", "acc"), 0.0)
            )
        return self._named(semeval_official_scores(predicted, gold))


def klue_re_scores(
    predicted: Sequence[int],
    gold: Sequence[int],
    probs: np.ndarray | None,
    labels: Sequence[str],
    negative: str = "no_relation",
) -> dict[str, float]:
    """KLUE-RE micro F1 (all labels but ``negative``), AUPRC (mean one-vs-rest PR-AUC), accuracy."""
    neg = labels.index(negative)
    tp = sum(p == g and g != neg for p, g in zip(predicted, gold, strict=True))
    n_pred = sum(p != neg for p in predicted)
    n_gold = sum(g != neg for g in gold)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    scores = {
        "micro_f1": 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall),
        "acc": sum(p == g for p, g in zip(predicted, gold, strict=True)) / max(1, len(gold)),
    }
    if probs is not None:
        classes = probs.shape[1]  # the trainable classes; a gold label unseen in training is no class's positive
        onehot = np.zeros((len(gold), classes))
        for row, g in enumerate(gold):
            if g < classes:
                onehot[row, g] = 1.0
        per_class = []
        for c in range(classes):
            precision_c, recall_c, _ = precision_recall_curve(onehot[:, c], probs[:, c])
            per_class.append(auc(recall_c, precision_c))
        scores["auprc"] = float(np.average(per_class))
    return scores


class KlueReScores(_LabelPairs):
    """KLUE-RE official scores: ``micro_f1`` (no_relation excluded), ``auprc`` and ``acc``."""

    def __init__(self, vocab: LabelVocab, prefix: str = "", negative: str = "no_relation") -> None:
        super().__init__(vocab, prefix)
        self.negative = negative

    def compute(self) -> dict[str, Tensor]:
        if isinstance(self.preds, list) and not self.preds:
            return self._named({"micro_f1": 0.0, "acc": 0.0, "auprc": 0.0})
        probs = self._cat(self.probs).cpu().numpy() if not (isinstance(self.probs, list) and not self.probs) else None
        preds, target = self._cat(self.preds).tolist(), self._cat(self.target).tolist()
        return self._named(klue_re_scores(preds, target, probs, self.vocab.labels + self.vocab.unseen, self.negative))
