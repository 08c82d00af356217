"""Document-level relation extraction: DocRED, Re-DocRED and BioCreative V CDR.

A document is encoded whole: its words are tokenised, each mention wrapped in a marker token
(ATLOP's ``*``; ``marker: null`` for the seed baseline's plain text), and the tokenizer's own
special tokens put around it. Documents longer than the encoder's limit are not truncated: the
encoder windows them (``relx.encoders.windows``); ``data_summary.json`` counts them.

The batch carries, as flat index tensors, every mention (its subword span and marker position),
every entity, and every candidate entity pair (all ordered pairs, or the pairs a CDR file lists),
so heads gather mention, entity and pair representations with tensor indexing. Training-time
negative sampling (``neg_multiple``) and the pair cap (``h_t_limit``) are the seed's and are drawn
from torch's RNG in the head, which the TaskModule seeds per batch (resumable, deterministic).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import datasets
import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from relx.data.base import TaskDataModule
from relx.data.batch import pad_rows
from relx.data.documents import Document, docred_json, read_cdr, read_docred, read_rel_info
from relx.data.settings import DataSettings
from relx.data.vocab import LabelVocab
from relx.encoders.windows import sequence_specials
from relx.errors import ConfigError, DataFormatError
from relx.io import atomic_write, write_json_atomic
from relx.metrics.docred_scores import curve_scores, official_evaluate, plot_pr_curve, train_facts

log = logging.getLogger(__name__)

NA = "NA"  # label 0 of the pair space: no relation (the adaptive-threshold class of ATLOP)
BUNDLED_REL_INFO = Path(__file__).resolve().parent.parent / "resources" / "docred" / "rel_info.json"


@dataclass
class DocumentBatch:
    """Documents with their mentions, entities and candidate pairs as flat index tensors.

    ``input_ids``/``attention_mask`` ``[docs, seq]`` (whole documents: may exceed the encoder's limit);
    mentions ``[M]``: ``mention_doc``, ``mention_entity`` (batch-global entity index), ``mention_anchor``
    (marker position, or the first subword without markers), ``span_token``/``span_mention`` ``[K]``
    (every subword position of every mention and the mention it belongs to); entities ``[E]``:
    ``entity_doc``, ``entity_first`` (first subword of the first mention); pairs ``[P]``:
    ``pair_head``/``pair_tail`` (batch-global entity indices), ``pair_doc``, ``pair_slot`` (position of
    the pair among its document's pairs); ``pair_labels`` ``[P, relations]`` multi-hot with column 0 =
    NA (``None`` when unlabelled); ``pair_in_train`` ``[P, relations]``: gold facts whose mention-name
    triple occurs in the training annotations (for Ign F1). ``neg_multiple``/``h_t_limit``: the
    training-time pair sampling of seed 000 (``None``: every pair).
    """

    input_ids: Tensor
    attention_mask: Tensor
    example_ids: Tensor
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

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def training_pairs(self) -> Tensor:
        """Indices of the pairs to train on: every positive pair, ``neg_multiple`` times as many random
        negatives per document (at least ``neg_multiple`` when it has no positive), at most ``h_t_limit``
        pairs per document (positives first)."""
        n_pairs = self.pair_head.shape[0]
        if self.pair_labels is None or (self.neg_multiple is None and self.h_t_limit is None):
            return torch.arange(n_pairs, device=self.pair_head.device)
        keep = []
        positive = self.pair_labels[:, 1:].sum(-1) > 0
        for doc in range(len(self)):  # a loop over documents; pairs are chosen by tensor ops
            in_doc = (self.pair_doc == doc).nonzero().squeeze(1)
            pos = in_doc[positive[in_doc]]
            neg = in_doc[~positive[in_doc]]
            n_neg = neg.shape[0]
            if self.neg_multiple is not None:
                n_neg = min(n_neg, max(1, pos.shape[0]) * self.neg_multiple)
            neg = neg[torch.randperm(neg.shape[0], device=neg.device)[:n_neg]]
            chosen = torch.cat([pos, neg])
            if self.h_t_limit is not None:
                chosen = chosen[: self.h_t_limit]
            keep.append(chosen)
        return torch.cat(keep).sort().values


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
        cols: dict[str, list[Tensor]] = {k: [] for k in DocumentBatch.__dataclass_fields__}
        labels: list[Tensor] = []
        labelled = all(f["labelled"] for f in features)
        n_mentions = n_entities = 0
        for doc, f in enumerate(features):
            e = f["n_entities"]
            mention_entity = torch.tensor(f["mention_entity"], dtype=torch.long)
            # explicit dtype: a document without entities has empty lists (torch would make them float)
            starts = torch.tensor(f["mention_start"], dtype=torch.long)
            ends = torch.tensor(f["mention_end"], dtype=torch.long)
            lengths = ends - starts
            cols["mention_doc"].append(torch.full((len(starts),), doc))
            cols["mention_entity"].append(mention_entity + n_entities)
            cols["mention_anchor"].append(torch.tensor(f["mention_anchor"], dtype=torch.long))
            owner = torch.repeat_interleave(torch.arange(len(starts)), lengths)
            offset = torch.arange(int(lengths.sum())) - torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)
            cols["span_token"].append(starts[owner] + offset)
            cols["span_mention"].append(owner + n_mentions)
            cols["entity_doc"].append(torch.full((e,), doc))
            cols["entity_local"].append(torch.arange(e))
            first = torch.full((e,), 10**9, dtype=torch.long).scatter_reduce(0, mention_entity, starts, "amin")
            cols["entity_first"].append(first)
            if f["pair_head"]:
                heads = torch.tensor(f["pair_head"], dtype=torch.long)
                tails = torch.tensor(f["pair_tail"], dtype=torch.long)
            else:  # every ordered pair of distinct entities
                grid = torch.cartesian_prod(torch.arange(e), torch.arange(e)).view(-1, 2)
                grid = grid[grid[:, 0] != grid[:, 1]]
                heads, tails = grid[:, 0], grid[:, 1]
            facts = zip(f["fact_head"], f["fact_tail"], f["fact_relation"], f["fact_in_train"], strict=True)
            gold, in_train = gold_grid(
                list(zip(heads.tolist(), tails.tolist(), strict=True)), facts, self.num_relations
            )
            labels.append(gold)
            cols["pair_in_train"].append(in_train)
            cols["pair_head"].append(heads + n_entities)
            cols["pair_tail"].append(tails + n_entities)
            cols["pair_doc"].append(torch.full((len(heads),), doc))
            cols["pair_slot"].append(torch.arange(len(heads)))
            n_mentions += len(starts)
            n_entities += e
        tensors = {k: torch.cat(v).long() for k, v in cols.items() if v and k != "pair_in_train"}
        return DocumentBatch(
            input_ids=pad_rows([f["input_ids"] for f in features], self.pad_token_id, self.pad_to_multiple_of),
            attention_mask=pad_rows([[1] * len(f["input_ids"]) for f in features], 0, self.pad_to_multiple_of),
            example_ids=torch.tensor([f["example_id"] for f in features], dtype=torch.long),
            pair_in_train=torch.cat(cols["pair_in_train"]),
            pair_labels=torch.cat(labels) if labelled else None,
            neg_multiple=self.neg_multiple,
            h_t_limit=self.h_t_limit,
            **tensors,
        )


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


class DocumentREDataModule(TaskDataModule[Document]):
    """DocRED-format documents (``train_annotated.json``/``dev.json``/``test.json``; Re-DocRED's
    ``*_revised.json`` via ``files``) with the relation inventory of ``relation_file`` (``rel_info.json``
    in ``data_dir``, else the bundled copy of DocRED's).

    Predictions: ``result_<split>.json`` in the CodaLab submission format (``title``, ``h_idx``,
    ``t_idx``, ``r``, ``evidence``), the official scorer's figures recomputed from it
    (``official_<split>.json``) and a precision-recall curve ``pr_curve_<split>.png``.
    """

    encoding_version = 1
    default_files: ClassVar[dict[str, str | None]] = {
        "train": "train_annotated.json", "validation": "dev.json", "test": "test.json",
    }  # fmt: skip

    def __init__(
        self,
        data_dir: str | Path | None,
        tokenizer: PreTrainedTokenizerBase,
        settings: DataSettings | None = None,
        vocabs: dict[str, LabelVocab] | None = None,
        files: dict[str, str | None] | None = None,
        relation_file: str | None = "rel_info.json",
        marker: str | None = "*",
    ) -> None:
        self.files = dict(files or self.default_files)
        self.relation_file = relation_file
        self.marker = marker
        self._relations: dict[str, str] | None = None
        self._data_dir_for_relations = Path(data_dir) if data_dir is not None else None
        super().__init__(data_dir, tokenizer, settings, vocabs)
        self._specials = sequence_specials(tokenizer)
        self._marker_ids = tokenizer(marker, add_special_tokens=False)["input_ids"] if marker else []
        if marker and not self._marker_ids:
            raise ConfigError(f"task.datamodule.marker={marker!r} has no tokens under this tokenizer")
        self._train_triples = train_facts(docred_json(doc) for doc in self.examples.get("train", []))

    # ---- reading -----------------------------------------------------------------------------------
    def relations(self) -> dict[str, str]:
        """Relation id -> name, in the order of the relation file."""
        if self._relations is None:
            folder, name = self._data_dir_for_relations, self.relation_file
            local = folder / name if folder is not None and name else None
            path = local if local is not None and local.is_file() else BUNDLED_REL_INFO
            self._relations = read_rel_info(path)
        return self._relations

    def read_documents(self, path: Path) -> tuple[list[Document], dict[str, int]]:
        return read_docred(path, set(self.relations()))

    def read_split(self, split: str) -> tuple[list[Document], dict[str, int]] | None:
        path = self.split_file(split)
        return None if path is None else self.read_documents(path)

    def is_labelled(self, split: str) -> bool:
        return all(doc.labelled for doc in self.examples.get(split, []))

    def build_vocabs(self, train: list[Document]) -> dict[str, LabelVocab]:
        return {"pair": LabelVocab([NA, *self.relations()])}

    def fingerprint_extra(self) -> Any:
        triples = hashlib.sha1(json.dumps(sorted(self._train_triples)).encode()).hexdigest()
        return [self.marker, triples]

    # ---- encoding ----------------------------------------------------------------------------------
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
            cols["fact_in_train"].append([self._in_train(doc, h, t, r) for h, t, r in doc.facts])
            pairs = doc.candidate_pairs or ()
            cols["pair_head"].append([h for h, _ in pairs])
            cols["pair_tail"].append([t for _, t in pairs])
            cols["labelled"].append(doc.labelled)
        return cols

    def _in_train(self, doc: Document, h: int, t: int, r: str) -> bool:
        names_h = {m.name for m in doc.entities[h].mentions}
        names_t = {m.name for m in doc.entities[t].mentions}
        return any((a, b, r) in self._train_triples for a in names_h for b in names_t)

    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        enc = self.tokenizer(batch["words"], is_split_into_words=True, add_special_tokens=False)
        start_ids, end_ids = self._specials
        marker = self._marker_ids
        out: dict[str, list[Any]] = {"input_ids": [], "mention_anchor": [], "mention_start": [], "mention_end": []}
        for i, words in enumerate(batch["words"]):
            pieces: list[list[int]] = [[] for _ in words]
            for position, word in enumerate(enc.word_ids(i)):
                if word is not None:
                    pieces[word].append(enc["input_ids"][i][position])
            opens = set(batch["mention_start"][i])
            closes = {end - 1 for end in batch["mention_end"][i]}
            ids = list(start_ids)
            first, after = [0] * len(words), [0] * len(words)
            for w, subwords in enumerate(pieces):
                if w in opens:
                    ids += marker
                first[w] = len(ids)
                ids += subwords
                after[w] = len(ids)
                if w in closes:
                    ids += marker
            ids += end_ids
            spans = list(zip(batch["mention_start"][i], batch["mention_end"][i], strict=True))
            starts = [first[s] for s, _ in spans]
            ends = [max(after[e - 1], first[s] + 1) for s, e in spans]  # a word without subwords: one token
            out["input_ids"].append(ids)
            out["mention_start"].append(starts)
            out["mention_end"].append(ends)
            out["mention_anchor"].append([s - len(marker) for s in starts])
        return out

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        """Nothing is truncated; documents longer than one encoder window are counted (they are windowed)."""
        limit = self.settings.max_length
        return {"documents_windowed": sum(len(ids) > limit for ids in features["input_ids"])}

    @property
    def collator(self) -> DocumentCollator:
        return DocumentCollator(
            pad_token_id=self.tokenizer.pad_token_id or 0,
            num_relations=self.vocabs["pair"].num_labels,
            neg_multiple=self.settings.neg_multiple,
            h_t_limit=self.settings.h_t_limit,
            pad_to_multiple_of=self.settings.pad_to_multiple_of,
        )

    def without_labels(self, example: Document) -> Document:
        return Document(
            title=example.title, words=example.words, sentence_starts=example.sentence_starts,
            entities=example.entities, facts=(), evidence=(), candidate_pairs=example.candidate_pairs, labelled=False,
        )  # fmt: skip

    # ---- outputs -----------------------------------------------------------------------------------
    def submission(self, split: str, predictions: dict[str, list[Any]]) -> list[dict[str, Any]]:
        """CodaLab ``result.json`` rows of the predicted facts of ``split``."""
        vocab = self.vocabs["pair"]
        rows = []
        for doc, predicted in zip(self.examples[split], predictions["pair"], strict=True):
            for h, t, r, score in predicted["facts"]:
                rows.append({"title": doc.title, "h_idx": h, "t_idx": t, "r": vocab.label(r), "evidence": [],
                             "score": round(float(score), 6)})  # fmt: skip
        return rows

    def write_predictions(self, run_dir: Path, split: str, predictions: dict[str, list[Any]]) -> list[Path]:
        rows = self.submission(split, predictions)
        result = run_dir / f"result_{split}.json"
        write_json_atomic(result, rows)
        written = [result]
        documents = self.examples[split]
        if not all(doc.labelled for doc in documents):
            return written
        truth = [docred_json(doc) for doc in documents]
        train = [docred_json(doc) for doc in self.examples.get("train", [])]
        official = official_evaluate(rows, truth, train)
        path = run_dir / f"official_{split}.json"
        write_json_atomic(path, official)
        written.append(path)
        scores, correct, in_train, n_gold = self.candidate_arrays(split, predictions)
        curve = curve_scores(scores, correct, in_train, n_gold)
        png = run_dir / f"pr_curve_{split}.png"
        plot_pr_curve(
            png,
            {"all facts": (curve["precision"], curve["recall"]),
             "ignoring facts in train": (curve["ign_precision"], curve["recall"])},
            title=f"{split}: AUC {curve['auc']:.4f}, Ign AUC {curve['ign_auc']:.4f}",
        )  # fmt: skip
        return [*written, png]

    def candidate_arrays(self, split: str, predictions: dict[str, list[Any]]) -> tuple[Any, Any, Any, int]:
        """(score, is gold, gold fact in train) of every scored (pair, relation) candidate of ``split``,
        and the number of gold facts — the inputs of the seed's precision-recall sweep."""
        import numpy as np

        scores: list[Any] = []
        correct: list[Any] = []
        in_train: list[Any] = []
        n_gold = 0
        vocab = self.vocabs["pair"]
        for doc, predicted in zip(self.examples[split], predictions["pair"], strict=True):
            facts = [(h, t, vocab.index(r), self._in_train(doc, h, t, r)) for h, t, r in doc.facts]
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

    def write_raw_predictions(self, path: Path, examples: list[Document], predictions: dict[str, list[Any]]) -> None:
        """JSON lines, one document each: its ``title``, its ``entities`` (name of the first mention, type) and
        the predicted ``facts``: entity indices ``h_idx``/``t_idx`` and relation id ``r`` with ``score`` (the
        CodaLab fields), plus ``h_name``/``h_type``/``t_name``/``t_type`` and the readable ``r_name``."""
        vocab = self.vocabs["pair"]
        names = self.relation_names()

        def write(fh: Any) -> None:
            for doc, predicted in zip(examples, predictions["pair"], strict=True):
                entities = [{"name": entity.mentions[0].name, "type": entity.type} for entity in doc.entities]
                facts = [
                    _fact_record(h, t, vocab.label(r), float(s), entities, names) for h, t, r, s in predicted["facts"]
                ]
                record = {"title": doc.title, "entities": entities, "facts": facts}
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")

        atomic_write(path, write)


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


class CdrDataModule(DocumentREDataModule):
    """BioCreative V CDR in the ``*_filter.data`` layout (``train_filter.data``, ``dev_filter.data``,
    ``test_filter.data``): chemical -> disease candidate pairs as listed (``not_include`` skipped, as
    ATLOP does), one relation ``CID``."""

    default_files: ClassVar[dict[str, str | None]] = {
        "train": "train_filter.data", "validation": "dev_filter.data", "test": "test_filter.data",
    }  # fmt: skip

    def relations(self) -> dict[str, str]:
        return {"CID": "chemical-induced disease"}

    def read_documents(self, path: Path) -> tuple[list[Document], dict[str, int]]:
        return read_cdr(path)

    def read_raw(self, path: str | Path) -> list[Document]:
        """Documents to predict, in the ``*_filter.data`` layout (the listed pairs are the pairs scored)."""
        return _with_pairs(Path(path), read_cdr(Path(path))[0])
