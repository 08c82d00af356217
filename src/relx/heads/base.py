"""The head protocol."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relx.data.batch import IGNORE_INDEX
from relx.encoders import Encoded


class Head(nn.Module):
    """A task head over the encoder's output.

    ``label_space`` names the vocabulary it predicts (``token`` for word tags, ``sentence`` for a
    sentence label); a DataModule that provides that space satisfies the head's batch contract.
    """

    label_space: ClassVar[str]
    # The batch attribute holding this head's gold labels (None: the usual one of its label space, see
    # ``TaskModule._has_labels``); evaluation computes a loss only when it is present.
    gold_field: ClassVar[str | None] = None

    def forward(self, encoded: Encoded, batch: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def loss(self, output: Any, batch: Any) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def decode(self, output: Any, batch: Any) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def probabilities(self, output: Any) -> Tensor | None:
        """Class probabilities, for heads whose metrics need scores (e.g. KLUE's AUPRC); default none."""
        return None

    def per_example(self, output: Any, decoded: Tensor, batch: Any) -> list[Any] | None:
        """Predictions as one entry per example, for heads whose decoded rows are not examples
        (DocRE: rows are entity pairs); default ``None``: row ``i`` is example ``i``."""
        return None

    def after_validation(self, values: dict[str, float]) -> None:
        """Sees each validation's metric values (unprefixed), e.g. to tune a threshold on dev; default: nothing."""


def fallback_where_unfit(predicted: Tensor, batch: Any) -> Tensor:
    """Rows the DataModule could not encode (``batch.fits`` false) predict ``batch.fallback_id``, the
    task's negative class, so they are scored instead of dropped."""
    fits = getattr(batch, "fits", None)
    if fits is None:
        return predicted
    return torch.where(fits, predicted, torch.full_like(predicted, batch.fallback_id))


class SentenceHead(Head):
    """A head predicting one label per batch row (intent, relation): cross-entropy loss, argmax decoding
    (unfit rows fall back to the negative class), softmax probabilities. Subclasses give ``forward``
    and set ``label_smoothing``."""

    label_space = "sentence"
    label_smoothing: float = 0.0

    def loss(self, output: Tensor, batch: Any) -> Tensor:
        assert batch.sentence_labels is not None, "the loss needs sentence_labels"
        # Labels unseen in training (ids >= num_labels, dev/test only) carry no loss; they are scored.
        labels = batch.sentence_labels.masked_fill(batch.sentence_labels >= output.shape[-1], IGNORE_INDEX)
        return F.cross_entropy(output.float(), labels, ignore_index=IGNORE_INDEX, label_smoothing=self.label_smoothing)

    def decode(self, output: Tensor, batch: Any) -> Tensor:
        """Predicted label ids ``[batch]``."""
        return fallback_where_unfit(output.argmax(-1), batch)

    def probabilities(self, output: Tensor) -> Tensor:
        return output.float().softmax(-1)
