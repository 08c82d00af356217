"""Experiment loggers besides relx's own CSV log: TensorBoard, MLflow and Weights & Biases (``logger=...``).

``<run dir>/logs/metrics.csv`` (``relx.logs.ResumableCSVLogger``) is always written: learning curves, the
progress table and reports read it. ``cfg['logger']`` adds others, one entry per logger name with its options
(``conf/logger/*.yaml``; ``logger=[tensorboard,mlflow]`` combines them):

* ``tensorboard``: event files in ``<run dir>/tensorboard`` (the default);
* ``mlflow``: a local file store in ``<run dir>/mlruns`` unless ``tracking_uri`` names another; experiment =
  the task's name, run name = the run directory's name;
* ``wandb``: offline by default (``<run dir>/wandb/offline-run-*``, ``wandb sync`` uploads it later); project
  ``relx``; never prompts for a login (``mode: online`` without credentials is one ``ConfigError``).

MLflow and W&B receive the resolved run configuration as hyperparameters (``LogRunConfig``). Classes are
never built from names in a config: ``BUILDERS`` maps each logger name to the function that builds it, and
the optional packages (``pip install relx[loggers]``) are imported only when chosen.

Resuming a run continues its MLflow and W&B runs: their ids are kept in ``<run dir>/logs/experiment_runs.json``
(MLflow parameters cannot change, so a resumed MLflow run keeps those it was started with). In a sweep every
job is a run of its own (each job's directory holds its store); ``finish_runs`` ends the W&B run a job
started, so the next job does not reuse it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger, WandbLogger

from relx.errors import ConfigError
from relx.io import write_json_atomic

log = logging.getLogger(__name__)

# What a run whose config has no ``logger`` entry (written before the group existed) logs to, besides the CSV.
DEFAULT_LOGGERS: dict[str, dict[str, Any]] = {"tensorboard": {}}
RUN_IDS = "experiment_runs.json"  # in <run dir>/logs: the MLflow / W&B runs a resumed run continues
WANDB_MODES = ("offline", "online", "disabled")
_STARTED: weakref.WeakSet[WandbLogger] = weakref.WeakSet()  # the W&B loggers built here, for finish_runs
# MLflow / W&B logger -> where its run is ({"tracking_uri"} / {"project"}) and whether it continues an earlier run
_RUNS: weakref.WeakKeyDictionary[Logger, tuple[dict[str, Any], bool]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class LoggerContext:
    """What every builder may use: the run directory, the experiment's name (the task's), the run's ``tags``
    and the runs the previous part of a resumed run logged to (``RUN_IDS``; empty for a new run)."""

    run_dir: Path
    experiment: str
    tags: list[str] = field(default_factory=list)
    previous: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _options(name: str, options: Mapping[str, Any] | None, known: tuple[str, ...]) -> dict[str, Any]:
    options = dict(options or {})
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"logger.{name}.{unknown[0]}: not an option of the {name} logger ({', '.join(known)})")
    return options


def _tensorboard(options: Mapping[str, Any], context: LoggerContext) -> Logger:
    _options("tensorboard", options, ())
    return TensorBoardLogger(str(context.run_dir), name="tensorboard", version="")


def _require(package: str, name: str) -> None:
    import importlib.util

    if importlib.util.find_spec(package) is None:
        raise ConfigError(f"logger={name} needs the {package} package: pip install 'relx[loggers]'")


MLFLOW_OPTIONS = ("tracking_uri", "experiment_name", "run_name", "tags")
MLFLOW_UNSAFE = re.compile(r"[^\w\-. :/]")  # what MLflow refuses in a parameter name


def mlflow_tracking_uri(options: Mapping[str, Any], run_dir: Path) -> str:
    """``tracking_uri``, else a file store in ``<run dir>/mlruns``."""
    return str(options.get("tracking_uri") or (run_dir / "mlruns").absolute().as_uri())


def _mlflow(options: Mapping[str, Any], context: LoggerContext) -> Logger:
    options = _options("mlflow", options, MLFLOW_OPTIONS)
    _require("mlflow", "mlflow")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = mlflow_tracking_uri(options, context.run_dir)
    if uri.startswith("file:"):
        # MLflow 3 keeps its file store only behind this opt-in of its own; relx's default store is one
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    previous = context.previous.get("mlflow") or {}
    run_id = previous.get("run_id") if previous.get("tracking_uri") == uri else None
    if run_id is not None:
        try:
            MlflowClient(uri).get_run(run_id)
        except MlflowException:  # deleted from the store meanwhile: start a new run
            log.info("mlflow: run %s of %s is gone; starting a new run", run_id, uri)
            run_id = None
    tags = {str(k): str(v) for k, v in (options.get("tags") or {}).items()}
    tags.update({f"relx.tag.{tag}": "true" for tag in context.tags})
    try:
        logger = MLFlowLogger(
            experiment_name=str(options.get("experiment_name") or context.experiment),
            run_name=str(options.get("run_name") or context.run_dir.absolute().name),
            tracking_uri=uri,
            tags={**tags, "relx.run_dir": str(context.run_dir.absolute())},
            run_id=run_id,
        )
    except MlflowException as err:
        raise ConfigError(f"logger.mlflow.tracking_uri={uri}: {str(err).splitlines()[0]}") from None
    _RUNS[logger] = ({"tracking_uri": uri}, run_id is not None)
    return logger


WANDB_OPTIONS = ("project", "entity", "group", "name", "mode", "tags", "notes")


def _wandb(options: Mapping[str, Any], context: LoggerContext) -> Logger:
    options = _options("wandb", options, WANDB_OPTIONS)
    _require("wandb", "wandb")
    import wandb

    mode = str(options.get("mode") or "offline")
    if mode not in WANDB_MODES:
        raise ConfigError(f"logger.wandb.mode must be one of {', '.join(WANDB_MODES)}, not {mode!r}")
    if mode == "online" and not wandb.login(prompt=False, verify=False):
        raise ConfigError(
            "logger=wandb with logger.wandb.mode=online: no W&B credentials (WANDB_API_KEY or `wandb login`), and "
            "relx never prompts for them; the default mode=offline logs locally (upload later with `wandb sync`)"
        )
    project = str(options.get("project") or "relx")
    previous = context.previous.get("wandb") or {}
    run_id = previous.get("id") if previous.get("project") == project else None
    logger = WandbLogger(
        name=str(options.get("name") or context.run_dir.absolute().name),
        save_dir=str(context.run_dir),
        id=run_id,
        project=project,
        entity=options.get("entity"),
        group=options.get("group"),
        tags=[*(options.get("tags") or []), *context.tags] or None,
        notes=options.get("notes"),
        mode=mode,  # given to wandb.init (WandbLogger's own offline= would set WANDB_MODE for the whole process)
        settings=wandb.Settings(silent=True, console="off"),  # no banner; relx's stdout stays relx's
    )
    logger._wandb_init.pop("anonymous", None)  # Lightning always passes it; W&B warns that it has no effect
    _RUNS[logger] = ({"project": project}, run_id is not None)
    _STARTED.add(logger)
    return logger


# logger name -> builder(options, context); the only way a ``logger`` config entry becomes an object.
BUILDERS: dict[str, Callable[[Mapping[str, Any], LoggerContext], Logger]] = {
    "tensorboard": _tensorboard,
    "mlflow": _mlflow,
    "wandb": _wandb,
}


def logger_config(cfg: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``cfg['logger']`` (``DEFAULT_LOGGERS`` when absent), checked: a mapping of known logger names."""
    chosen = cfg.get("logger", DEFAULT_LOGGERS)
    if chosen is None:
        return {}
    if not isinstance(chosen, Mapping):
        raise ConfigError(f"logger must be a mapping of logger name -> options, not {type(chosen).__name__}")
    for name in chosen:
        if name not in BUILDERS:
            raise ConfigError(
                f"logger.{name}: not a logger relx knows ({', '.join(BUILDERS)}; the CSV log is always written)"
            )
    return {str(name): dict(options or {}) for name, options in chosen.items()}


def experiment_name(cfg: Mapping[str, Any]) -> str:
    """The task's name (``multitask`` for a multi-task run)."""
    return str((cfg.get("task") or {}).get("name") or ("multitask" if cfg.get("tasks") else "relx"))


def read_run_ids(run_dir: Path) -> dict[str, dict[str, Any]]:
    """``logs/experiment_runs.json`` (``{}`` when missing or unreadable)."""
    try:
        ids = json.loads((run_dir / "logs" / RUN_IDS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in ids.items() if isinstance(v, dict)} if isinstance(ids, dict) else {}


def build_loggers(cfg: Mapping[str, Any], run_dir: Path, resuming: bool = False) -> list[Logger]:
    """The loggers ``cfg['logger']`` chooses (the CSV log is not among them: ``relx.build`` adds it)."""
    context = LoggerContext(
        run_dir=run_dir,
        experiment=experiment_name(cfg),
        tags=[str(t) for t in cfg.get("tags") or []],
        previous=read_run_ids(run_dir) if resuming else {},
    )
    return [BUILDERS[name](options, context) for name, options in logger_config(cfg).items()]


def mlflow_params(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``cfg`` flattened to ``a/b/c`` keys, each character MLflow refuses in a name (``+`` of
    ``task/monitor/sentence+token``) replaced by ``_``."""
    params: dict[str, Any] = {}
    for key, value in cfg.items():
        name = MLFLOW_UNSAFE.sub("_", f"{prefix}{key}")
        if isinstance(value, Mapping) and value:
            params.update(mlflow_params(value, f"{name}/"))
        else:
            params[name] = value
    return params


class LogRunConfig(L.Callback):
    """When fitting starts (rank 0): the resolved run configuration as MLflow / W&B hyperparameters, and the
    ids of their runs into ``logs/experiment_runs.json``, from which a resumed run continues them."""

    def __init__(self, cfg: Mapping[str, Any], run_dir: Path) -> None:
        self.cfg = cfg
        self.run_dir = run_dir

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        ids: dict[str, dict[str, Any]] = {}
        for logger in trainer.loggers:
            where, continuing = _RUNS.get(logger, ({}, False))
            if isinstance(logger, MLFlowLogger):
                if not continuing:  # an MLflow parameter cannot change: a continued run keeps its first ones
                    logger.log_hyperparams(mlflow_params(self.cfg))
                ids["mlflow"] = {**where, "run_id": logger.run_id}
            elif isinstance(logger, WandbLogger):
                logger.log_hyperparams(dict(self.cfg))
                ids["wandb"] = {**where, "id": getattr(logger.experiment, "id", None)}
        if ids:
            write_json_atomic(self.run_dir / "logs" / RUN_IDS, ids)


def finish_runs() -> None:
    """End the W&B runs relx's loggers started in this process (the files of an offline run are complete
    afterwards; the next run, e.g. the next job of a sweep, starts its own instead of reusing this one)."""
    for logger in list(_STARTED):
        experiment = getattr(logger, "_experiment", None)
        if experiment is not None and hasattr(experiment, "finish"):
            experiment.finish()
        _STARTED.discard(logger)
