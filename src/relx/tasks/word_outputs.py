"""Prediction files of the word-level tasks, in the formats the field's scorers read.

- NER / slots: CoNLL lines ``word gold pred`` with a blank line between sentences (conlleval reads it).
- Intent + slots: JSON lines with gold and predicted intent and slots.
- Raw-text prediction: JSON lines with words, tags, entities and intent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from seqeval.metrics import classification_report
from seqeval.metrics.sequence_labeling import get_entities

from relx.data.examples import WordExample
from relx.io import atomic_write, write_json_atomic, write_jsonl_atomic


def write_conll(path: str | Path, examples: Sequence[WordExample], predicted: Sequence[Sequence[str]]) -> None:
    """``word gold pred`` per line, blank line between sentences (gold ``O`` when unlabelled)."""

    def write(fh: Any) -> None:
        for ex, tags in zip(examples, predicted, strict=True):
            gold = ex.tags or ("O",) * len(ex.words)
            for word, g, p in zip(ex.words, gold, tags, strict=True):
                fh.write(f"{word} {g} {p}\n")
            fh.write("\n")

    atomic_write(path, write)


def read_conll_columns(path: str | Path) -> tuple[list[list[str]], list[list[str]]]:
    """(gold, predicted) sequences of a ``word gold pred`` file, as conlleval reads it."""
    gold: list[list[str]] = [[]]
    pred: list[list[str]] = [[]]
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if gold[-1]:
                gold.append([])
                pred.append([])
            continue
        cols = line.split()
        gold[-1].append(cols[-2])
        pred[-1].append(cols[-1])
    if not gold[-1]:
        gold.pop()
        pred.pop()
    return gold, pred


def entity_report(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, Any]:
    """Per-type precision/recall/F1/support (seqeval's classification report)."""
    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    return {k: {m: float(v) for m, v in scores.items()} for k, scores in report.items()}


def write_intent_slots(
    path: str | Path,
    examples: Sequence[WordExample],
    intents: Sequence[str],
    slots: Sequence[Sequence[str]] | None,
) -> None:
    """JSON lines: words, gold/predicted intent and slots (``slots_pred`` null for an intent-only head)."""

    write_jsonl_atomic(
        path,
        (
            {
                "id": i,
                "words": list(ex.words),
                "intent_gold": ex.label,
                "intent_pred": intent,
                "slots_gold": list(ex.tags or ()),
                "slots_pred": list(slots[i]) if slots else None,
            }
            for i, (ex, intent) in enumerate(zip(examples, intents, strict=True))
        ),
    )


def raw_word_records(examples: Sequence[WordExample], predictions: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """One record per input sentence: words, tags with entities, and intent where predicted."""
    for i, ex in enumerate(examples):
        record: dict[str, Any] = {"source": ex.source, "words": list(ex.words)}
        if "token" in predictions:
            tags = predictions["token"][i]
            record["tags"] = tags
            record["entities"] = [
                {"type": t, "start": s, "end": e + 1, "text": " ".join(ex.words[s : e + 1])}
                for t, s, e in get_entities(tags)
            ]
        if "sentence" in predictions:
            record["intent"] = predictions["sentence"][i]
        yield record


def write_split_predictions(
    run_dir: Path, split: str, examples: Sequence[WordExample], predictions: dict[str, list[Any]]
) -> list[Path]:
    """The official-format files of one evaluated split; returns their paths."""
    written: list[Path] = []
    if "token" in predictions:
        conll = run_dir / f"predictions_{split}.conll"
        write_conll(conll, examples, predictions["token"])
        gold, pred = read_conll_columns(conll)
        write_json_atomic(run_dir / f"entity_report_{split}.json", entity_report(gold, pred))
        written.append(conll)
    if "sentence" in predictions:
        path = run_dir / f"predictions_{split}.jsonl"
        write_intent_slots(path, examples, predictions["sentence"], predictions.get("token"))
        written.append(path)
    return written
