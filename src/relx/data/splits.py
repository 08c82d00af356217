"""Deterministic subsets: dev carved from train, and training-data fractions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import torch

T = TypeVar("T")


def _permutation(n: int, seed: int) -> list[int]:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()


def carve_dev(examples: Sequence[T], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Split ``examples`` into (train, dev) with ``fraction`` of them in dev; same seed, same split."""
    if len(examples) < 2:
        raise ValueError("need at least 2 examples to carve a dev split from train")
    perm = _permutation(len(examples), seed)
    n_dev = min(len(examples) - 1, max(1, round(fraction * len(examples))))
    dev_ids = sorted(perm[:n_dev])
    train_ids = sorted(perm[n_dev:])
    return [examples[i] for i in train_ids], [examples[i] for i in dev_ids]


def take_fraction(examples: Sequence[T], fraction: float, seed: int) -> list[T]:
    """A deterministic ``fraction`` of ``examples`` (at least one), keeping their original order."""
    if fraction >= 1.0:
        return list(examples)
    keep = sorted(_permutation(len(examples), seed + 1)[: max(1, math.ceil(fraction * len(examples)))])
    return [examples[i] for i in keep]
