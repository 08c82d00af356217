"""torchmetrics Metrics computing each field's official scores. Every metric's ``update`` takes
``(predictions, batch)``: the heads' decoded outputs by label space, and the gold batch."""

from relx.metrics.attachment import AttachmentScores
from relx.metrics.classification import LabelAccuracy, SentenceFrameAccuracy
from relx.metrics.docred_scores import DocREScores
from relx.metrics.language_model import MaskedLMScores
from relx.metrics.mrc_scores import ChoiceAccuracy, SpanQAScores
from relx.metrics.relation_scores import KlueReScores, SemEvalScores
from relx.metrics.seqeval_scores import SeqevalScores, sequences_from_ids

__all__ = [
    "AttachmentScores",
    "DocREScores",
    "ChoiceAccuracy",
    "KlueReScores",
    "LabelAccuracy",
    "MaskedLMScores",
    "SemEvalScores",
    "SentenceFrameAccuracy",
    "SeqevalScores",
    "SpanQAScores",
    "sequences_from_ids",
]
