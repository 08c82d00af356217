"""Options shared by every DataModule."""

from __future__ import annotations

from dataclasses import dataclass

SUBWORD_CHOICES = ("first", "last", "mean", "max")
POOLED = ("mean", "max")  # data.subword choices that pool every subword of a word
TOO_LONG_CHOICES = ("window", "truncate", "drop")  # data.too_long


@dataclass
class DataSettings:
    """Batching, length and subsetting options (``data.*`` in the Hydra config).

    ``train_fraction`` trains on a deterministic subset (the DocRED BERT-baseline report's 10/50/100 % table);
    ``doc_stride``: tokens shared by consecutive windows of a long context (span QA);
    ``dev_fraction`` carves a deterministic dev split from train when the data has none;
    ``subword``: how word-level tasks turn a word's subwords into its state: ``first`` or ``last`` (that
    subword's state), ``mean`` or ``max`` (pooled over all its subwords; tagging heads only, parsers read
    the first subword);
    ``label_all_subwords``: word tagging trains on every subword (the first carries the word's tag, the
    others its continuation: ``I-X`` for a ``B-X`` word), as the Hugging Face token-classification
    example's ``label_all_tokens``; predictions and metrics stay one per word. Needs ``first``/``last``;
    ``neg_multiple``/``h_t_limit``: document-level RE's training pairs (the DocRED BERT-baseline report): at most
    ``neg_multiple`` negative pairs per positive one and ``h_t_limit`` pairs per document (``None``: all);
    ``repair_trees``: dependency treebanks with known defects: a sentence with several root words or a
    cycle is repaired (extra roots and one word of each cycle attached to the first root word) and
    counted as ``trees_repaired`` in the data summary, instead of being an error naming its line;
    ``pin_memory``: batches in page-locked memory, so the copy to a GPU overlaps compute (``relx.build`` turns
    it on for GPU runs unless ``data.pin_memory=false``);
    ``too_long``: what a sentence-level relation example longer than ``max_length`` becomes: ``window`` (a
    window of ``max_length`` tokens around both entities, every split), ``truncate`` (its first ``max_length``
    tokens, every split), or ``drop`` (left out of training; dev/test/predict examples are windowed, never
    dropped, so every one is scored and the official scorer's denominators stay whole). Other tasks have their
    own handling of long inputs and accept only the default.
    """

    batch_size: int = 32
    eval_batch_size: int = 64
    max_length: int = 128
    doc_stride: int = 128
    train_fraction: float = 1.0
    dev_fraction: float = 0.1
    seed: int = 42
    num_workers: int = 0
    pin_memory: bool = False
    length_grouping: bool = True
    pad_to_multiple_of: int = 1
    cache_dir: str | None = None
    subword: str = "first"
    label_all_subwords: bool = False
    neg_multiple: int | None = None
    h_t_limit: int | None = None
    repair_trees: bool = False
    too_long: str | None = "window"  # None (a config written before the option existed): window

    def __post_init__(self) -> None:
        if not 0.0 < self.train_fraction <= 1.0:
            raise ValueError(f"data.train_fraction must be in (0, 1], got {self.train_fraction}")
        if not 0.0 < self.dev_fraction < 1.0:
            raise ValueError(f"data.dev_fraction must be in (0, 1), got {self.dev_fraction}")
        if self.subword not in SUBWORD_CHOICES:
            raise ValueError(f"data.subword must be one of {', '.join(SUBWORD_CHOICES)}, not {self.subword!r}")
        if self.label_all_subwords and self.subword not in ("first", "last"):
            raise ValueError(
                f"data.label_all_subwords trains each subword on its own state; it needs data.subword=first or "
                f"last, not {self.subword!r}"
            )
        if self.too_long is None:
            self.too_long = "window"
        if self.too_long not in TOO_LONG_CHOICES:
            raise ValueError(f"data.too_long must be one of {', '.join(TOO_LONG_CHOICES)}, not {self.too_long!r}")
        if self.max_length < 8:
            raise ValueError(f"data.max_length must be >= 8, got {self.max_length}")
