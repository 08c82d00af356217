"""Hyperparameter search with Hydra's Optuna sweeper (``hparams_search=...``, ``conf/hparams_search/``): the
Hydra callback that gives a study what the sweeper leaves out.

* **The study is a directory** (``multirun/optuna/<study_name>/``, its SQLite ``optuna.db`` and one folder per
  run of the command). The callback creates it: SQLite does not create the folders of a database file.
* **Re-running the same command resumes the study.** ``hydra.sweeper.n_trials`` is the study's size: a run
  starts only the trials still missing (finished ones count, failed included), so an interrupted search is
  completed and a larger ``n_trials`` extends it (the sweeper alone would run ``n_trials`` more every time).
* **A study is resumed only by the command that began it.** Its trials record the command's fixed overrides
  (task, data, budget); another set would mix incomparable trials, and is refused in one line.
* **A failed trial does not end the study.** A failed job returns NaN (``relx.cli.FailedJob``); Optuna 2 refuses
  to be told NaN and the sweeper's fallback then raises, ending the search. The job's return value becomes a
  ``FailedTrial`` instead, which the sweeper records as a FAIL trial before asking for the next.
* **Only the best trial keeps its checkpoints** (``keep_checkpoints: best``, the callback's default): when a trial
  ends, the checkpoints of whichever of it and the best trial so far is worse are deleted (a bert-base search
  would otherwise keep two 420 MB files a trial); its metrics, predictions and logs stay. ``all`` keeps every
  trial's.
* **At the end,** ``<study dir>/experiment/best.yaml``: the best trial's overrides as an experiment file, and
  the command that runs it (``python -m relx.train --config-dir <study dir> +experiment=best``).

Optuna is imported only here (``pip install relx[search]``).
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from relx.cli import FailedJob, FailedTrial, exit_with_error
from relx.errors import ConfigError
from relx.io import write_text_atomic

log = logging.getLogger("relx")

SQLITE = "sqlite:///"
EXPERIMENT = "best"  # <study dir>/experiment/best.yaml: +experiment=best
SEARCH_GROUP = "hparams_search"  # not carried into the experiment: running it would start another search


def study_dir(storage: str | None, sweep_dir: str) -> Path:
    """Where a study's files live: the folder of its SQLite database, else (another storage) the sweep dir."""
    if storage and storage.startswith(SQLITE):
        return Path(storage[len(SQLITE) :]).parent
    return Path(sweep_dir)


def fixed_overrides(params: Mapping[str, Any] | None, arguments: Iterable[str]) -> dict[str, str]:
    """The overrides of a search that every trial shares, as the sweeper records them (user attributes of
    each trial): ``hydra.sweeper.params`` entries and command-line overrides that are not sweeps."""
    lines = [f"{key}={value}" for key, value in (params or {}).items()] + list(arguments)
    return {
        o.get_key_element(): o.get_value_element_as_str()
        for o in OverridesParser.create().parse_overrides(lines)
        if not o.is_sweep_override()
    }


def experiment_yaml(overrides: Iterable[str], groups: Iterable[str], header: Iterable[str] = ()) -> str:
    """An experiment file (``# @package _global_``) that applies ``overrides``: config-group choices
    (``groups``) as defaults-list entries, the rest as values; ``hparams_search`` left out.

    >>> print(experiment_yaml(["task=semeval", "optim.head_lr=0.002"], ["task"]), end="")
    # @package _global_
    defaults:
    - override /task: semeval
    optim:
      head_lr: 0.002
    """
    groups = set(groups)
    defaults: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    for o in OverridesParser.create().parse_overrides(list(overrides)):
        if o.is_delete() or o.package is not None:
            raise ConfigError(f"override {o.input_line} cannot be written into an experiment file")
        key = o.key_or_group
        if key == SEARCH_GROUP:
            continue
        if key in groups:  # a choice added (+group=x) or changed; Hydra wants the overrides last
            if o.type == OverrideType.CHANGE:
                defaults.append({f"override /{key}": o.value()})
            else:
                defaults.insert(sum("override" not in next(iter(d)) for d in defaults), {f"/{key}": o.value()})
            continue
        node = values
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = o.value()
    body = OmegaConf.to_yaml(OmegaConf.create({**({"defaults": defaults} if defaults else {}), **values}))
    return "".join(f"# {line}\n" if line else "#\n" for line in ["@package _global_", *header]) + body


def _storage(config: DictConfig) -> tuple[str | None, str]:
    sweeper = config.hydra.sweeper
    return (str(sweeper.storage) if sweeper.storage is not None else None), str(sweeper.study_name)


def _load_study(storage: str | None, name: str) -> Any:
    """The stored study, None when there is none yet."""
    import optuna

    if storage is None:
        return None
    if not any(s.study_name == name for s in optuna.get_all_study_summaries(storage=storage)):
        return None
    return optuna.load_study(study_name=name, storage=storage)


def _finished(study: Any) -> list[Any]:
    return [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]


def trial_overrides(trial: Any) -> list[str]:
    """The overrides the sweeper gave an Optuna trial's job: its sampled parameters, then the fixed ones."""
    return [f"{k}={v}" for k, v in trial.params.items()] + [f"{k}={v}" for k, v in trial.user_attrs.items()]


def trial_run(root: str | Path, trial: Any) -> Path | None:
    """The run directory under ``root`` (a study directory) of an Optuna trial: the finished run whose job had
    exactly the trial's overrides (its ``.hydra/overrides.yaml``); None when there is none."""
    overrides = set(trial_overrides(trial))
    for path in sorted(Path(root).glob("**/.hydra/overrides.yaml")):
        if set(OmegaConf.load(path)) == overrides and (path.parent.parent / "metrics.json").is_file():
            return path.parent.parent
    return None


def _drop_checkpoints(run: Path) -> None:
    if (run / "checkpoints").is_dir():
        shutil.rmtree(run / "checkpoints", ignore_errors=True)
        log.info("Optuna search: deleted the checkpoints of %s (not the best trial; keep_checkpoints=best)", run)


def _objective_name(config: DictConfig) -> str:
    """The monitored metric the trials returned (``val/f1``); ``objective`` when the config does not say."""
    try:
        from relx.build import monitor_of

        job = config.copy()
        with read_write(job), open_dict(job):
            del job["hydra"]
        return monitor_of(cast(dict[str, Any], OmegaConf.to_container(job, resolve=True)))
    except Exception:
        return "objective"


class OptunaSearch(Callback):
    """See the module docstring; registered by ``conf/hparams_search/*.yaml`` as ``hydra.callbacks.optuna``."""

    def __init__(self, keep_checkpoints: str = "best") -> None:
        if keep_checkpoints not in ("best", "all"):
            raise ConfigError(f"keep_checkpoints of the Optuna callback must be best or all, not {keep_checkpoints!r}")
        self.keep_checkpoints = keep_checkpoints
        self.to_run = 0  # trials this run of the command starts
        self.ended = 0  # ... of which ended
        self.maximise = True
        self.best: tuple[float, Path | None] | None = None  # the best trial's objective and run directory so far

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        storage, name = _storage(config)
        try:
            self.to_run, self.ended = self._start(config, storage, name), 0
        except ConfigError as err:
            exit_with_error(err)

    def _start(self, config: DictConfig, storage: str | None, name: str) -> int:
        """Check the study against this command and set the trials to run; their number."""
        # The study's folder for SQLite; the sweep dir, which the launcher creates only with the first job,
        # for the sweeper's optimization_results.yaml when no trial is left to run.
        sweep_dir = Path(str(config.hydra.sweep.dir))
        for where in (study_dir(storage, str(sweep_dir)), sweep_dir):
            try:
                where.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ConfigError(f"cannot create the directory {where}: {err.strerror or err}") from None
        sweeper = config.hydra.sweeper
        total = int(sweeper.n_trials)
        self.maximise = str(sweeper.get("direction", "maximize")).startswith("max")
        study = _load_study(storage, name)
        if study is None:
            return total
        self._remember_best(study, study_dir(storage, str(sweep_dir)))
        finished = _finished(study)
        if finished:
            fixed = fixed_overrides(sweeper.params, config.hydra.overrides.task)
            before = {k: str(v) for k, v in finished[0].user_attrs.items()}
            if before != fixed:
                changed = sorted(k for k in before.keys() | fixed.keys() if before.get(k) != fixed.get(k))
                shown = ", ".join(f"{k}: {before.get(k, '(none)')} -> {fixed.get(k, '(none)')}" for k in changed)
                raise ConfigError(
                    f"the Optuna study {name} ({storage}) was run with other fixed overrides ({shown}): resume it "
                    "with the command that began it, or start another study with hydra.sweeper.study_name=NAME"
                )
        to_run = max(0, total - len(finished))
        with read_write(sweeper), open_dict(sweeper):
            sweeper.n_trials = to_run
            # A sampler seeded as before would draw the study's first trials again.
            if sweeper.get("sampler") is not None and sweeper.sampler.get("seed") is not None:
                sweeper.sampler.seed = int(sweeper.sampler.seed) + len(study.trials)
        log.info("Optuna study %s: %d finished trials of %d, %d to run", name, len(finished), total, to_run)
        return to_run

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        self.ended += 1
        if job_return.status != JobStatus.COMPLETED:
            return
        value = job_return.return_value
        if isinstance(value, FailedJob):
            job_return.return_value = FailedTrial(value.error)
        elif isinstance(value, float) and math.isnan(value):
            job_return.return_value = FailedTrial("the objective (the monitored dev metric) is NaN")
        if isinstance(job_return.return_value, FailedTrial) and self.ended >= self.to_run:
            self._stop_if_none_completed(config, list(job_return.overrides or []))
        value = job_return.return_value
        if self.keep_checkpoints == "best" and isinstance(value, float) and job_return.hydra_cfg is not None:
            # the job's run directory (working_dir is the directory it ran in: relx jobs do not chdir)
            run = Path(str(job_return.hydra_cfg.hydra.runtime.output_dir))
            self._keep_checkpoints_of_best(value, run)

    def _remember_best(self, study: Any, where: Path) -> None:
        """The best complete trial of a resumed study, whose checkpoints are the ones kept so far."""
        from optuna.trial import TrialState

        if any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
            self.best = (float(study.best_value), trial_run(where, study.best_trial))

    def _keep_checkpoints_of_best(self, value: float, run: Path) -> None:
        """Delete the checkpoints of the worse of this trial's run and the best so far (ties: the earlier stays,
        as Optuna's best trial)."""
        better = self.best is None or (value > self.best[0] if self.maximise else value < self.best[0])
        if better:
            previous = self.best[1] if self.best is not None else None
            self.best = (value, run)
            if previous is not None:
                _drop_checkpoints(previous)
        else:
            _drop_checkpoints(run)

    def _stop_if_none_completed(self, config: DictConfig, overrides: list[str]) -> None:
        """After the last trial, when no trial of the study has completed: record this one as failed and end
        with one line (the sweeper would end with Optuna's ``ValueError: Record does not exist.``)."""
        from optuna.trial import TrialState

        storage, name = _storage(config)
        study = _load_study(storage, name)
        if study is None or any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
            return
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if {f"{k}={v}" for k, v in trial.params.items()} <= set(overrides):
                study.tell(trial.number, state=TrialState.FAIL)
        print(
            f"relx: error: no trial of the Optuna study {name} completed (the jobs' errors are above): no best trial",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(1)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from optuna.trial import TrialState

        storage, name = _storage(config)
        study = _load_study(storage, name)
        if study is None:
            return
        finished = _finished(study)
        complete = [t for t in finished if t.state == TrialState.COMPLETE]
        counts = f"{len(finished)} finished trials, {len(complete)} complete"
        if not complete:
            print(f"relx: Optuna study {name}: {counts}: no best trial", flush=True)
            return
        best = study.best_trial
        where = study_dir(storage, str(config.hydra.sweep.dir))
        run = trial_run(where, best)
        objective = _objective_name(config)
        command = f"python -m relx.train --config-dir {where} +experiment={EXPERIMENT}"
        header = [
            f"The best trial of the Optuna study {name} ({counts}): trial {best.number},",
            f"{objective} = {best.value:.6g} ({study.direction.name.lower()}d)" + (f"; its run: {run}" if run else ""),
            "Command-line overrides win over these (e.g. a longer budget: ... trainer.max_epochs=3):",
            f"  {command}",
        ]
        try:
            text = experiment_yaml(trial_overrides(best), config.hydra.runtime.choices.keys(), header)
        except ConfigError as err:
            print(f"relx: Optuna study {name}: best trial {best.number}: {err}", flush=True)
            return
        path = where / "experiment" / f"{EXPERIMENT}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
        print(
            f"relx: Optuna study {name}: {counts}; best trial {best.number}: {objective} = {best.value:.6g}"
            + (f" ({run})" if run else "")
            + f"\nrelx: the best trial as an experiment: {path}\n  {command}",
            flush=True,
        )
