"""Document-level relation extraction: DocRED, Re-DocRED (``DocumentRETask``) and BioCreative V CDR (``CdrTask``).

A document is encoded whole: its words are tokenised, each mention wrapped in a marker token
(ATLOP's ``*``; ``marker: null`` for the DocRED BERT-baseline report's plain text), and the tokenizer's own
special tokens put around it. Documents longer than the encoder's limit are not truncated: the
encoder windows them (``relx.encoders.windows``); ``data_summary.json`` counts them.

The batch carries, as flat index tensors, every mention (its subword span and marker position),
every entity, and every candidate entity pair (all ordered pairs, or the pairs a CDR file lists),
so heads gather mention, entity and pair representations with tensor indexing. Training-time
negative sampling (``neg_multiple``) and the pair cap (``h_t_limit``) follow the DocRED BERT-baseline report and are
drawn from torch's RNG in the head, which the TaskModule seeds per batch (resumable, deterministic).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import datasets
import numpy as np
import torch
from torch import Tensor
from transformers import BatchEncoding

from relx.data.batch import EncodedBatch, encoded_inputs, example_ids
from relx.data.documents import CDR_RELATION, Document, docred_json, read_cdr, read_docred, read_rel_info
from relx.data.vocab import LabelVocab
from relx.encoders.windows import sequence_specials
from relx.errors import ConfigError, DataFormatError
from relx.io import write_json_atomic
from relx.metrics.docred_scores import curve_scores, official_evaluate, plot_pr_curve, train_facts
from relx.tasks.base import Task

NA = "NA"  # label 0 of the pair space: no relation (the adaptive-threshold class of ATLOP)
BUNDLED_REL_INFO = Path(__file__).resolve().parent.parent / "resources" / "docred" / "rel_info.json"


@dataclass(kw_only=True)
class DocumentBatch(EncodedBatch):
    """Documents with their mentions, entities and candidate pairs as flat index tensors.

    ``input_ids``/``attention_mask`` ``[docs, seq]`` (whole documents: may exceed the encoder's limit);
    mentions ``[M]``: ``mention_doc``, ``mention_entity`` (batch-global entity index), ``mention_anchor``
    (marker position, or the first subword without markers), ``span_token``/``span_mention`` ``[K]``
    (every subword position of every mention and the mention it belongs to); entities ``[E]``:
    ``entity_doc``, ``entity_first`` (first subword of the first mention), ``entity_local`` (the entity's
    index within its document); pairs ``[P]``: ``pair_head``/``pair_tail`` (batch-global entity indices),
    ``pair_doc``, ``pair_slot`` (position of the pair among its document's pairs); ``pair_labels``
    ``[P, relations]`` multi-hot with column 0 = NA (``None`` when unlabelled); ``pair_in_train``
    ``[P, relations]``: gold facts whose mention-name triple occurs in the training annotations (for Ign
    F1). ``neg_multiple``/``h_t_limit``: the training-time pair sampling of the DocRED BERT-baseline report
    (``None``: every pair).
    """

    mention_doc: Tensor
    mention_entity: Tensor
    mention_anchor: Tensor
    span_token: Tensor
    span_mention: Tensor
    entity_doc: Tensor
    entity_first: Tensor
    entity_local: Tensor
    pair_head: Tensor
    pair_tail: Tensor
    pair_doc: Tensor
    pair_slot: Tensor
    pair_in_train: Tensor
    pair_labels: Tensor | None = None
    neg_multiple: int | None = None
    h_t_limit: int | None = None

    def training_pairs(self) -> Tensor:
        """Indices of the pairs to train on: every positive pair, ``neg_multiple`` times as many random
        negatives per document (at least ``neg_multiple`` when it has no positive), at most ``h_t_limit``
        pairs per document (positives first).

        Tensor operations over all documents at once, so a GPU step synchronises once (the selection's
        size), not once per document: each pair gets its rank within its document, positives in order
        first, then the negatives in a random order, and a pair is kept when its rank is under its
        document's quota."""
        n_pairs = self.pair_head.shape[0]
        device = self.pair_head.device
        if self.pair_labels is None or (self.neg_multiple is None and self.h_t_limit is None):
            return torch.arange(n_pairs, device=device)
        docs = len(self)
        positive = self.pair_labels[:, 1:].sum(-1) > 0
        # counts per document without boolean indexing (which would synchronise)
        n_all = torch.bincount(self.pair_doc, minlength=docs)
        n_pos = torch.bincount(self.pair_doc, weights=positive.float(), minlength=docs).long()
        n_neg = n_all - n_pos
        # order (exact integer keys): by document, positives before negatives, positives by index, negatives at random
        within = torch.where(
            positive, torch.arange(n_pairs, device=device), n_pairs + torch.randperm(n_pairs, device=device)
        )
        order = torch.argsort(self.pair_doc * (2 * n_pairs) + within)
        doc_start = torch.cumsum(n_all, 0) - n_all
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n_pairs, device=device) - doc_start[self.pair_doc[order]]
        quota_neg = n_neg
        if self.neg_multiple is not None:
            quota_neg = torch.minimum(n_neg, n_pos.clamp(min=1) * self.neg_multiple)
        quota = n_pos + quota_neg
        if self.h_t_limit is not None:
            quota = quota.clamp(max=self.h_t_limit)
        return (rank < quota[self.pair_doc]).nonzero().squeeze(1)


# The batch's index tensors, concatenated over documents.
INDEX_FIELDS = (
    "mention_doc", "mention_entity", "mention_anchor", "span_token", "span_mention", "entity_doc", "entity_first",
    "entity_local", "pair_head", "pair_tail", "pair_doc", "pair_slot",
)  # fmt: skip
# Index tensors that count mentions or entities: offset from document-local to batch-global numbering.
OFFSET_BY = {"mention_entity": "entities", "span_mention": "mentions", "pair_head": "entities", "pair_tail": "entities"}


class DocumentCollator:
    """Features of whole documents -> ``DocumentBatch`` (pairs built here, per document)."""

    def __init__(
        self,
        pad_token_id: int,
        num_relations: int,
        neg_multiple: int | None,
        h_t_limit: int | None,
        pad_to_multiple_of: int = 1,
    ) -> None:
        self.pad_token_id = pad_token_id
        self.num_relations = num_relations
        self.neg_multiple = neg_multiple
        self.h_t_limit = h_t_limit
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> DocumentBatch:
        parts: list[dict[str, Tensor]] = []
        labels: list[Tensor] = []
        in_train: list[Tensor] = []
        offsets = {"mentions": 0, "entities": 0}
        for doc, f in enumerate(features):
            part = document_indices(f, doc)
            pairs = list(zip(part["pair_head"].tolist(), part["pair_tail"].tolist(), strict=True))
            facts = zip(f["fact_head"], f["fact_tail"], f["fact_relation"], f["fact_in_train"], strict=True)
            gold, seen = gold_grid(pairs, facts, self.num_relations)
            labels.append(gold)
            in_train.append(seen)
            parts.append({k: v + offsets[OFFSET_BY[k]] if k in OFFSET_BY else v for k, v in part.items()})
            offsets["mentions"] += len(f["mention_start"])
            offsets["entities"] += f["n_entities"]
        labelled = all(f["labelled"] for f in features)
        return DocumentBatch(
            **encoded_inputs([f["input_ids"] for f in features], self.pad_token_id, self.pad_to_multiple_of),
            example_ids=example_ids(features),
            **{k: torch.cat([part[k] for part in parts]).long() for k in INDEX_FIELDS},
            pair_in_train=torch.cat(in_train),
            pair_labels=torch.cat(labels) if labelled else None,
            neg_multiple=self.neg_multiple,
            h_t_limit=self.h_t_limit,
        )


def document_indices(feature: dict[str, Any], doc: int) -> dict[str, Tensor]:
    """The ``INDEX_FIELDS`` of one document (its ``doc``-th place in the batch), numbered within it: mentions
    ``[M]``, their subword positions ``[K]``, entities ``[E]``, candidate pairs ``[P]``."""
    n_entities = feature["n_entities"]
    mention_entity = torch.tensor(feature["mention_entity"], dtype=torch.long)
    # explicit dtype: a document without entities has empty lists (torch would make them float)
    starts = torch.tensor(feature["mention_start"], dtype=torch.long)
    lengths = torch.tensor(feature["mention_end"], dtype=torch.long) - starts
    owner = torch.repeat_interleave(torch.arange(len(starts)), lengths)
    offset = torch.arange(int(lengths.sum())) - torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)
    first = torch.full((n_entities,), 10**9, dtype=torch.long).scatter_reduce(0, mention_entity, starts, "amin")
    heads, tails = candidate_pairs(feature)
    return {
        "mention_doc": torch.full((len(starts),), doc),
        "mention_entity": mention_entity,
        "mention_anchor": torch.tensor(feature["mention_anchor"], dtype=torch.long),
        "span_token": starts[owner] + offset,
        "span_mention": owner,
        "entity_doc": torch.full((n_entities,), doc),
        "entity_first": first,
        "entity_local": torch.arange(n_entities),
        "pair_head": heads,
        "pair_tail": tails,
        "pair_doc": torch.full((len(heads),), doc),
        "pair_slot": torch.arange(len(heads)),
    }


def candidate_pairs(feature: dict[str, Any]) -> tuple[Tensor, Tensor]:
    """(heads ``[P]``, tails ``[P]``) of a document's pairs to score: the listed ones (CDR), else every
    ordered pair of distinct entities."""
    if feature["pair_head"]:
        listed = torch.tensor([feature["pair_head"], feature["pair_tail"]], dtype=torch.long)
        return listed[0], listed[1]
    n = feature["n_entities"]
    grid = torch.cartesian_prod(torch.arange(n), torch.arange(n)).view(-1, 2)
    grid = grid[grid[:, 0] != grid[:, 1]]
    return grid[:, 0], grid[:, 1]


def gold_grid(
    pairs: Sequence[tuple[int, int]], facts: Iterable[tuple[int, int, int, bool]], num_relations: int
) -> tuple[Tensor, Tensor]:
    """Gold multi-hot ``[pairs, relations]`` (column 0 = NA, set where a pair has no fact) and the flags
    ``[pairs, relations]`` of gold facts seen in training, from ``(head, tail, relation id, in train)``
    facts; facts of pairs that are not candidates are left out."""
    row = {pair: i for i, pair in enumerate(pairs)}
    gold = torch.zeros(len(pairs), num_relations)
    in_train = torch.zeros(len(pairs), num_relations, dtype=torch.bool)
    for h, t, r, seen in facts:
        if (h, t) in row:
            gold[row[(h, t)], r] = 1.0
            in_train[row[(h, t)], r] = bool(seen)
    gold[:, 0] = (gold[:, 1:].sum(-1) == 0).float()
    return gold, in_train


def word_pieces(encoding: BatchEncoding, row: int, n_words: int) -> list[list[int]]:
    """The subword ids of each word of ``row`` of a batched encoding (``[]`` for a word without subwords)."""
    pieces: list[list[int]] = [[] for _ in range(n_words)]
    for position, word in enumerate(encoding.word_ids(row)):
        if word is not None:
            pieces[word].append(encoding["input_ids"][row][position])
    return pieces


def marked_document(
    pieces: Sequence[Sequence[int]],
    spans: Sequence[tuple[int, int]],
    specials: tuple[Sequence[int], Sequence[int]],
    marker: Sequence[int],
) -> dict[str, list[int]]:
    """One document's ``input_ids``: its words' ``pieces`` with ``marker`` around every mention word span
    ``[start, end)`` and the tokenizer's ``specials`` (before, after) around it all; and each mention's subword
    span (``mention_start``/``mention_end``) and ``mention_anchor`` (its opening marker; without markers, its
    first subword)."""
    opens = {start for start, _ in spans}
    closes = {end - 1 for _, end in spans}
    ids = list(specials[0])
    first, after = [0] * len(pieces), [0] * len(pieces)
    for w, subwords in enumerate(pieces):
        if w in opens:
            ids += marker
        first[w] = len(ids)
        ids += subwords
        after[w] = len(ids)
        if w in closes:
            ids += marker
    ids += specials[1]
    starts = [first[s] for s, _ in spans]
    ends = [max(after[e - 1], first[s] + 1) for s, e in spans]  # a word without subwords: one token
    return {
        "input_ids": ids,
        "mention_start": starts,
        "mention_end": ends,
        "mention_anchor": [s - len(marker) for s in starts],
    }


class DocumentRETask(Task[Document]):
    """DocRED-format documents (``train_annotated.json``/``dev.json``/``test.json``; Re-DocRED's
    ``*_revised.json`` via ``files``) with the relation inventory of ``relation_file`` (``rel_info.json``
    in the data directory, else the bundled copy of DocRED's). ``marker``: the mention marker text (ATLOP's
    ``*``; ``None``: plain text).

    Predictions: ``result_<split>.json`` in the CodaLab submission format (``title``, ``h_idx``,
    ``t_idx``, ``r``, ``evidence``), the official scorer's figures recomputed from it
    (``official_<split>.json``) and a precision-recall curve ``pr_curve_<split>.png``.
    """

    label_spaces = ("pair",)
    input_format = "documents"
    encoding_version = 1
    default_files: ClassVar[dict[str, str | None]] = {
        "train": "train_annotated.json", "validation": "dev.json", "test": "test.json",
    }  # fmt: skip

    def __init__(
        self,
        name: str,
        files: Mapping[str, str | None] | None = None,
        relation_file: str | None = "rel_info.json",
        marker: str | None = "*",
        **common: Any,
    ) -> None:
        super().__init__(name, files or self.default_files, **common)
        self.relation_file = relation_file
        self.marker = marker
        self._data_dir: Path | None = None  # where relation_file is looked for: the data directory read
        self._train_triples: set[tuple[str, str, str]] = set()
        self._learned = False

    def check_settings(self) -> None:
        """The marker must be text the tokenizer encodes (no tokens would leave mentions unmarked)."""
        if self.marker and not self._marker_ids():
            raise ConfigError(f"task.marker={self.marker!r} has no tokens under this tokenizer")

    def _marker_ids(self) -> list[int]:
        return self.tokenizer(self.marker, add_special_tokens=False)["input_ids"] if self.marker else []

    # ---- reading -------------------------------------------------------------------------------------
    def relations(self) -> dict[str, str]:
        """Relation id -> name, in the order of the relation file: ``relation_file`` in the data directory
        last given to ``read_split``/``build_vocabs``, else (none given: ``relx.predict``) the bundled copy."""
        folder, name = self._data_dir, self.relation_file
        local = folder / name if folder is not None and name else None
        return read_rel_info(local if local is not None and local.is_file() else BUNDLED_REL_INFO)

    def read_documents(self, path: Path) -> tuple[list[Document], dict[str, int]]:
        """(documents, reading statistics) of one labelled file."""
        return read_docred(path, set(self.relations()))

    def read_split(self, data_dir: Path, split: str) -> tuple[list[Document], dict[str, int]] | None:
        self._data_dir = data_dir
        path = self.split_file(data_dir, split)
        return None if path is None else self.read_documents(path)

    def calibrate(self, space: str, dev_metrics: Mapping[str, float]) -> dict[str, float]:
        """The relation threshold of thresholding heads (the DocRE baseline): the decision threshold of the dev
        sweep's best-F1 point (between its score and the next lower one), else that point's score ``theta``.
        A checkpoint keeps the threshold it was saved with, so its metrics and prediction files agree."""
        chosen = dev_metrics.get("threshold", dev_metrics.get("theta"))
        return {"threshold": chosen} if space == "pair" and chosen is not None else {}

    def is_labelled(self, examples: Sequence[Document]) -> bool:
        return all(doc.labelled for doc in examples)

    def learn_from_train(self, train: list[Document]) -> None:
        """The training documents' (head name, tail name, relation) triples: the gold facts Ign F1 leaves out
        (flagged per pair, and read by the official scorer). Stored in checkpoints (``state``), so a
        checkpoint scores Ign F1 without its training file."""
        self._train_triples = train_facts(docred_json(doc) for doc in train)
        self._learned = True

    def state(self) -> dict[str, Any]:
        return {"train_facts": sorted(self._train_triples)} if self._learned else {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        if "train_facts" in state:
            self._train_triples = {(h, t, r) for h, t, r in state["train_facts"]}
            self._learned = True

    def check_learned(self) -> str | None:
        if self._learned:
            return None
        return "no training facts (no training split read, none stored in the checkpoint): ign_f1 equals f1"

    def passages(self, example: Document) -> list[list[str]]:
        """The document's words, as one passage."""
        return [list(example.words)]

    def build_vocabs(self, data_dir: Path, train: list[Document]) -> dict[str, LabelVocab]:
        self._data_dir = data_dir
        return {"pair": LabelVocab([NA, *self.relations()])}

    def fingerprint(self) -> Any:
        triples = hashlib.sha1(json.dumps(sorted(self._train_triples)).encode()).hexdigest()
        return [self.marker, triples]

    # ---- encoding ------------------------------------------------------------------------------------
    def columns(self, examples: list[Document], split: str) -> dict[str, list[Any]]:
        vocab = self.vocabs["pair"]
        cols: dict[str, list[Any]] = {k: [] for k in (
            "words", "mention_start", "mention_end", "mention_entity", "n_entities", "fact_head", "fact_tail",
            "fact_relation", "fact_in_train", "pair_head", "pair_tail", "labelled",
        )}  # fmt: skip
        for doc in examples:
            mentions = [(m, e) for e, entity in enumerate(doc.entities) for m in entity.mentions]
            cols["words"].append(list(doc.words))
            cols["mention_start"].append([m.start for m, _ in mentions])
            cols["mention_end"].append([m.end for m, _ in mentions])
            cols["mention_entity"].append([e for _, e in mentions])
            cols["n_entities"].append(len(doc.entities))
            cols["fact_head"].append([h for h, _, _ in doc.facts])
            cols["fact_tail"].append([t for _, t, _ in doc.facts])
            cols["fact_relation"].append([vocab.index(r) for _, _, r in doc.facts])
            cols["fact_in_train"].append([self.seen_in_train(doc, h, t, r) for h, t, r in doc.facts])
            pairs = doc.candidate_pairs or ()
            cols["pair_head"].append([h for h, _ in pairs])
            cols["pair_tail"].append([t for _, t in pairs])
            cols["labelled"].append(doc.labelled)
        return cols

    def seen_in_train(self, doc: Document, h: int, t: int, r: str) -> bool:
        """Whether the fact ``(h, t, r)`` of ``doc`` occurs in training under some pair of mention names."""
        names_h = {m.name for m in doc.entities[h].mentions}
        names_t = {m.name for m in doc.entities[t].mentions}
        return any((a, b, r) in self._train_triples for a in names_h for b in names_t)

    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Whole documents with marked mentions (``marked_document``); nothing is truncated."""
        enc = self.tokenizer(batch["words"], is_split_into_words=True, add_special_tokens=False)
        specials, marker = sequence_specials(self.tokenizer), self._marker_ids()
        out: dict[str, list[Any]] = {"input_ids": [], "mention_anchor": [], "mention_start": [], "mention_end": []}
        for i, words in enumerate(batch["words"]):
            spans = list(zip(batch["mention_start"][i], batch["mention_end"][i], strict=True))
            for key, value in marked_document(word_pieces(enc, i, len(words)), spans, specials, marker).items():
                out[key].append(value)
        return out

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        """Nothing is truncated; documents longer than one encoder window are counted (they are windowed)."""
        limit = self.settings.max_length
        return {"documents_windowed": sum(len(ids) > limit for ids in features["input_ids"])}

    def collator(self) -> DocumentCollator:
        return DocumentCollator(
            pad_token_id=self.tokenizer.pad_token_id or 0,
            num_relations=self.vocabs["pair"].num_labels,
            neg_multiple=self.settings.neg_multiple,
            h_t_limit=self.settings.h_t_limit,
            pad_to_multiple_of=self.settings.pad_to_multiple_of,
        )

    def without_labels(self, example: Document) -> Document:
        return dataclasses.replace(example, facts=(), evidence=(), labelled=False)

    # ---- outputs -------------------------------------------------------------------------------------
    def submission(self, examples: list[Document], predictions: dict[str, list[Any]]) -> list[dict[str, Any]]:
        """CodaLab ``result.json`` rows of the predicted facts of ``examples``."""
        vocab = self.vocabs["pair"]
        rows = []
        for doc, predicted in zip(examples, predictions["pair"], strict=True):
            for h, t, r, score in predicted["facts"]:
                rows.append({"title": doc.title, "h_idx": h, "t_idx": t, "r": vocab.label(r), "evidence": [],
                             "score": round(float(score), 6)})  # fmt: skip
        return rows

    def write_outputs(
        self, run_dir: Path, split: str, examples: list[Document], predictions: dict[str, list[Any]]
    ) -> list[Path]:
        """The submission file; for labelled documents also the official scorer's figures and the PR curve."""
        rows = self.submission(examples, predictions)
        result = run_dir / f"result_{split}.json"
        write_json_atomic(result, rows)
        if not self.is_labelled(examples):
            return [result]
        official = run_dir / f"official_{split}.json"
        truth = [docred_json(doc) for doc in examples]
        write_json_atomic(official, official_evaluate(rows, truth, fact_in_train=self._train_triples))
        png = run_dir / f"pr_curve_{split}.png"
        self.plot_curve(png, split, examples, predictions)
        return [result, official, png]

    def plot_curve(self, png: Path, split: str, examples: list[Document], predictions: dict[str, list[Any]]) -> None:
        """The precision-recall curve of every scored candidate, with and without the facts seen in training."""
        curve = curve_scores(*self.candidate_arrays(examples, predictions))
        plot_pr_curve(
            png,
            {"all facts": (curve["precision"], curve["recall"]),
             "ignoring facts in train": (curve["ign_precision"], curve["recall"])},
            title=f"{split}: AUC {curve['auc']:.4f}, Ign AUC {curve['ign_auc']:.4f}",
        )  # fmt: skip

    def candidate_arrays(
        self, examples: list[Document], predictions: dict[str, list[Any]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(score, is gold, gold fact in train) of every scored (pair, relation) candidate, each
        ``[candidates]``, and the number of gold facts: the inputs of the precision-recall
        sweep of the DocRED BERT-baseline report."""
        scores: list[np.ndarray] = []
        correct: list[np.ndarray] = []
        in_train: list[np.ndarray] = []
        n_gold = 0
        vocab = self.vocabs["pair"]
        for doc, predicted in zip(examples, predictions["pair"], strict=True):
            facts = [(h, t, vocab.index(r), self.seen_in_train(doc, h, t, r)) for h, t, r in doc.facts]
            gold, seen = gold_grid(predicted["pairs"], facts, vocab.num_labels)
            n_gold += len(doc.facts)
            scores.append(np.asarray(predicted["scores"], dtype=np.float32).reshape(-1))  # [pairs x (relations - 1)]
            correct.append(gold[:, 1:].bool().numpy().reshape(-1))
            in_train.append(seen[:, 1:].numpy().reshape(-1))
        cat = np.concatenate
        return (
            cat(scores or [np.zeros(0)]),
            cat(correct or [np.zeros(0, bool)]),
            cat(in_train or [np.zeros(0, bool)]),
            n_gold,
        )

    def read_raw(self, path: str | Path) -> list[Document]:
        """Documents to predict: DocRED-style JSON (a list of documents, one document, or JSON lines of them);
        labels, if present, must use the model's relation ids (they are not used)."""
        return _with_pairs(Path(path), read_docred(Path(path), self.vocabs["pair"].labels[1:])[0])

    def relation_names(self) -> dict[str, str | None]:
        """Relation id -> readable name (``None`` where unknown) for every relation the model predicts. Names
        come from the relation table only when it holds all of the model's ids (otherwise it is not the table
        the model was trained with)."""
        ids = self.vocabs["pair"].labels[1:]
        table = self.relations()
        same_table = all(r in table for r in ids)
        return {r: table[r] if same_table else None for r in ids}

    def raw_records(self, examples: list[Document], predictions: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
        """One record a document: its ``title``, its ``entities`` (name of the first mention, type) and the
        predicted ``facts``: entity indices ``h_idx``/``t_idx`` and relation id ``r`` with ``score`` (the
        CodaLab fields), plus ``h_name``/``h_type``/``t_name``/``t_type`` and the readable ``r_name``."""
        vocab = self.vocabs["pair"]
        names = self.relation_names()
        for doc, predicted in zip(examples, predictions["pair"], strict=True):
            entities = [{"name": entity.mentions[0].name, "type": entity.type} for entity in doc.entities]
            facts = [_fact_record(h, t, vocab.label(r), float(s), entities, names) for h, t, r, s in predicted["facts"]]
            yield {"title": doc.title, "entities": entities, "facts": facts}


def _with_pairs(path: Path, documents: list[Document]) -> list[Document]:
    """Input documents to predict, each with an entity pair to score: a document without one has nothing to
    predict, and a batch of such documents would fail inside the model, far from the file."""
    for i, doc in enumerate(documents):
        n = len(doc.entities)
        if doc.candidate_pairs is not None and not doc.candidate_pairs:
            why = "no candidate pair listed (not_include pairs are skipped)"
        elif doc.candidate_pairs is None and n < 2:
            why = f"{n} entit{'y' if n == 1 else 'ies'} in vertexSet, at least 2 are needed"
        else:
            continue
        raise DataFormatError(path, f"document {i} (title {doc.title!r}): no entity pair to predict: {why}")
    return documents


def _fact_record(
    h: int, t: int, relation: str, score: float, entities: list[dict[str, str]], names: dict[str, str | None]
) -> dict[str, Any]:
    """One predicted fact: the submission fields first (what existing readers of the file use), then names."""
    return {
        "h_idx": h, "t_idx": t, "r": relation, "score": round(score, 6),
        "h_name": entities[h]["name"], "h_type": entities[h]["type"],
        "t_name": entities[t]["name"], "t_type": entities[t]["type"], "r_name": names.get(relation),
    }  # fmt: skip


class CdrTask(DocumentRETask):
    """BioCreative V CDR in the ``*_filter.data`` layout (``train_filter.data``, ``dev_filter.data``,
    ``test_filter.data``): chemical -> disease candidate pairs as listed (``not_include`` skipped, as
    ATLOP does), one relation ``CID``."""

    input_format = "cdr"
    default_files: ClassVar[dict[str, str | None]] = {
        "train": "train_filter.data", "validation": "dev_filter.data", "test": "test_filter.data",
    }  # fmt: skip

    def relations(self) -> dict[str, str]:
        return {CDR_RELATION: "chemical-induced disease"}

    def read_documents(self, path: Path) -> tuple[list[Document], dict[str, int]]:
        return read_cdr(path)

    def read_raw(self, path: str | Path) -> list[Document]:
        """Documents to predict, in the ``*_filter.data`` layout (the listed pairs are the pairs scored)."""
        return _with_pairs(Path(path), read_cdr(Path(path))[0])
