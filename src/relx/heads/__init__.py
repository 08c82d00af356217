"""Heads: plain ``nn.Module``s with ``forward(encoded, batch)``, ``loss(output, batch)`` and
``decode(output, batch)``. Each reads one label space of the batch (``label_space``)."""

from relx.heads.base import Head
from relx.heads.biaffine import BiaffineParserHead
from relx.heads.choice import ChoiceHead
from relx.heads.crf import CRFHead
from relx.heads.docre import AtlopHead, DocREBaselineHead
from relx.heads.mlm import MaskedLMHead
from relx.heads.pairwise import PairwiseAttentionParserHead, PairwiseAttentionRelationHead
from relx.heads.rbert import RBertHead
from relx.heads.sequence import SequenceClassificationHead
from relx.heads.span_qa import SpanQAHead
from relx.heads.token import TokenClassificationHead

__all__ = [
    "AtlopHead",
    "BiaffineParserHead",
    "DocREBaselineHead",
    "ChoiceHead",
    "CRFHead",
    "Head",
    "MaskedLMHead",
    "PairwiseAttentionParserHead",
    "PairwiseAttentionRelationHead",
    "RBertHead",
    "SequenceClassificationHead",
    "SpanQAHead",
    "TokenClassificationHead",
]
