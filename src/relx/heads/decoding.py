"""Sequence decoding for word taggers: the BIO grammar as a transition mask, and batched Viterbi.

The token head's default decoding is an independent argmax per word, which can emit ``O I-ACTOR``:
conlleval-style scoring (seqeval's default mode) reads that stray ``I-`` as a chunk of its own. Under
the BIO grammar an ``I-X`` may only follow ``B-X`` or ``I-X`` and never starts a sentence; Viterbi
under that mask finds the best *valid* sequence. The CRF head (``relx.heads.crf``) uses the same
Viterbi with learned transition scores.

Shapes: ``scores`` ``[batch, words, labels]``, ``mask`` ``[batch, words]`` (true for real words, a prefix
of each row), ``transitions`` ``[labels, labels]`` (``transitions[i, j]``: score of tag ``j`` right
after tag ``i``), ``start``/``end`` ``[labels]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

TAG_DECODERS = ("argmax", "bio_viterbi")


def bio_allowed(labels: Sequence[str]) -> tuple[Tensor, Tensor]:
    """The BIO grammar over a label vocabulary: ``allowed`` ``[labels, labels]`` (``allowed[i, j]``: tag
    ``j`` may follow tag ``i``) and ``start_allowed`` ``[labels]``.

    ``I-X`` may follow only ``B-X`` or ``I-X`` and may not start a sentence; every other tag (``O``,
    ``B-X``, anything outside the grammar) may follow anything and end a sentence. A vocabulary whose
    tags are all ``I-`` admits no sequence at all and is refused.
    """
    allowed = torch.ones(len(labels), len(labels), dtype=torch.bool)
    start = torch.ones(len(labels), dtype=torch.bool)
    for j, tag in enumerate(labels):
        if tag.startswith("I-"):
            continues = (f"B-{tag[2:]}", tag)
            allowed[:, j] = torch.tensor([previous in continues for previous in labels], dtype=torch.bool)
            start[j] = False
    if not bool(start.any()):
        raise ValueError(f"BIO decoding needs an O or B- tag among the labels, got {list(labels)}")
    return allowed, start


def compact(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Reorder each row so that its true positions come first, in order: returns ``order`` ``[batch,
    words]`` (``x.gather(1, order)`` compacts ``x``) and the compacted ``mask`` (a prefix per row). Lets
    prefix-mask algorithms skip words anywhere in a row (words lost to truncation, unseen labels)."""
    order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices
    positions = torch.arange(mask.shape[1], device=mask.device)
    return order, positions.unsqueeze(0) < mask.sum(1, keepdim=True)


def viterbi(scores: Tensor, mask: Tensor, transitions: Tensor, start: Tensor, end: Tensor) -> Tensor:
    """The highest-scoring tag sequence of each row, ``[batch, words]`` (long).

    A path's score is ``start[y_0] + sum_t scores[t, y_t] + sum_t transitions[y_(t-1), y_t] + end[y_last]``
    over the row's masked-in prefix; ``-inf`` entries forbid a transition. Vectorised over the batch and
    the label pairs; the loop runs over word positions (the recursion is sequential), each step a
    ``[batch, labels, labels]`` max. Positions past a row's length repeat its last tag: callers mask them.
    """
    batch, words, num_labels = scores.shape
    score = start.unsqueeze(0) + scores[:, 0]  # [batch, labels]
    identity = torch.arange(num_labels, device=scores.device).expand(batch, num_labels)
    backpointers = []
    for t in range(1, words):
        best, previous = (score.unsqueeze(2) + transitions.unsqueeze(0)).max(1)  # [batch, labels] each
        step = mask[:, t].unsqueeze(1)
        score = torch.where(step, best + scores[:, t], score)
        backpointers.append(torch.where(step, previous, identity))
    tag = (score + end.unsqueeze(0)).argmax(-1)  # [batch]
    path = [tag]
    for pointers in reversed(backpointers):
        tag = pointers.gather(1, tag.unsqueeze(1)).squeeze(1)
        path.append(tag)
    return torch.stack(path[::-1], dim=1)


def bio_viterbi(log_probs: Tensor, mask: Tensor, allowed: Tensor, start_allowed: Tensor) -> Tensor:
    """The most probable BIO-valid tag sequence under per-word ``log_probs`` ``[batch, words, labels]``:
    the argmax of ``sum_t log p(y_t)`` over sequences the grammar allows (``bio_allowed``). Equals the
    per-word argmax whenever that is already valid. Returns ``[batch, words]``."""
    scores = log_probs.float()
    blocked = torch.tensor(float("-inf"), device=scores.device)
    zero = torch.zeros((), device=scores.device)
    transitions = torch.where(allowed.to(scores.device), zero, blocked)
    start = torch.where(start_allowed.to(scores.device), zero, blocked)
    return viterbi(scores, mask, transitions, start, torch.zeros_like(start))


def force_outside(scores: Tensor, lost: Tensor, outside_id: int) -> Tensor:
    """``scores`` ``[batch, words, labels]`` where ``lost`` ``[batch, words]`` words (cut by truncation: no
    state) can only be ``outside_id``: they decode to ``O`` and the decoded sequence stays BIO-valid."""
    forced = torch.full_like(scores[0, 0], float("-inf"))
    forced[outside_id] = 0.0
    return torch.where(lost.unsqueeze(-1), forced, scores)
