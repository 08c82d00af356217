"""Sentence classification (intent detection) from the first token's state."""

from __future__ import annotations

from torch import Tensor, nn

from relx.encoders import Encoded
from relx.heads.base import SentenceHead
from relx.heads.batches import SentenceLabelled


class SequenceClassificationHead(SentenceHead):
    """Dropout -> linear over the first token's final state (``[CLS]``/``<s>``), or over the
    encoder's pooler output with ``use_pooler=True`` (BERT's original classifier input)."""

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

    def forward(self, encoded: Encoded, batch: SentenceLabelled) -> Tensor:
        """Logits ``[batch, num_labels]``."""
        pooled = encoded.pooled if self.use_pooler and encoded.pooled is not None else encoded.hidden[:, 0]
        return self.classifier(self.dropout(pooled))
