"""Pure post-processing of model outputs into the field's answers."""

from relx.postprocess.qa import best_span

__all__ = ["best_span"]
