"""Decoded model outputs -> per-example predictions with label names (what a Task writes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from relx.data.batch import IGNORE_INDEX
from relx.data.vocab import LabelVocab


def gather_predictions(
    outputs: Sequence[dict[str, torch.Tensor]], vocabs: dict[str, LabelVocab], n_examples: int
) -> dict[str, list[Any]]:
    """Per example (in the split's order): predicted tag strings (``token``), label (``sentence``,
    ``choice``), class probabilities (``sentence_probs``) where the head gives them, and lists for
    non-scalar predictions (``span``: character start and end)."""
    result: dict[str, list[Any]] = {}
    for out in outputs:
        ids = out["example_ids"].tolist()
        for key, values in out.items():
            if key == "example_ids":
                continue
            column = result.setdefault(key, [None] * n_examples)
            for row, example_id in enumerate(ids):
                value = values[row]
                if isinstance(values, list):  # already one entry per example (a head's per_example)
                    column[example_id] = value
                elif key == "token":
                    column[example_id] = [vocabs[key].label(i) for i in value.tolist() if i != IGNORE_INDEX]
                elif key == "tree":  # [words, 2]: (head, relation id) per word
                    column[example_id] = [(h, vocabs[key].label(r)) for h, r in value.tolist() if h != IGNORE_INDEX]
                elif key in vocabs and value.ndim == 0:
                    column[example_id] = vocabs[key].label(int(value))
                else:  # class probabilities, answer spans (start, end)
                    column[example_id] = value.tolist()
    return result
