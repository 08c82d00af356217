"""Sentence-label accuracy and the joint intent + slots sentence-frame accuracy."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from relx.data.vocab import LabelVocab


class LabelAccuracy(Metric):
    """Accuracy of the ``sentence`` label (intent). Gold labels unseen in training count as errors."""

    full_state_update = False
    correct: Tensor
    total: Tensor

    def __init__(self, vocab: LabelVocab | None = None, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix
        self.add_state("correct", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, predictions: dict[str, Tensor], batch: Any) -> None:
        self.correct += (predictions["sentence"] == batch.sentence_labels).sum()
        self.total += batch.sentence_labels.numel()

    def compute(self) -> dict[str, Tensor]:
        return {f"{self.prefix}acc": self.correct.float() / self.total.clamp(min=1)}


class SentenceFrameAccuracy(Metric):
    """Share of sentences whose intent and every slot tag are right (JointBERT's
    ``semantic_frame_acc``)."""

    full_state_update = False
    correct: Tensor
    total: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("correct", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, predictions: dict[str, Tensor], batch: Any) -> None:
        mask = batch.word_mask
        slots_right = ((predictions["token"] == batch.word_labels) | ~mask).all(dim=1)
        intent_right = predictions["sentence"] == batch.sentence_labels
        self.correct += (slots_right & intent_right).sum()
        self.total += mask.shape[0]

    def compute(self) -> dict[str, Tensor]:
        return {"frame_acc": self.correct.float() / self.total.clamp(min=1)}
