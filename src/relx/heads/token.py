"""Word tagging (NER, slot filling) from each word's state (first subword by default, ``data.subword``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from relx.data.batch import IGNORE_INDEX
from relx.encoders import Encoded
from relx.errors import ConfigError
from relx.heads.base import Head
from relx.heads.batches import WordLevel
from relx.heads.decoding import TAG_DECODERS, bio_allowed, bio_viterbi, force_outside
from relx.heads.words import word_states


class TokenClassificationHead(Head):
    """Dropout -> linear over the words' states; cross-entropy per word.

    ``decoder``: ``argmax`` (each word on its own, the default) or ``bio_viterbi`` (the most probable
    sequence the BIO grammar allows, from the label names: ``I-X`` only after ``B-X``/``I-X``, never
    first). Words lost to truncation have no state: they get no loss and decode to ``outside_id``
    (``O``), so the metric counts their entities as missed.
    """

    label_space = "token"
    gold_field = "word_labels"
    needs_labels: ClassVar[bool] = True  # build_heads passes the label names (the BIO mask needs them)
    decoders: ClassVar[tuple[str, ...]] = TAG_DECODERS
    allowed: Tensor  # [labels, labels] BIO transitions, when built with label names
    start_allowed: Tensor  # [labels]

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        dropout: float = 0.1,
        outside_id: int = 0,
        label_smoothing: float = 0.0,
        labels: Sequence[str] | None = None,
        decoder: str = "argmax",
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)
        self.outside_id = outside_id
        self.label_smoothing = label_smoothing
        # The grammar is derived from the labels, so it is not saved (checkpoints keep their old keys).
        if labels is not None:
            if len(labels) != num_labels:
                raise ValueError(f"{len(labels)} label names for {num_labels} labels")
            allowed, start = bio_allowed(labels)
            self.register_buffer("allowed", allowed, persistent=False)
            self.register_buffer("start_allowed", start, persistent=False)
        self.decoder = decoder

    @property
    def decoder(self) -> str:
        """``argmax`` | ``bio_viterbi``; may be switched after training (``relx.evaluate``)."""
        return self._decoder

    @decoder.setter
    def decoder(self, value: str) -> None:
        if value not in TAG_DECODERS:
            raise ConfigError(f"head.decoder must be one of {', '.join(TAG_DECODERS)} for a token head, not {value!r}")
        if value == "bio_viterbi" and not hasattr(self, "allowed"):
            raise ConfigError("head.decoder=bio_viterbi needs the label names (TokenClassificationHead(labels=...))")
        self._decoder = value

    def forward(self, encoded: Encoded, batch: WordLevel) -> Tensor:
        """Word logits ``[batch, words, num_labels]``."""
        return self.classifier(self.dropout(word_states(encoded.hidden, batch)))

    def loss(self, output: Tensor, batch: WordLevel) -> Tensor:
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

    def decode(self, output: Tensor, batch: WordLevel) -> Tensor:
        """Predicted tag ids ``[batch, words]``; ``outside_id`` for lost words, ``-100`` at padding."""
        lost = batch.word_index < 0
        if self.decoder == "bio_viterbi":
            log_probs = force_outside(output.float().log_softmax(-1), lost, self.outside_id)
            pred = bio_viterbi(log_probs, batch.word_mask, self.allowed, self.start_allowed)
        else:
            pred = output.argmax(-1).masked_fill(lost, self.outside_id)
        return pred.masked_fill(~batch.word_mask, IGNORE_INDEX)
