"""Unlabelled and labelled attachment scores (UAS, LAS).

PTB convention (``punct_tags``): words whose gold POS tag is punctuation are left out. UD convention
(the CoNLL 2018 evaluation): every word counts, and LAS compares only the universal part of the
relation (``nmod:poss`` -> ``nmod``) when ``universal_relations`` is on.
"""

from __future__ import annotations

from collections.abc import Sequence


def universal(relation: str) -> str:
    return relation.split(":", 1)[0]


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
    total = unlabelled = labelled = 0
    for s, (gh, gr, ph, pr) in enumerate(zip(gold_heads, gold_rels, pred_heads, pred_rels, strict=True)):
        for i, (g_head, g_rel, p_head, p_rel) in enumerate(zip(gh, gr, ph, pr, strict=True)):
            if punct_tags and tags is not None and tags[s][i] in punct_tags:
                continue
            total += 1
            if g_head == p_head:
                unlabelled += 1
                same = universal(g_rel) == universal(p_rel) if universal_relations else g_rel == p_rel
                labelled += same
    return {"uas": unlabelled / total if total else 0.0, "las": labelled / total if total else 0.0}
