"""Masked-LM scores: perplexity and masked-token accuracy."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from relx.data.vocab import LabelVocab


class MaskedLMScores(Metric):
    """``perplexity``: exp of the mean negative log-likelihood of every masked token of the split (token-
    weighted, so the figure does not depend on how rows are batched); ``masked_acc``: the share of masked
    tokens whose most probable prediction is the original; ``masked_tokens``: how many were scored.

    ``update`` reads ``predictions["mlm"]`` ``[batch, 3]``: per row, masked tokens, their summed NLL and how
    many were right (``relx.heads.mlm.MaskedLMHead.decode``)."""

    full_state_update = False
    masked: Tensor
    nll: Tensor
    correct: Tensor

    def __init__(self, vocab: LabelVocab | None = None, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix
        for name in ("masked", "nll", "correct"):
            self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predictions: dict[str, Tensor], batch: Any) -> None:
        stats = predictions["mlm"].to(torch.float64)
        self.masked += stats[:, 0].sum()
        self.nll += stats[:, 1].sum()
        self.correct += stats[:, 2].sum()

    def compute(self) -> dict[str, Tensor]:
        n = self.masked.clamp(min=1)
        return {
            f"{self.prefix}perplexity": torch.exp(self.nll / n).float(),
            f"{self.prefix}masked_acc": (self.correct / n).float(),
            f"{self.prefix}masked_tokens": self.masked.float(),
        }
