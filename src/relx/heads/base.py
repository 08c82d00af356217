"""The head protocol."""

from __future__ import annotations

from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relx.data.batch import IGNORE_INDEX
from relx.encoders import Encoded, Encoder
from relx.heads.batches import MayNotFit, SentenceLabelled


class Head(nn.Module):
    """A task head over the encoder's output.

    ``label_space`` names the vocabulary it predicts (``token`` for word tags, ``sentence`` for a
    sentence label); a Task whose ``label_spaces`` include it provides the batch fields the head reads.
    A head's batch ``Protocol`` (``relx.heads.batches``) is the contract a task's batch must meet.
    """

    label_space: ClassVar[str]
    # The batch attribute holding this head's gold labels; evaluation computes a loss only when it is present.
    gold_field: ClassVar[str]
    # Reads the two marked entities of a relation example (``EntitySpans``): fits only tasks that mark them.
    reads_entity_spans: ClassVar[bool] = False

    def forward(self, encoded: Encoded, batch: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def loss(self, output: Any, batch: Any) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def decode(self, output: Any, batch: Any) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def probabilities(self, output: Any) -> Tensor | None:
        """Class probabilities, for heads whose metrics need scores (e.g. KLUE's AUPRC); default none."""
        return None

    def confidence(self, output: Any, batch: Any) -> Tensor | None:
        """``[batch]``: a score of each decoded prediction, returned at prediction as ``<space>_score`` (span QA:
        the answer's log-probability, which the two-stage MRC pipeline compares across paragraphs); default none."""
        return None

    def per_example(self, output: Any, decoded: Tensor, batch: Any) -> list[Any] | None:
        """Predictions as one entry per example, for heads whose decoded rows are not examples
        (DocRE: rows are entity pairs); default ``None``: row ``i`` is example ``i``."""
        return None

    def bind_encoder(self, encoder: Encoder) -> None:
        """Called once the encoder is built (and resized to the tokenizer): a head that reads the encoder's own
        weights takes them here (the masked-LM head's decoder is the word embedding matrix); default nothing."""

    def calibrate(self, **rule: float) -> bool:
        """Set decision parameters that the task's calibration step tuned on dev (``Task.calibrate``: the
        DocRE baseline's relation ``threshold``); whether the head now decides differently (then the
        validation that tuned them did not score the checkpoint's decisions). Default: the head has none."""
        return False


def fallback_where_unfit(predicted: Tensor, batch: SentenceLabelled) -> Tensor:
    """Rows the DataModule could not encode (``batch.fits`` false) predict ``batch.fallback_id``, the
    task's negative class, so they are scored instead of dropped; batches without ``fits`` (``MayNotFit``)
    are left as predicted."""
    fits = getattr(batch, "fits", None)
    if fits is None:
        return predicted
    return torch.where(fits, predicted, torch.full_like(predicted, cast(MayNotFit, batch).fallback_id))


class SentenceHead(Head):
    """A head predicting one label per batch row (intent, relation): cross-entropy loss, argmax decoding
    (unfit rows fall back to the negative class), softmax probabilities. Subclasses give ``forward``
    and set ``label_smoothing``. Batch contract: ``SentenceLabelled`` (and ``MayNotFit`` where rows may
    not fit)."""

    label_space = "sentence"
    gold_field = "sentence_labels"
    label_smoothing: float = 0.0

    def loss(self, output: Tensor, batch: SentenceLabelled) -> Tensor:
        assert batch.sentence_labels is not None, "the loss needs sentence_labels"
        # Labels unseen in training (ids >= num_labels, dev/test only) carry no loss; they are scored.
        labels = batch.sentence_labels.masked_fill(batch.sentence_labels >= output.shape[-1], IGNORE_INDEX)
        return F.cross_entropy(output.float(), labels, ignore_index=IGNORE_INDEX, label_smoothing=self.label_smoothing)

    def decode(self, output: Tensor, batch: SentenceLabelled) -> Tensor:
        """Predicted label ids ``[batch]``."""
        return fallback_where_unfit(output.argmax(-1), batch)

    def probabilities(self, output: Tensor) -> Tensor:
        return output.float().softmax(-1)
