"""Word tagging (NER, slot filling) from each word's first subword."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relx.data.batch import IGNORE_INDEX, WordBatch
from relx.encoders import Encoded
from relx.heads.base import Head


class TokenClassificationHead(Head):
    """Dropout -> linear over the states of the words' first subwords.

    Words lost to truncation have no state: they get no loss and decode to ``outside_id`` (``O``), so
    the metric counts their entities as missed.
    """

    label_space = "token"

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        dropout: float = 0.1,
        outside_id: int = 0,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)
        self.outside_id = outside_id
        self.label_smoothing = label_smoothing

    def forward(self, encoded: Encoded, batch: WordBatch) -> Tensor:
        """Word logits ``[batch, words, num_labels]``."""
        index = batch.word_index.clamp(min=0)
        words = torch.gather(encoded.hidden, 1, index.unsqueeze(-1).expand(-1, -1, encoded.hidden.shape[-1]))
        return self.classifier(self.dropout(words))

    def loss(self, output: Tensor, batch: WordBatch) -> Tensor:
        assert batch.word_labels is not None, "token loss needs word_labels"
        # Lost words and labels unseen in training (ids >= num_labels) carry no training signal.
        labels = batch.word_labels.masked_fill(batch.word_index < 0, IGNORE_INDEX)
        labels = labels.masked_fill(labels >= output.shape[-1], IGNORE_INDEX)
        return F.cross_entropy(
            output.flatten(0, 1).float(),
            labels.flatten(),
            ignore_index=IGNORE_INDEX,
            label_smoothing=self.label_smoothing,
        )

    def decode(self, output: Tensor, batch: WordBatch) -> Tensor:
        """Predicted tag ids ``[batch, words]``; ``outside_id`` for lost words, ``-100`` at padding."""
        pred = output.argmax(-1)
        pred = pred.masked_fill(batch.word_index < 0, self.outside_id)
        return pred.masked_fill(~batch.word_mask, IGNORE_INDEX)
