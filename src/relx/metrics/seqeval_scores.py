"""Entity-level precision/recall/F1 with seqeval (conlleval semantics), plus strict IOB2 F1 and the
token-level micro F1 that Parganiha's BERT NER report gives."""

from __future__ import annotations

from typing import Any

import torch
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2
from torch import Tensor
from torchmetrics import Metric

from relx.data.vocab import LabelVocab


def sequences_from_ids(ids: Tensor, lengths: Tensor, vocab: LabelVocab) -> list[list[str]]:
    """Split flat word-level ids ``[total_words]`` into per-sentence tag strings."""
    out: list[list[str]] = []
    for chunk in torch.split(ids.cpu(), lengths.cpu().tolist()):
        out.append([vocab.label(int(i)) for i in chunk])
    return out


class SeqevalScores(Metric):
    """Entity F1 over BIO tags of the ``token`` label space.

    ``f1``/``precision``/``recall``: seqeval's default mode, which reads tags as conlleval does (an
    ill-formed ``I-X`` starts a chunk). ``f1_strict``: seqeval's strict IOB2 mode (ill-formed chunks
    do not count). ``token_f1``: micro F1 over every word's tag (``O`` included), as Parganiha's BERT NER
    report's ``f1_score(..., average="micro")``; for single-label tagging it equals word accuracy.
    State: flat word-level tag ids and sentence lengths (tensors, so DDP gathers them).
    """

    full_state_update = False
    preds: list[Tensor]
    target: list[Tensor]
    lengths: list[Tensor]

    def __init__(self, vocab: LabelVocab, prefix: str = "") -> None:
        super().__init__()
        self.vocab = vocab
        self.prefix = prefix
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")
        self.add_state("lengths", default=[], dist_reduce_fx="cat")

    def update(self, predictions: dict[str, Tensor], batch: Any) -> None:
        mask = batch.word_mask
        self.preds.append(predictions["token"][mask])
        self.target.append(batch.word_labels[mask])
        self.lengths.append(mask.sum(1))

    def sequences(self) -> tuple[list[list[str]], list[list[str]]]:
        """(gold, predicted) tag sequences of everything seen so far."""

        def cat(x: Any) -> Tensor:
            return torch.cat(x) if isinstance(x, list) else x

        if isinstance(self.lengths, list) and not self.lengths:
            return [], []
        lengths = cat(self.lengths)
        return (
            sequences_from_ids(cat(self.target), lengths, self.vocab),
            sequences_from_ids(cat(self.preds), lengths, self.vocab),
        )

    def compute(self) -> dict[str, Tensor]:
        gold, pred = self.sequences()
        p = self.prefix
        if not gold:
            zero = torch.tensor(0.0)
            return {
                f"{p}f1": zero,
                f"{p}precision": zero,
                f"{p}recall": zero,
                f"{p}f1_strict": zero,
                f"{p}token_f1": zero,
            }
        flat_gold = [t for s in gold for t in s]
        flat_pred = [t for s in pred for t in s]
        token_f1 = sum(g == q for g, q in zip(flat_gold, flat_pred, strict=True)) / max(1, len(flat_gold))
        return {
            f"{p}f1": torch.tensor(f1_score(gold, pred), dtype=torch.float32),
            f"{p}precision": torch.tensor(precision_score(gold, pred), dtype=torch.float32),
            f"{p}recall": torch.tensor(recall_score(gold, pred), dtype=torch.float32),
            f"{p}f1_strict": torch.tensor(f1_score(gold, pred, mode="strict", scheme=IOB2), dtype=torch.float32),
            f"{p}token_f1": torch.tensor(token_f1, dtype=torch.float32),
        }
