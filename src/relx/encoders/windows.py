"""Inputs longer than the encoder's limit, encoded as overlapping windows and merged.

A long document ``[start specials] content [end specials]`` is cut into windows of the content,
each wrapped in the tokenizer's own special tokens (``[CLS] ... [SEP]``, ``<s> ... </s>``) so that
every window looks like an ordinary input to the encoder. Consecutive windows overlap by half a
window. The windows' states are merged back onto document positions by averaging wherever
windows overlap; their attention probabilities are summed onto document positions and each row
renormalised to sum to one (ATLOP's ``process_long_input``, generalised from two windows to any
number). Nothing is truncated.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class WindowSpec:
    """How to cut long inputs: ``max_length`` tokens per window including ``start_ids``/``end_ids``."""

    max_length: int
    start_ids: tuple[int, ...]
    end_ids: tuple[int, ...]

    @property
    def room(self) -> int:
        """Content tokens per window."""
        return self.max_length - len(self.start_ids) - len(self.end_ids)

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase, max_length: int) -> WindowSpec:
        start, end = sequence_specials(tokenizer)
        if max_length - len(start) - len(end) < 2:
            raise ValueError(f"max_length={max_length} leaves no room for content between the special tokens")
        return cls(max_length, tuple(start), tuple(end))


def sequence_specials(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The tokenizer's own special tokens before and after one sequence (``[CLS]``/``[SEP]``, ...)."""
    probe = tokenizer("x", add_special_tokens=True, return_special_tokens_mask=True)
    content = [i for i, special in enumerate(probe["special_tokens_mask"]) if not special]
    ids = list(probe["input_ids"])
    return ids[: content[0]], ids[content[-1] + 1 :]


def window_offsets(content_length: int, room: int) -> list[int]:
    """Start offsets (into the content) of windows of ``room`` tokens covering ``content_length``
    tokens, consecutive windows overlapping by at least half a window; the last ends at the end."""
    if content_length <= room:
        return [0]
    step = max(1, room // 2)
    last = content_length - room
    return sorted({min(i * step, last) for i in range(-(-last // step) + 1)})


def window_positions(length: int, spec: WindowSpec) -> list[list[int]]:
    """Document positions each window reads, for a document of ``length`` tokens (specials included)."""
    if length <= spec.max_length:
        return [list(range(length))]
    n_start, n_end = len(spec.start_ids), len(spec.end_ids)
    content = length - n_start - n_end
    head, tail = list(range(n_start)), list(range(length - n_end, length))
    return [head + list(range(n_start + a, n_start + a + spec.room)) + tail for a in window_offsets(content, spec.room)]


@dataclass
class Windows:
    """A batch cut into windows: ``input_ids``/``attention_mask`` ``[windows, max_length]``,
    ``positions`` ``[windows, max_length]`` (document position of each window token, -1 at padding),
    ``document`` ``[windows]`` (batch row each window belongs to)."""

    input_ids: Tensor
    attention_mask: Tensor
    positions: Tensor
    document: Tensor


def cut_windows(input_ids: Tensor, attention_mask: Tensor, spec: WindowSpec) -> Windows:
    """The windows of every row of a padded batch (rows shorter than ``max_length`` stay whole).

    The layout is built on the host and moved in one copy: one device-to-host read of the rows' lengths
    (how many windows a row needs depends on them) and one host-to-device copy, however many windows
    there are, rather than a copy per window (each a synchronisation on a GPU)."""
    lengths = attention_mask.sum(1).tolist()
    layout = [(b, window) for b, length in enumerate(lengths) for window in window_positions(int(length), spec)]
    width = max(len(window) for _, window in layout)
    host = torch.full((len(layout), 1 + width), -1, dtype=torch.long)  # column 0: the batch row
    for i, (b, window) in enumerate(layout):
        host[i, 0] = b
        host[i, 1 : 1 + len(window)] = torch.as_tensor(window)
    on_device = host.to(input_ids.device)
    document, positions = on_device[:, 0], on_device[:, 1:]
    valid = positions >= 0
    ids = input_ids[document[:, None], positions.clamp(min=0)].masked_fill(~valid, 0)
    return Windows(ids, valid.long(), positions, document)


def merge_states(states: Tensor, windows: Windows, batch: int, length: int) -> Tensor:
    """Window states ``[windows, w, hidden]`` -> document states ``[batch, length, hidden]``, averaged
    where windows overlap."""
    valid = windows.positions >= 0
    flat = (windows.document[:, None] * length + windows.positions)[valid]
    hidden = states.new_zeros(batch * length, states.shape[-1]).index_add_(0, flat, states[valid])
    counts = states.new_zeros(batch * length).index_add_(0, flat, states.new_ones(flat.shape[0]))
    return (hidden / counts.clamp(min=1)[:, None]).view(batch, length, -1)


def merge_attention(attention: Tensor, windows: Windows, batch: int, length: int) -> Tensor:
    """Window attention ``[windows, heads, w, w]`` -> document attention ``[batch, heads, length, length]``:
    summed over windows, each row renormalised to sum to one (rows of padding stay zero)."""
    valid = windows.positions >= 0
    pos = windows.positions
    cells = windows.document[:, None, None] * length * length + pos[:, :, None] * length + pos[:, None, :]
    both = valid[:, :, None] & valid[:, None, :]
    per_head = attention.transpose(0, 1)[:, both]  # [heads, valid cells of all windows]
    merged = attention.new_zeros(attention.shape[1], batch * length * length).index_add_(1, cells[both], per_head)
    merged = merged.view(-1, batch, length, length).transpose(0, 1)
    return merged / merged.sum(-1, keepdim=True).clamp(min=1e-10)
