"""Sentence-level relation classification DataModules: SemEval-2010 Task 8 and KLUE-RE.

Entities are marked in the text by a configurable scheme (``markers.py``). Inputs longer than
``max_length`` are windowed around the two (marked) entities, so truncation never cuts an entity; an
example whose entities lie too far apart for any window is counted (``unfit_examples``), left out of
training, and at evaluation predicted as the negative class (``Other`` / ``no_relation``) and scored.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from relx.data.base import TaskDataModule
from relx.data.batch import IGNORE_INDEX, pad_rows
from relx.data.markers import SCHEMES, UNTYPED, mark, special_tokens
from relx.data.relations import (
    SEMEVAL_LABELS,
    RelationExample,
    read_klue_re,
    read_marked_sentences,
    read_relation_labels,
    read_semeval,
)
from relx.data.settings import DataSettings
from relx.data.vocab import LabelVocab
from relx.encoders.windows import sequence_specials
from relx.errors import ConfigError, DataFormatError
from relx.io import atomic_write, write_text_atomic


@dataclass
class RelationBatch:
    """A padded batch of marked sentences.

    ``input_ids``/``attention_mask`` ``[batch, seq]``; ``e1_span``/``e2_span`` ``[batch, 2]``: inclusive
    subword spans of each entity's words (the seam for every entity-aware head); ``fits`` ``[batch]``:
    false where no window held both entities (those rows decode to ``fallback_id``);
    ``sentence_labels`` ``[batch]`` when labelled; ``example_ids`` ``[batch]``.
    """

    input_ids: Tensor
    attention_mask: Tensor
    e1_span: Tensor
    e2_span: Tensor
    fits: Tensor
    example_ids: Tensor
    fallback_id: int = 0
    sentence_labels: Tensor | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


class RelationCollator:
    def __init__(self, pad_token_id: int, fallback_id: int, pad_to_multiple_of: int = 1) -> None:
        self.pad_token_id = pad_token_id
        self.fallback_id = fallback_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> RelationBatch:
        ids = [f["input_ids"] for f in features]
        labelled = all(f["label_id"] != IGNORE_INDEX for f in features)
        return RelationBatch(
            input_ids=pad_rows(ids, self.pad_token_id, self.pad_to_multiple_of),
            attention_mask=pad_rows([[1] * len(r) for r in ids], 0, self.pad_to_multiple_of),
            e1_span=torch.tensor([f["e1_span"] for f in features], dtype=torch.long),
            e2_span=torch.tensor([f["e2_span"] for f in features], dtype=torch.long),
            fits=torch.tensor([bool(f["fits"]) for f in features]),
            example_ids=torch.tensor([f["example_id"] for f in features], dtype=torch.long),
            fallback_id=self.fallback_id,
            sentence_labels=torch.tensor([f["label_id"] for f in features]) if labelled else None,
        )


def _token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """First and last token overlapping characters ``[start, end)``."""
    inside = [i for i, (s, e) in enumerate(offsets) if e > start and s < end and e > s]
    if inside:
        return inside[0], inside[-1]
    after = [i for i, (s, _) in enumerate(offsets) if s >= start]  # the span produced no token of its own
    i = after[0] if after else len(offsets) - 1
    return i, i


class RelationDataModule(TaskDataModule[RelationExample]):
    """Shared machinery of sentence-level relation classification.

    ``marker``: the entity marking scheme (``markers.SCHEMES``); ``negative_label``: the "no relation"
    class. Vocabularies: ``sentence`` (relations) and ``entity_type`` (types seen in training, for
    typed markers; types never seen fall back to a generic marker).
    """

    encoding_version = 1

    def __init__(
        self,
        data_dir: str | Path | None,
        tokenizer: PreTrainedTokenizerBase,
        files: dict[str, str | None],
        marker: str = "rbert",
        negative_label: str = "Other",
        label_file: str | None = None,
        settings: DataSettings | None = None,
        vocabs: dict[str, LabelVocab] | None = None,
    ) -> None:
        if marker not in SCHEMES:
            raise ConfigError(f"task.datamodule.marker must be one of {', '.join(SCHEMES)}, not {marker!r}")
        self.files = dict(files)
        self.marker = marker
        self.negative_label = negative_label
        self.label_file = label_file
        super().__init__(data_dir, tokenizer, settings, vocabs)
        if negative_label not in self.vocabs["sentence"]:
            raise ConfigError(f"negative label {negative_label!r} is not among the relation labels")
        new_tokens = special_tokens(marker, self.vocabs["entity_type"].labels)
        if new_tokens:
            tokenizer.add_tokens(new_tokens, special_tokens=True)
        # The tokenizer's own special tokens around one sequence ([CLS] x [SEP], <s> x </s>, ...).
        self._specials = sequence_specials(tokenizer)
        self._prefix = len(self._specials[0])
        self._room = self.settings.max_length - len(self._specials[0]) - len(self._specials[1])
        self._collator = RelationCollator(
            tokenizer.pad_token_id or 0, self.vocabs["sentence"].index(negative_label), self.settings.pad_to_multiple_of
        )

    # ---- reading ---------------------------------------------------------------------------------
    @property
    def reader(self) -> Callable[[Path, set[str] | None], list[RelationExample]]:
        raise NotImplementedError

    def read_split(self, split: str) -> tuple[list[RelationExample], dict[str, int]] | None:
        path = self.split_file(split)
        return None if path is None else (self.reader(path, None), {})

    def relation_labels(self) -> list[str]:
        assert self.data_dir is not None
        if self.label_file and (self.data_dir / self.label_file).is_file():
            return read_relation_labels(self.data_dir / self.label_file)
        return self.default_labels()

    def default_labels(self) -> list[str]:
        raise DataFormatError(str(self.data_dir), f"label file {self.label_file} not found")

    def build_vocabs(self, train: list[RelationExample]) -> dict[str, LabelVocab]:
        types = {t for ex in train for t in (ex.e1.type, ex.e2.type) if t}
        return {"sentence": LabelVocab(self.relation_labels()), "entity_type": LabelVocab(sorted(types))}

    def check_train_labels(self, train: list[RelationExample], vocabs: dict[str, LabelVocab]) -> None:
        """Every training example needs a known label: an unlabelled one (an unlabelled file given as train)
        would otherwise reach the loss without labels."""
        for ex in train:
            if ex.label is None:
                raise DataFormatError(ex.source, "training example without a relation label")
            if ex.label not in vocabs["sentence"]:
                raise DataFormatError(ex.source, f"unknown relation label {ex.label!r}")

    # ---- encoding --------------------------------------------------------------------------------
    def fingerprint_extra(self) -> Any:
        return [self.marker, self.negative_label]

    def _marked(self, ex: RelationExample) -> tuple[str, Any, Any]:
        types = self.vocabs["entity_type"]

        def known(entity: Any) -> Any:
            return (
                entity
                if entity.type is None or entity.type in types
                else type(entity)(entity.start, entity.end, entity.text, UNTYPED)
            )

        return mark(RelationExample(ex.id, ex.text, known(ex.e1), known(ex.e2)), self.marker)

    def columns(self, examples: list[RelationExample], split: str) -> dict[str, list[Any]]:
        vocab = self.vocabs["sentence"]
        marked = [self._marked(ex) for ex in examples]
        return {
            "text": [m[0] for m in marked],
            "e1_chars": [[*m[1].content, *m[1].outer] for m in marked],
            "e2_chars": [[*m[2].content, *m[2].outer] for m in marked],
            "label_id": [
                IGNORE_INDEX
                if ex.label is None
                else vocab.index(ex.label)
                if split == "train"
                else vocab.index_for_eval(ex.label)
                for ex in examples
            ],
        }

    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        enc = self.tokenizer(batch["text"], add_special_tokens=False, return_offsets_mapping=True)
        out: dict[str, list[Any]] = {"input_ids": [], "e1_span": [], "e2_span": [], "fits": [], "windowed": []}
        for ids, offsets, c1, c2 in zip(
            enc["input_ids"], enc["offset_mapping"], batch["e1_chars"], batch["e2_chars"], strict=True
        ):
            spans = [_token_span(offsets, c[0], c[1]) for c in (c1, c2)]
            outer = [_token_span(offsets, c[2], c[3]) for c in (c1, c2)]
            lo, hi = min(o[0] for o in outer), max(o[1] for o in outer)
            start, end, fits = 0, len(ids), True
            if len(ids) > self._room:
                if hi - lo + 1 <= self._room:  # a window around both entities
                    start = max(0, lo - (self._room - (hi - lo + 1)) // 2)
                    end = min(len(ids), start + self._room)
                    start = max(0, end - self._room)
                else:
                    start, end, fits = lo, lo + self._room, False
            last = self._prefix + (end - start) - 1

            def shift(span: tuple[int, int], last: int = last, start: int = start) -> list[int]:
                return [min(max(self._prefix + p - start, self._prefix), last) for p in span]

            out["input_ids"].append([*self._specials[0], *ids[start:end], *self._specials[1]])
            out["e1_span"].append(shift(spans[0]))
            out["e2_span"].append(shift(spans[1]))
            out["fits"].append(fits)
            out["windowed"].append(len(ids) > self._room)
        return out

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        return {"windowed_examples": sum(features["windowed"]), "unfit_examples": sum(not f for f in features["fits"])}

    def keep_for_training(self, features: datasets.Dataset) -> datasets.Dataset:
        return features.filter(lambda f: f, input_columns="fits", desc="dropping unfit training examples")

    @property
    def collator(self) -> RelationCollator:
        return self._collator

    def without_labels(self, example: RelationExample) -> RelationExample:
        return RelationExample(example.id, example.text, example.e1, example.e2, None, example.source)

    # ---- outputs ---------------------------------------------------------------------------------
    def read_raw(self, path: str | Path) -> list[RelationExample]:
        """One sentence a line with ``<e1>..</e1>`` and ``<e2>..</e2>`` around the two entities."""
        examples = read_marked_sentences(path)
        if not examples:
            raise DataFormatError(path, "no input lines")
        return examples

    def write_raw_predictions(
        self, path: Path, examples: list[RelationExample], predictions: dict[str, list[Any]]
    ) -> None:
        labels = self.vocabs["sentence"].labels

        def write(fh: Any) -> None:
            for i, ex in enumerate(examples):
                record: dict[str, Any] = {
                    "source": ex.source,
                    "text": ex.text,
                    "e1": ex.e1.text,
                    "e2": ex.e2.text,
                    "relation": predictions["sentence"][i],
                }
                if "sentence_probs" in predictions:
                    record["probs"] = dict(
                        zip(labels, (round(p, 6) for p in predictions["sentence_probs"][i]), strict=True)
                    )
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")

        atomic_write(path, write)


class SemEvalDataModule(RelationDataModule):
    """SemEval-2010 Task 8, either layout (``TRAIN_FILE.TXT``-style blocks or ``train.tsv``).

    Predictions are written as the official scorer reads them: ``predictions_<split>.txt`` and
    ``answer_key_<split>.txt``, one ``ID<TAB>Relation(e1,e2)`` a line, so
    ``perl semeval2010_task8_scorer-v1.2.pl predictions_test.txt answer_key_test.txt`` reproduces ``f1``.
    """

    @property
    def reader(self) -> Callable[[Path, set[str] | None], list[RelationExample]]:
        return read_semeval

    def default_labels(self) -> list[str]:
        return list(SEMEVAL_LABELS)

    def write_predictions(self, run_dir: Path, split: str, predictions: dict[str, list[Any]]) -> list[Path]:
        examples = self.examples[split]
        written = []
        for name, labels in (("predictions", predictions["sentence"]), ("answer_key", [ex.label for ex in examples])):
            if name == "answer_key" and any(label is None for label in labels):
                continue
            path = run_dir / f"{name}_{split}.txt"
            lines = "".join(f"{ex.id}\t{label}\n" for ex, label in zip(examples, labels, strict=True))
            write_text_atomic(path, lines)
            written.append(path)
        return written


class KlueReDataModule(RelationDataModule):
    """KLUE-RE v1.1 (``klue-re-v1.1_train.json``, ``klue-re-v1.1_dev.json``, ``relation_list.json``).

    Predictions: ``predictions_<split>.csv`` with ``id,pred_label,probs`` (the KLUE submission layout).
    """

    @property
    def reader(self) -> Callable[[Path, set[str] | None], list[RelationExample]]:
        return read_klue_re

    def write_predictions(self, run_dir: Path, split: str, predictions: dict[str, list[Any]]) -> list[Path]:
        path = run_dir / f"predictions_{split}.csv"
        probs = predictions.get("sentence_probs") or [[] for _ in self.examples[split]]

        def write(fh: Any) -> None:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["id", "pred_label", "probs"])
            for ex, label, p in zip(self.examples[split], predictions["sentence"], probs, strict=True):
                writer.writerow([ex.id, label, json.dumps([round(x, 6) for x in p])])

        atomic_write(path, write)
        return [path]
