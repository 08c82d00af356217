"""Sentence classification (intent detection) from the first token's state."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from relx.data.batch import IGNORE_INDEX
from relx.encoders import Encoded
from relx.heads.base import Head, fallback_where_unfit


class SequenceClassificationHead(Head):
    """Dropout -> linear over the first token's final state (``[CLS]``/``<s>``), or over the
    encoder's pooler output with ``use_pooler=True`` (BERT's original classifier input)."""

    label_space = "sentence"

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        dropout: float = 0.1,
        use_pooler: bool = False,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)
        self.use_pooler = use_pooler
        self.label_smoothing = label_smoothing

    def forward(self, encoded: Encoded, batch: Any) -> Tensor:
        """Logits ``[batch, num_labels]``."""
        pooled = encoded.pooled if self.use_pooler and encoded.pooled is not None else encoded.hidden[:, 0]
        return self.classifier(self.dropout(pooled))

    def loss(self, output: Tensor, batch: Any) -> Tensor:
        assert batch.sentence_labels is not None, "sequence loss needs sentence_labels"
        # Labels unseen in training (ids >= num_labels, dev/test only) carry no loss; they are scored.
        labels = batch.sentence_labels.masked_fill(batch.sentence_labels >= output.shape[-1], IGNORE_INDEX)
        return F.cross_entropy(output.float(), labels, ignore_index=IGNORE_INDEX, label_smoothing=self.label_smoothing)

    def decode(self, output: Tensor, batch: Any) -> Tensor:
        """Predicted label ids ``[batch]``."""
        return fallback_where_unfit(output.argmax(-1), batch)

    def probabilities(self, output: Tensor) -> Tensor:
        return output.float().softmax(-1)
