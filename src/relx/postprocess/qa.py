"""Extractive QA decoding: the best answer span of an example over all its windows (n-best search), its
log-probability, and the best answer across several paragraphs of a two-stage pipeline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor


class SpanCandidate(NamedTuple):
    """A decoded answer: characters ``start``..``end`` (exclusive) of the context, its ``score``
    (start logit + end logit), and where it was found: ``window``, ``start_token``, ``end_token``."""

    start: int
    end: int
    score: float
    window: int
    start_token: int
    end_token: int


def best_span_candidate(
    start_logits: Tensor,
    end_logits: Tensor,
    offsets: Tensor,
    n_best_size: int = 20,
    max_answer_length: int = 30,
) -> SpanCandidate | None:
    """The highest-scoring span of one example (see ``best_span``) with the window and tokens it came from."""
    best: SpanCandidate | None = None
    k = min(n_best_size, start_logits.shape[-1])
    for w in range(start_logits.shape[0]):
        in_context = offsets[w, :, 0] >= 0
        if not bool(in_context.any()):
            continue
        low = torch.finfo(start_logits.dtype).min
        starts = start_logits[w].masked_fill(~in_context, low).topk(k).indices.tolist()
        ends = end_logits[w].masked_fill(~in_context, low).topk(k).indices.tolist()
        s_log, e_log, ctx = start_logits[w].tolist(), end_logits[w].tolist(), in_context.tolist()
        for i in starts:
            if not ctx[i]:
                continue
            for j in ends:
                if not ctx[j] or j < i or j - i + 1 > max_answer_length:
                    continue
                score = s_log[i] + e_log[j]
                if best is None or score > best.score:
                    best = SpanCandidate(int(offsets[w, i, 0]), int(offsets[w, j, 1]), score, w, i, j)
    return best


def best_span(
    start_logits: Tensor,
    end_logits: Tensor,
    offsets: Tensor,
    n_best_size: int = 20,
    max_answer_length: int = 30,
) -> tuple[int, int, float] | None:
    """The highest-scoring character span ``(start, end, score)`` of one example, or ``None``.

    ``start_logits``/``end_logits`` ``[windows, seq]``; ``offsets`` ``[windows, seq, 2]``: each token's
    character span in the context, ``-1`` for tokens outside it (question, special tokens, padding).
    In every window the ``n_best_size`` best start and end tokens are paired; a pair counts when both
    are context tokens, ``end >= start`` and it spans at most ``max_answer_length`` tokens. The score is
    ``start_logit + end_logit`` (the Hugging Face QA post-processing); the best pair over all windows
    wins (the first one met on ties). ``end`` is exclusive: the answer is ``context[start:end]``.
    """
    best = best_span_candidate(start_logits, end_logits, offsets, n_best_size, max_answer_length)
    return None if best is None else (best.start, best.end, best.score)


def span_log_prob(start_logits: Tensor, end_logits: Tensor, candidate: SpanCandidate) -> float:
    """``log p(start) + log p(end)`` of ``candidate`` under the model's softmax over the positions of the
    window it came from (``start_logits``/``end_logits`` ``[windows, seq]``, padding at the dtype's minimum):
    a score that, unlike raw logits, compares answers read from different inputs (paragraphs)."""
    w = candidate.window
    start = start_logits[w].double().log_softmax(-1)[candidate.start_token]
    end = end_logits[w].double().log_softmax(-1)[candidate.end_token]
    return float(start + end)


def best_paragraph(select_probs: Sequence[float], span_log_probs: Sequence[float]) -> int | None:
    """Which of a question's kept paragraphs (in selection rank order) the two-stage pipeline answers from:
    the one maximising ``log p_select(paragraph) + log p(start) + log p(end)``, the joint probability of the
    paragraph and of the answer span in it (a paragraph without a valid span has ``-inf``); the higher-ranked
    paragraph on ties; ``None`` when no paragraph has a span."""
    best, best_score = None, -math.inf
    for i, (p, span) in enumerate(zip(select_probs, span_log_probs, strict=True)):
        score = (math.log(p) if p > 0 else -math.inf) + span
        if score > best_score:
            best, best_score = i, score
    return best
