"""Attention probabilities from encoders whose default kernel (SDPA) does not return them.

``relx_sdpa_capture`` is registered with transformers' attention and mask interfaces: the layer's
output is still computed by SDPA (fused, memory-efficient), and the probabilities
``softmax(Q K^T * scaling + mask)`` are recomputed beside it and returned as the layer's attention
weights, so ``output_attentions=True`` yields them for every layer. They are the probabilities
before attention dropout (in eval mode, exactly eager attention's weights; a test checks this).
Shared by the heads that read attention: pairwise word relations (every layer), DocRE localised context
pooling (the last layer only: ``capture_last_layer_only`` skips the others' recomputation, and transformers
then returns the last layer's alone).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

CAPTURE = "relx_sdpa_capture"
SKIP = "relx_skip_probabilities"  # set on an attention module whose probabilities no head reads


def attention_probabilities(query: Tensor, key: Tensor, mask: Tensor | None, scaling: float | None) -> Tensor:
    """``softmax(Q K^T * scaling + mask)`` ``[batch, heads, q, k]`` (boolean masks: true = attend)."""
    if key.shape[1] != query.shape[1]:  # grouped-query attention: share key heads across query heads
        key = key.repeat_interleave(query.shape[1] // key.shape[1], dim=1)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    scores = torch.matmul(query, key.transpose(-1, -2)).float() * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min) if mask.dtype == torch.bool else scores + mask
    return scores.softmax(-1).to(query.dtype)


def _sdpa_with_probabilities(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Tensor, Tensor | None]:
    kwargs.pop("output_attentions", None)  # SDPA itself returns no weights (and would warn); they come from here
    output, _ = sdpa_attention_forward(
        module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
    )
    if getattr(module, SKIP, False):
        return output, None
    return output, attention_probabilities(query, key, attention_mask, scaling)


def capture_last_layer_only(model: nn.Module) -> bool:
    """Mark every attention module but the last layer's to skip the probabilities (``None`` in their place):
    a head that reads only the last layer (ATLOP) then costs one layer's recomputation, not all of them.
    Layers are known by the ``layer_idx`` transformers gives attention modules; a model whose modules lack
    it keeps capturing every layer. Returns whether layers were skipped."""
    layered = [m for m in model.modules() if isinstance(getattr(m, "layer_idx", None), int)]
    if not layered:
        return False
    indices = {id(m): int(getattr(m, "layer_idx")) for m in layered}  # noqa: B009 (an int attribute, checked)
    last = max(indices.values())
    for module in layered:
        setattr(module, SKIP, indices[id(module)] != last)
    return True


def register_attention_capture() -> str:
    """Register the capturing attention (idempotent); returns its ``attn_implementation`` name."""
    AttentionInterface.register(CAPTURE, _sdpa_with_probabilities)
    AttentionMaskInterface.register(CAPTURE, sdpa_mask)
    return CAPTURE
