"""Integration: the bundled pretrained MiniLM really learns the bundled samples (slower tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from seqeval.metrics import f1_score

from helpers import compose_config
from relx.runs import train
from relx.tasks.word_outputs import read_conll_columns

pytestmark = pytest.mark.slow
QUIET = ["trainer.enable_progress_bar=false"]


def test_minilm_learns_mit_movie_sample_and_matches_seqeval(tmp_path: Path) -> None:
    metrics = train(compose_config(["task=mit_movie", "head=token", *QUIET]), tmp_path)
    # A random tagger scores ~0.01 here; three CPU epochs of MiniLM on 360 sentences reach ~0.3.
    assert metrics["val/f1"] > 0.15 and metrics["test/f1"] > 0.15
    assert metrics["test/token_f1"] > 0.6
    gold, pred = read_conll_columns(tmp_path / "predictions_test.conll")
    assert metrics["test/f1"] == pytest.approx(f1_score(gold, pred), abs=1e-6)
    report = json.loads((tmp_path / "entity_report_test.json").read_text())
    assert report["micro avg"]["f1-score"] == pytest.approx(metrics["test/f1"], abs=1e-6)


def test_minilm_learns_snips_intents(tmp_path: Path) -> None:
    cfg = compose_config(["task=snips", "head=joint", "trainer.max_epochs=2", *QUIET])
    metrics = train(cfg, tmp_path)
    assert metrics["val/intent_acc"] > 0.5  # 7 balanced intents: chance is ~0.14
