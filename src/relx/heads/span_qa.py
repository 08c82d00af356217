"""Extractive QA: start/end logits over every token of every window; answers decoded per example."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relx.encoders import Encoded
from relx.heads.base import Head
from relx.heads.batches import AnswerWindows
from relx.postprocess import SpanCandidate, best_span_candidate, span_log_prob


class SpanQAHead(Head):
    """A linear layer giving each token a start and an end logit (BERT's SQuAD head).

    The batch holds all windows of its examples (``batch.window_example`` maps window -> example row).
    The loss is the mean of the start and end cross-entropies over windows (a window without the answer
    points at its CLS position); decoding runs ``best_span`` over all windows of each example;
    ``confidence`` gives the decoded span's log-probability.
    ``num_labels`` is the size of the ``span`` space (start, end).
    """

    label_space = "span"
    gold_field = "start_positions"

    def __init__(
        self,
        hidden_size: int,
        num_labels: int = 2,
        dropout: float = 0.0,
        n_best_size: int = 20,
        max_answer_length: int = 50,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.qa_outputs = nn.Linear(hidden_size, num_labels)
        self.n_best_size = n_best_size
        self.max_answer_length = max_answer_length
        self.label_smoothing = label_smoothing

    def forward(self, encoded: Encoded, batch: AnswerWindows) -> tuple[Tensor, Tensor]:
        """(start, end) logits ``[windows, seq]``; padding positions at the dtype's minimum."""
        logits = self.qa_outputs(self.dropout(encoded.hidden)).float()
        pad = batch.attention_mask == 0
        low = torch.finfo(logits.dtype).min
        return logits[..., 0].masked_fill(pad, low), logits[..., 1].masked_fill(pad, low)

    def loss(self, output: tuple[Tensor, Tensor], batch: AnswerWindows) -> Tensor:
        assert batch.start_positions is not None, "the loss needs start_positions"
        assert batch.end_positions is not None, "the loss needs end_positions"
        start, end = output
        ls = self.label_smoothing
        return (
            F.cross_entropy(start, batch.start_positions, label_smoothing=ls)
            + F.cross_entropy(end, batch.end_positions, label_smoothing=ls)
        ) / 2

    def _candidates(self, output: tuple[Tensor, Tensor], batch: AnswerWindows) -> list[SpanCandidate | None]:
        """Each example's best span over all its windows (``best_span_candidate``), ``None`` where none is valid."""
        start, end = (t.detach().float().cpu() for t in output)
        offsets, rows = batch.offsets.cpu(), batch.window_example.cpu()
        found: list[SpanCandidate | None] = []
        for row in range(len(batch)):
            windows = (rows == row).nonzero().flatten()
            best = best_span_candidate(
                start[windows], end[windows], offsets[windows], self.n_best_size, self.max_answer_length
            )
            found.append(best if best is None else best._replace(window=int(windows[best.window])))
        return found

    def decode(self, output: tuple[Tensor, Tensor], batch: AnswerWindows) -> Tensor:
        """Character spans ``[batch, 2]`` (start, exclusive end) in each example's context; ``(0, 0)``
        (the empty answer) when no window has a valid span."""
        spans = torch.zeros(len(batch), 2, dtype=torch.long)
        for row, best in enumerate(self._candidates(output, batch)):
            if best is not None:
                spans[row, 0], spans[row, 1] = best.start, best.end
        return spans.to(output[0].device)

    def confidence(self, output: tuple[Tensor, Tensor], batch: AnswerWindows) -> Tensor:
        """``[batch]``: the decoded span's ``log p(start) + log p(end)`` in its window (``span_log_prob``),
        ``-inf`` where no span is valid; the two-stage pipeline compares answers across paragraphs by it."""
        start, end = (t.detach().float().cpu() for t in output)
        scores = [-math.inf if c is None else span_log_prob(start, end, c) for c in self._candidates(output, batch)]
        return torch.tensor(scores, dtype=torch.float64)
