"""Sentence-label accuracy and the joint intent + slots sentence-frame accuracy."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from relx.data.vocab import LabelVocab


class LabelAccuracy(Metric):
    """Accuracy of the ``sentence`` label (intent). Gold labels unseen in training count as errors.
    Subclasses score another label space by naming it and the batch's gold field."""

    full_state_update = False
    correct: Tensor
    total: Tensor
    space = "sentence"
    gold_field = "sentence_labels"

    def __init__(self, vocab: LabelVocab | None = None, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix
        self.add_state("correct", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, predictions: dict[str, Tensor], batch: Any) -> None:
        gold = getattr(batch, self.gold_field)
        self.correct += (predictions[self.space] == gold).sum()
        self.total += gold.numel()

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
