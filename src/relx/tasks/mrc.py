"""Machine reading comprehension tasks: extractive QA (CMRC 2018, DRCD) and multiple choice (C3, context
selection).

Extractive QA: a feature row is one question with *all* its windows. A context longer than
``max_length`` is cut by the tokenizer into windows that overlap by ``data.doc_stride`` tokens
(``return_overflowing_tokens``), each ``[CLS] question [SEP] context piece [SEP]``; character offsets
(``return_offsets_mapping``) tie context tokens back to the text. A window that holds the whole answer
points at its start and end tokens, every other window at its CLS position. Because an example's
windows travel together, the head decodes each answer from all its windows inside one batch.

Multiple choice: a feature row is one question with its candidates, each encoded as a pair (C3:
passage + "question candidate", the passage truncated; selection: question + paragraph, the paragraph
truncated). The collator flattens them to ``[batch * choices, seq]`` and marks padded candidates.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import datasets
import torch
from torch import Tensor

from relx.data.batch import IGNORE_INDEX, EncodedBatch, encoded_inputs, example_ids
from relx.data.mrc import (
    ChoiceExample,
    QAExample,
    carve_by_article,
    read_c3,
    read_questions,
    read_selection,
    read_squad,
    squad_answer_key,
)
from relx.data.text import text_words
from relx.data.vocab import LabelVocab
from relx.errors import ConfigError, DataFormatError
from relx.io import write_json_atomic
from relx.tasks.base import Task

log = logging.getLogger(__name__)
MAX_CHOICES = 64


def segment_rows(rows: list[list[int]]) -> list[list[int]] | None:
    """``rows`` of segment ids, or ``None`` when the tokenizer gives none (RoBERTa-style models: empty rows)."""
    return rows if rows and all(rows) else None


# ---- extractive QA ---------------------------------------------------------------------------------
@dataclass(kw_only=True)
class SpanBatch(EncodedBatch):
    """Questions with all their windows.

    ``input_ids``/``attention_mask``/``token_type_ids`` are per window, ``[windows, seq]``; ``offsets``
    ``[windows, seq, 2]`` (character span of each context token, ``-1`` elsewhere); ``window_example``
    ``[windows]``: the batch row of each window; ``start_positions``/``end_positions`` ``[windows]`` (the
    CLS position where the window lacks the answer) when labelled; ``example_ids`` ``[batch]``; ``contexts``
    and gold ``answers`` per row (ragged, for the metrics). Its length is the number of questions.
    """

    offsets: Tensor
    window_example: Tensor
    contexts: list[str] = field(default_factory=list)
    answers: list[list[str]] = field(default_factory=list)
    start_positions: Tensor | None = None
    end_positions: Tensor | None = None


class SpanCollator:
    """Every window of every question of the batch, padded alike (optionally to a multiple, e.g. 8)."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int = 1) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> SpanBatch:
        windows = [w for f in features for w in f["input_ids"]]
        segments = segment_rows([s for f in features for s in f.get("token_type_ids", [])])
        inputs = encoded_inputs(windows, self.pad_token_id, self.pad_to_multiple_of, segments)
        offsets = torch.full((*inputs["input_ids"].shape, 2), -1, dtype=torch.long)
        for i, window_offsets in enumerate(o for f in features for o in f["offsets"]):
            offsets[i, : len(window_offsets)] = torch.as_tensor(window_offsets, dtype=torch.long).view(-1, 2)
        labelled = all(f["start_positions"] for f in features)
        return SpanBatch(
            **inputs,
            offsets=offsets,
            window_example=torch.tensor([row for row, f in enumerate(features) for _ in f["input_ids"]]),
            example_ids=example_ids(features),
            contexts=[f["context"] for f in features],
            answers=[list(f["answers"]) for f in features],
            start_positions=torch.tensor([p for f in features for p in f["start_positions"]]) if labelled else None,
            end_positions=torch.tensor([p for f in features for p in f["end_positions"]]) if labelled else None,
        )


def answer_texts(examples: Sequence[QAExample], predictions: Mapping[str, list[Any]]) -> list[str]:
    """The answer text of each predicted ``span`` (character start, exclusive end) in its example's context."""
    return [ex.context[s:e] for ex, (s, e) in zip(examples, predictions["span"], strict=True)]


class SpanQATask(Task[QAExample]):
    """SQuAD-style extractive QA (CMRC 2018, DRCD). ``files``: split -> file name; ``max_query_length``:
    questions are cut to this many tokens; a missing dev split is carved from train by whole articles.

    Vocabulary ``span`` = (start, end), the two logits per token. Predictions are written as the
    official scripts read them: ``predictions_<split>.json`` ``{question id: answer text}``.
    """

    label_spaces = ("span",)
    input_format = "span_qa"
    encoding_version = 2  # 2: segment ids (token_type_ids) of the pairs

    def __init__(self, name: str, files: Mapping[str, str | None], max_query_length: int = 64, **common: Any):
        super().__init__(name, files, **common)
        self.max_query_length = max_query_length

    # ---- settings --------------------------------------------------------------------------------
    @property
    def context_room(self) -> int:
        """Context tokens a window holds at least: ``max_length`` less the question and 3 special tokens."""
        return self.settings.max_length - self.max_query_length - 3

    @property
    def doc_stride(self) -> int:
        """``data.doc_stride``, at most half of a window's context: consecutive windows must advance."""
        return min(self.settings.doc_stride, self.context_room // 2)

    def check_settings(self) -> None:
        """A fast tokenizer (character offsets) and room for context after the question; a too large
        ``data.doc_stride`` is clamped (``doc_stride``), with a warning."""
        if not getattr(self.tokenizer, "is_fast", False):
            raise ConfigError("span QA needs a fast tokenizer (character offsets)")
        if self.context_room < 8:
            raise ConfigError(
                f"data.max_length ({self.settings.max_length}) leaves no room for context after "
                f"max_query_length ({self.max_query_length}) tokens of question"
            )
        if self.doc_stride != self.settings.doc_stride:
            log.warning(
                "data.doc_stride=%d is too large for data.max_length=%d: using %d",
                self.settings.doc_stride, self.settings.max_length, self.doc_stride,
            )  # fmt: skip

    # ---- reading ---------------------------------------------------------------------------------
    def read_split(self, data_dir: Path, split: str) -> tuple[list[QAExample], dict[str, int]] | None:
        path = self.split_file(data_dir, split)
        return None if path is None else read_squad(path, training=split == "train")

    def carve_dev(self, train: list[QAExample]) -> tuple[list[QAExample], list[QAExample]]:
        """Whole articles go to dev: no context is shared between the two splits."""
        return carve_by_article(train, self.settings.dev_fraction, self.settings.seed)

    def read_raw(self, path: str | Path) -> list[QAExample]:
        """A SQuAD-style file (answers, if present, are ignored for prediction)."""
        return read_squad(path)[0]

    def without_labels(self, example: QAExample) -> QAExample:
        return replace(example, answers=(), answer_starts=())

    def build_vocabs(self, data_dir: Path, train: list[QAExample]) -> dict[str, LabelVocab]:
        return {"span": LabelVocab(["start", "end"])}

    def passages(self, example: QAExample) -> list[list[str]]:
        """The context and the question, as words (every CJK character one)."""
        return [text_words(example.context), text_words(example.question)]

    # ---- encoding --------------------------------------------------------------------------------
    def fingerprint(self) -> Any:
        return [self.doc_stride, self.max_query_length]

    def columns(self, examples: list[QAExample], split: str) -> dict[str, list[Any]]:
        return {
            "question": [ex.question for ex in examples],
            "context": [ex.context for ex in examples],
            "answers": [list(ex.answers) for ex in examples],
            "answer_starts": [list(ex.answer_starts) for ex in examples],
        }

    def _cut_questions(self, questions: list[str]) -> list[str]:
        """Each question cut after its ``max_query_length``-th token (at a character boundary)."""
        enc = self.tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
        return [
            q if len(offs) <= self.max_query_length else q[: offs[self.max_query_length - 1][1]]
            for q, offs in zip(questions, enc["offset_mapping"], strict=True)
        ]

    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Per question, its windows: ``input_ids``/``token_type_ids`` ``[windows][seq]``, ``offsets``
        ``[windows][seq][2]``, gold ``start_positions``/``end_positions`` ``[windows]`` (empty when
        unlabelled) and ``answer_windows`` (how many windows hold the whole answer)."""
        questions = self._cut_questions([q.lstrip() for q in batch["question"]])
        enc = self.tokenizer(
            questions,
            batch["context"],
            truncation="only_second",
            max_length=self.settings.max_length,
            stride=self.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        n = len(questions)
        out: dict[str, list[Any]] = {k: [[] for _ in range(n)] for k in ("input_ids", "offsets", "token_type_ids")}
        out.update({k: [[] for _ in range(n)] for k in ("start_positions", "end_positions")})
        out["answer_windows"] = [0] * n
        cls_id = self.tokenizer.cls_token_id
        for w, row in enumerate(enc["overflow_to_sample_mapping"]):
            ids = enc["input_ids"][w]
            sequence = enc.sequence_ids(w)
            offsets = [list(o) if s == 1 else [-1, -1] for o, s in zip(enc["offset_mapping"][w], sequence, strict=True)]
            out["input_ids"][row].append(ids)
            out["token_type_ids"][row].append(enc["token_type_ids"][w] if "token_type_ids" in enc else [])
            out["offsets"][row].append(offsets)
            starts = [s for s in batch["answer_starts"][row] if s >= 0]
            if not batch["answers"][row]:
                continue
            cls = ids.index(cls_id) if cls_id in ids else 0
            start_tok = end_tok = cls
            if starts:
                text = batch["answers"][row][batch["answer_starts"][row].index(starts[0])]
                a_start, a_end = starts[0], starts[0] + len(text)
                ctx = [i for i, s in enumerate(sequence) if s == 1]
                if ctx and offsets[ctx[0]][0] <= a_start and offsets[ctx[-1]][1] >= a_end:
                    start_tok = next(i for i in ctx if offsets[i][1] > a_start)
                    end_tok = next(i for i in reversed(ctx) if offsets[i][0] < a_end)
                    out["answer_windows"][row] += 1
            out["start_positions"][row].append(start_tok)
            out["end_positions"][row].append(end_tok)
        return out

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        trainable = [
            bool(answers) and any(s >= 0 for s in starts)
            for answers, starts in zip(features["answers"], features["answer_starts"], strict=True)
        ]
        # a verified answer that no window holds whole (longer than a window): trained towards CLS
        return {
            "answer_in_no_window": sum(t and a == 0 for t, a in zip(trainable, features["answer_windows"], strict=True))
        }

    def keep_for_training(self, features: datasets.Dataset) -> datasets.Dataset:
        """Questions without a verified answer position teach nothing; they are left out of training."""
        keep = [i for i, starts in enumerate(features["answer_starts"]) if any(s >= 0 for s in starts)]
        return features if len(keep) == len(features) else features.select(keep)

    def summarize_features(self, split: str, features: datasets.Dataset) -> dict[str, Any]:
        """Windows of the split, and how many questions needed more than one."""
        windows = [len(w) for w in features["input_ids"]]
        return {"windows": sum(windows), "multi_window_examples": sum(w > 1 for w in windows)}

    def summary(self) -> dict[str, Any]:
        return {"doc_stride": self.doc_stride}

    def collator(self) -> SpanCollator:
        return SpanCollator(self.tokenizer.pad_token_id or 0, self.settings.pad_to_multiple_of)

    # ---- outputs ---------------------------------------------------------------------------------
    def write_outputs(
        self, run_dir: Path, split: str, examples: list[QAExample], predictions: dict[str, list[Any]]
    ) -> list[Path]:
        """``predictions_<split>.json``: ``{question id: answer text}``, what the CMRC/DRCD scripts read; for a
        labelled split also ``answer_key_<split>.json``, the split's questions and gold answers as the SQuAD-style
        dataset those scripts read (a carved dev split exists in no data file)."""
        path = run_dir / f"predictions_{split}.json"
        answers = answer_texts(examples, predictions)
        write_json_atomic(path, {ex.id: a for ex, a in zip(examples, answers, strict=True)})
        if not examples or not all(ex.labelled for ex in examples):
            return [path]
        key = run_dir / f"answer_key_{split}.json"
        write_json_atomic(key, squad_answer_key(examples))
        return [path, key]

    def raw_records(self, examples: list[QAExample], predictions: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
        """``{id, question, answer, answer_start}`` per question."""
        answers = answer_texts(examples, predictions)
        return (
            {"id": ex.id, "question": ex.question, "answer": answer, "answer_start": start}
            for ex, (start, _), answer in zip(examples, predictions["span"], answers, strict=True)
        )


# ---- multiple choice -------------------------------------------------------------------------------
@dataclass(kw_only=True)
class ChoiceBatch(EncodedBatch):
    """Questions with their candidates, flattened for the encoder.

    ``input_ids``/``attention_mask``/``token_type_ids`` ``[batch * choices, seq]``; ``choice_mask``
    ``[batch, choices]`` (false for padded candidates); ``choice_labels`` ``[batch]`` when labelled;
    ``example_ids`` ``[batch]``. Its length is the number of questions.
    """

    choice_mask: Tensor
    choice_labels: Tensor | None = None


class ChoiceCollator:
    """Every question padded to the most candidates of the batch, every pair to the longest pair."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int = 1) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> ChoiceBatch:
        width = max(len(f["input_ids"]) for f in features)
        rows: list[list[int]] = []
        segments: list[list[int]] = []
        for f in features:
            pairs = list(f["input_ids"])
            # A padded candidate is one token it attends to (an all-masked row would give NaN attention).
            rows += pairs + [[self.pad_token_id]] * (width - len(pairs))
            segments += list(f.get("token_type_ids") or [[] for _ in pairs]) + [[0]] * (width - len(pairs))
        labelled = all(f["label_id"] != IGNORE_INDEX for f in features)
        return ChoiceBatch(
            **encoded_inputs(rows, self.pad_token_id, self.pad_to_multiple_of, segment_rows(segments)),
            choice_mask=torch.tensor([[i < len(f["input_ids"]) for i in range(width)] for f in features]),
            example_ids=example_ids(features),
            choice_labels=torch.tensor([f["label_id"] for f in features], dtype=torch.long) if labelled else None,
        )


class ChoiceTask(Task[ChoiceExample]):
    """Shared machinery of multiple-choice tasks. Vocabulary ``choice``: candidate positions ``"0"`` ..
    ``"63"`` (``MAX_CHOICES``): the head scores any number of candidates, so a model trained on 4 can
    choose among all paragraphs of an article. A missing dev split is carved from train by whole articles.

    Subclasses give ``read_split``, ``read_raw``, ``pairs`` (the two texts of a candidate) and which of
    them ``truncation`` cuts.
    """

    label_spaces = ("choice",)
    encoding_version = 2  # 2: segment ids (token_type_ids) of the pairs
    truncation: ClassVar[str] = "only_second"

    @abstractmethod
    def pairs(self, question: str, candidate: str, passage: str) -> tuple[str, str]:
        """The (first, second) texts encoding one candidate."""

    def carve_dev(self, train: list[ChoiceExample]) -> tuple[list[ChoiceExample], list[ChoiceExample]]:
        return carve_by_article(train, self.settings.dev_fraction, self.settings.seed)

    def without_labels(self, example: ChoiceExample) -> ChoiceExample:
        return replace(example, label=None, answers=())

    def build_vocabs(self, data_dir: Path, train: list[ChoiceExample]) -> dict[str, LabelVocab]:
        return {"choice": LabelVocab([str(i) for i in range(MAX_CHOICES)])}

    def passages(self, example: ChoiceExample) -> list[list[str]]:
        """The passage (C3), the question and each candidate (answers; paragraphs of context selection), as
        words (every CJK character one)."""
        texts = [example.passage, example.question, *example.candidates]
        return [text_words(text) for text in texts if text.strip()]

    def columns(self, examples: list[ChoiceExample], split: str) -> dict[str, list[Any]]:
        for ex in examples:
            if len(ex.candidates) > MAX_CHOICES:
                raise DataFormatError(
                    ex.source, f"{len(ex.candidates)} candidates: at most {MAX_CHOICES} are supported"
                )
        return {
            "question": [ex.question for ex in examples],
            "candidates": [list(ex.candidates) for ex in examples],
            "passage": [ex.passage for ex in examples],
            "label_id": [IGNORE_INDEX if ex.label is None else ex.label for ex in examples],
        }

    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Per question, its candidates' pairs: ``input_ids``/``token_type_ids`` ``[candidates][seq]``, and
        ``truncated_pairs`` (how many reached ``max_length``)."""
        firsts, seconds, owners = [], [], []
        for row, (question, candidates, passage) in enumerate(
            zip(batch["question"], batch["candidates"], batch["passage"], strict=True)
        ):
            for candidate in candidates:
                first, second = self.pairs(question, candidate, passage)
                firsts.append(first)
                seconds.append(second)
                owners.append(row)
        enc = self.tokenizer(firsts, seconds, truncation=self.truncation, max_length=self.settings.max_length)
        input_ids: list[list[list[int]]] = [[] for _ in batch["question"]]
        segments: list[list[list[int]]] = [[] for _ in batch["question"]]
        truncated = [0] * len(batch["question"])
        for i, (row, ids) in enumerate(zip(owners, enc["input_ids"], strict=True)):
            input_ids[row].append(ids)
            segments[row].append(enc["token_type_ids"][i] if "token_type_ids" in enc else [])
            truncated[row] += len(ids) >= self.settings.max_length
        return {"input_ids": input_ids, "token_type_ids": segments, "truncated_pairs": truncated}

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        return {"truncated_pairs": sum(features["truncated_pairs"])}

    def collator(self) -> ChoiceCollator:
        return ChoiceCollator(self.tokenizer.pad_token_id or 0, self.settings.pad_to_multiple_of)

    def _records(self, examples: list[ChoiceExample], predictions: dict[str, list[Any]]) -> list[dict[str, Any]]:
        """One record a question: the chosen position, the gold one, C3's chosen answer, the probabilities."""
        probs = predictions.get("choice_probs")
        records = []
        for i, ex in enumerate(examples):
            chosen = int(predictions["choice"][i])  # a position label "0", "1", ...
            record: dict[str, Any] = {"id": ex.id, "question": ex.question, "pred": chosen, "gold": ex.label}
            if ex.passage:  # C3: the candidates are answers
                record["pred_answer"] = ex.candidates[chosen]
            if probs is not None:
                record["probs"] = [round(p, 6) for p in probs[i][: len(ex.candidates)]]
            records.append(record)
        return records

    def write_outputs(
        self, run_dir: Path, split: str, examples: list[ChoiceExample], predictions: dict[str, list[Any]]
    ) -> list[Path]:
        """``predictions_<split>.jsonl``, the records of ``write_raw_predictions``."""
        path = run_dir / f"predictions_{split}.jsonl"
        self.write_raw_predictions(path, examples, predictions)
        return [path]

    def raw_records(self, examples: list[ChoiceExample], predictions: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
        """``{id, question, pred, pred_answer, probs}`` per question."""
        return iter(self._records(examples, predictions))


class C3Task(ChoiceTask):
    """C3 (C3-M and C3-D): ``files`` maps split -> the middle of ``c3-<subset>-<name>.json`` for each of
    ``subsets``; every existing file of a split is read. Each candidate is encoded as
    ``[CLS] passage [SEP] question candidate [SEP]``, the passage truncated."""

    input_format = "choice"
    truncation = "only_first"

    def __init__(
        self, name: str, files: Mapping[str, str | None], subsets: Sequence[str] = ("m", "d"), **common: Any
    ) -> None:
        super().__init__(name, files, **common)
        self.subsets = list(subsets)
        self._given: dict[str, Path] = {}  # split -> a file given with use_file

    def use_file(self, split: str, path: Path) -> Path:
        """One C3 JSON file (of either subset) under any name."""
        self._given[split] = path
        return path.parent

    def _paths(self, data_dir: Path, split: str) -> list[Path]:
        if split in self._given:
            return [self._given[split]]
        name = self.files.get(split)
        if not name:
            return []
        return [p for s in self.subsets if (p := data_dir / f"c3-{s}-{name}.json").is_file()]

    def describe_split(self, data_dir: Path | None, split: str) -> str:
        name = self.files.get(split) or f"<no {split} file configured>"
        return ", ".join(str(Path(data_dir or ".") / f"c3-{s}-{name}.json") for s in self.subsets)

    def read_split(self, data_dir: Path, split: str) -> tuple[list[ChoiceExample], dict[str, int]] | None:
        paths = self._paths(data_dir, split)
        if not paths:
            return None
        return [ex for path in paths for ex in read_c3(path)[0]], {}

    def pairs(self, question: str, candidate: str, passage: str) -> tuple[str, str]:
        return passage, f"{question} {candidate}"

    def read_raw(self, path: str | Path) -> list[ChoiceExample]:
        return read_c3(path)[0]


class ContextSelectionTask(ChoiceTask):
    """Context selection (the first stage of the Chinese MRC report): which candidate paragraph answers the
    question. Reads the Chinese MRC report's layout (``context_file`` + question lists) or a SQuAD-style file (the
    answer's paragraph + up to 3 other paragraphs of its article, chosen deterministically). Each candidate is
    encoded as ``[CLS] question [SEP] paragraph [SEP]``, the paragraph truncated."""

    input_format = "selection"

    def __init__(
        self, name: str, files: Mapping[str, str | None], context_file: str | None = "context.json", **common: Any
    ) -> None:
        super().__init__(name, files, **common)
        self.context_file = context_file

    def _contexts_path(self, folder: Path) -> Path | None:
        """The paragraphs file in ``folder`` (``None`` without a ``context_file``: SQuAD-style input)."""
        return folder / self.context_file if self.context_file else None

    def read_split(self, data_dir: Path, split: str) -> tuple[list[ChoiceExample], dict[str, int]] | None:
        path = self.split_file(data_dir, split)
        return None if path is None else read_selection(path, self._contexts_path(data_dir), training=split == "train")

    def pairs(self, question: str, candidate: str, passage: str) -> tuple[str, str]:
        return question, candidate

    def read_raw(self, path: str | Path) -> list[ChoiceExample]:
        """The Chinese MRC report's layout (the paragraphs file beside ``path``), or a SQuAD-style file with every
        paragraph of the article as a candidate."""
        return read_questions(path, self._contexts_path(Path(path).parent))


__all__ = [
    "MAX_CHOICES",
    "C3Task",
    "ChoiceBatch",
    "ChoiceCollator",
    "ChoiceTask",
    "ContextSelectionTask",
    "SpanBatch",
    "SpanCollator",
    "SpanQATask",
]
