"""Multiple choice: one score per (question, candidate) pair, softmax over each question's candidates."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from relx.encoders import Encoded
from relx.heads.base import Head
from relx.heads.batches import ChoiceCandidates


class ChoiceHead(Head):
    """Dropout -> linear over the first token's state of each encoded pair (BERT's multiple-choice head).

    The encoder sees ``[batch * choices, seq]``; the head returns ``[batch, choices]`` logits, where
    padded candidates (``batch.choice_mask`` false: a question with fewer candidates than the widest of
    its batch) get the dtype's minimum, so they never win and carry no probability. ``num_labels`` (the
    most candidates seen in training) is only recorded: any number of candidates can be scored.
    """

    label_space = "choice"
    gold_field = "choice_labels"

    def __init__(
        self,
        hidden_size: int,
        num_labels: int = 4,
        dropout: float = 0.1,
        use_pooler: bool = False,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.max_choices = num_labels
        self.dropout = nn.Dropout(dropout)
        self.scorer = nn.Linear(hidden_size, 1)
        self.use_pooler = use_pooler
        self.label_smoothing = label_smoothing

    def forward(self, encoded: Encoded, batch: ChoiceCandidates) -> Tensor:
        """Logits ``[batch, choices]``."""
        pooled = encoded.pooled if self.use_pooler and encoded.pooled is not None else encoded.hidden[:, 0]
        scores = self.scorer(self.dropout(pooled)).float().view(batch.choice_mask.shape)
        return scores.masked_fill(~batch.choice_mask, torch.finfo(scores.dtype).min)

    def loss(self, output: Tensor, batch: ChoiceCandidates) -> Tensor:
        assert batch.choice_labels is not None, "the loss needs choice_labels"
        log_probs = output.log_softmax(-1)
        nll = -log_probs.gather(-1, batch.choice_labels[:, None]).squeeze(-1)
        if not self.label_smoothing:
            return nll.mean()
        # smoothing spreads over each question's real candidates only (padding has log-probability -inf)
        mask = batch.choice_mask
        uniform = -(log_probs.masked_fill(~mask, 0.0)).sum(-1) / mask.sum(-1)
        return ((1 - self.label_smoothing) * nll + self.label_smoothing * uniform).mean()

    def decode(self, output: Tensor, batch: ChoiceCandidates) -> Tensor:
        """The chosen candidate's index ``[batch]``."""
        return output.argmax(-1)

    def probabilities(self, output: Tensor) -> Tensor:
        return output.softmax(-1)
