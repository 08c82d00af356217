"""Pictures of one evaluated split, written beside its prediction files, so that where a model goes wrong
shows at a glance in the run directory:

- ``confusion_<split>.png``: the confusion matrix of sentence-level labels (relations, intents), rows gold
  and columns predicted, coloured by the share of each gold row, counts written in the cells of small
  matrices (``ANNOTATE_UP_TO`` labels);
- ``f1_by_type_<split>.png``: F1 per entity type (NER, slots: from the ``entity_report_<split>.json`` the
  word tasks write) or, without one, per sentence label; horizontal bars sorted by F1, support in the label.

Tasks hand over plain data (``Task.label_pairs``) and know nothing of plotting; this module sits above
``relx.tasks`` in the layers. ``write_plots`` is called after ``Task.write_outputs`` (it reads the entity
report that writes). Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas, not pyplot:
no global backend or figure state is touched, so it is safe inside a notebook or a training process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from relx.tasks.base import LabelPairs, Task

log = logging.getLogger(__name__)

ANNOTATE_UP_TO = 25  # larger matrices get no counts in their cells: they would not be legible
AVERAGES = ("micro avg", "macro avg", "weighted avg")  # seqeval's summary rows of the entity report


@dataclass(frozen=True)
class TypeScore:
    """Precision, recall and F1 of one entity type or label, and its gold count."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int


def write_plots(
    task: Task[Any], out_dir: Path, split: str, examples: Sequence[Any], predictions: Mapping[str, list[Any]]
) -> list[Path]:
    """Draw what ``task`` offers for ``split`` into ``out_dir``; return the PNGs written (none for tasks
    without sentence labels or entity types, e.g. parsing, DocRE, MRC, and for unlabelled examples).

    A picture is a by-product: one that cannot be drawn is logged and skipped, never raised, so it cannot
    cost a run its metrics and prediction files."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    pairs = task.label_pairs(list(examples), dict(predictions))
    types = entity_scores(out_dir / f"entity_report_{split}.json") if "token" in predictions else None
    title = f"{task.name} {split}"
    if pairs is not None:
        _draw(written, out_dir / f"confusion_{split}.png", lambda path: plot_confusion(path, pairs, title))
    if types:
        bars_title = f"{title}: F1 by entity type"
        _draw(written, out_dir / f"f1_by_type_{split}.png", lambda path: plot_f1_bars(path, types, bars_title))
    elif pairs is not None:
        bars_title = f"{title}: F1 by {pairs.space}"
        scores = label_scores(pairs)
        _draw(written, out_dir / f"f1_by_type_{split}.png", lambda path: plot_f1_bars(path, scores, bars_title))
    return written


def _draw(written: list[Path], path: Path, draw: Callable[[Path], object]) -> None:
    try:
        draw(path)
    except Exception as err:  # a picture must not fail a run (see write_plots)
        log.warning("could not draw %s: %s", path, err)
    else:
        written.append(path)


# ---- data -------------------------------------------------------------------------------------------
def confusion_counts(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """(labels shown, counts ``[gold, predicted]``): the labels of ``labels`` that occur as gold or
    prediction, in that order, then any other label seen (sorted). Labels that never occur are left out:
    they would only add empty rows and columns."""
    present = set(gold) | set(predicted)
    shown = [label for label in dict.fromkeys(labels) if label in present] + sorted(present - set(labels))
    index = {label: i for i, label in enumerate(shown)}
    counts = np.zeros((len(shown), len(shown)), dtype=np.int64)
    rows = np.array([index[g] for g in gold], dtype=np.int64)
    columns = np.array([index[p] for p in predicted], dtype=np.int64)
    np.add.at(counts, (rows, columns), 1)
    return shown, counts


def label_scores(pairs: LabelPairs) -> list[TypeScore]:
    """Per-label precision, recall and F1 (0 where undefined, as scikit-learn's ``zero_division=0``) of
    sentence-level labels, from their confusion matrix."""
    shown, counts = confusion_counts(pairs.gold, pairs.predicted, pairs.labels)
    hits = np.diag(counts).astype(float)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return [
        TypeScore(name, float(p), float(r), float(f), int(s))
        for name, p, r, f, s in zip(shown, precision, recall, f1, support, strict=True)
    ]


def entity_scores(report_path: Path) -> list[TypeScore] | None:
    """Per-type scores of an entity report (``relx.tasks.word_outputs.entity_report``); None when the
    file is missing or unreadable, or holds no gold entity (unlabelled sentences are written with gold
    ``O``: there is nothing to score)."""
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        scores = [
            TypeScore(name, float(s["precision"]), float(s["recall"]), float(s["f1-score"]), int(s["support"]))
            for name, s in report.items()
            if name not in AVERAGES
        ]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return scores if sum(s.support for s in scores) > 0 else None


# ---- drawing ----------------------------------------------------------------------------------------
def _plain(label: str) -> str:
    """``label`` as literal text (a ``$`` would start matplotlib's math mode)."""
    return label.replace("$", r"\$")


def _save(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")  # tight: long labels are not cut off


def plot_confusion(path: Path, pairs: LabelPairs, title: str) -> np.ndarray:
    """The confusion matrix of ``pairs`` as a PNG; returns the counts drawn (rows gold, columns predicted)."""
    from matplotlib.figure import Figure

    shown, counts = confusion_counts(pairs.gold, pairs.predicted, pairs.labels)
    n = len(shown)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    side = max(4.0, 0.4 * n + 2.5)
    fig = Figure(figsize=(side + 1.0, side))
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the gold label's examples")
    names = [_plain(label) for label in shown]
    ax.set_xticks(range(n), labels=names, rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels=names, fontsize=8)
    ax.set_xlabel(f"predicted {pairs.space}")
    ax.set_ylabel(f"gold {pairs.space}")
    if n <= ANNOTATE_UP_TO:
        for i, j in zip(*np.nonzero(counts), strict=True):
            colour = "white" if share[i, j] > 0.5 else "black"
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7, color=colour)
    accuracy = float(np.trace(counts)) / max(int(counts.sum()), 1)
    ax.set_title(f"{title}: {pairs.space} confusion\naccuracy {accuracy:.3f} over {int(counts.sum())} examples")
    _save(fig, path)
    return counts


def plot_f1_bars(path: Path, scores: Sequence[TypeScore], title: str) -> None:
    """Horizontal F1 bars, best at the top, each labelled with its support (``n=``) and its F1."""
    from matplotlib.figure import Figure

    ordered = sorted(scores, key=lambda s: (s.f1, s.support))  # barh draws the first at the bottom
    fig = Figure(figsize=(7.0, max(2.5, 0.3 * len(ordered) + 1.2)))
    ax = fig.add_subplot()
    ys = range(len(ordered))
    ax.barh(ys, [s.f1 for s in ordered], color="tab:blue", alpha=0.8)
    ax.set_yticks(ys, labels=[f"{_plain(s.name)} (n={s.support})" for s in ordered], fontsize=8)
    for y, s in zip(ys, ordered, strict=True):
        ax.text(min(s.f1, 1.0) + 0.01, y, f"{s.f1:.2f}", va="center", fontsize=7)
    ax.set_xlim(0.0, 1.1)
    ax.set_xlabel("F1")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title)
    _save(fig, path)


def plot_metric_across_runs(path: Path, runs: Sequence[tuple[str, float, float | None]], metric: str) -> None:
    """One horizontal bar per run (or seed group) of ``metric``, with its standard deviation as an error bar
    when there is one (``relx.report --plot``); ``runs``: (name, value, sd or None), drawn in the given order."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, max(2.5, 0.35 * len(runs) + 1.2)))
    ax = fig.add_subplot()
    ys = list(range(len(runs)))[::-1]  # the first run at the top
    values = [value for _, value, _ in runs]
    errors = [sd or 0.0 for _, _, sd in runs]
    ax.barh(ys, values, xerr=errors if any(errors) else None, color="#4c72b0", capsize=3)
    ax.set_yticks(ys, labels=[_plain(name) for name, _, _ in runs], fontsize=8)
    for y, value in zip(ys, values, strict=True):
        ax.text(value, y, f" {value:.4f}", va="center", fontsize=7)
    ax.set_xlabel(_plain(metric))
    ax.set_title(f"{_plain(metric)} across runs")
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)
