"""Extractive QA decoding: the best answer span of an example over all its windows (n-best search)."""

from __future__ import annotations

import torch
from torch import Tensor


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
    best: tuple[int, int, float] | None = None
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
                if best is None or score > best[2]:
                    best = (int(offsets[w, i, 0]), int(offsets[w, j, 1]), score)
    return best
