"""The head protocol."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from relx.encoders import Encoded


class Head(nn.Module):
    """A task head over the encoder's output.

    ``label_space`` names the vocabulary it predicts (``token`` for word tags, ``sentence`` for a
    sentence label); a DataModule that provides that space satisfies the head's batch contract.
    """

    label_space: ClassVar[str]

    def forward(self, encoded: Encoded, batch: Any) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def loss(self, output: Tensor, batch: Any) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def decode(self, output: Tensor, batch: Any) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def probabilities(self, output: Tensor) -> Tensor | None:
        """Class probabilities, for heads whose metrics need scores (e.g. KLUE's AUPRC); default none."""
        return None


def fallback_where_unfit(predicted: Tensor, batch: Any) -> Tensor:
    """Rows the DataModule could not encode (``batch.fits`` false) predict ``batch.fallback_id``, the
    task's negative class, so they are scored instead of dropped."""
    fits = getattr(batch, "fits", None)
    if fits is None:
        return predicted
    return torch.where(fits, predicted, torch.full_like(predicted, batch.fallback_id))
