from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from relx.data.documents import (
    Document,
    Entity,
    Mention,
    docred_json,
    read_cdr,
    read_docred,
    read_rel_info,
)
from relx.errors import DataFormatError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TITLE = "Willi Schneider (skeleton racer)"

# Trimmed from the first Re-DocRED dev document: mentions listed out of document order, a duplicate fact.
DOC: dict[str, Any] = {
    "title": TITLE,
    "vertexSet": [
        [
            {"name": "Schneider", "pos": [0, 1], "sent_id": 1, "type": "PER", "global_pos": [11, 11], "index": "0_1"},
            {"type": "PER", "pos": [0, 5], "name": 'Wilfried " Willi " Schneider', "sent_id": 0},
        ],
        [{"name": "German", "pos": [7, 8], "sent_id": 0, "type": "LOC"}],
        [{"name": "2006 Winter Olympics", "pos": [5, 8], "sent_id": 1, "type": "MISC"}],
        [{"name": "2006", "pos": [5, 6], "sent_id": 1, "type": "TIME"}],
    ],
    "labels": [
        {"r": "P27", "h": 0, "t": 1, "evidence": [0]},
        {"r": "P1344", "h": 0, "t": 2, "evidence": [1]},
        {"r": "P1344", "h": 0, "t": 2, "evidence": [0, 1]},
        {"r": "P585", "h": 2, "t": 3, "evidence": []},
    ],
    "sents": [
        ["Wilfried", '"', "Willi", '"', "Schneider", "is", "a", "German", "skeleton", "racer", "."],
        ["Schneider", "won", "bronze", "at", "the", "2006", "Winter", "Olympics", "."],
    ],
}
RELATIONS = {"P27": "country of citizenship", "P585": "point in time", "P1344": "participant in"}


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_docred_parses_document_level_offsets_dedups_facts_and_merges_evidence(tmp_path: Path) -> None:
    unlabelled = {k: v for k, v in DOC.items() if k != "labels"}
    docs, stats = read_docred(write_json(tmp_path / "dev.json", [DOC, unlabelled]), RELATIONS)
    doc = docs[0]
    assert doc.title == TITLE and doc.sentence_starts == (0, 11) and len(doc.words) == 20
    schneider = doc.entities[0]
    assert schneider.type == "PER"
    assert schneider.mentions == (
        Mention(0, 5, 0, 'Wilfried " Willi " Schneider'),
        Mention(11, 12, 1, "Schneider"),
    )  # sorted by start; second-sentence mention moved to document offset 11
    assert doc.entities[2].mentions == (Mention(16, 19, 1, "2006 Winter Olympics"),)
    assert doc.words[16:19] == ("2006", "Winter", "Olympics")
    assert doc.facts == ((0, 1, "P27"), (0, 2, "P1344"), (2, 3, "P585"))
    assert doc.evidence == ((0,), (1, 0), ())
    assert doc.labelled and doc.candidate_pairs is None
    assert not docs[1].labelled and docs[1].facts == () and docs[1].evidence == ()
    assert stats["documents"] == 2 and stats["unlabelled_documents"] == 1
    assert (stats["facts"], stats["duplicate_facts"], stats["entities"], stats["mentions"]) == (3, 1, 8, 10)
    assert hash(doc) == hash(docs[0])


def test_rel_info(tmp_path: Path) -> None:
    assert read_rel_info(write_json(tmp_path / "rel_info.json", RELATIONS)) == RELATIONS
    bad = tmp_path / "bad.json"
    bad.write_text('{"P6": "head of government",\n "P17" "country"}', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad\.json.*malformed JSON.*line 2, column"):
        read_rel_info(bad)


def _set(path: list[Any], value: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> dict[str, Any]:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return doc

    return mutate


def _drop(key: str) -> Any:
    def mutate(doc: dict[str, Any]) -> dict[str, Any]:
        del doc[key]
        return doc

    return mutate


BAD_DOCS = [
    pytest.param(_drop("title"), ["document 0 (no title)", "title", "missing"], id="no-title"),
    pytest.param(_drop("sents"), [TITLE, "sents", "missing"], id="no-sents"),
    pytest.param(_drop("vertexSet"), [TITLE, "vertexSet", "missing"], id="no-vertexSet"),
    pytest.param(_set(["sents"], []), [TITLE, "sents", "empty document"], id="no-sentences"),
    pytest.param(_set(["sents"], [[], []]), [TITLE, "sents", "empty document"], id="no-words"),
    pytest.param(_set(["vertexSet", 1], []), [TITLE, "vertexSet[1]", "entity 1 has no mentions"], id="no-mentions"),
    pytest.param(
        _set(["vertexSet", 1, 0, "sent_id"], 2), [TITLE, "vertexSet[1][0].sent_id", "out of range"], id="sent-id"
    ),
    pytest.param(
        _set(["vertexSet", 1, 0, "pos"], [7, 12]),
        [TITLE, "vertexSet[1][0].pos", "mention position outside its sentence", "entity 1, mention 0", "[7, 12]"]
        + ["length 11"],
        id="pos-outside",
    ),
    pytest.param(
        _set(["vertexSet", 0, 0, "pos"], [1, 1]), [TITLE, "vertexSet[0][0].pos", "outside its sentence"], id="pos-empty"
    ),
    pytest.param(
        _set(["labels", 1, "t"], 9), [TITLE, "labels[1].t", "labels naming missing entities", "t=9"], id="missing-t"
    ),
    pytest.param(_set(["labels", 0, "r"], "P999"), [TITLE, "labels[0].r", "unknown relation id 'P999'", "P1344"]),
    pytest.param(_set(["labels", 3, "t"], 2), [TITLE, "labels[3]", "same entity"], id="h-equals-t"),
    pytest.param(_set(["labels", 0, "evidence"], [5]), [TITLE, "labels[0].evidence", "sentence ids"], id="evidence"),
]


@pytest.mark.parametrize(("mutate", "expected"), BAD_DOCS)
def test_docred_bad_input_names_file_document_and_field(tmp_path: Path, mutate: Any, expected: list[str]) -> None:
    path = write_json(tmp_path / "bad_dev.json", [mutate(copy.deepcopy(DOC))])
    with pytest.raises(DataFormatError) as err:
        read_docred(path, RELATIONS)
    message = str(err.value)
    for part in [str(path), "document 0", *expected]:
        assert part in message, (part, message)


def test_docred_malformed_json_and_non_object(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"title": "x",\n "sents": [}]', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"broken\.json: malformed JSON: .*\(line 2, column \d+"):
        read_docred(path)
    with pytest.raises(DataFormatError, match=r"document 1 \(no title\).*expected a JSON object, got int"):
        read_docred(write_json(tmp_path / "odd.json", [DOC, 3]))


# CDR: trimmed from PMID 354896 of train_filter.data (arg1 is always the Chemical; R2L only says arg1 is right of arg2)
CDR_TEXT = (
    "Lidocaine - induced cardiac asystole .|Intravenous administration of lidocaine caused bradyarrhythmias .|"
    "Aspirin was not involved in depression ."
)
CDR_PAIRS = [
    "1:CID:2\tL2R\tNON-CROSS\t0-1\t3-5\tD008012\tLidocaine|lidocaine\tChemical\t0:9\t1:10\t0:1\t"
    "D006323\tcardiac asystole\tDisease\t3\t5\t0",
    "1:NR:2\tR2L\tCROSS\t13-14\t11-12\tD001241\tAspirin\tChemical\t13\t14\t2\t"
    "D001919\tbradyarrhythmias\tDisease\t11\t12\t1",
    "not_include\tL2R\tCROSS\t9-10\t17-18\tD008012\tLidocaine|lidocaine\tChemical\t0:9\t1:10\t0:1\t"
    "D003866\tdepression\tDisease\t17\t18\t2",
]


def cdr_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "train_filter.data"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_cdr_head_is_chemical_not_include_skipped_nr_is_candidate(tmp_path: Path) -> None:
    docs, stats = read_cdr(cdr_file(tmp_path, "\t".join(["354896", CDR_TEXT, *CDR_PAIRS])))
    (doc,) = docs
    assert doc.title == "354896" and doc.sentence_starts == (0, 6, 13)
    assert [(e.type, e.mentions[0].name) for e in doc.entities] == [
        ("Chemical", "Lidocaine"),
        ("Disease", "cardiac asystole"),
        ("Disease", "bradyarrhythmias"),
        ("Chemical", "Aspirin"),
    ]  # document order; depression (only in the not_include pair) is dropped as ATLOP does
    assert doc.entities[0].mentions == (Mention(0, 1, 0, "Lidocaine"), Mention(9, 10, 1, "lidocaine"))
    assert doc.facts == ((0, 1, "CID"),) and doc.evidence == ((),)
    assert doc.candidate_pairs == ((0, 1), (3, 2))  # the R2L NR pair still has the chemical as head
    assert {k: stats[k] for k in ("documents", "pairs", "cid", "nr", "not_include_skipped", "entities")} == {
        "documents": 1,
        "pairs": 3,
        "cid": 1,
        "nr": 1,
        "not_include_skipped": 1,
        "entities": 4,
    }
    assert stats["mentions"] == 5 and stats["not_include_only_entities"] == 1


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        pytest.param(CDR_PAIRS[0].rsplit("\t", 1)[0], ["field count", "2 + 17k", "got 18"], id="field-count"),
        pytest.param(CDR_PAIRS[0].replace("0:9", "0:x"), ["arg1 token starts", "'0:x'"], id="bad-int"),
        pytest.param(CDR_PAIRS[0].replace("\t3\t5\t0", "\t3\t25\t0"), ["arg2 token starts/ends", "outside"]),
        pytest.param(CDR_PAIRS[0].replace("\t3\t5\t0", "\t3\t5\t1"), ["arg2 sentence ids", "not inside"]),
        pytest.param(CDR_PAIRS[0].replace("1:CID:2", "CID"), ["pair 0 label", "'CID'"], id="label"),
    ],
)
def test_cdr_bad_line_names_line_pmid_and_field(tmp_path: Path, pair: str, expected: list[str]) -> None:
    good = "\t".join(["1", CDR_TEXT, CDR_PAIRS[1]])
    path = cdr_file(tmp_path, good, "\t".join(["354896", CDR_TEXT, pair]))
    with pytest.raises(DataFormatError) as err:
        read_cdr(path)
    message = str(err.value)
    for part in [f"{path}:2", "document 1", "PMID '354896'", *expected]:
        assert part in message, (part, message)


def test_round_trip_through_docred_json(tmp_path: Path) -> None:
    unlabelled = {k: v for k, v in DOC.items() if k != "labels"}
    docs, _ = read_docred(write_json(tmp_path / "a.json", [DOC, unlabelled]))
    cdr_docs, _ = read_cdr(cdr_file(tmp_path, "\t".join(["354896", CDR_TEXT, *CDR_PAIRS])))
    for original in docs + cdr_docs:
        layout = docred_json(original)
        assert "labels" in layout if original.labelled else "labels" not in layout
        back, _ = read_docred(write_json(tmp_path / "b.json", [layout]))
        assert back == [original]
    assert docred_json(docs[0])["vertexSet"][0][1] == {
        "name": "Schneider",
        "pos": [0, 1],
        "sent_id": 1,
        "type": "PER",
    }


def test_docred_json_rejects_mention_crossing_sentences() -> None:
    doc = Document(
        title="t",
        words=("a", "b", "c", "d"),
        sentence_starts=(0, 2),
        entities=(Entity((Mention(1, 3, 0, "b c"),), "X"), Entity((Mention(3, 4, 1, "d"),), "Y")),
        facts=(),
        evidence=(),
    )
    with pytest.raises(ValueError, match="crossing sentences"):
        docred_json(doc)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared data not available")
def test_real_files_match_readme_counts(tmp_path: Path) -> None:
    docs, stats = read_cdr(SHARED_DATA / "cdr" / "train_filter.data")
    assert len(docs) == 500
    assert (stats["pairs"], stats["cid"], stats["nr"], stats["not_include_skipped"]) == (5432, 1038, 4202, 192)
    assert sum(len(d.facts) for d in docs) == 1038
    assert sum(len(d.candidate_pairs or ()) for d in docs) == 1038 + 4202
    relations = read_rel_info(SHARED_DATA / "docred" / "rel_info.json")
    assert len(relations) == 96
    dev, dev_stats = read_docred(SHARED_DATA / "redocred" / "dev_revised.json", relations)
    assert len(dev) == 500 and dev_stats["entities"] == 9684
    assert dev_stats["facts"] == 17284 and dev_stats["duplicate_facts"] == 0
    assert sum(len(d.facts) for d in dev) == 17284
    for sample, inventory in ((dev[:20], relations), (docs[:50], {"CID"})):  # real mentions never cross sentences
        back, _ = read_docred(write_json(tmp_path / "sample.json", [docred_json(d) for d in sample]), inventory)
        assert back == sample


def test_raw_text_given_as_documents_says_what_is_expected(tmp_path: Path) -> None:
    """Reported: raw text given to a DocRED model's relx.predict said only 'malformed JSON'."""
    path = tmp_path / "input.txt"
    path.write_text("Bill Gates founded Microsoft in Albuquerque.\nHe was born in Seattle.\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        read_docred(path)
    message = str(err.value)
    assert message.startswith(f"{path}: malformed JSON: Expecting value (line 1, column 1")
    for part in ("expected DocRED-style JSON", "a list of documents {title, sents, vertexSet", "JSON lines"):
        assert part in message, (part, message)
    assert "\n" not in message
    path.write_text('"just a string"', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"got a JSON str; expected DocRED-style JSON"):
        read_docred(path)


def test_docred_json_lines_and_a_single_document(tmp_path: Path) -> None:
    unlabelled = {k: v for k, v in DOC.items() if k != "labels"}
    lines = tmp_path / "docs.jsonl"
    lines.write_text(json.dumps(DOC) + "\n\n" + json.dumps(unlabelled) + "\n", encoding="utf-8")
    expected, _ = read_docred(write_json(tmp_path / "docs.json", [DOC, unlabelled]), RELATIONS)
    assert read_docred(lines, RELATIONS)[0] == expected
    assert read_docred(write_json(tmp_path / "one.json", DOC), RELATIONS)[0] == expected[:1]
    # errors in JSON lines name the line as well as the document
    broken = copy.deepcopy(unlabelled)
    broken["vertexSet"][1][0]["sent_id"] = 7
    lines.write_text(json.dumps(DOC) + "\n\n" + json.dumps(broken) + "\n", encoding="utf-8")
    where = f"docs.jsonl:3: document 1 (title '{TITLE}'): field vertexSet[1][0].sent_id"
    with pytest.raises(DataFormatError, match=re.escape(where)):
        read_docred(lines, RELATIONS)
    lines.write_text(json.dumps(DOC) + "\n" + json.dumps(DOC)[:-1] + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"docs\.jsonl:2: malformed JSON line: .*expected DocRED-style JSON"):
        read_docred(lines, RELATIONS)


def test_cdr_line_without_a_pmid(tmp_path: Path) -> None:
    path = cdr_file(tmp_path, "\t".join(["1", CDR_TEXT, CDR_PAIRS[1]]), "\t".join(["", CDR_TEXT, CDR_PAIRS[1]]))
    with pytest.raises(DataFormatError, match=r"train_filter\.data:2: document 1 \(PMID ''\): field PMID: empty"):
        read_cdr(path)
