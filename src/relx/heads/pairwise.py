"""Pairwise-attention word-relation heads (Meng et al.'s pairwise-attention paper): a linear classifier over
``C = T_i . T_j . a_ij . a_ji``, the final states of two words and the attention weights between them
from every layer and head (``a_ij`` in R^(L*H)).

The linear layer over C is decomposed into one projection per part, broadcast-added over all pairs,
so the ``[n, n, 2M + 2LH]`` feature tensor is never built. ``features="emb"`` uses the states only
(the paper's ``emb`` rows), ``"emb+att"`` adds the attention weights (the encoder must capture them:
``encoder.attention=capture``, set automatically by relx's builder).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from relx.encoders import Encoded
from relx.errors import ConfigError
from relx.heads.base import SentenceHead
from relx.heads.batches import EntitySpans, TreeLabelled
from relx.heads.biaffine import TreeHead, candidate_mask

FEATURES = ("emb", "emb+att")


def pair_attention(attentions: tuple[Tensor, ...], positions: Tensor) -> Tensor:
    """``[batch, L*H, n, n]``: attention from ``positions[b, i]`` to ``positions[b, j]`` in every layer and head."""
    att = torch.cat(attentions, dim=1)  # [batch, L*H, seq, seq]
    b, lh, seq, _ = att.shape
    n = positions.shape[1]
    rows = torch.gather(att, 2, positions[:, None, :, None].expand(b, lh, n, seq))
    return torch.gather(rows, 3, positions[:, None, None, :].expand(b, lh, n, n))


class _PairwiseParts(nn.Module):
    """Per-part projections of the linear layer over C to ``out`` outputs."""

    def __init__(self, hidden_size: int, attention_size: int, out: int, features: str, dropout: float) -> None:
        super().__init__()
        if features not in FEATURES:
            raise ConfigError(f"head.features must be one of {FEATURES}, not {features!r}")
        self.dropout = nn.Dropout(dropout)
        self.dep, self.head = nn.Linear(hidden_size, out), nn.Linear(hidden_size, out, bias=False)
        self.use_attention = features == "emb+att"
        self.att_ij = nn.Linear(attention_size, out, bias=False) if self.use_attention else None
        self.att_ji = nn.Linear(attention_size, out, bias=False) if self.use_attention else None

    def states(self, t: Tensor) -> tuple[Tensor, Tensor]:
        t = self.dropout(t)
        return self.dep(t), self.head(t)

    def attention(self, a_ij: Tensor, a_ji: Tensor) -> Tensor:
        """``a_ij``/``a_ji`` ``[..., L*H]`` -> ``[..., out]``."""
        assert self.att_ij is not None and self.att_ji is not None
        return self.att_ij(a_ij) + self.att_ji(a_ji)


class PairwiseAttentionParserHead(TreeHead):
    """Arc score of head ``j`` for dependent ``i`` = W_arc C(i, j) over every pair (ROOT = the first
    token), cross-entropy over candidate heads; relation logits W_rel C(i, h) on the gold head ``h`` in
    training and the decoded head at evaluation."""

    needs_attention: ClassVar[bool] = True

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        attention_size: int,
        features: str = "emb+att",
        dropout: float = 0.1,
        decoder: str = "mst",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(decoder, label_smoothing)
        self.arc = _PairwiseParts(hidden_size, attention_size, 1, features, dropout)
        self.rel = _PairwiseParts(hidden_size, attention_size, num_labels, features, dropout)

    def forward(self, encoded: Encoded, batch: TreeLabelled) -> dict[str, Tensor]:
        positions = torch.cat([torch.zeros_like(batch.word_index[:, :1]), batch.word_index.clamp(min=0)], dim=1)
        states = torch.gather(encoded.hidden, 1, positions.unsqueeze(-1).expand(-1, -1, encoded.hidden.shape[-1]))
        dep, head = self.arc.states(states)  # [batch, n, 1] each
        arcs = dep + head.transpose(1, 2)  # [batch, n (dependent), n (head)]
        out: dict[str, Tensor] = {"states": states}
        if self.arc.use_attention:
            if encoded.attentions is None:
                raise ConfigError("head features 'emb+att' need attention weights: set encoder.attention=capture")
            att = pair_attention(encoded.attentions, positions)  # [batch, LH, n, n]: a_ij at [i, j]
            a_ij = att.permute(0, 2, 3, 1)
            arcs = arcs + self.arc.attention(a_ij, a_ij.transpose(1, 2)).squeeze(-1)
            out["att"] = a_ij
        out["arcs"] = arcs.masked_fill(~candidate_mask(batch), torch.finfo(arcs.dtype).min)
        return out

    def arc_scores(self, output: dict[str, Tensor]) -> Tensor:
        return output["arcs"]

    def relation_scores(self, output: dict[str, Tensor], heads: Tensor) -> Tensor:
        """``[batch, words, num_labels]`` = W_rel C(i, heads[i])."""
        states = output["states"]
        dep, head = self.rel.states(states)
        index = heads.clamp(min=0)
        scores = dep[:, 1:] + torch.gather(head, 1, index.unsqueeze(-1).expand(-1, -1, head.shape[-1]))
        if "att" in output:
            att = output["att"]  # [batch, n, n, LH]
            rows = torch.arange(1, att.shape[1], device=att.device)
            b = torch.arange(att.shape[0], device=att.device)[:, None]
            scores = scores + self.rel.attention(att[b, rows[None, :], index], att[b, index, rows[None, :]])
        return scores


class PairwiseAttentionRelationHead(SentenceHead):
    """The same classifier for relation classification (the SemEval experiment of Meng et al.'s
    pairwise-attention paper): C over the two entities' first subwords (``batch.e1_span[:, 0]``,
    ``batch.e2_span[:, 0]``)."""

    reads_entity_spans = True

    needs_attention: ClassVar[bool] = True

    def __init__(
        self, hidden_size: int, num_labels: int, attention_size: int, features: str = "emb+att", dropout: float = 0.1,
        label_smoothing: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.parts = _PairwiseParts(hidden_size, attention_size, num_labels, features, dropout)
        self.label_smoothing = label_smoothing

    def forward(self, encoded: Encoded, batch: EntitySpans) -> Tensor:
        positions = torch.stack([batch.e1_span[:, 0], batch.e2_span[:, 0]], dim=1)  # [batch, 2]
        states = torch.gather(encoded.hidden, 1, positions.unsqueeze(-1).expand(-1, -1, encoded.hidden.shape[-1]))
        e1, _ = self.parts.states(states[:, 0])
        _, e2 = self.parts.states(states[:, 1])
        logits = e1 + e2
        if self.parts.use_attention:
            if encoded.attentions is None:
                raise ConfigError("head features 'emb+att' need attention weights: set encoder.attention=capture")
            att = pair_attention(encoded.attentions, positions)  # [batch, LH, 2, 2]
            logits = logits + self.parts.attention(att[:, :, 0, 1], att[:, :, 1, 0])
        return logits
