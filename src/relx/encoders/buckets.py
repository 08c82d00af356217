"""Static sequence lengths for compiled encoders: pad a batch to the next of a few bucket lengths.

``torch.compile`` specialises a graph on its input shapes (and CUDA graphs replay one recorded shape), so a
batch length that changes with every batch (relx's dynamic padding) would recompile without end. Padding
the encoder's input to the next bucket bounds the number of graphs by the number of buckets (the batch
dimension is marked dynamic). The padding is appended after the real tokens with attention mask 0, so
every real position's state is what it would have been unpadded (position ids count from the start; the
masked keys get no attention weight); the encoder slices its outputs back to the batch's own length, and
nothing outside the encoder sees the padding.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import torch
from torch import Tensor

# Lengths a compiled encoder pads to (tokens): fine steps for the short sentences of tagging and intent
# tasks, coarser ones for relation sentences and documents. Longer inputs go to the next multiple of 128.
DEFAULT_BUCKETS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def bucket_length(length: int, buckets: Sequence[int]) -> int:
    """The smallest bucket holding ``length`` tokens (beyond the largest: the next multiple of 128)."""
    i = bisect.bisect_left(buckets, length)
    if i < len(buckets):
        return int(buckets[i])
    return -(-length // 128) * 128


def pad_to(tensor: Tensor, length: int, value: int) -> Tensor:
    """``tensor`` ``[rows, seq]`` padded on the right to ``[rows, length]`` with ``value``."""
    extra = length - tensor.shape[1]
    if extra <= 0:
        return tensor
    return torch.nn.functional.pad(tensor, (0, extra), value=value)
