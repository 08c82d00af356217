"""Pictures of an evaluated split (``relx.plots``) and the learning curve every run records (``relx.curves``).

No training: examples are the bundled samples read through the task readers, predictions are made by hand
(every third example wrong), so the counts are known."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from relx import plots
from relx.build import sample_dir
from relx.curves import LOSS, ValidationCurves, curve_callbacks, curve_metrics, plot_curves
from relx.data.examples import WordExample
from relx.tasks.base import LabelPairs, Task
from relx.tasks.relations import SemEvalTask
from relx.tasks.treebanks import DependencyTask
from relx.tasks.words import BioNerTask, IntentSlotTask

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG_SIGNATURE, path


def read(task: Task[Any], name: str, split: str) -> list[Any]:
    """``split`` of the bundled sample ``name``, with the task's vocabularies built from its training split."""
    data_dir = sample_dir(name)
    train = task.read_split(data_dir, "train")
    examples = task.read_split(data_dir, split)
    assert train is not None and examples is not None
    task.use_vocabs(task.build_vocabs(data_dir, train[0]))
    return examples[0]


def wrong_every_third(gold: list[str], labels: list[str]) -> list[str]:
    """``gold`` with every third label replaced by the next label of ``labels``."""
    return [labels[(labels.index(g) + 1) % len(labels)] if i % 3 == 0 else g for i, g in enumerate(gold)]


def words_predictions(examples: list[WordExample]) -> list[list[str]]:
    """Gold tags, all ``O`` in every third sentence (missed entities)."""
    return [["O"] * len(ex.words) if i % 3 == 0 else list(ex.tags or ()) for i, ex in enumerate(examples)]


# ---- sentence labels: relations ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def semeval() -> tuple[SemEvalTask, list[Any], dict[str, list[Any]]]:
    task = SemEvalTask(
        "semeval", files={"train": "TRAIN_FILE.TXT", "test": "TEST_FILE_FULL.TXT"}, label_file="label.txt"
    )
    examples = read(task, "semeval", "test")
    predicted = wrong_every_third([ex.label for ex in examples], task.vocabs["sentence"].labels)
    return task, examples, {"sentence": predicted}


def test_relations_get_a_confusion_matrix_and_f1_bars(
    tmp_path: Path, semeval: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    task, examples, predictions = semeval
    drawn: list[np.ndarray] = []
    draw = plots.plot_confusion
    monkeypatch.setattr(plots, "plot_confusion", lambda *args: drawn.append(draw(*args)))
    task.write_outputs(tmp_path, "test", examples, predictions)
    written = plots.write_plots(task, tmp_path, "test", examples, predictions)
    assert written == [tmp_path / "confusion_test.png", tmp_path / "f1_by_type_test.png"]
    for path in written:
        assert_png(path)

    # the counts drawn are scikit-learn's, over the labels that occur, in the vocabulary's order
    pairs = task.label_pairs(examples, predictions)
    assert pairs is not None and pairs.space == "relation" and pairs.gold == [ex.label for ex in examples]
    assert pairs.labels[: len(task.vocabs["sentence"].labels)] == task.vocabs["sentence"].labels
    shown, counts = plots.confusion_counts(pairs.gold, pairs.predicted, pairs.labels)
    assert set(shown) == set(pairs.gold) | set(pairs.predicted)  # labels never seen are left out
    assert shown == [label for label in pairs.labels if label in set(shown)]
    (drawn_counts,) = drawn
    np.testing.assert_array_equal(drawn_counts, confusion_matrix(pairs.gold, pairs.predicted, labels=shown))
    np.testing.assert_array_equal(drawn_counts, counts)
    assert counts.sum() == len(examples) and 0 < np.trace(counts) < len(examples)


def test_label_f1_is_sklearns(semeval: Any) -> None:
    task, examples, predictions = semeval
    pairs = task.label_pairs(examples, predictions)
    assert pairs is not None
    scores = plots.label_scores(pairs)
    names = [s.name for s in scores]
    p, r, f, support = precision_recall_fscore_support(
        pairs.gold, pairs.predicted, labels=names, zero_division=0
    )  # fmt: skip
    assert [s.precision for s in scores] == pytest.approx(p)
    assert [s.recall for s in scores] == pytest.approx(r)
    assert [s.f1 for s in scores] == pytest.approx(f)
    assert [s.support for s in scores] == list(support)


def test_unlabelled_relations_draw_nothing(tmp_path: Path, semeval: Any) -> None:
    task, examples, predictions = semeval
    unlabelled = [task.without_labels(ex) for ex in examples]
    assert task.label_pairs(unlabelled, predictions) is None
    assert plots.write_plots(task, tmp_path, "test", unlabelled, predictions) == []
    assert plots.write_plots(task, tmp_path, "test", examples, {}) == []  # no sentence predictions
    assert list(tmp_path.iterdir()) == []


# ---- word tasks: entity types, intents --------------------------------------------------------------
def test_ner_gets_f1_bars_from_the_entity_report(tmp_path: Path) -> None:
    task = BioNerTask("mit_movie", {"train": "engtrain.bio", "test": "engtest.bio"})
    examples = read(task, "mit_movie", "test")
    predictions = {"token": words_predictions(examples)}
    task.write_outputs(tmp_path, "test", examples, predictions)
    assert task.label_pairs(examples, predictions) is None
    written = plots.write_plots(task, tmp_path, "test", examples, predictions)
    assert written == [tmp_path / "f1_by_type_test.png"]
    assert_png(written[0])
    report = json.loads((tmp_path / "entity_report_test.json").read_text())
    scores = plots.entity_scores(tmp_path / "entity_report_test.json")
    assert scores is not None
    assert {s.name: s.f1 for s in scores} == {k: v["f1-score"] for k, v in report.items() if "avg" not in k}
    assert 0 < min(s.f1 for s in scores) <= max(s.f1 for s in scores) <= 1


def test_unlabelled_ner_draws_nothing(tmp_path: Path) -> None:
    task = BioNerTask("mit_movie", {"train": "engtrain.bio", "test": "engtest.bio"})
    examples = [task.without_labels(ex) for ex in read(task, "mit_movie", "test")]
    predictions = {"token": [["B-ACTOR"] + ["O"] * (len(ex.words) - 1) for ex in examples]}
    task.write_outputs(tmp_path, "test", examples, predictions)  # gold written as O: no gold entity
    assert plots.write_plots(task, tmp_path, "test", examples, predictions) == []


@pytest.mark.parametrize(
    ("spaces", "expected"),
    [
        (("sentence", "token"), ["confusion_validation.png", "f1_by_type_validation.png"]),  # joint head
        (("sentence",), ["confusion_validation.png", "f1_by_type_validation.png"]),  # intents only
        (("token",), ["f1_by_type_validation.png"]),  # slots only
    ],
)
def test_intents_and_slots(tmp_path: Path, spaces: tuple[str, ...], expected: list[str]) -> None:
    task = IntentSlotTask("atis")
    examples = read(task, "atis", "validation")
    gold = [ex.label for ex in examples]
    every = {
        "sentence": wrong_every_third(gold, [*task.vocabs["sentence"].labels, *sorted(set(gold))]),
        "token": words_predictions(examples),
    }
    predictions = {space: every[space] for space in spaces}
    task.write_outputs(tmp_path, "validation", examples, predictions)
    written = plots.write_plots(task, tmp_path, "validation", examples, predictions)
    assert [p.name for p in written] == expected
    for path in written:
        assert_png(path)
    pairs = task.label_pairs(examples, predictions)
    assert (pairs is not None) == ("sentence" in spaces)
    if pairs is not None:
        assert pairs.space == "intent" and set(pairs.labels) >= set(gold) | set(pairs.predicted)


# ---- tasks with nothing to draw, odd inputs, failures ---------------------------------------------------
def test_parsing_draws_nothing(tmp_path: Path) -> None:
    task = DependencyTask("ptb_sd", {"train": "train.conll", "test": "test.conll"}, punctuation="ptb")
    examples = read(task, "ptb_sd", "test")
    predictions = {"tree": [list(zip(ex.heads, ex.rels, strict=True)) for ex in examples]}
    assert plots.write_plots(task, tmp_path, "test", examples, predictions) == []
    assert list(tmp_path.iterdir()) == []


def test_large_label_spaces_and_odd_labels_draw(tmp_path: Path) -> None:
    labels = [f"rel_{i}" for i in range(plots.ANNOTATE_UP_TO - 1)] + ["cost $x$", "per:place_of_birth"]
    gold = [labels[i % len(labels)] for i in range(100)]
    pairs = LabelPairs("relation", gold, wrong_every_third(gold, labels), labels)
    counts = plots.plot_confusion(tmp_path / "big.png", pairs, "big")
    assert counts.shape == (len(labels), len(labels)) and counts.sum() == 100
    plots.plot_f1_bars(tmp_path / "bars.png", plots.label_scores(pairs), "big")
    assert_png(tmp_path / "big.png")
    assert_png(tmp_path / "bars.png")


def test_a_picture_that_fails_is_logged_not_raised(
    tmp_path: Path, semeval: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    task, examples, predictions = semeval

    def broken(*args: Any) -> None:
        raise ValueError("no room")

    monkeypatch.setattr(plots, "plot_confusion", broken)
    with caplog.at_level(logging.WARNING, logger="relx.plots"):
        written = plots.write_plots(task, tmp_path, "test", examples, predictions)
    assert written == [tmp_path / "f1_by_type_test.png"]
    assert "confusion_test.png: no room" in caplog.text


# ---- learning curves ---------------------------------------------------------------------------------
def test_every_run_gets_a_curve() -> None:
    assert curve_metrics({"task": {"curves": ["val/em", "val/f1"]}}, ["val/f1"]) == ["val/em", "val/f1"]
    assert curve_metrics({"task": {}, "tasks": {"a": {}}}, ["val/average"]) == ["val/average"]
    assert curve_metrics({"task": {"monitor": {"token": "val/f1"}}}, ["val/f1"]) == ["val/f1"]
    assert curve_metrics({"task": {}}) == []
    (callback,) = curve_callbacks({"task": {}}, Path("run"), default_metrics=["val/f1"])
    assert isinstance(callback, ValidationCurves) and callback.metrics == ["val/f1"] and callback.loss == LOSS
    (loss_only,) = curve_callbacks({"task": {}}, Path("run"))
    assert isinstance(loss_only, ValidationCurves) and loss_only.metrics == []


def fake_trainer(step: int, **metrics: float) -> Any:
    return SimpleNamespace(
        sanity_checking=False,
        training=True,
        state=SimpleNamespace(fn="fit"),
        callback_metrics={k.replace("__", "/"): torch.tensor(v) for k, v in metrics.items()},
        global_step=step,
        current_epoch=0,
        is_global_zero=True,
    )


def test_curves_record_the_training_loss_and_plot_it(tmp_path: Path) -> None:
    curves = ValidationCurves(tmp_path, ["val/f1"])
    for step, (f1, loss) in enumerate([(0.2, 2.5), (0.5, 1.25), (0.75, 0.5)], start=1):
        curves.on_validation_end(fake_trainer(step, val__f1=f1, train__loss=loss, val__loss=9.0), None)  # type: ignore[arg-type]
    curves.on_fit_end(fake_trainer(3), None)  # type: ignore[arg-type]
    points = json.loads((tmp_path / "curves.json").read_text())
    assert [p["step"] for p in points] == [1.0, 2.0, 3.0] and all(p["epoch"] == 0.0 for p in points)
    assert [p["val/f1"] for p in points] == pytest.approx([0.2, 0.5, 0.75])
    assert [p[LOSS] for p in points] == pytest.approx([2.5, 1.25, 0.5])
    assert all("val/loss" not in p for p in points)
    assert_png(tmp_path / "curves.png")
    plot_curves([{"step": 1.0, "epoch": 0.0, "val/f1": 0.5}], ["val/f1"], tmp_path / "no_loss.png")  # older files
    assert_png(tmp_path / "no_loss.png")
