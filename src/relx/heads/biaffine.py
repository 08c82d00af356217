"""Deep biaffine dependency parser head (Dozat & Manning 2017) over the encoder's word states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relx.data.batch import IGNORE_INDEX
from relx.encoders import Encoded
from relx.errors import ConfigError
from relx.heads.base import Head
from relx.heads.batches import TreeLabelled
from relx.structs import eisner, greedy_heads, mst

DECODERS = {"mst": mst, "eisner": eisner, "greedy": greedy_heads}


@dataclass
class ParserOutput:
    """``arcs`` ``[batch, words + 1, words + 1]``: score of head ``j`` for dependent ``i`` (index 0 = ROOT);
    ``rel_dep``/``rel_head`` ``[batch, words + 1, d]``: the relation MLPs' states."""

    arcs: Tensor
    rel_dep: Tensor
    rel_head: Tensor


def word_states(encoded: Encoded, batch: TreeLabelled) -> Tensor:
    """``[batch, words + 1, hidden]``: the first token's state as ROOT, then each word's first subword."""
    index = torch.cat([torch.zeros_like(batch.word_index[:, :1]), batch.word_index.clamp(min=0)], dim=1)
    return torch.gather(encoded.hidden, 1, index.unsqueeze(-1).expand(-1, -1, encoded.hidden.shape[-1]))


def candidate_mask(batch: TreeLabelled) -> Tensor:
    """``[batch, words + 1, words + 1]``: real heads (ROOT or a word) for real dependents, no self-loops."""
    real = torch.cat([torch.ones_like(batch.word_mask[:, :1]), batch.word_mask], dim=1)
    mask = real[:, :, None] & real[:, None, :]
    position = torch.arange(mask.shape[1], device=mask.device)
    return mask & (position[:, None] != position[None, :])  # not torch.eye: ONNX Runtime has no boolean EyeLike


class TreeHead(Head):
    """A dependency parser head: arc scores over every (dependent, head) pair and relation scores on a
    given head. Shared training loss (cross-entropy over candidate heads + relations on the gold head)
    and decoding (a tree per sentence, then relations on the decoded heads). Subclasses give
    ``forward``, ``arc_scores(output)`` and ``relation_scores(output, heads)``. Batch contract:
    ``TreeLabelled``."""

    label_space = "tree"
    gold_field = "heads"

    def __init__(self, decoder: str = "mst", label_smoothing: float = 0.0) -> None:
        super().__init__()
        if decoder not in DECODERS:
            raise ConfigError(f"head.decoder must be one of {sorted(DECODERS)}, not {decoder!r}")
        self.decoder = decoder
        self.label_smoothing = label_smoothing

    def arc_scores(self, output: Any) -> Tensor:  # pragma: no cover - interface
        """``[batch, words + 1, words + 1]``."""
        raise NotImplementedError

    def relation_scores(self, output: Any, heads: Tensor) -> Tensor:  # pragma: no cover - interface
        """``[batch, words, num_labels]`` for each word attached to ``heads`` ``[batch, words]``."""
        raise NotImplementedError

    def loss(self, output: Any, batch: TreeLabelled) -> Tensor:
        assert batch.heads is not None and batch.rels is not None, "the parser loss needs heads and rels"
        arcs = self.arc_scores(output)
        gold = batch.heads.masked_fill(batch.word_index < 0, IGNORE_INDEX)
        arc_loss = F.cross_entropy(arcs[:, 1:].flatten(0, 1).float(), gold.flatten(), ignore_index=IGNORE_INDEX)
        rel_scores = self.relation_scores(output, batch.heads)
        rels = batch.rels.masked_fill((batch.word_index < 0) | (batch.rels >= rel_scores.shape[-1]), IGNORE_INDEX)
        rel_loss = F.cross_entropy(
            rel_scores.flatten(0, 1).float(),
            rels.flatten(),
            ignore_index=IGNORE_INDEX,
            label_smoothing=self.label_smoothing,
        )
        return arc_loss + rel_loss

    @torch.no_grad()
    def decode(self, output: Any, batch: TreeLabelled) -> Tensor:
        """``[batch, words, 2]``: (head, relation id) per word; ``-100`` at padding. Trees are decoded
        per sentence on the CPU with ``decoder``."""
        arcs = self.arc_scores(output)
        scores = arcs.float().cpu().numpy()
        heads = torch.full(batch.word_mask.shape, IGNORE_INDEX, dtype=torch.long)
        for b, n in enumerate(batch.word_mask.sum(1).tolist()):
            tree = DECODERS[self.decoder](np.asarray(scores[b, : n + 1, : n + 1]))
            heads[b, :n] = torch.as_tensor(tree[1:], dtype=torch.long)
        heads = heads.to(arcs.device)
        rels = self.relation_scores(output, heads).argmax(-1).masked_fill(~batch.word_mask, IGNORE_INDEX)
        return torch.stack([heads, rels], dim=-1)


class BiaffineParserHead(TreeHead):
    """MLPs reduce word states to arc and relation spaces; a biaffine scorer gives every (dependent,
    head) arc score; relations are scored on the gold head in training and on the decoded head at
    evaluation. ``decoder``: ``mst`` (single-root Chu-Liu-Edmonds), ``eisner`` (projective) or ``greedy``."""

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        arc_size: int = 256,
        rel_size: int = 128,
        dropout: float = 0.33,
        decoder: str = "mst",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(decoder, label_smoothing)

        def mlp(size: int) -> nn.Module:
            return nn.Sequential(nn.Linear(hidden_size, size), nn.LeakyReLU(0.1), nn.Dropout(dropout))

        self.arc_dep, self.arc_head, self.rel_dep, self.rel_head = (
            mlp(arc_size),
            mlp(arc_size),
            mlp(rel_size),
            mlp(rel_size),
        )
        self.arc_weight = nn.Parameter(torch.zeros(arc_size, arc_size))
        self.arc_bias = nn.Linear(arc_size, 1, bias=False)  # a prior on each word being a head
        self.rel_weight = nn.Parameter(torch.empty(rel_size, num_labels, rel_size))  # dep x label x head
        nn.init.xavier_uniform_(self.rel_weight)
        self.rel_bias = nn.Parameter(torch.zeros(num_labels))
        self.rel_linear = nn.Linear(2 * rel_size, num_labels, bias=False)

    def forward(self, encoded: Encoded, batch: TreeLabelled) -> ParserOutput:
        states = word_states(encoded, batch)
        dep, head = self.arc_dep(states), self.arc_head(states)
        # dep_i^T U head_j for every pair, as two matrix products (a three-operand einsum is much slower)
        arcs = torch.bmm(dep @ self.arc_weight, head.transpose(1, 2)) + self.arc_bias(head).transpose(1, 2)
        arcs = arcs.masked_fill(~candidate_mask(batch), torch.finfo(arcs.dtype).min)
        return ParserOutput(arcs, self.rel_dep(states), self.rel_head(states))

    def arc_scores(self, output: ParserOutput) -> Tensor:
        return output.arcs

    def relation_scores(self, output: ParserOutput, heads: Tensor) -> Tensor:
        """``[batch, words, num_labels]`` for each word attached to ``heads`` ``[batch, words]``."""
        dep = output.rel_dep[:, 1:]
        head = torch.gather(output.rel_head, 1, heads.clamp(min=0).unsqueeze(-1).expand(-1, -1, dep.shape[-1]))
        # dep^T U_r head for every label r, as one matrix product (nn.Bilinear is slow on CPU)
        projected = (dep @ self.rel_weight.flatten(1)).unflatten(-1, self.rel_weight.shape[1:])  # [b, w, r, d]
        bilinear = (projected * head.unsqueeze(2)).sum(-1)
        return bilinear + self.rel_linear(torch.cat([dep, head], -1)) + self.rel_bias

    def all_relation_scores(self, output: ParserOutput) -> Tensor:
        """``[batch, words, words + 1, num_labels]``: each word's relation scores on every candidate head (0 =
        ROOT); ``relation_scores(output, heads)`` is its slice at ``heads``. What an exported graph gives
        (``relx.onnx_export``), since the heads are decoded outside it."""
        dep, head = output.rel_dep[:, 1:], output.rel_head  # [b, w, d], [b, w + 1, d]
        projected = (dep @ self.rel_weight.flatten(1)).unflatten(-1, self.rel_weight.shape[1:])  # [b, w, r, d]
        bilinear = torch.matmul(projected, head.transpose(1, 2).unsqueeze(1)).transpose(2, 3)  # [b, w, w + 1, r]
        on_dep, on_head = self.rel_linear.weight.split(self.rel_weight.shape[0], dim=1)  # the linear term's two halves
        return bilinear + (dep @ on_dep.T).unsqueeze(2) + (head @ on_head.T).unsqueeze(1) + self.rel_bias
