"""Continued pretraining as a relx task: masked-language modelling on raw text or on another task's text
(``task=mlm``): ``MaskedLMTask``.

The text is read as passages of words: raw text files (one sentence or document a line), or, with a
``source`` task, that task's own reader and ``Task.passages`` (a treebank's sentences, an MRC set's contexts
and questions). Repeated passages are read once (a SQuAD-style context comes with every question), and each
passage is cut into pieces of whole words that fit ``data.max_length``. Masks are drawn per step by
``relx.data.masking`` (whole words, CJK characters one by one, 80/10/10), anew each training epoch and
fixed for evaluation, reproducibly from the run's seed; ``[UNK]`` tokens are never prediction targets.

Scores: perplexity (exp of the mean masked-token loss) and masked-token accuracy on the held-out split.
The adapted encoder is what the run is for: ``save_encoder: true`` (the task's config sets it) writes it
to ``<run dir>/encoder/`` as a Hugging Face model directory, for ``encoder.name=<run dir>/encoder``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import datasets
from torch import Tensor

from relx.data.batch import EncodedBatch, encoded_inputs, example_ids, pad_rows
from relx.data.examples import TextExample
from relx.data.masking import EVALUATION_STREAM, TRAINING_STREAM, MaskingPlan
from relx.data.readers import read_lines
from relx.data.text import pack_passages, split_cjk, text_words
from relx.data.vocab import LabelVocab
from relx.errors import ConfigError, DataFormatError
from relx.io import write_jsonl_atomic
from relx.tasks.base import Task


@dataclass(kw_only=True)
class MaskedLMBatch(EncodedBatch):
    """A padded batch of text pieces. ``word_ids`` ``[batch, seq]``: the word of each position (``-1`` at
    special tokens, padding and ``[UNK]``: never masked); ``mlm_labels`` ``[batch, seq]``: the original id at
    each position to predict, ``-100`` elsewhere, once ``for_step`` has drawn the masks (and replaced the
    chosen ``input_ids``); ``plan``: how to draw them (``None`` once drawn)."""

    word_ids: Tensor
    mlm_labels: Tensor | None = None
    plan: MaskingPlan | None = None

    def for_step(self, epoch: int | None) -> MaskedLMBatch:
        """The batch with its masks drawn: the training stream of ``epoch``, or (``None``) the fixed
        evaluation stream; each row from its example's own stream (``relx.data.masking``)."""
        if self.plan is None:
            return self
        stream, draw = (TRAINING_STREAM, epoch) if epoch is not None else (EVALUATION_STREAM, 0)
        shown, labels = self.plan.mask_batch(self.input_ids, self.word_ids, self.example_ids.tolist(), stream, draw)
        return replace(self, input_ids=shown, mlm_labels=labels, plan=None)


class MaskedLMCollator:
    """Features -> ``MaskedLMBatch`` (masks not drawn yet: the module draws them per step)."""

    def __init__(self, pad_token_id: int, plan: MaskingPlan, pad_to_multiple_of: int = 1) -> None:
        self.pad_token_id = pad_token_id
        self.plan = plan
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> MaskedLMBatch:
        return MaskedLMBatch(
            **encoded_inputs([f["input_ids"] for f in features], self.pad_token_id, self.pad_to_multiple_of),
            example_ids=example_ids(features),
            word_ids=pad_rows([f["word_ids"] for f in features], -1, self.pad_to_multiple_of),
            plan=self.plan,
        )


class MaskedLMTask(Task[TextExample]):
    """Masked-LM continued pretraining (vocabulary ``mlm``: none; the head predicts the tokenizer's tokens).

    ``files``: split -> raw text file (one passage a line, blank lines skipped; ``validation`` may be absent:
    it is carved from train); ``source``: another Task whose data is read instead (its splits, its reader,
    its ``passages``), built by ``relx.build`` from the node ``relx.composition`` expands ``mlm.source=NAME``
    into; ``mask_rate``: the share of tokens predicted; ``mask_share``/``random_share``: of those, shown as
    the mask token / a random token (the rest unchanged); ``whole_word``: mask whole words (false: each
    subword on its own).
    """

    label_spaces = ("mlm",)
    input_format = "text"

    def __init__(
        self,
        name: str,
        files: Mapping[str, str | None] | None = None,
        source: Task[Any] | None = None,
        mask_rate: float = 0.15,
        mask_share: float = 0.8,
        random_share: float = 0.1,
        whole_word: bool = True,
        **common: Any,
    ) -> None:
        if source is not None and not isinstance(source, Task):
            raise ConfigError(
                f"task.source must be a task's expanded config (python -m relx.train expands mlm.source=NAME), "
                f"not {source!r}"
            )
        if not 0.0 < mask_rate <= 1.0:
            raise ConfigError(f"mlm.mask_rate must be in (0, 1], not {mask_rate}")
        if mask_share < 0 or random_share < 0 or mask_share + random_share > 1.0:
            raise ConfigError(
                f"mlm.mask_share ({mask_share}) and mlm.random_share ({random_share}) must be >= 0 with a sum <= 1"
            )
        super().__init__(name, files, **common)
        self.source = source
        self.mask_rate, self.mask_share, self.random_share = mask_rate, mask_share, random_share
        self.whole_word = whole_word

    # ---- run context ---------------------------------------------------------------------------------
    def attach(self, tokenizer: Any, settings: Any) -> None:
        super().attach(tokenizer, settings)
        if self.source is not None:
            self.source.attach(tokenizer, settings)

    def check_settings(self) -> None:
        """A fast tokenizer (which word each subword belongs to) with a mask token."""
        if not getattr(self.tokenizer, "is_fast", False):
            raise ConfigError("task=mlm needs a fast tokenizer (the word of each subword, for whole-word masking)")
        if self.tokenizer.mask_token_id is None:
            raise ConfigError(f"task=mlm needs a tokenizer with a mask token; {self.tokenizer.name_or_path} has none")

    def plan(self) -> MaskingPlan:
        """How masks are drawn, over the tokenizer as it is now (random replacements: any non-special token,
        added ones included)."""
        special = set(self.tokenizer.all_special_ids)
        return MaskingPlan(
            mask_id=int(self.tokenizer.mask_token_id),
            replacement_ids=[i for i in range(len(self.tokenizer)) if i not in special],
            rate=self.mask_rate,
            mask_share=self.mask_share,
            random_share=self.random_share,
            seed=self.settings.seed,
        )

    # ---- reading -------------------------------------------------------------------------------------
    def read_split(self, data_dir: Path, split: str) -> tuple[list[TextExample], dict[str, int]] | None:
        """The split's text as pieces of at most ``data.max_length`` tokens: ``passages`` read once each
        (``repeated_passages`` dropped), cut into ``pieces``."""
        if self.source is not None:
            found = self.source.read_split(data_dir, split)
            if found is None:
                return None
            passages = [
                (split_cjk(words), getattr(ex, "source", "") or f"{self.source.name} {split} example {i}")
                for i, ex in enumerate(found[0])
                for words in self.source.passages(ex)
            ]
        else:
            path = self.split_file(data_dir, split)
            if path is None:
                return None
            passages = [(text_words(line), f"{path}:{n}") for n, line in enumerate(read_lines(path), 1) if line.strip()]
            if not passages:
                raise DataFormatError(path, "no text (one sentence or document a line)")
        return self._pieces(passages)

    def _pieces(self, passages: Sequence[tuple[list[str], str]]) -> tuple[list[TextExample], dict[str, int]]:
        seen: dict[tuple[str, ...], str] = {}
        for words, source in passages:
            if words:
                seen.setdefault(tuple(words), source)
        unique = list(seen.items())
        room = self.settings.max_length - self.tokenizer.num_special_tokens_to_add(pair=False)
        ranges = pack_passages([list(words) for words, _ in unique], self.tokenizer, room)
        pieces = [
            TextExample(words[start:end], source)
            for (words, source), spans in zip(unique, ranges, strict=True)
            for start, end in spans
        ]
        stats = {"passages": len(unique), "repeated_passages": len(passages) - len(unique), "pieces": len(pieces)}
        return pieces, stats

    def split_file(self, data_dir: Path | None, split: str) -> Path | None:
        return super().split_file(data_dir, split) if self.source is None else self.source.split_file(data_dir, split)

    def use_file(self, split: str, path: Path) -> Path:
        return super().use_file(split, path) if self.source is None else self.source.use_file(split, path)

    def describe_split(self, data_dir: Path | None, split: str) -> str:
        if self.source is not None:
            return self.source.describe_split(data_dir, split)
        return super().describe_split(data_dir, split)

    def read_raw(self, path: str | Path) -> list[TextExample]:
        """Raw text, one input a line (blank lines skipped; a line longer than ``data.max_length`` tokens is
        truncated)."""
        return [
            TextExample(tuple(text_words(line)), f"{path}:{n}")
            for n, line in enumerate(read_lines(Path(path)), 1)
            if line.strip()
        ]

    def without_labels(self, example: TextExample) -> TextExample:
        return example

    def passages(self, example: TextExample) -> list[list[str]]:
        return [list(example.words)]

    def build_vocabs(self, data_dir: Path, train: list[TextExample]) -> dict[str, LabelVocab]:
        return {"mlm": LabelVocab([])}

    # ---- encoding ------------------------------------------------------------------------------------
    def columns(self, examples: list[TextExample], split: str) -> dict[str, list[Any]]:
        return {"words": [list(ex.words) for ex in examples]}

    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """``input_ids`` and ``word_ids`` (the word of each position; ``-1`` at special tokens and ``[UNK]``;
        without ``whole_word`` every subword is a word of its own)."""
        enc = self.tokenizer(
            batch["words"], is_split_into_words=True, truncation=True, max_length=self.settings.max_length
        )
        unk = self.tokenizer.unk_token_id
        word_ids, covered = [], []
        for i, ids in enumerate(enc["input_ids"]):
            words = enc.word_ids(i)
            covered.append(1 + max((w for w in words if w is not None), default=-1))
            owners = [-1 if w is None or t == unk else w for w, t in zip(words, ids, strict=True)]
            if not self.whole_word:
                owners = [pos if w >= 0 else -1 for pos, w in enumerate(owners)]
            word_ids.append(owners)
        return {"input_ids": enc["input_ids"], "word_ids": word_ids, "covered_words": covered}

    def fingerprint(self) -> Any:
        return {"whole_word": self.whole_word}

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        """Words cut off by ``data.max_length`` (pieces are packed to fit, so only a single overlong word or
        tokens added after packing, ``encoder.extend_vocab``, can cause it)."""
        lost = sum(len(words) - n for words, n in zip(features["words"], features["covered_words"], strict=True))
        return {"truncated_words": lost}

    def collator(self) -> MaskedLMCollator:
        return MaskedLMCollator(self.tokenizer.pad_token_id or 0, self.plan(), self.settings.pad_to_multiple_of)

    # ---- outputs -------------------------------------------------------------------------------------
    def write_outputs(
        self, run_dir: Path, split: str, examples: list[TextExample], predictions: dict[str, list[Any]]
    ) -> list[Path]:
        """``predictions_<split>.jsonl``: each piece's masked tokens and their loss (``raw_records``)."""
        path = run_dir / f"predictions_{split}.jsonl"
        write_jsonl_atomic(path, self.raw_records(examples, predictions))
        return [path]

    def raw_records(self, examples: list[TextExample], predictions: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
        """``{source, text, masked, correct, nll, perplexity}`` per input (the masks: the evaluation draw)."""
        for ex, scored in zip(examples, predictions["mlm"], strict=True):
            masked = int(scored["masked"])
            yield {
                "source": ex.source,
                "text": " ".join(ex.words),
                "masked": masked,
                "correct": int(scored["correct"]),
                "nll": float(scored["nll"]),
                "perplexity": math.exp(scored["nll"] / masked) if masked else None,
            }
