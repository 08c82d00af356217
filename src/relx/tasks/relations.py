"""Sentence-level relation classification: SemEval-2010 Task 8 and KLUE-RE.

Entities are marked in the text by a configurable scheme (``relx.data.markers``). Inputs longer than
``max_length`` (``data.too_long``): ``window`` (default) keeps a window around the two (marked) entities, so
truncation never cuts an entity; ``truncate`` keeps the first ``max_length`` tokens; ``drop`` leaves them out
of training (counted as ``dropped_from_training``) and windows them in every other split, so that every
dev/test example is still scored. An example whose entities do not both fit in what is kept (too far apart
for any window, or past the cut) is counted (``unfit_examples``), left out of training, and at evaluation
predicted as the negative class (``Other`` / ``no_relation``) and scored.
"""

from __future__ import annotations

import csv
import json
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import torch
from torch import Tensor

from relx.data.batch import IGNORE_INDEX, EncodedBatch, encoded_inputs, example_ids
from relx.data.markers import SCHEMES, UNTYPED, MarkedSpan, mark, special_tokens
from relx.data.relations import (
    SEMEVAL_LABELS,
    Entity,
    RelationExample,
    read_klue_re,
    read_marked_sentences,
    read_relation_labels,
    read_semeval,
)
from relx.data.text import text_words
from relx.data.vocab import LabelVocab
from relx.encoders.windows import sequence_specials
from relx.errors import ConfigError, DataFormatError
from relx.io import atomic_write, write_text_atomic
from relx.tasks.base import LabelPairs, Task, sentence_label_pairs


@dataclass(kw_only=True)
class RelationBatch(EncodedBatch):
    """A padded batch of marked sentences.

    ``input_ids``/``attention_mask`` ``[batch, seq]``; ``e1_span``/``e2_span`` ``[batch, 2]``: inclusive
    subword spans of each entity's words (the seam for every entity-aware head); ``fits`` ``[batch]``:
    false where no window held both entities (those rows decode to ``fallback_id``, the negative class);
    ``sentence_labels`` ``[batch]`` when labelled; ``example_ids`` ``[batch]``.
    """

    e1_span: Tensor
    e2_span: Tensor
    fits: Tensor
    fallback_id: int = 0
    sentence_labels: Tensor | None = None


class RelationCollator:
    """Pads encoded relation features into a ``RelationBatch`` (``fallback_id``: the negative class's id)."""

    def __init__(self, pad_token_id: int, fallback_id: int, pad_to_multiple_of: int = 1) -> None:
        self.pad_token_id = pad_token_id
        self.fallback_id = fallback_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> RelationBatch:
        labelled = all(f["label_id"] != IGNORE_INDEX for f in features)
        return RelationBatch(
            **encoded_inputs([f["input_ids"] for f in features], self.pad_token_id, self.pad_to_multiple_of),
            example_ids=example_ids(features),
            e1_span=torch.tensor([f["e1_span"] for f in features], dtype=torch.long),
            e2_span=torch.tensor([f["e2_span"] for f in features], dtype=torch.long),
            fits=torch.tensor([bool(f["fits"]) for f in features]),
            fallback_id=self.fallback_id,
            sentence_labels=torch.tensor([f["label_id"] for f in features], dtype=torch.long) if labelled else None,
        )


def _token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """First and last token overlapping characters ``[start, end)``."""
    inside = [i for i, (s, e) in enumerate(offsets) if e > start and s < end and e > s]
    if inside:
        return inside[0], inside[-1]
    after = [i for i, (s, _) in enumerate(offsets) if s >= start]  # the span produced no token of its own
    i = after[0] if after else len(offsets) - 1
    return i, i


def _truncation(length: int, lo: int, hi: int, room: int) -> tuple[int, int, bool]:
    """``(start, end, fits)`` of ``data.too_long=truncate``: the first ``room`` tokens; ``fits`` when tokens
    ``lo..hi`` (both entities with their markers) are among them."""
    if length <= room:
        return 0, length, True
    return 0, room, hi < room


def _window(length: int, lo: int, hi: int, room: int) -> tuple[int, int, bool]:
    """``(start, end, fits)``: the ``room`` tokens of a ``length``-token text to keep so that tokens
    ``lo..hi`` (both entities with their markers) are inside, centred where the text allows; when they
    cannot all be, the window starts at ``lo`` and ``fits`` is false."""
    if length <= room:
        return 0, length, True
    if hi - lo + 1 > room:
        return lo, lo + room, False
    start = max(0, lo - (room - (hi - lo + 1)) // 2)
    end = min(length, start + room)
    return max(0, end - room), end, True


class RelationTask(Task[RelationExample]):
    """Shared machinery of sentence-level relation classification.

    ``marker``: the entity marking scheme (``markers.SCHEMES``); ``negative_label``: the "no relation"
    class; ``label_file``: the relation labels, one a line or a JSON list, in the data directory.
    Vocabularies: ``sentence`` (relations) and ``entity_type`` (types seen in training, for typed markers;
    types never seen fall back to a generic marker). Subclasses give ``read_file`` and ``write_outputs``.
    """

    label_spaces = ("sentence",)
    input_format = "relations"
    marks_entities = True
    encoding_version = 1
    too_long_choices = ("window", "truncate", "drop")

    def __init__(
        self,
        name: str,
        files: Mapping[str, str | None] | None = None,
        marker: str = "rbert",
        negative_label: str = "Other",
        label_file: str | None = None,
        **common: Any,
    ) -> None:
        if marker not in SCHEMES:
            raise ConfigError(f"task.marker must be one of {', '.join(SCHEMES)}, not {marker!r}")
        super().__init__(name, files, **common)
        self.marker = marker
        self.negative_label = negative_label
        self.label_file = label_file

    def check_vocabs(self) -> None:
        if self.negative_label not in self.vocabs["sentence"]:
            raise ConfigError(f"negative label {self.negative_label!r} is not among the relation labels")

    # ---- reading ---------------------------------------------------------------------------------
    @abstractmethod
    def read_file(self, path: Path) -> list[RelationExample]:
        """The examples of one labelled (or unlabelled) data file of the family."""

    def read_split(self, data_dir: Path, split: str) -> tuple[list[RelationExample], dict[str, int]] | None:
        path = self.split_file(data_dir, split)
        return None if path is None else (self.read_file(path), {})

    def read_raw(self, path: str | Path) -> list[RelationExample]:
        """One sentence a line with ``<e1>..</e1>`` and ``<e2>..</e2>`` around the two entities."""
        examples = read_marked_sentences(path)
        if not examples:
            raise DataFormatError(path, "no input lines")
        return examples

    def without_labels(self, example: RelationExample) -> RelationExample:
        return RelationExample(example.id, example.text, example.e1, example.e2, None, example.source)

    def passages(self, example: RelationExample) -> list[list[str]]:
        """The sentence (entity markers are not part of its text), as words."""
        return [text_words(example.text)]

    # ---- vocabularies and tokens -----------------------------------------------------------------
    def relation_labels(self, data_dir: Path) -> list[str]:
        """The relation classes: ``label_file`` when the data directory has it, else ``default_labels``."""
        if self.label_file and (data_dir / self.label_file).is_file():
            return read_relation_labels(data_dir / self.label_file)
        return self.default_labels(data_dir)

    def default_labels(self, data_dir: Path) -> list[str]:
        """The classes when ``label_file`` is absent; default: none, the label file is required."""
        raise DataFormatError(str(data_dir), f"label file {self.label_file} not found")

    def build_vocabs(self, data_dir: Path, train: list[RelationExample]) -> dict[str, LabelVocab]:
        types = {t for ex in train for t in (ex.e1.type, ex.e2.type) if t}
        return {"sentence": LabelVocab(self.relation_labels(data_dir)), "entity_type": LabelVocab(sorted(types))}

    def check_train_labels(self, train: list[RelationExample], vocabs: Mapping[str, LabelVocab]) -> None:
        """Every training example needs a known label: an unlabelled one (an unlabelled file given as train)
        would otherwise reach the loss without labels."""
        for ex in train:
            if ex.label is None:
                raise DataFormatError(ex.source, "training example without a relation label")
            if ex.label not in vocabs["sentence"]:
                raise DataFormatError(ex.source, f"unknown relation label {ex.label!r}")

    def special_tokens(self) -> list[str]:
        """The scheme's bracketed markers (``[E1]``, ``[E1-PER]``...) for the entity types seen in training."""
        return special_tokens(self.marker, self.vocabs["entity_type"].labels)

    # ---- encoding --------------------------------------------------------------------------------
    def fingerprint(self) -> Any:
        return [self.marker, self.negative_label, self.settings.too_long == "truncate"]

    def _marked(self, ex: RelationExample) -> tuple[str, MarkedSpan, MarkedSpan]:
        """The marked text and entity spans; an entity type unseen in training gets the untyped marker."""
        types = self.vocabs["entity_type"]

        def known(entity: Entity) -> Entity:
            if entity.type is None or entity.type in types:
                return entity
            return Entity(entity.start, entity.end, entity.text, UNTYPED)

        return mark(RelationExample(ex.id, ex.text, known(ex.e1), known(ex.e2)), self.marker)

    def columns(self, examples: list[RelationExample], split: str) -> dict[str, list[Any]]:
        """Marked texts, each entity's ``[content start, content end, outer start, outer end]`` characters,
        and gold ids (labels met outside training are registered as unseen: scored, never predicted)."""
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
        """Tokenise the marked texts and keep a window of ``max_length`` tokens (the tokenizer's own
        specials included) around both entities (``data.too_long=truncate``: the first ``max_length``);
        ``e1_span``/``e2_span`` are inclusive subword positions in the kept row, clamped into it when an entity
        was cut (``fits`` false); ``windowed``: the text was longer than ``max_length``."""
        # Read from the tokenizer here, not in attach: the entity markers are added after attaching.
        before, after = sequence_specials(self.tokenizer)
        room = self.settings.max_length - len(before) - len(after)
        keep = _truncation if self.settings.too_long == "truncate" else _window
        enc = self.tokenizer(batch["text"], add_special_tokens=False, return_offsets_mapping=True)
        out: dict[str, list[Any]] = {"input_ids": [], "e1_span": [], "e2_span": [], "fits": [], "windowed": []}
        for ids, offsets, c1, c2 in zip(
            enc["input_ids"], enc["offset_mapping"], batch["e1_chars"], batch["e2_chars"], strict=True
        ):
            spans = [_token_span(offsets, c[0], c[1]) for c in (c1, c2)]
            outer = [_token_span(offsets, c[2], c[3]) for c in (c1, c2)]
            start, end, fits = keep(len(ids), min(o[0] for o in outer), max(o[1] for o in outer), room)
            first, last = len(before), len(before) + (end - start) - 1
            out["input_ids"].append([*before, *ids[start:end], *after])
            out["e1_span"].append([min(max(first + p - start, first), last) for p in spans[0]])
            out["e2_span"].append([min(max(first + p - start, first), last) for p in spans[1]])
            out["fits"].append(fits)
            out["windowed"].append(len(ids) > room)
        return out

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        return {"windowed_examples": sum(features["windowed"]), "unfit_examples": sum(not f for f in features["fits"])}

    def keep_for_training(self, features: datasets.Dataset) -> datasets.Dataset:
        """Training examples whose entities fit; under ``data.too_long=drop`` also only those not longer than
        ``max_length`` (the DataModule counts what is left out as ``dropped_from_training``)."""
        if self.settings.too_long == "drop":
            return features.filter(
                lambda fits, windowed: fits and not windowed,
                input_columns=["fits", "windowed"],
                desc="dropping training examples longer than max_length",
            )
        return features.filter(lambda f: f, input_columns="fits", desc="dropping unfit training examples")

    def summary(self) -> dict[str, Any]:
        return {"too_long": self.settings.too_long}

    def collator(self) -> RelationCollator:
        return RelationCollator(
            self.tokenizer.pad_token_id or 0,
            self.vocabs["sentence"].index(self.negative_label),
            self.settings.pad_to_multiple_of,
        )

    # ---- outputs ---------------------------------------------------------------------------------
    def label_pairs(self, examples: list[RelationExample], predictions: dict[str, list[Any]]) -> LabelPairs | None:
        """Gold and predicted relations (None for unlabelled examples)."""
        vocab = self._vocabs.get("sentence") if self._vocabs else None
        return sentence_label_pairs("relation", [ex.label for ex in examples], predictions, vocab)

    def raw_records(
        self, examples: list[RelationExample], predictions: dict[str, list[Any]]
    ) -> Iterator[dict[str, Any]]:
        """``{source, text, e1, e2, relation}`` (+ ``probs``: label -> probability, when given)."""
        labels = self.vocabs["sentence"].labels
        for i, ex in enumerate(examples):
            record: dict[str, Any] = {
                "source": ex.source,
                "text": ex.text,
                "e1": ex.e1.text,
                "e2": ex.e2.text,
                "relation": predictions["sentence"][i],
            }
            if "sentence_probs" in predictions:
                rounded = (round(p, 6) for p in predictions["sentence_probs"][i])
                record["probs"] = dict(zip(labels, rounded, strict=True))
            yield record


class SemEvalTask(RelationTask):
    """SemEval-2010 Task 8, either layout (``TRAIN_FILE.TXT``-style blocks or ``train.tsv``); without
    ``label_file`` the 19 official labels are used.

    Predictions are written as the official scorer reads them: ``predictions_<split>.txt`` and
    ``answer_key_<split>.txt``, one ``ID<TAB>Relation(e1,e2)`` a line, so
    ``perl semeval2010_task8_scorer-v1.2.pl predictions_test.txt answer_key_test.txt`` reproduces ``f1``.
    """

    def read_file(self, path: Path) -> list[RelationExample]:
        return read_semeval(path, None)

    def default_labels(self, data_dir: Path) -> list[str]:
        return list(SEMEVAL_LABELS)

    def write_outputs(
        self, run_dir: Path, split: str, examples: list[RelationExample], predictions: dict[str, list[Any]]
    ) -> list[Path]:
        written = []
        for name, labels in (("predictions", predictions["sentence"]), ("answer_key", [ex.label for ex in examples])):
            if name == "answer_key" and any(label is None for label in labels):
                continue
            path = run_dir / f"{name}_{split}.txt"
            write_text_atomic(path, "".join(f"{ex.id}\t{label}\n" for ex, label in zip(examples, labels, strict=True)))
            written.append(path)
        return written


class KlueReTask(RelationTask):
    """KLUE-RE v1.1 (``klue-re-v1.1_train.json``, ``klue-re-v1.1_dev.json``, ``relation_list.json``).

    Predictions: ``predictions_<split>.csv`` with ``id,pred_label,probs`` (the KLUE submission layout).
    """

    def read_file(self, path: Path) -> list[RelationExample]:
        return read_klue_re(path, None)

    def write_outputs(
        self, run_dir: Path, split: str, examples: list[RelationExample], predictions: dict[str, list[Any]]
    ) -> list[Path]:
        path = run_dir / f"predictions_{split}.csv"
        probs = predictions.get("sentence_probs") or [[] for _ in examples]

        def write(fh: Any) -> None:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["id", "pred_label", "probs"])
            for ex, label, p in zip(examples, predictions["sentence"], probs, strict=True):
                writer.writerow([ex.id, label, json.dumps([round(x, 6) for x in p])])

        atomic_write(path, write)
        return [path]
