"""A linear-chain CRF over word tags (Lafferty et al. 2001; the SuPar / flair formulation).

A tag sequence ``y`` of a sentence with emission scores ``E`` ``[words, labels]`` scores
``start[y_0] + sum_t E[t, y_t] + sum_(t>0) T[y_(t-1), y_t] + end[y_last]``; training maximises its
log-likelihood ``score(y) - log Z`` with the partition ``Z`` summed over every sequence by the forward
algorithm, and decoding is Viterbi (``relx.heads.decoding.viterbi``). Both are vectorised over the
batch and the label pairs, looping only over word positions.

Shapes: ``emissions`` ``[batch, words, labels]``, ``tags`` ``[batch, words]``, ``mask`` ``[batch, words]``
(a prefix per row: ``relx.heads.decoding.compact`` makes one), ``transitions`` ``[labels, labels]``
(``transitions[i, j]``: tag ``j`` right after tag ``i``), ``start``/``end`` ``[labels]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from relx.data.batch import IGNORE_INDEX
from relx.encoders import Encoded
from relx.heads.base import Head
from relx.heads.batches import WordLevel
from relx.heads.decoding import bio_allowed, compact, force_outside, viterbi
from relx.heads.words import word_states

# A forbidden transition while training: finite, so that the forward algorithm's log-sum-exp over a
# tag no path can reach (an I-X whose B-X the vocabulary lacks) has a gradient instead of NaN.
FORBIDDEN = -1e4


def crf_log_partition(emissions: Tensor, mask: Tensor, transitions: Tensor, start: Tensor, end: Tensor) -> Tensor:
    """``log Z`` ``[batch]``: the log-sum-exp of every tag sequence's score over each row's prefix (rows
    without words give a meaningless value: callers mask them)."""
    alpha = start.unsqueeze(0) + emissions[:, 0]  # [batch, labels]: log-sum over paths ending in each tag
    for t in range(1, emissions.shape[1]):
        step = torch.logsumexp(alpha.unsqueeze(2) + transitions.unsqueeze(0), dim=1) + emissions[:, t]
        alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)
    return torch.logsumexp(alpha + end.unsqueeze(0), dim=-1)


def crf_path_score(
    emissions: Tensor, tags: Tensor, mask: Tensor, transitions: Tensor, start: Tensor, end: Tensor
) -> Tensor:
    """Score ``[batch]`` of the sequence ``tags`` over each row's prefix (values past it are ignored)."""
    tags = tags.masked_fill(~mask, 0)
    emitted = emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1).masked_fill(~mask, 0.0)  # [batch, words]
    moved = transitions[tags[:, :-1], tags[:, 1:]].masked_fill(~mask[:, 1:], 0.0)  # [batch, words - 1]
    last = tags.gather(1, (mask.sum(1, keepdim=True) - 1).clamp(min=0)).squeeze(1)  # [batch]
    return start[tags[:, 0]] + emitted.sum(1) + moved.sum(1) + end[last]


class CRFHead(Head):
    """Dropout -> linear emissions over the words' states, then a linear-chain CRF.

    Loss: the negative log-likelihood of the gold sequences divided by the number of words scored
    (a per-word scale, like the token head's cross-entropy, so the same learning rates fit). Words lost
    to truncation, and dev/test labels unseen in training, are left out of the chain (the words around
    them become neighbours); at decoding lost words are fixed to ``outside_id``.

    ``constrained`` (default true): transitions the BIO grammar forbids (``I-X`` after anything but
    ``B-X``/``I-X``, or first) are removed from the model, in training (the partition sums only valid
    sequences) and in decoding (Viterbi can return only valid ones). The gold data is valid BIO (readers
    repair stray ``I-`` tags), so nothing is lost; false learns every transition freely.
    """

    label_space = "token"
    gold_field = "word_labels"
    needs_labels: ClassVar[bool] = True
    allowed: Tensor  # [labels, labels]
    start_allowed: Tensor  # [labels]

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        labels: Sequence[str] | None = None,
        dropout: float = 0.1,
        outside_id: int = 0,
        constrained: bool = True,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if label_smoothing:
            raise ValueError("label smoothing does not apply to a CRF's sequence likelihood (optim.label_smoothing)")
        if constrained and labels is None:
            raise ValueError("a constrained CRF needs the label names (CRFHead(labels=...)) for the BIO grammar")
        self.dropout = nn.Dropout(dropout)
        self.emissions = nn.Linear(hidden_size, num_labels)
        self.transitions = nn.Parameter(torch.zeros(num_labels, num_labels))
        self.start_transitions = nn.Parameter(torch.zeros(num_labels))
        self.end_transitions = nn.Parameter(torch.zeros(num_labels))
        self.outside_id = outside_id
        self.constrained = constrained
        if labels is not None and len(labels) != num_labels:
            raise ValueError(f"{len(labels)} label names for {num_labels} labels")
        allowed, start = bio_allowed(labels) if labels is not None else (None, None)
        full = torch.ones(num_labels, num_labels, dtype=torch.bool)
        # Derived from the labels, so not saved in checkpoints.
        self.register_buffer("allowed", allowed if allowed is not None else full, persistent=False)
        self.register_buffer("start_allowed", start if start is not None else full[0], persistent=False)

    def scores(self, forbidden: float) -> tuple[Tensor, Tensor, Tensor]:
        """(transitions, start, end) in float32, forbidden BIO moves set to ``forbidden`` when constrained."""
        transitions, start = self.transitions.float(), self.start_transitions.float()
        if self.constrained:
            transitions = transitions.masked_fill(~self.allowed, forbidden)
            start = start.masked_fill(~self.start_allowed, forbidden)
        return transitions, start, self.end_transitions.float()

    def forward(self, encoded: Encoded, batch: WordLevel) -> Tensor:
        """Emission scores ``[batch, words, num_labels]``."""
        return self.emissions(self.dropout(word_states(encoded.hidden, batch)))

    def loss(self, output: Tensor, batch: WordLevel) -> Tensor:
        assert batch.word_labels is not None, "CRF loss needs word_labels"
        labels = batch.word_labels
        scored = batch.word_mask & (batch.word_index >= 0) & (labels >= 0) & (labels < output.shape[-1])
        order, mask = compact(scored)
        emissions = output.float().gather(1, order.unsqueeze(-1).expand(-1, -1, output.shape[-1]))
        tags = labels.clamp(min=0).gather(1, order)
        transitions, start, end = self.scores(FORBIDDEN)
        nll = crf_log_partition(emissions, mask, transitions, start, end) - crf_path_score(
            emissions, tags, mask, transitions, start, end
        )
        nll = nll.masked_fill(~mask[:, 0], 0.0)  # sentences with no scored word
        return nll.sum() / mask.sum().clamp(min=1)

    def decode(self, output: Tensor, batch: WordLevel) -> Tensor:
        """Viterbi tag ids ``[batch, words]``; ``outside_id`` for lost words, ``-100`` at padding."""
        emissions = force_outside(output.float(), batch.word_index < 0, self.outside_id)
        transitions, start, end = self.scores(float("-inf"))
        pred = viterbi(emissions, batch.word_mask, transitions, start, end)
        return pred.masked_fill(~batch.word_mask, IGNORE_INDEX)
