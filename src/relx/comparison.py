"""Comparing two runs: is RUN_B's score on a split significantly different from RUN_A's?

``python -m relx.report --compare RUN_A RUN_B [--split auto|test|validation] [--resamples 1000] [--seed 0]``.
Both runs' official prediction files of the split are read and scored with the field's own metric, per item
(sentence), and ``relx.significance`` gives the difference B - A with its 95 % paired-bootstrap
confidence interval and the two-sided p-value of an approximate randomisation test. The files the run
wrote decide the family:

- ``predictions_<split>.txt`` + ``answer_key_<split>.txt`` (SemEval-2010 Task 8): official macro-F1;
- ``predictions_<split>.conll`` (NER, slots): seqeval entity F1;
- ``predictions_<split>.conllu`` (dependency parsing): LAS against the gold treebank the run read (its
  ``config.json``: ``data_dir``, else the bundled sample, and ``task.files``), with the task's conventions
  (``task.punctuation``, ``universal_relations``);
- ``predictions_<split>.json`` + ``answer_key_<split>.json`` (span QA: CMRC 2018, DRCD): F1 (``metric="f1"``,
  the default) or EM (``metric="em"``) per question by the CMRC 2018 script, or SQuAD v1.1's with
  ``task.metrics.span.language: en`` in the run's ``config.json``, averaged over questions;
- ``predictions_<split>.jsonl`` with a ``gold`` per question (multiple choice: C3, context selection):
  accuracy.

The two runs must have scored the same items (same gold, in the same order).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from relx.errors import DataFormatError, RelxError


@dataclass(frozen=True)
class Comparison:
    """Two runs scored on the same items of ``split``, and the significance of their difference."""

    metric: str  # what was scored, e.g. "SemEval-2010 Task 8 official macro-F1"
    split: str
    items: int
    item_name: str
    score_a: float
    score_b: float
    diff: float  # B - A
    low: float  # the 95 % paired-bootstrap interval of diff
    high: float
    p_value: float  # approximate randomisation, two-sided
    resamples: int
    seed: int


@dataclass
class _Outputs:
    """One run's official outputs on a split: ``gold`` (what must agree between the two runs) and ``pred``."""

    family: str
    gold: list[Any]
    pred: list[Any]
    conventions: dict[str, Any]


_FAMILIES = {
    "semeval": "predictions_{split}.txt + answer_key_{split}.txt",
    "ner": "predictions_{split}.conll",
    "parsing": "predictions_{split}.conllu",
    "span_qa": "predictions_{split}.json + answer_key_{split}.json",
    "choice": "predictions_{split}.jsonl",
}
# What ``metric=`` may name for each family (the first is the default).
_METRICS: dict[str, tuple[str, ...]] = {"span_qa": ("f1", "em")}


def _id_labels(path: Path) -> list[tuple[str, str]]:
    """``ID<TAB>Label`` lines (SemEval prediction and answer key files)."""
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataFormatError(path, "expected ID<TAB>Relation", lineno)
        rows.append((parts[0].strip(), parts[1].strip()))
    return rows


def _semeval(run: Path, split: str) -> _Outputs:
    key = _id_labels(run / f"answer_key_{split}.txt")
    predicted = _id_labels(run / f"predictions_{split}.txt")
    if [i for i, _ in predicted] != [i for i, _ in key]:
        raise RelxError(f"{run}: predictions_{split}.txt and answer_key_{split}.txt list different sentence ids")
    return _Outputs("semeval", key, [label for _, label in predicted], {})


def _ner(run: Path, split: str) -> _Outputs:
    from relx.tasks.word_outputs import read_conll_columns

    gold, pred = read_conll_columns(run / f"predictions_{split}.conll")
    return _Outputs("ner", gold, pred, {})


def _predicted_trees(path: Path) -> list[tuple[list[str], list[int], list[str]]]:
    """(words, heads, relations) of each sentence of a predicted CoNLL-U/CoNLL-X file, read as written: a
    prediction need not be a tree (greedy decoding), so ``read_conll``'s tree check is not applied."""
    sentences: list[tuple[list[str], list[int], list[str]]] = []
    current: tuple[list[str], list[int], list[str]] = ([], [], [])
    for lineno, line in enumerate([*path.read_text(encoding="utf-8").splitlines(), ""], start=1):
        if not line.strip():
            if current[0]:
                sentences.append(current)
                current = ([], [], [])
            continue
        cols = line.split("\t")
        if line.startswith("#") or not cols[0].isdigit():
            continue  # comment, multiword token, empty node
        if len(cols) != 10 or not cols[6].isdigit():
            raise DataFormatError(path, "expected 10 tab-separated columns with a numeric HEAD", lineno)
        current[0].append(cols[1])
        current[1].append(int(cols[6]))
        current[2].append(cols[7])
    return sentences


def _parsing(run: Path, split: str) -> _Outputs:
    from relx.data.conll import read_conll
    from relx.tasks.treebanks import PUNCTUATION

    config_path = run / "config.json"
    if not config_path.is_file():
        raise RelxError(f"{run} has predictions_{split}.conllu but no config.json naming the gold treebank")
    cfg = json.loads(config_path.read_text())
    task = cfg.get("task") or {}
    name = (task.get("files") or {}).get(split)
    if not name:
        raise RelxError(f"{run}: task.files has no {split} file (a carved split); compare on a split read from a file")
    if cfg.get("data_dir"):
        data_dir = Path(cfg["data_dir"])
    else:
        from relx.build import sample_dir

        data_dir = sample_dir(task.get("sample") or "")
    gold_path = data_dir / name
    if not gold_path.is_file():
        raise RelxError(f"{run}: the gold treebank {gold_path} is not there")
    gold = read_conll(gold_path, repair_trees=bool((cfg.get("data") or {}).get("repair_trees", False)))
    pred = _predicted_trees(run / f"predictions_{split}.conllu")
    if len(pred) != len(gold) or any(p[0] != list(g.words) for p, g in zip(pred, gold, strict=False)):
        raise RelxError(f"{run}: predictions_{split}.conllu does not hold the sentences of {gold_path}")
    punctuation = task.get("punctuation", "none")
    column = task.get("punct_column", "xpos")
    conventions = {
        "punct_tags": PUNCTUATION.get(punctuation, frozenset()),
        "tags": [list(getattr(ex, column)) for ex in gold],
        "universal_relations": bool(((task.get("metrics") or {}).get("tree") or {}).get("universal_relations", False)),
    }
    gold_trees = [(list(ex.words), list(ex.heads), list(ex.rels)) for ex in gold]
    return _Outputs("parsing", gold_trees, [(heads, rels) for _, heads, rels in pred], conventions)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataFormatError(path, f"not JSON ({e.msg})", e.lineno) from None


def _span_language(run: Path) -> str:
    """The span scorer's language of a run (``task.metrics.span.language`` in its ``config.json``; CMRC's "zh")."""
    config_path = run / "config.json"
    cfg = json.loads(config_path.read_text()) if config_path.is_file() else {}
    span = (((cfg.get("task") or {}).get("metrics") or {}).get("span") or {}) if isinstance(cfg, dict) else {}
    return str(span.get("language", "zh")) if isinstance(span, dict) else "zh"


def _span_qa(run: Path, split: str) -> _Outputs:
    """Gold answers of each question from the answer key (SQuAD layout, in its order), the predicted text."""
    key_path, pred_path = run / f"answer_key_{split}.json", run / f"predictions_{split}.json"
    key, predicted = _read_json(key_path), _read_json(pred_path)
    if not isinstance(predicted, dict):
        raise DataFormatError(pred_path, "expected {question id: answer text}")
    try:
        questions = [qa for article in key["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
        gold = [(str(qa["id"]), [str(answer["text"]) for answer in qa["answers"]]) for qa in questions]
    except (KeyError, TypeError) as e:
        raise DataFormatError(key_path, f"not a SQuAD-style answer key ({e!r})") from None
    missing = [qid for qid, _ in gold if qid not in predicted]
    if missing:
        raise RelxError(f"{pred_path}: no answer for question {missing[0]} ({len(missing)} of {len(gold)} missing)")
    return _Outputs("span_qa", gold, [str(predicted[qid]) for qid, _ in gold], {"language": _span_language(run)})


def _choice(run: Path, split: str) -> _Outputs:
    """Each question's id and gold candidate, and the chosen one (``predictions_<split>.jsonl`` records)."""
    path = run / f"predictions_{split}.jsonl"
    gold, pred = [], []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataFormatError(path, f"not JSON ({e.msg})", lineno) from None
        if not isinstance(record, dict) or not all(isinstance(record.get(k), int) for k in ("pred", "gold")):
            raise DataFormatError(
                path,
                "expected a multiple-choice record with the chosen ('pred') and the gold candidate's index",
                lineno,
            )
        gold.append((str(record.get("id")), record["gold"]))
        pred.append(record["pred"])
    return _Outputs("choice", gold, pred, {})


_READERS: dict[str, Callable[[Path, str], _Outputs]] = {
    "semeval": _semeval,
    "ner": _ner,
    "parsing": _parsing,
    "span_qa": _span_qa,
    "choice": _choice,
}


def _family(run: Path, split: str) -> str:
    if not run.is_dir():
        raise RelxError(f"{run} is not a run directory")
    if (run / f"predictions_{split}.txt").is_file() and (run / f"answer_key_{split}.txt").is_file():
        return "semeval"
    if (run / f"predictions_{split}.conll").is_file():
        return "ner"
    if (run / f"predictions_{split}.conllu").is_file():
        return "parsing"
    if (run / f"predictions_{split}.json").is_file() and (run / f"answer_key_{split}.json").is_file():
        return "span_qa"
    if (run / f"predictions_{split}.jsonl").is_file():
        return "choice"
    looked = ", ".join(files.format(split=split) for files in _FAMILIES.values())
    raise RelxError(f"{run} has no official prediction files of split {split!r} to compare (looked for {looked})")


def _first_difference(a: list[Any], b: list[Any]) -> str:
    if len(a) != len(b):
        return f"{len(a)} against {len(b)} items"
    index = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
    return f"item {index + 1} differs"


def _auto_split(*runs: Path) -> str:
    """``test`` when a run wrote official test predictions, else ``validation`` (a dev-only run)."""
    return "test" if any(any(run.glob("predictions_test.*")) for run in runs) else "validation"


def _statistics(
    family: str, a: _Outputs, b: _Outputs, metric: str
) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray], str, str]:
    """Per-item statistics of both runs, the metric over their sums, its name and what an item is."""
    from relx import significance as sig

    allowed = _METRICS.get(family, ())
    if metric != "auto" and metric not in allowed:
        offered = f"one of {', '.join(allowed)}" if allowed else "auto (it has one metric)"
        raise RelxError(f"--test-metric {metric} does not apply to {_FAMILIES[family]}: {offered}")
    if family == "semeval":
        gold = [label for _, label in a.gold]
        labels = sig.semeval_labels(gold, a.pred, b.pred)
        stats = sig.semeval_counts(a.pred, gold, labels), sig.semeval_counts(b.pred, gold, labels)
        return *stats, sig.semeval_f1_metric(labels), "SemEval-2010 Task 8 official macro-F1", "sentences"
    if family == "ner":
        stats = sig.entity_counts(a.gold, a.pred), sig.entity_counts(b.gold, b.pred)
        return *stats, sig.f1_from_counts, "entity F1 (seqeval)", "sentences"
    if family == "span_qa":
        answers, language = [gold for _, gold in a.gold], a.conventions["language"]
        stats = sig.qa_counts(answers, a.pred, language), sig.qa_counts(answers, b.pred, language)
        which = allowed[0] if metric == "auto" else metric
        script = "CMRC 2018 script" if language == "zh" else "SQuAD v1.1 script"
        column = {"em": 0, "f1": 1}[which]  # qa_counts' columns
        return *stats, sig.mean_of(column), f"{which.upper()} ({script})", "questions"
    if family == "choice":
        gold_choices = [g for _, g in a.gold]
        stats = sig.choice_counts(gold_choices, a.pred), sig.choice_counts(gold_choices, b.pred)
        return *stats, sig.mean_of(0), "accuracy", "questions"
    heads, rels = [h for _, h, _ in a.gold], [r for _, _, r in a.gold]

    def counts(pred: list[Any]) -> np.ndarray:
        return sig.attachment_counts(heads, rels, [h for h, _ in pred], [r for _, r in pred], **a.conventions)

    return counts(a.pred), counts(b.pred), sig.las_from_counts, "LAS", "sentences"


def compare(
    run_a: str | Path,
    run_b: str | Path,
    split: str = "auto",
    resamples: int = 1000,
    seed: int = 0,
    metric: str = "auto",
) -> Comparison:
    """Score two runs' official predictions of ``split`` per item and test their difference (module docstring);
    ``split="auto"``: the test split when either run has its predictions, else the dev split; ``metric``: which
    of the family's metrics (span QA: ``f1``, ``em``), ``auto`` its first."""
    from relx import significance as sig

    if resamples < 1:
        raise RelxError(f"--resamples must be positive, not {resamples}")
    dir_a, dir_b = Path(run_a), Path(run_b)
    if split == "auto":
        split = _auto_split(dir_a, dir_b)
    family_a, family_b = _family(dir_a, split), _family(dir_b, split)
    if family_a != family_b:
        raise RelxError(
            f"{dir_a} has {_FAMILIES[family_a].format(split=split)} but {dir_b} has "
            f"{_FAMILIES[family_b].format(split=split)}: not comparable"
        )
    a, b = _READERS[family_a](dir_a, split), _READERS[family_b](dir_b, split)
    if a.gold != b.gold:
        raise RelxError(
            f"{dir_a} and {dir_b} scored different {split} items ({_first_difference(a.gold, b.gold)}): not comparable"
        )
    if a.conventions != b.conventions:
        raise RelxError(f"{dir_a} and {dir_b} score {split} with different conventions (task.punctuation, metrics)")
    stats_a, stats_b, scorer, name, item_name = _statistics(family_a, a, b, metric)
    if len(stats_a) == 0:
        raise RelxError(f"{dir_a} has no {split} items to compare")
    diff, low, high = sig.paired_bootstrap(stats_a, stats_b, scorer, resamples, seed)
    p_value = sig.approximate_randomisation(stats_a, stats_b, scorer, resamples, seed)
    return Comparison(
        name, split, len(stats_a), item_name, sig.score(stats_a, scorer), sig.score(stats_b, scorer),
        diff, low, high, p_value, resamples, seed,
    )  # fmt: skip


def format_comparison(c: Comparison, run_a: str | Path, run_b: str | Path) -> str:
    width = max(len(str(run_a)), len(str(run_b)))
    return (
        f"{c.metric} on {c.split} ({c.items} {c.item_name})\n"
        f"  A      {str(run_a):<{width}}  {c.score_a:.4f}\n"
        f"  B      {str(run_b):<{width}}  {c.score_b:.4f}\n"
        f"  B - A  {c.diff:+.4f}  95% CI [{c.low:+.4f}, {c.high:+.4f}]"
        f"  (paired bootstrap, {c.resamples} resamples, seed {c.seed})\n"
        f"  p = {c.p_value:.4f}  (approximate randomisation, two-sided, {c.resamples} shuffles)\n"
    )
