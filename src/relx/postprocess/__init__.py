"""Pure post-processing of model outputs into the field's answers."""

from relx.postprocess.qa import SpanCandidate, best_paragraph, best_span, best_span_candidate, span_log_prob

__all__ = ["SpanCandidate", "best_paragraph", "best_span", "best_span_candidate", "span_log_prob"]
