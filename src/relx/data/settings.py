"""Options shared by every DataModule."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataSettings:
    """Batching, length and subsetting options (``data.*`` in the Hydra config).

    ``train_fraction`` trains on a deterministic subset (seed 000's 10/50/100 % table);
    ``doc_stride``: tokens shared by consecutive windows of a long context (span QA);
    ``dev_fraction`` carves a deterministic dev split from train when the data has none;
    ``subword``: which subword represents a word in word-level tasks (``first`` or ``last``);
    ``neg_multiple``/``h_t_limit``: document-level RE's training pairs (seed 000): at most
    ``neg_multiple`` negative pairs per positive one and ``h_t_limit`` pairs per document (``None``: all).
    """

    batch_size: int = 32
    eval_batch_size: int = 64
    max_length: int = 128
    doc_stride: int = 128
    train_fraction: float = 1.0
    dev_fraction: float = 0.1
    seed: int = 42
    num_workers: int = 0
    length_grouping: bool = True
    pad_to_multiple_of: int = 1
    cache_dir: str | None = None
    subword: str = "first"
    neg_multiple: int | None = None
    h_t_limit: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.train_fraction <= 1.0:
            raise ValueError(f"data.train_fraction must be in (0, 1], got {self.train_fraction}")
        if not 0.0 < self.dev_fraction < 1.0:
            raise ValueError(f"data.dev_fraction must be in (0, 1), got {self.dev_fraction}")
        if self.subword not in ("first", "last"):
            raise ValueError(f"data.subword must be 'first' or 'last', not {self.subword!r}")
        if self.max_length < 8:
            raise ValueError(f"data.max_length must be >= 8, got {self.max_length}")
