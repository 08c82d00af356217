"""R-BERT (Wu & He 2019, "Enriching Pre-trained Language Model with Entity Information for Relation
Classification"), with the variants of the KLUE-RE R-BERT report's ablation study."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import torch
from torch import Tensor, nn

from relx.encoders import Encoded
from relx.errors import ConfigError
from relx.heads.base import SentenceHead
from relx.heads.batches import EntitySpans

ACTIVATIONS = {"tanh": nn.Tanh, "gelu": nn.GELU, "relu": nn.ReLU}


class Concat(StrEnum):
    """``head.concat``: the vectors the classifier reads, built from the three transformed vectors ``cls``,
    ``e1``, ``e2`` (each ``[batch, hidden]``, after its dropout -> activation -> linear). ``*`` is the
    element-wise product, ``|a-b|`` the element-wise absolute difference (Sentence-BERT's combinations,
    tried on R-BERT by the KLUE-RE R-BERT report):

    - ``cls_e1_e2``: [CLS; e1; e2] (R-BERT)
    - ``cls_e1_e2_absdiff``: [CLS; e1; e2; |e1-e2|]
    - ``cls_e1_e2_prod``: [CLS; e1; e2; e1*e2]
    - ``cls_e1_e2_absdiff_prod``: [CLS; e1; e2; |e1-e2|; e1*e2]
    - ``cls_prod``: [CLS*e1; CLS*e2] (the report's "(CLS*e1, CLS*e2)")
    - ``cls_prod_e1_e2_prod``: [CLS*e1; CLS*e2; e1*e2] (the report's "(CLS*e1, CLS*e2, e1*e2)")
    - ``e1_e2``: [e1; e2]
    """

    CLS_E1_E2 = "cls_e1_e2"
    CLS_E1_E2_ABSDIFF = "cls_e1_e2_absdiff"
    CLS_E1_E2_PROD = "cls_e1_e2_prod"
    CLS_E1_E2_ABSDIFF_PROD = "cls_e1_e2_absdiff_prod"
    CLS_PROD = "cls_prod"
    CLS_PROD_E1_E2_PROD = "cls_prod_e1_e2_prod"
    E1_E2 = "e1_e2"

    @property
    def parts(self) -> int:
        """How many ``hidden``-sized vectors are concatenated: the classifier reads ``parts * hidden``."""
        return len(_LAYOUTS[self])

    def features(self, cls: Tensor, e1: Tensor, e2: Tensor) -> Tensor:
        """``[batch, parts * hidden]`` from ``cls``, ``e1``, ``e2`` ``[batch, hidden]``."""
        return torch.cat([_TERMS[term](cls, e1, e2) for term in _LAYOUTS[self]], dim=-1)


# The terms a concatenation is made of, each ``[batch, hidden]`` from (cls, e1, e2).
_TERMS: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
    "cls": lambda c, a, b: c,
    "e1": lambda c, a, b: a,
    "e2": lambda c, a, b: b,
    "|e1-e2|": lambda c, a, b: (a - b).abs(),
    "e1*e2": lambda c, a, b: a * b,
    "cls*e1": lambda c, a, b: c * a,
    "cls*e2": lambda c, a, b: c * b,
}
_LAYOUTS: dict[Concat, tuple[str, ...]] = {
    Concat.CLS_E1_E2: ("cls", "e1", "e2"),
    Concat.CLS_E1_E2_ABSDIFF: ("cls", "e1", "e2", "|e1-e2|"),
    Concat.CLS_E1_E2_PROD: ("cls", "e1", "e2", "e1*e2"),
    Concat.CLS_E1_E2_ABSDIFF_PROD: ("cls", "e1", "e2", "|e1-e2|", "e1*e2"),
    Concat.CLS_PROD: ("cls*e1", "cls*e2"),
    Concat.CLS_PROD_E1_E2_PROD: ("cls*e1", "cls*e2", "e1*e2"),
    Concat.E1_E2: ("e1", "e2"),
}
CONCATS = tuple(c.value for c in Concat)


def span_mean(hidden: Tensor, spans: Tensor) -> Tensor:
    """Mean of ``hidden`` ``[batch, seq, dim]`` over inclusive token spans ``[batch, 2]`` -> ``[batch, dim]``."""
    positions = torch.arange(hidden.shape[1], device=hidden.device)
    mask = (positions >= spans[:, :1]) & (positions <= spans[:, 1:])  # [batch, seq]
    weights = mask.to(hidden.dtype) / mask.sum(1, keepdim=True).clamp(min=1).to(hidden.dtype)
    return torch.einsum("bs,bsd->bd", weights, hidden)


class FCLayer(nn.Module):
    """dropout -> activation (optional) -> linear, R-BERT's building block."""

    def __init__(self, d_in: int, d_out: int, dropout: float, activation: str | None) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.activation = ACTIVATIONS[activation]() if activation else nn.Identity()
        self.linear = nn.Linear(d_in, d_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.activation(self.dropout(x)))


class RBertHead(SentenceHead):
    """[CLS] (the pooler output where the encoder keeps one, else the first token's state) and the
    average of each entity's subword states, each through dropout -> activation -> linear, then
    concatenated (``concat``) and classified (dropout -> linear).

    ``entity_fc="shared"`` is the original R-BERT (one layer for both entities); ``"split"`` gives each
    entity its own layer (the KLUE-RE R-BERT report: 80.4 vs 77.8 accuracy on KLUE-RE with XLM-R large).
    Batch contract: ``EntitySpans`` (``e1_span``/``e2_span`` ``[batch, 2]`` inclusive subword spans).
    """

    reads_entity_spans = True

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        dropout: float = 0.1,
        activation: str = "tanh",
        entity_fc: str = "split",
        concat: str | Concat = Concat.CLS_E1_E2,
        use_pooler: bool = True,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"head.activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}")
        if entity_fc not in ("shared", "split"):
            raise ConfigError(f"head.entity_fc must be 'shared' or 'split', not {entity_fc!r}")
        if concat not in CONCATS:
            raise ConfigError(f"head.concat must be one of {', '.join(CONCATS)}, not {concat!r}")
        self.cls_fc = FCLayer(hidden_size, hidden_size, dropout, activation)
        self.e1_fc = FCLayer(hidden_size, hidden_size, dropout, activation)
        self.e2_fc = self.e1_fc if entity_fc == "shared" else FCLayer(hidden_size, hidden_size, dropout, activation)
        self.concat = Concat(concat)
        self.classifier = FCLayer(self.concat.parts * hidden_size, num_labels, dropout, None)
        self.use_pooler = use_pooler
        self.label_smoothing = label_smoothing

    def forward(self, encoded: Encoded, batch: EntitySpans) -> Tensor:
        """Logits ``[batch, num_labels]``."""
        use_pooled = self.use_pooler and encoded.pooled is not None
        cls = self.cls_fc(encoded.pooled if use_pooled else encoded.hidden[:, 0])
        e1 = self.e1_fc(span_mean(encoded.hidden, batch.e1_span))
        e2 = self.e2_fc(span_mean(encoded.hidden, batch.e2_span))
        return self.classifier(self.concat.features(cls, e1, e2))
