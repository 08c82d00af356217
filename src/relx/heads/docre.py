"""Document-level relation extraction heads over ``DocumentBatch``: the DocRED BERT-baseline report's
baseline and ATLOP.

Both score every candidate entity pair of a batch at once: mentions, entities and pairs are
gathered with the batch's flat index tensors (``index_add``/``scatter_reduce``), never with a Python
loop over pairs. Label 0 of the pair space is NA (the baseline's "no relation" column, ATLOP's
adaptive-threshold class).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relx.encoders import Encoded
from relx.heads.base import Head
from relx.heads.batches import DocumentPairs


@dataclass
class PairOutput:
    """``logits`` ``[rows, relations]`` of the candidate pairs ``rows`` (indices into the batch's pairs:
    all of them at evaluation, the sampled ones in training)."""

    logits: Tensor
    rows: Tensor


def segment_mean(values: Tensor, segment: Tensor, n_segments: int) -> Tensor:
    """Mean of ``values`` ``[n, ...]`` per segment id ``segment`` ``[n]`` -> ``[n_segments, ...]``."""
    total = values.new_zeros(n_segments, *values.shape[1:]).index_add_(0, segment, values)
    count = values.new_zeros(n_segments).index_add_(0, segment, values.new_ones(segment.shape[0]))
    return total / count.clamp(min=1).view(-1, *([1] * (values.dim() - 1)))


def segment_logsumexp(values: Tensor, segment: Tensor, n_segments: int) -> Tensor:
    """``log sum exp`` of ``values`` ``[n, d]`` per segment -> ``[n_segments, d]`` (ATLOP's entity pooling)."""
    index = segment[:, None].expand_as(values)
    peak = values.new_full((n_segments, values.shape[1]), float("-inf")).scatter_reduce(
        0, index, values, "amax", include_self=True
    )
    peak = peak.detach().nan_to_num(neginf=0.0)
    summed = values.new_zeros(n_segments, values.shape[1]).index_add_(0, segment, (values - peak[segment]).exp())
    return summed.clamp(min=1e-30).log() + peak


class PairHead(Head):
    """Shared by the DocRE heads: decoding to a multi-hot ``[pairs, relations]`` (column 0 set when no
    relation is predicted), candidate scores for the precision-recall sweep, and the per-document
    predictions the run directory's ``result.json`` is written from. Batch contract: ``DocumentPairs``."""

    label_space = "pair"
    gold_field = "pair_labels"

    def rows(self, batch: DocumentPairs) -> Tensor:
        """The pairs to score: the DocRED BERT-baseline report's sampled pairs in training (when the batch
        asks), else all."""
        if self.training and batch.pair_labels is not None:
            return batch.training_pairs()
        return torch.arange(batch.pair_head.shape[0], device=batch.pair_head.device)

    def scores(self, output: PairOutput) -> Tensor:  # pragma: no cover - interface
        """Confidence of each relation ``[pairs, relations]`` (higher = more confident; column 0 unused)."""
        raise NotImplementedError

    def predicted(self, output: PairOutput) -> Tensor:  # pragma: no cover - interface
        """Predicted relations ``[pairs, relations]`` (bool, column 0 false)."""
        raise NotImplementedError

    def decode(self, output: PairOutput, batch: DocumentPairs) -> Tensor:
        chosen = self.predicted(output)
        chosen[:, 0] = ~chosen[:, 1:].any(-1)
        return chosen

    def probabilities(self, output: PairOutput) -> Tensor:
        return self.scores(output)

    def per_example(self, output: PairOutput, decoded: Tensor, batch: DocumentPairs) -> list[dict[str, Any]]:
        """Per document: its candidate pairs (local entity ids), their relation scores ``[pairs,
        relations - 1]`` (for the precision-recall curve) and the predicted facts
        ``(head, tail, relation id, score)``."""
        scores = self.scores(output)[:, 1:].float().cpu()
        chosen = decoded[:, 1:].cpu()
        local = batch.entity_local.cpu()
        heads, tails = local[batch.pair_head.cpu()], local[batch.pair_tail.cpu()]
        docs = batch.pair_doc.cpu()
        result = []
        for doc in range(len(batch)):
            rows = (docs == doc).nonzero().squeeze(1)
            pairs = list(zip(heads[rows].tolist(), tails[rows].tolist(), strict=True))
            hits = chosen[rows].nonzero().tolist()
            facts = [(*pairs[p], r + 1, float(scores[rows[p], r])) for p, r in hits]
            result.append({"pairs": pairs, "scores": scores[rows].numpy(), "facts": facts})
        return result


def entity_states(states: Tensor, batch: DocumentPairs) -> Tensor:
    """The DocRED BERT-baseline report's entity representation: the mean over mentions of the mean over
    each mention's subwords (its ``h_mapping`` weights ``1 / len(mentions) / len(span)``) -> ``[entities, dim]``."""
    span_values = states[batch.mention_doc[batch.span_mention], batch.span_token]
    mentions = segment_mean(span_values, batch.span_mention, batch.mention_doc.shape[0])
    return segment_mean(mentions, batch.mention_entity, batch.entity_doc.shape[0])


def distance_bucket(distance: Tensor) -> Tensor:
    """The DocRED BERT-baseline report's ``dis2idx``: 0, 1, 2-3, 4-7, ..., 256+ -> 0..9, signed, shifted by
    10 -> 1..19."""
    magnitude = distance.abs()
    bucket = torch.where(magnitude > 0, torch.floor(torch.log2(magnitude.clamp(min=1).float())).long() + 1, 0)
    return torch.sign(distance) * bucket.clamp(max=9) + 10


class DocREBaselineHead(PairHead):
    """The baseline of the DocRED BERT-baseline report: encoder states projected to ``hidden_dim``;
    entity = mean over mentions of the mean over subwords; the head/tail distance of their first mentions as bucketed
    embeddings (``dis2idx``); a bilinear scorer over ``[entity; distance]``; BCE over every relation and NA.
    A relation is predicted when its probability reaches ``theta``, which is re-tuned on the dev set at
    every validation (the best-F1 point of the report's precision-recall sweep) and stored with the
    weights, so the test set is scored with the dev threshold."""

    theta: Tensor

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        hidden_dim: int = 128,
        distance_dim: int = 20,
        dropout: float = 0.0,
        theta: float = 0.5,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.project = nn.Linear(hidden_size, hidden_dim)
        self.distance = nn.Embedding(20, distance_dim)
        self.dropout = nn.Dropout(dropout)
        width = hidden_dim + distance_dim
        self.weight = nn.Parameter(torch.empty(num_labels, width, width))
        self.bias = nn.Parameter(torch.zeros(num_labels))
        nn.init.uniform_(self.weight, -(width**-0.5), width**-0.5)
        self.register_buffer("theta", torch.tensor(float(theta)))
        self.label_smoothing = label_smoothing

    def forward(self, encoded: Encoded, batch: DocumentPairs) -> PairOutput:
        rows = self.rows(batch)
        entities = entity_states(self.project(self.dropout(encoded.hidden)), batch)
        heads, tails = batch.pair_head[rows], batch.pair_tail[rows]
        delta = batch.entity_first[heads] - batch.entity_first[tails]
        subject = torch.cat([entities[heads], self.distance(distance_bucket(delta))], -1)
        obj = torch.cat([entities[tails], self.distance(distance_bucket(-delta))], -1)
        # bilinear: logits[p, r] = subject[p] W[r] obj[p] + b[r], as one matrix product
        width = subject.shape[-1]
        projected = (subject @ self.weight.permute(1, 0, 2).reshape(width, -1)).view(-1, self.weight.shape[0], width)
        return PairOutput((projected * obj[:, None, :]).sum(-1) + self.bias, rows)

    def loss(self, output: PairOutput, batch: DocumentPairs) -> Tensor:
        assert batch.pair_labels is not None, "the loss needs pair_labels"
        target = batch.pair_labels[output.rows]
        if self.label_smoothing:
            target = target * (1 - self.label_smoothing) + self.label_smoothing / 2
        return F.binary_cross_entropy_with_logits(output.logits.float(), target)

    def scores(self, output: PairOutput) -> Tensor:
        return output.logits.float().sigmoid()

    def predicted(self, output: PairOutput) -> Tensor:
        chosen = self.scores(output) >= self.theta
        chosen[:, 0] = False
        return chosen

    def calibrate(self, threshold: float | None = None, **rule: float) -> bool:
        """The relation threshold tuned on dev (``DocumentRETask.calibrate``); it travels in the checkpoint.
        Whether it moved (the same threshold again leaves every decision as it was)."""
        if threshold is None:
            return False
        tuned = torch.tensor(float(threshold), dtype=self.theta.dtype, device=self.theta.device)
        if bool(tuned == self.theta):  # compared as stored (float32), not as the float64 tuned
            return False
        self.theta.copy_(tuned)
        return True


class AtlopHead(PairHead):
    """ATLOP (Zhou et al., 2021): mention = the state at its entity marker; entity = logsumexp over
    mentions; localised context pooling — the product of head and tail entities' attention
    (last layer, averaged over heads), normalised, weights the document's states into a pair
    context ``c``; ``z_s = tanh(W_s [e_s; c])``, ``z_o = tanh(W_o [e_o; c])``; a grouped bilinear
    (``block_size``) scorer; the adaptive-threshold loss (label 0 = the learned threshold class);
    at most ``max_labels`` relations per pair, each above the threshold logit."""

    needs_attention = True
    attention_layers = "last"  # the encoder recomputes only the last layer's probabilities

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        emb_size: int = 768,
        block_size: int = 64,
        max_labels: int | None = 4,
        attention_size: int = 0,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if emb_size % block_size:
            raise ValueError(f"emb_size ({emb_size}) must be a multiple of block_size ({block_size})")
        self.head_extractor = nn.Linear(2 * hidden_size, emb_size)
        self.tail_extractor = nn.Linear(2 * hidden_size, emb_size)
        self.bilinear = nn.Linear(emb_size * block_size, num_labels)
        self.block_size = block_size
        self.max_labels = max_labels
        self.label_smoothing = label_smoothing

    def forward(self, encoded: Encoded, batch: DocumentPairs) -> PairOutput:
        attention = encoded.attentions[-1] if encoded.attentions else None  # [B, heads, T, T]: the last layer
        if attention is None:
            raise ValueError("the ATLOP head needs attention weights: use encoder.attention=capture or eager")
        hidden = encoded.hidden  # [B, T, H]
        n_entities = batch.entity_doc.shape[0]
        mention_states = hidden[batch.mention_doc, batch.mention_anchor]  # [M, H]
        mention_attention = attention[batch.mention_doc, :, batch.mention_anchor]  # [M, heads, T]
        entities = segment_logsumexp(mention_states.float(), batch.mention_entity, n_entities).to(hidden.dtype)
        entity_attention = segment_mean(mention_attention, batch.mention_entity, n_entities)  # [E, heads, T]

        rows = self.rows(batch)
        heads, tails = batch.pair_head[rows], batch.pair_tail[rows]
        pair_attention = (entity_attention[heads] * entity_attention[tails]).mean(1)  # [P, T]
        pair_attention = pair_attention / (pair_attention.sum(1, keepdim=True) + 1e-5)
        context = self._pooled_context(pair_attention, hidden, batch.pair_doc[rows])

        subject = torch.tanh(self.head_extractor(torch.cat([entities[heads], context], -1)))
        obj = torch.tanh(self.tail_extractor(torch.cat([entities[tails], context], -1)))
        groups = subject.shape[-1] // self.block_size
        blocks = subject.view(-1, groups, self.block_size, 1) * obj.view(-1, groups, 1, self.block_size)
        return PairOutput(self.bilinear(blocks.reshape(subject.shape[0], -1)), rows)

    @staticmethod
    def _pooled_context(weights: Tensor, hidden: Tensor, docs: Tensor) -> Tensor:
        """``weights`` ``[P, T]`` of each pair over its document's states ``hidden[docs]`` -> ``[P, H]``,
        as one batched product over documents (pairs padded per document; ``docs`` sorted)."""
        counts = torch.bincount(docs, minlength=hidden.shape[0])
        starts = counts.cumsum(0) - counts
        slot = torch.arange(docs.shape[0], device=docs.device) - starts[docs]
        padded = weights.new_zeros(hidden.shape[0], int(counts.max()) if docs.numel() else 0, weights.shape[1])
        padded[docs, slot] = weights.to(padded.dtype)
        return torch.bmm(padded.to(hidden.dtype), hidden)[docs, slot]

    def loss(self, output: PairOutput, batch: DocumentPairs) -> Tensor:
        """Adaptive-threshold loss: each gold relation above the threshold class, the threshold class
        above every other relation."""
        assert batch.pair_labels is not None, "the loss needs pair_labels"
        logits = output.logits.float()
        labels = batch.pair_labels[output.rows].float().clone()
        threshold = torch.zeros_like(labels)
        threshold[:, 0] = 1.0
        labels[:, 0] = 0.0
        positives = logits.masked_fill((labels + threshold) == 0, -1e30)
        negatives = logits.masked_fill(labels == 1, -1e30)
        loss = -(F.log_softmax(positives, -1) * labels).sum(1) - (F.log_softmax(negatives, -1) * threshold).sum(1)
        return loss.mean()

    def scores(self, output: PairOutput) -> Tensor:
        """Margin of each relation's logit over the threshold class's."""
        logits = output.logits.float()
        return logits - logits[:, :1]

    def predicted(self, output: PairOutput) -> Tensor:
        logits = output.logits.float()
        chosen = logits > logits[:, :1]
        if self.max_labels is not None and self.max_labels < logits.shape[1]:
            kth = logits.topk(self.max_labels, dim=1).values[:, -1:]
            chosen &= logits >= kth
        chosen[:, 0] = False
        return chosen
