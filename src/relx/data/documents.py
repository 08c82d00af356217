"""Document-level relation extraction examples and their readers: DocRED / Re-DocRED (JSON) and BioCreative V
CDR in the Edge-oriented-Graph ``*_filter.data`` layout that ATLOP's ``read_cdr`` reads.

A ``Document`` holds the words of all sentences concatenated; mention offsets are document-level word offsets
(end exclusive). Entities are clusters of mentions; facts are gold ``(head, tail, relation id)`` triples over
entity indices. Bad input raises ``DataFormatError`` naming the file, the document (index and title) and the
field. ``docred_json`` writes a document back in the DocRED layout (``read_docred`` reads it back unchanged).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relx.data.readers import read_lines, read_text
from relx.errors import DataFormatError

CDR_LABELS = ("1:CID:2", "1:NR:2", "not_include")
CDR_RELATION = "CID"
_CDR_PAIR_FIELDS = 17


@dataclass(frozen=True)
class Mention:
    """One mention: ``words[start:end]`` of the document (document-level offsets), inside sentence ``sent_id``."""

    start: int
    end: int
    sent_id: int
    name: str


@dataclass(frozen=True)
class Entity:
    """A cluster of mentions (sorted by ``start``, duplicates removed) of one type."""

    mentions: tuple[Mention, ...]
    type: str


@dataclass(frozen=True)
class Document:
    """A document with its entities and gold facts.

    ``facts[i]`` is ``(head, tail, relation id)`` over entity indices, duplicates removed (first occurrence
    kept, evidence of the duplicates merged into it); ``evidence[i]`` its evidence sentence ids (``()`` when
    absent). ``candidate_pairs`` restricts the ordered entity pairs to score (CDR: the listed chemical-disease
    pairs); ``None`` means all ordered pairs ``h != t``. Unlabelled documents (DocRED test) have
    ``labelled=False`` and no facts.
    """

    title: str
    words: tuple[str, ...]
    sentence_starts: tuple[int, ...]
    entities: tuple[Entity, ...]
    facts: tuple[tuple[int, int, str], ...]
    evidence: tuple[tuple[int, ...], ...]
    candidate_pairs: tuple[tuple[int, int], ...] | None = None
    labelled: bool = True

    def sentences(self) -> list[tuple[str, ...]]:
        """The words of each sentence."""
        bounds = (*self.sentence_starts, len(self.words))
        return [self.words[bounds[i] : bounds[i + 1]] for i in range(len(self.sentence_starts))]


# --------------------------------------------------------------------------------------------------- helpers


DOCRED_EXPECTED = (
    "expected DocRED-style JSON: a list of documents {title, sents, vertexSet[, labels]} (sents: lists of words;"
    " vertexSet: lists of mentions {name, pos, sent_id, type}), or one such document a line (JSON lines)"
)


def _load_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFormatError(
            path, f"malformed JSON: {err.msg} (line {err.lineno}, column {err.colno}, char {err.pos})"
        ) from err


def _load_documents(path: Path) -> list[tuple[Any, int | None]]:
    """(record, line) of every document: a JSON list (line ``None``), a single JSON object, or JSON lines (one
    document a line). Anything else (raw text, a damaged file) is an error that says what is expected."""
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        if err.lineno > 1 and _is_json_object(next(line for line in text.split("\n") if line.strip())):
            return _json_lines(path, text)  # the first line is a document of its own: JSON lines
        raise DataFormatError(
            path,
            f"malformed JSON: {err.msg} (line {err.lineno}, column {err.colno}, char {err.pos}); {DOCRED_EXPECTED}",
        ) from err
    if isinstance(data, dict):
        return [(data, None)]
    if not isinstance(data, list):
        raise DataFormatError(path, f"got a JSON {type(data).__name__}; {DOCRED_EXPECTED}")
    return [(record, None) for record in data]


def _is_json_object(line: str) -> bool:
    """Whether ``line`` alone is a JSON object: then a file that fails to parse whole is JSON lines."""
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def _json_lines(path: Path, text: str) -> list[tuple[Any, int | None]]:
    """(record, line) of each non-blank line; a line that is not JSON is named with the format expected."""
    records: list[tuple[Any, int | None]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):  # not splitlines: JSON strings may hold U+2028
        if not line.strip():
            continue
        try:
            records.append((json.loads(line), lineno))
        except json.JSONDecodeError as err:
            raise DataFormatError(
                path, f"malformed JSON line: {err.msg} (column {err.colno}); {DOCRED_EXPECTED}", lineno
            ) from err
    return records


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sorted_mentions(mentions: Sequence[Mention]) -> tuple[tuple[Mention, ...], int]:
    """Mentions in document order, identical spans kept once (the first one's name); returns the duplicate count."""
    unique: dict[tuple[int, int], Mention] = {}
    for mention in mentions:
        unique.setdefault((mention.start, mention.end), mention)
    ordered = sorted(unique.values(), key=lambda m: (m.start, m.end))
    return tuple(ordered), len(mentions) - len(unique)


def read_rel_info(path: str | Path) -> dict[str, str]:
    """DocRED's ``rel_info.json``: ``{"P6": "head of government", ...}`` (relation id -> name)."""
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, dict) or not data:
        raise DataFormatError(
            path, f"expected a non-empty JSON object {{relation id: name}}, got {type(data).__name__}"
        )
    for key, value in data.items():
        if not isinstance(value, str):
            raise DataFormatError(path, f"relation {key!r}: name must be a string, got {value!r}")
    return dict(data)


# --------------------------------------------------------------------------------------------------- DocRED


class _DocWhere:
    """Builds messages naming document index, title and field (and the line, for JSON lines)."""

    def __init__(self, path: Path, index: int, title: str | None, line: int | None = None) -> None:
        self.path, self.index, self.title, self.line = path, index, title, line

    def error(self, field: str, message: str) -> DataFormatError:
        title = f"title {self.title!r}" if self.title is not None else "no title"
        return DataFormatError(self.path, f"document {self.index} ({title}): field {field}: {message}", self.line)


def read_docred(path: str | Path, relations: Collection[str] | None = None) -> tuple[list[Document], dict[str, int]]:
    """A DocRED / Re-DocRED JSON list of ``{title, sents, vertexSet, labels}`` (also: one such document, or JSON
    lines of them, as ``relx.predict`` input may come).

    Mention ``pos`` is ``[start, end)`` within sentence ``sent_id``; it becomes a document-level offset. An
    entity's type is its first mention's type (as listed in the file; ``mixed_type_entities`` counts entities
    whose mentions disagree). Identical mentions of one entity are kept once. Documents without ``labels`` are
    unlabelled (DocRED ``test.json``). ``relations``, when given, is the relation-id inventory labels must use.
    An optional ``candidate_pairs`` list of ``[h, t]`` (written by ``docred_json`` for CDR documents) restricts
    the pairs to score.
    """
    path = Path(path)
    records = _load_documents(path)
    if not records:
        raise DataFormatError(path, f"no documents; {DOCRED_EXPECTED}")
    known = set(relations) if relations is not None else None
    stats = dict.fromkeys(
        (
            "documents", "unlabelled_documents", "sentences", "words", "entities", "mentions", "duplicate_mentions",
            "mixed_type_entities", "facts", "duplicate_facts", "facts_without_evidence",
        ),
        0,
    )  # fmt: skip
    documents = [_docred_document(path, i, record, known, stats, line) for i, (record, line) in enumerate(records)]
    stats["documents"] = len(documents)
    return documents, stats


def _docred_document(
    path: Path, index: int, record: Any, known: set[str] | None, stats: dict[str, int], line: int | None = None
) -> Document:
    if not isinstance(record, dict):
        raise _DocWhere(path, index, None, line).error(
            "(document)", f"expected a JSON object, got {type(record).__name__}; {DOCRED_EXPECTED}"
        )
    title = record.get("title")
    where = _DocWhere(path, index, title if isinstance(title, str) else None, line)
    for key in ("title", "sents", "vertexSet"):
        if key not in record:
            raise where.error(key, "missing")
    if not isinstance(title, str):
        raise where.error("title", f"expected a string, got {title!r}")

    sents = record["sents"]
    if not isinstance(sents, list) or not all(
        isinstance(s, list) and all(isinstance(w, str) for w in s) for s in sents
    ):
        raise where.error("sents", "expected a list of sentences, each a list of word strings")
    if not sents or not any(sents):
        raise where.error("sents", "empty document (no sentences or no words)")
    starts: list[int] = []
    words: list[str] = []
    for sentence in sents:
        starts.append(len(words))
        words.extend(sentence)

    vertex_set = record["vertexSet"]
    if not isinstance(vertex_set, list):
        raise where.error("vertexSet", "expected a list of entities (each a list of mentions)")
    entities = [_docred_entity(where, e, cluster, sents, starts, stats) for e, cluster in enumerate(vertex_set)]

    labelled = "labels" in record
    facts: list[tuple[int, int, str]] = []
    evidence: list[list[int]] = []
    if labelled:
        position: dict[tuple[int, int, str], int] = {}
        labels = record["labels"]
        if not isinstance(labels, list):
            raise where.error("labels", "expected a list of {h, t, r, evidence}")
        for j, label in enumerate(labels):
            fact, ev = _docred_label(where, j, label, len(entities), len(sents), known)
            if fact in position:
                stats["duplicate_facts"] += 1
                merged = evidence[position[fact]]
                merged.extend(s for s in ev if s not in merged)
                continue
            position[fact] = len(facts)
            facts.append(fact)
            evidence.append(list(dict.fromkeys(ev)))
    else:
        stats["unlabelled_documents"] += 1

    candidates = None
    if "candidate_pairs" in record:
        candidates = _docred_candidates(where, record["candidate_pairs"], len(entities))
        allowed = set(candidates)
        for j, (h, t, r) in enumerate(facts):
            if (h, t) not in allowed:
                raise where.error(f"labels[{j}]", f"fact ({h}, {t}, {r!r}) is not among candidate_pairs")

    stats["sentences"] += len(sents)
    stats["words"] += len(words)
    stats["entities"] += len(entities)
    stats["mentions"] += sum(len(e.mentions) for e in entities)
    stats["facts"] += len(facts)
    stats["facts_without_evidence"] += sum(1 for ev in evidence if not ev)
    return Document(
        title=title,
        words=tuple(words),
        sentence_starts=tuple(starts),
        entities=tuple(entities),
        facts=tuple(facts),
        evidence=tuple(tuple(ev) for ev in evidence),
        candidate_pairs=candidates,
        labelled=labelled,
    )


def _docred_entity(
    where: _DocWhere, e: int, cluster: Any, sents: list[list[str]], starts: list[int], stats: dict[str, int]
) -> Entity:
    if not isinstance(cluster, list):
        raise where.error(f"vertexSet[{e}]", "expected a list of mentions")
    if not cluster:
        raise where.error(f"vertexSet[{e}]", f"entity {e} has no mentions")
    mentions: list[Mention] = []
    types: list[str] = []
    for m, mention in enumerate(cluster):
        field = f"vertexSet[{e}][{m}]"
        if not isinstance(mention, dict):
            raise where.error(field, "expected a mention object {name, pos, sent_id, type}")
        for key in ("pos", "sent_id", "type"):
            if key not in mention:
                raise where.error(f"{field}.{key}", "missing")
        sent_id, pos, mtype = mention["sent_id"], mention["pos"], mention["type"]
        if not _is_int(sent_id) or not 0 <= sent_id < len(sents):
            raise where.error(
                f"{field}.sent_id",
                f"sentence id {sent_id!r} out of range (the document has {len(sents)} sentences)"
                f" (entity {e}, mention {m})",
            )
        length = len(sents[sent_id])
        if not (isinstance(pos, list) and len(pos) == 2 and all(_is_int(p) for p in pos)):
            raise where.error(f"{field}.pos", f"expected [start, end] word offsets, got {pos!r}")
        if not 0 <= pos[0] < pos[1] <= length:
            raise where.error(
                f"{field}.pos",
                f"mention position outside its sentence: entity {e}, mention {m}, pos {pos} in sentence {sent_id}"
                f" of length {length}",
            )
        if not isinstance(mtype, str):
            raise where.error(f"{field}.type", f"expected a string, got {mtype!r}")
        name = mention.get("name")
        if not isinstance(name, str):
            name = " ".join(sents[sent_id][pos[0] : pos[1]])
        offset = starts[sent_id]
        mentions.append(Mention(offset + pos[0], offset + pos[1], sent_id, name))
        types.append(mtype)
    ordered, duplicates = _sorted_mentions(mentions)
    stats["duplicate_mentions"] += duplicates
    stats["mixed_type_entities"] += len(set(types)) > 1
    return Entity(ordered, types[0])


def _docred_label(
    where: _DocWhere, j: int, label: Any, n_entities: int, n_sents: int, known: set[str] | None
) -> tuple[tuple[int, int, str], list[int]]:
    field = f"labels[{j}]"
    if not isinstance(label, dict):
        raise where.error(field, "expected an object {h, t, r, evidence}")
    for key in ("h", "t", "r"):
        if key not in label:
            raise where.error(f"{field}.{key}", "missing")
    h, t, r = label["h"], label["t"], label["r"]
    for key, value in (("h", h), ("t", t)):
        if not _is_int(value) or not 0 <= value < n_entities:
            raise where.error(
                f"{field}.{key}",
                f"labels naming missing entities: {key}={value!r} is not an entity index (the document has"
                f" {n_entities} entities)",
            )
    if h == t:
        raise where.error(f"{field}.h/t", f"head and tail are the same entity ({h})")
    if not isinstance(r, str):
        raise where.error(f"{field}.r", f"expected a relation id string, got {r!r}")
    if known is not None and r not in known:
        few = ", ".join(sorted(known)[:5])
        raise where.error(f"{field}.r", f"unknown relation id {r!r} (valid ids include {few}, ...)")
    ev = label.get("evidence", [])
    if ev is None:
        ev = []
    if not isinstance(ev, list) or not all(_is_int(s) and 0 <= s < n_sents for s in ev):
        raise where.error(f"{field}.evidence", f"expected a list of sentence ids in [0, {n_sents}), got {ev!r}")
    return (h, t, r), list(ev)


def _docred_candidates(where: _DocWhere, value: Any, n_entities: int) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, list):
        raise where.error("candidate_pairs", "expected a list of [h, t] entity index pairs")
    pairs: list[tuple[int, int]] = []
    for j, pair in enumerate(value):
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(_is_int(i) and 0 <= i < n_entities for i in pair)
            and pair[0] != pair[1]
        ):
            raise where.error(
                f"candidate_pairs[{j}]", f"expected [h, t], two different entity indices < {n_entities}, got {pair!r}"
            )
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)


def docred_json(document: Document) -> dict[str, Any]:
    """The DocRED layout of a document (``title``, ``sents``, ``vertexSet``, ``labels`` when labelled), for
    writing samples and feeding the official scorer; ``read_docred`` reads it back to an equal ``Document``.

    Every mention gets its entity's type; ``pos`` is sentence-relative. ``candidate_pairs``, when set, is written
    as an extra ``candidate_pairs`` key (``[[h, t], ...]``; the official scorer ignores it). A mention that is
    not inside its sentence ``sent_id`` (e.g. one crossing a sentence boundary) has no sentence-relative
    position: ``ValueError``. No reader produces one (``read_cdr`` rejects them; the real CDR files have none).
    """
    sentences = document.sentences()
    vertex_set = []
    for e, entity in enumerate(document.entities):
        cluster = []
        for m, mention in enumerate(entity.mentions):
            if not 0 <= mention.sent_id < len(sentences):
                raise ValueError(f"{document.title!r}: entity {e} mention {m}: sent_id {mention.sent_id} out of range")
            offset = document.sentence_starts[mention.sent_id]
            pos = [mention.start - offset, mention.end - offset]
            if not 0 <= pos[0] < pos[1] <= len(sentences[mention.sent_id]):
                raise ValueError(
                    f"{document.title!r}: entity {e} mention {m} (words {mention.start}..{mention.end}) is not inside"
                    f" its sentence {mention.sent_id}; the DocRED layout cannot hold mentions crossing sentences"
                )
            cluster.append({"name": mention.name, "pos": pos, "sent_id": mention.sent_id, "type": entity.type})
        vertex_set.append(cluster)
    out: dict[str, Any] = {"title": document.title, "sents": [list(s) for s in sentences], "vertexSet": vertex_set}
    if document.labelled:
        evidence = document.evidence or tuple(() for _ in document.facts)
        out["labels"] = [
            {"h": h, "t": t, "r": r, "evidence": list(ev)}
            for (h, t, r), ev in zip(document.facts, evidence, strict=True)
        ]
    if document.candidate_pairs is not None:
        out["candidate_pairs"] = [[h, t] for h, t in document.candidate_pairs]
    return out


# --------------------------------------------------------------------------------------------------- CDR


def read_cdr(path: str | Path) -> tuple[list[Document], dict[str, int]]:
    """BioCreative V CDR, ``*_filter.data`` layout: one document a line, ``PMID<TAB>text`` then 17 fields per
    listed chemical-disease pair (label, direction, CROSS/NON-CROSS, arg1/arg2 spans, then per argument: MeSH
    id, ``|``-joined mention texts, type, ``:``-joined token starts, token ends, sentence ids).

    The title is the PMID. Token starts/ends are document-level (sentences are ``|``-joined). Entities are
    keyed by MeSH id and listed in document order (first mention); identical mentions listed by several pairs
    are kept once. The head of every pair is the Chemical and the tail the Disease (the CID direction), whatever
    the direction field (which only says whether arg1's span is left of arg2's). ``1:CID:2`` pairs become
    ``(chemical, disease, "CID")`` facts; ``1:CID:2`` and ``1:NR:2`` pairs are the candidate pairs;
    ``not_include`` pairs (removed by the hypernym filter) are skipped as ATLOP does, and so are entities that
    appear only in them (counted in ``not_include_only_entities``).
    """
    path = Path(path)
    stats = dict.fromkeys(
        (
            "documents", "pairs", "cid", "nr", "not_include_skipped", "entities", "mentions", "candidate_pairs",
            "duplicate_mentions", "duplicate_pairs", "not_include_only_entities", "mention_text_mismatches",
        ),
        0,
    )  # fmt: skip
    documents: list[Document] = []
    for lineno, raw in enumerate(read_lines(path), start=1):
        if not raw.strip():
            continue
        documents.append(_cdr_document(path, lineno, len(documents), raw, stats))
    if not documents:
        raise DataFormatError(path, "no documents")
    stats["documents"] = len(documents)
    return documents, stats


def _cdr_document(path: Path, lineno: int, index: int, line: str, stats: dict[str, int]) -> Document:
    fields = line.rstrip("\r\n").split("\t")
    pmid = fields[0].strip()

    def error(field: str, message: str) -> DataFormatError:
        return DataFormatError(path, f"document {index} (PMID {pmid!r}): field {field}: {message}", lineno)

    if not pmid:
        raise error("PMID", "empty (each line is PMID<TAB>text<TAB>pairs...)")

    if len(fields) < 2 or (len(fields) - 2) % _CDR_PAIR_FIELDS:
        raise error(
            "(field count)",
            f"expected PMID, text and {_CDR_PAIR_FIELDS} fields per pair (2 + {_CDR_PAIR_FIELDS}k fields),"
            f" got {len(fields)}",
        )
    sentences = [s.split(" ") for s in fields[1].split("|")]
    if any("" in s for s in sentences):
        raise error("text", "empty sentence or empty token (sentences are '|'-joined, tokens single-space-joined)")
    starts: list[int] = []
    words: list[str] = []
    sent_of: list[int] = []
    for i, sentence in enumerate(sentences):
        starts.append(len(words))
        words.extend(sentence)
        sent_of.extend([i] * len(sentence))

    mentions: dict[str, dict[tuple[int, int], Mention]] = {}  # MeSH id -> unique mentions
    types: dict[str, str] = {}
    order: list[str] = []  # MeSH ids of included entities, first seen first
    included: list[tuple[str, str, bool]] = []  # chemical, disease, is CID
    seen_pairs: dict[tuple[str, str], str] = {}
    repeated: set[tuple[str, int, int]] = set()  # spans listed twice within one pair's mention list
    for k in range(2, len(fields), _CDR_PAIR_FIELDS):
        pair = fields[k : k + _CDR_PAIR_FIELDS]
        p = (k - 2) // _CDR_PAIR_FIELDS
        label = pair[0].strip()
        stats["pairs"] += 1
        if label not in CDR_LABELS:
            raise error(f"pair {p} label", f"expected one of {', '.join(CDR_LABELS)}, got {label!r}")
        args: list[tuple[str, str]] = []  # (MeSH id, type)
        for a, first in (("arg1", 5), ("arg2", 11)):
            mesh, texts, etype, raw_starts, raw_ends, raw_sids = (x.strip() for x in pair[first : first + 6])
            if not mesh:
                raise error(f"pair {p} {a} MeSH id", "empty")
            if etype not in ("Chemical", "Disease"):
                raise error(f"pair {p} {a} type", f"expected Chemical or Disease, got {etype!r}")
            if types.setdefault(mesh, etype) != etype:
                raise error(f"pair {p} {a} type", f"entity {mesh} is {types[mesh]} in another pair, here {etype}")
            names = texts.split("|")
            columns = []
            for name, raw_ints in (("token starts", raw_starts), ("token ends", raw_ends), ("sentence ids", raw_sids)):
                try:
                    columns.append([int(x) for x in raw_ints.split(":")])
                except ValueError as err:
                    raise error(f"pair {p} {a} {name}", f"expected ':'-joined integers, got {raw_ints!r}") from err
            m_starts, m_ends, m_sids = columns
            if not len(names) == len(m_starts) == len(m_ends) == len(m_sids):
                raise error(
                    f"pair {p} {a} mentions",
                    f"{len(names)} mention texts, {len(m_starts)} starts, {len(m_ends)} ends, {len(m_sids)} sentence"
                    " ids",
                )
            found = mentions.setdefault(mesh, {})
            listed: set[tuple[int, int]] = set()
            for name, start, end, sid in zip(names, m_starts, m_ends, m_sids, strict=True):
                if not 0 <= start < end <= len(words):
                    raise error(
                        f"pair {p} {a} token starts/ends",
                        f"mention {name!r} at words {start}..{end} is outside the document ({len(words)} words)",
                    )
                if not (0 <= sid < len(sentences) and sent_of[start] == sid == sent_of[end - 1]):
                    raise error(
                        f"pair {p} {a} sentence ids",
                        f"mention {name!r} at words {start}..{end} is not inside its sentence {sid}",
                    )
                if (start, end) in listed:
                    repeated.add((mesh, start, end))
                listed.add((start, end))
                found.setdefault((start, end), Mention(start, end, sid, name))
            args.append((mesh, etype))
        if {args[0][1], args[1][1]} != {"Chemical", "Disease"}:
            raise error(f"pair {p} types", f"expected a Chemical and a Disease, got {args[0][1]} and {args[1][1]}")
        chemical, disease = (args[0][0], args[1][0]) if args[0][1] == "Chemical" else (args[1][0], args[0][0])
        previous = seen_pairs.setdefault((chemical, disease), label)
        if previous != label:
            raise error(f"pair {p} label", f"pair ({chemical}, {disease}) is listed as {previous} and as {label}")
        if label == "not_include":
            stats["not_include_skipped"] += 1
            continue
        stats["cid" if label == "1:CID:2" else "nr"] += 1
        if any(c == chemical and d == disease for c, d, _ in included):
            stats["duplicate_pairs"] += 1
            continue
        order.extend(m for m in (chemical, disease) if m not in order)
        included.append((chemical, disease, label == "1:CID:2"))

    stats["not_include_only_entities"] += len(set(mentions) - set(order))
    stats["duplicate_mentions"] += len(repeated)
    entities: dict[str, Entity] = {}
    for mesh in order:
        ordered, _ = _sorted_mentions(list(mentions[mesh].values()))
        stats["mention_text_mismatches"] += sum(" ".join(words[m.start : m.end]) != m.name for m in ordered)
        entities[mesh] = Entity(ordered, types[mesh])
    ids = sorted(entities, key=lambda mesh: (entities[mesh].mentions[0].start, mesh))
    index_of = {mesh: i for i, mesh in enumerate(ids)}
    facts = tuple((index_of[c], index_of[d], CDR_RELATION) for c, d, cid in included if cid)
    candidates = tuple((index_of[c], index_of[d]) for c, d, _ in included)
    stats["entities"] += len(ids)
    stats["mentions"] += sum(len(entities[mesh].mentions) for mesh in ids)
    stats["candidate_pairs"] += len(candidates)
    return Document(
        title=pmid,
        words=tuple(words),
        sentence_starts=tuple(starts),
        entities=tuple(entities[mesh] for mesh in ids),
        facts=facts,
        evidence=tuple(() for _ in facts),
        candidate_pairs=candidates,
        labelled=True,
    )
