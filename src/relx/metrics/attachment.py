"""Unlabelled and labelled attachment scores (UAS, LAS).

PTB convention (``punct_tags``): words whose gold POS tag is punctuation are left out. UD convention
(the CoNLL 2018 evaluation): every word counts, and LAS compares only the universal part of the
relation (``nmod:poss`` -> ``nmod``) when ``universal_relations`` is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from relx.data.vocab import LabelVocab


def universal(relation: str) -> str:
    return relation.split(":", 1)[0]


def sentence_attachment_counts(
    gold_heads: Sequence[Sequence[int]],
    gold_rels: Sequence[Sequence[str]],
    pred_heads: Sequence[Sequence[int]],
    pred_rels: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]] | None = None,
    punct_tags: frozenset[str] | set[str] | None = None,
    universal_relations: bool = False,
) -> list[tuple[int, int, int]]:
    """Per sentence (words with the right head, words with the right head and relation, scored words).
    ``punct_tags``: words whose gold tag is one of these are not scored; ``universal_relations``: relations
    are compared without their subtype (CoNLL 2018). Sentence counts are what a paired bootstrap resamples
    (relx.significance)."""
    rows = []
    for s, (gh, gr, ph, pr) in enumerate(zip(gold_heads, gold_rels, pred_heads, pred_rels, strict=True)):
        total = unlabelled = labelled = 0
        for i, (g_head, g_rel, p_head, p_rel) in enumerate(zip(gh, gr, ph, pr, strict=True)):
            if punct_tags and tags is not None and tags[s][i] in punct_tags:
                continue
            total += 1
            if g_head == p_head:
                unlabelled += 1
                labelled += universal(g_rel) == universal(p_rel) if universal_relations else g_rel == p_rel
        rows.append((unlabelled, labelled, total))
    return rows


def attachment_scores(
    gold_heads: Sequence[Sequence[int]],
    gold_rels: Sequence[Sequence[str]],
    pred_heads: Sequence[Sequence[int]],
    pred_rels: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]] | None = None,
    punct_tags: frozenset[str] | set[str] | None = None,
    universal_relations: bool = False,
) -> dict[str, float]:
    """UAS and LAS over all sentences (word-weighted), as fractions."""
    rows = sentence_attachment_counts(
        gold_heads, gold_rels, pred_heads, pred_rels, tags, punct_tags, universal_relations=universal_relations
    )
    unlabelled, labelled, total = (sum(column) for column in zip(*rows, strict=True)) if rows else (0, 0, 0)
    return {"uas": unlabelled / total if total else 0.0, "las": labelled / total if total else 0.0}


class AttachmentScores(Metric):
    """UAS / LAS over the words a batch marks as scored (``batch.score_mask``), from decoded trees
    ``predictions["tree"]`` ``[batch, words, 2]`` (head, relation id)."""

    full_state_update = False
    pred: list[Tensor]
    gold: list[Tensor]

    def __init__(self, vocab: LabelVocab, prefix: str = "", universal_relations: bool = False) -> None:
        super().__init__()
        self.vocab = vocab
        self.prefix = prefix
        self.universal_relations = universal_relations
        self.add_state("pred", default=[], dist_reduce_fx="cat")
        self.add_state("gold", default=[], dist_reduce_fx="cat")

    def update(self, predictions: dict[str, Tensor], batch: Any) -> None:
        scored = batch.score_mask & batch.word_mask
        self.pred.append(predictions["tree"][scored])
        self.gold.append(torch.stack([batch.heads, batch.rels], dim=-1)[scored])

    def compute(self) -> dict[str, Tensor]:
        if isinstance(self.pred, list) and not self.pred:
            return {f"{self.prefix}uas": torch.tensor(0.0), f"{self.prefix}las": torch.tensor(0.0)}
        pred = (torch.cat(self.pred) if isinstance(self.pred, list) else self.pred).tolist()
        gold = (torch.cat(self.gold) if isinstance(self.gold, list) else self.gold).tolist()
        scores = attachment_scores(
            [[h for h, _ in gold]], [[self.vocab.label(r) for _, r in gold]],
            [[h for h, _ in pred]], [[self.vocab.label(r) for _, r in pred]],
            universal_relations=self.universal_relations,
        )  # fmt: skip
        return {f"{self.prefix}{k}": torch.tensor(v, dtype=torch.float32) for k, v in scores.items()}
