"""The head protocol."""

from __future__ import annotations

from typing import Any, ClassVar

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
