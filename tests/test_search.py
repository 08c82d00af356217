"""Hyperparameter search (``hparams_search=...``, Hydra's Optuna sweeper, ``relx.search``): the presets compose,
a study runs, resumes, refuses another budget, survives failed trials, and its best trial reruns as an
experiment. The searches run in this process (``relx.train.main``), with the tiny encoder on the SemEval sample."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import TINY_FAST

optuna = pytest.importorskip("optuna")

STUDY = "semeval-rbert-tiny-optuna"  # <task>-<head>-<encoder>-<preset>
# the sample's test split left out: dev is what a search scores
SEARCH = ["hparams_search=optuna", "task=semeval", *TINY_FAST, "write_predictions=false", "task.files.test=null"]


def compose_search(overrides: list[str]) -> Any:
    """The composed config with its ``hydra`` node (sweeper, callbacks), as a multirun sees it."""
    from hydra import compose, initialize_config_module

    with initialize_config_module("relx.conf", version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize(("preset", "task"), [("optuna", "snips"), ("optuna", "ud_ewt"), ("semeval_optuna", "semeval")])
def test_search_presets_compose_and_search_existing_keys(preset: str, task: str) -> None:
    from omegaconf import OmegaConf

    cfg = compose_search([f"hparams_search={preset}", f"task={task}"])
    sweeper = cfg.hydra.sweeper
    assert (
        sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.callbacks.optuna._target_ == "relx.search.OptunaSearch"
    )
    assert sweeper.direction == "maximize" and sweeper.sampler.seed == 42 and cfg.hydra.mode.name == "MULTIRUN"
    head = cfg.hydra.runtime.choices.head
    assert sweeper.study_name == f"{task}-{head}-minilm-{preset}"
    assert sweeper.storage == f"sqlite:///multirun/optuna/{sweeper.study_name}/optuna.db"
    assert str(cfg.hydra.sweep.dir).startswith(f"multirun/optuna/{sweeper.study_name}/")
    # every searched key exists in the job's config (a typo would fail every trial)
    for key in sweeper.params:
        assert OmegaConf.select(cfg, key, default="missing") != "missing", key
    if preset == "semeval_optuna":
        assert {"head.dropout", "head.entity_fc", "optim.encoder_lr", "data.batch_size"} <= set(sweeper.params)
    assert (
        compose_search([f"hparams_search={preset}", f"task={task}", "mode=min"]).hydra.sweeper.direction == "minimize"
    )


def test_experiment_yaml_writes_group_choices_as_defaults_and_the_rest_as_values() -> None:
    from omegaconf import OmegaConf

    from relx.errors import ConfigError
    from relx.search import experiment_yaml

    overrides = [
        "task=semeval",
        "hparams_search=optuna",
        "optim.encoder_lr=3.1e-05",
        "data.batch_size=16",
        "+rbert_variant=gelu",
        "++seed=7",
    ]
    text = experiment_yaml(overrides, ["task", "head", "hparams_search", "rbert_variant"], ["trial 3"])
    assert text.startswith("# @package _global_\n# trial 3\n")
    assert OmegaConf.to_container(OmegaConf.create(text)) == {
        "defaults": [{"/rbert_variant": "gelu"}, {"override /task": "semeval"}],  # Hydra wants overrides last
        "optim": {"encoder_lr": 3.1e-05},
        "data": {"batch_size": 16},
        "seed": 7,
    }
    with pytest.raises(ConfigError, match="~data_dir cannot be written"):
        experiment_yaml(["~data_dir"], [])


@pytest.fixture
def relx_train(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., int]]:
    """``python -m relx.train ARGS`` run in this process, in ``tmp_path``; its exit status. Hydra's and relx's
    process-wide settings (logging handlers, the sweep's failure collection) are put back afterwards."""
    from hydra.core.global_hydra import GlobalHydra

    import relx.train
    from relx.cli import collect_failures

    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    lightning = logging.getLogger("lightning.pytorch")
    propagate = lightning.propagate

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["relx.train", *args])
        GlobalHydra.instance().clear()
        try:
            relx.train.main()
        except SystemExit as done:
            return int(done.code or 0)
        finally:
            GlobalHydra.instance().clear()
            collect_failures(False)
            for handler in root.handlers[:]:
                if handler not in handlers:
                    root.removeHandler(handler)
                    handler.close()
            root.setLevel(level)
            lightning.propagate = propagate
        return 0

    yield run


def trials(tmp_path: Path) -> list[Any]:
    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{tmp_path}/multirun/optuna/{STUDY}/optuna.db")
    return list(study.trials)


def test_search_resumes_its_study_and_its_best_trial_reruns_as_an_experiment(
    relx_train: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from optuna.trial import TrialState

    assert relx_train(*SEARCH, "hydra.sweeper.n_trials=3") == 0
    first = trials(tmp_path)
    assert [t.state for t in first] == [TrialState.COMPLETE] * 3
    assert len({t.params["optim.encoder_lr"] for t in first}) == 3
    study_dir = tmp_path / "multirun" / "optuna" / STUDY
    best = study_dir / "experiment" / "best.yaml"
    out = capsys.readouterr().out
    assert f"python -m relx.train --config-dir {Path('multirun/optuna') / STUDY} +experiment=best" in out

    # the same command with a larger study: the three trials stay, one more runs (not a repeat of the first)
    assert relx_train(*SEARCH, "hydra.sweeper.n_trials=4") == 0
    resumed = trials(tmp_path)
    assert len(resumed) == 4 and [(t.params, t.value) for t in resumed[:3]] == [(t.params, t.value) for t in first]
    assert resumed[3].state == TrialState.COMPLETE and resumed[3].params not in [t.params for t in first]
    assert len([d for d in study_dir.iterdir() if d.name[:2] == "20"]) == 2  # one folder per run of the command

    # another budget is another study: refused in one line, nothing run
    capsys.readouterr()
    assert relx_train(*SEARCH, "trainer.max_steps=3", "hydra.sweeper.n_trials=5") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"relx: error: the Optuna study {STUDY} (") and "(trainer.max_steps: 2 -> 3)" in err[-1]
    assert len(trials(tmp_path)) == 4

    # the best trial as an experiment: the same configuration as the trial's run, and the same result
    winner = max(resumed, key=lambda t: t.value)
    header = best.read_text().splitlines()[1:3]
    assert f"trial {winner.number}," in header[0] and f"val/f1 = {winner.value:.6g} (maximized); its run: " in header[1]
    trial_run = Path(header[1].split("its run: ")[1])
    # only the best trial kept its checkpoints (keep_checkpoints=best), across both runs of the command
    kept = {p.parent for p in study_dir.glob("20*/*/checkpoints")}
    assert kept == {tmp_path / trial_run} and len(list(study_dir.glob("20*/*/metrics.json"))) == 4
    assert relx_train("--config-dir", str(study_dir), "+experiment=best", "hydra.run.dir=best") == 0
    assert json.loads((tmp_path / "best" / "config.json").read_text()) == json.loads(
        (tmp_path / trial_run / "config.json").read_text()
    )
    rerun = json.loads((tmp_path / "best" / "metrics.json").read_text())["val/f1"]
    assert rerun == pytest.approx(winner.value, abs=1e-6)


def test_failed_trials_are_recorded_and_the_search_goes_on(
    relx_train: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from optuna.trial import TrialState

    # the head's activation as the only searched key: the sampler's seed 0 draws bogus, then tanh
    search = [
        *SEARCH,
        "hydra.sweeper.params=null",
        "hydra.sweeper.sampler.seed=0",
        "head.activation=choice(tanh,bogus)",
    ]
    assert relx_train(*search, "hydra.sweeper.n_trials=2") == 1  # the sweep lists its failed jobs
    states = [(t.params["head.activation"], t.state) for t in trials(tmp_path)]
    assert states == [("bogus", TrialState.FAIL), ("tanh", TrialState.COMPLETE)]
    err = capsys.readouterr().err
    assert "head.activation must be one of ['gelu', 'relu', 'tanh'], not 'bogus'" in err
    assert "jobs of the sweep failed" in err
    assert (tmp_path / "multirun" / "optuna" / STUDY / "experiment" / "best.yaml").is_file()


def test_a_search_where_no_trial_completes_ends_with_one_line(
    relx_train: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from optuna.trial import TrialState

    assert relx_train(*SEARCH, "head.activation=choice(bogus,wrong)", "hydra.sweeper.n_trials=1") == 1
    assert [t.state for t in trials(tmp_path)] == [TrialState.FAIL]
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"relx: error: no trial of the Optuna study {STUDY} completed (the jobs' errors are above): no best trial"
    )
