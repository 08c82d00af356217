"""The run directory: checked writable before anything is written, resumed only into the same configuration.

A run directory holds one training run: ``config.json`` and ``checkpoints/`` describe it. Re-running into it
resumes from ``checkpoints/last.ckpt`` only when the stored ``config.json`` matches the new configuration in
everything that shapes the model, the data and the optimisation (``RESUME_MAY_CHANGE`` lists what may
differ). Anything else is refused before a file is touched, so a typo in an override never silently
continues another model or overwrites the record of what a checkpoint was trained with.

Nothing here imports torch or Lightning: the Hydra callback runs these checks before the job starts.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relx.errors import ConfigError

log = logging.getLogger(__name__)

# Keys that may change when a run is resumed (dotted paths into the resolved config). Everything else must
# equal the stored config.json.
RESUME_MAY_CHANGE = frozenset(
    {
        # how long to train: extending a finished run is the reason to resume it
        "trainer.max_epochs",
        "trainer.max_steps",
        "trainer.max_time",
        "trainer.early_stopping_patience",
        # where and how fast it runs: a run moves to other hardware, the maths is the same
        "trainer.accelerator",
        "trainer.devices",
        "trainer.num_nodes",
        "trainer.strategy",
        "trainer.precision",
        "encoder.gradient_checkpointing",
        "trainer.compile",  # the compiled encoder computes what the eager one does (relx.modules.compiling)
        "trainer.compile_mode",
        "trainer.compile_backend",
        "trainer.compile_buckets",
        "data.num_workers",
        "data.pin_memory",
        "data.cache_dir",
        "data.eval_batch_size",
        # what is shown or written besides the model
        "trainer.enable_progress_bar",
        "trainer.progress_every_n_steps",
        "trainer.verbosity",
        "trainer.log_every_n_steps",
        "trainer.num_sanity_val_steps",
        "resume",
        "write_predictions",
        "save_encoder",  # also write <run dir>/encoder/ (the model is the same)
        "evaluation",  # what is scored after training (evaluation.decoders), not how the model is trained
        "tags",
        "logger",  # where metrics are sent besides logs/metrics.csv (relx.loggers)
    }
)
# What a run writes besides prediction files; removed when a run starts over in its directory.
RUN_SUBDIRS = ("checkpoints", "logs", "tensorboard")
RUN_OUTPUTS = (
    *RUN_SUBDIRS,
    "config.json",
    "metrics.json",
    "summary.txt",
    "data_summary.json",
    "curves.json",
    "curves.png",
    "multitask.json",
    "encoder",  # save_encoder: the trained encoder as a Hugging Face model directory
    "mlruns",  # logger=mlflow's default store and logger=wandb's offline runs (relx.loggers)
    "wandb",
)
MAX_LISTED = 3


def check_writable(run_dir: str | Path, what: str = "run directory") -> None:
    """Raise a one-line ``ConfigError`` when ``run_dir`` (or a parent to be created) cannot be written.

    Creates nothing: it looks at the nearest existing ancestor, so a run directory named with a timestamp
    is not created twice by the check and the run.
    """
    run_dir = Path(run_dir).absolute()
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"cannot create the {what} {run_dir}: {existing} is not a directory")
    subdirs = [run_dir / name for name in RUN_SUBDIRS] if existing == run_dir else []
    for path in [existing, *(p for p in subdirs if p.is_dir())]:
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"cannot write the {what} {run_dir}: {path} is not writable")


def make_run_dir(run_dir: str | Path) -> Path:
    """``run_dir`` created (with its parents) and writable, else one ``ConfigError`` naming it."""
    run_dir = Path(run_dir)
    check_writable(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the run directory {run_dir}: {err.strerror or err}") from None
    return run_dir


def with_absolute_data_dir(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with ``data_dir`` (and ``encoder.init_from``, and an ``encoder.extend_vocab`` file) absolute, as
    stored in ``config.json`` and checkpoints."""
    if cfg.get("data_dir"):
        cfg = {**cfg, "data_dir": str(Path(cfg["data_dir"]).expanduser().resolve())}
    encoder = cfg.get("encoder") or {}
    if encoder.get("init_from"):
        cfg = {**cfg, "encoder": {**encoder, "init_from": str(Path(encoder["init_from"]).expanduser().resolve())}}
    encoder = cfg.get("encoder") or {}
    if encoder.get("extend_vocab") and str(encoder["extend_vocab"]) != "task":
        cfg = {**cfg, "encoder": {**encoder, "extend_vocab": str(Path(encoder["extend_vocab"]).expanduser().resolve())}}
    return cfg


def _flat(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


ABSENT = object()  # a key only one of the two configurations has


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, old, new)`` for each dotted key whose value differs (``ABSENT`` on the side that lacks it),
    outside ``RESUME_MAY_CHANGE``. A key one side lacks and the other has as null is no difference: an
    option added to relx later, off by default, does not change a run written before it.

    Both sides go through JSON first, as ``config.json`` did (tuples become lists, keys strings).
    """
    old_flat = _flat(json.loads(json.dumps(old)))
    new_flat = _flat(json.loads(json.dumps(new)))
    differences = []
    for key in sorted(old_flat.keys() | new_flat.keys()):
        if key in RESUME_MAY_CHANGE or any(key.startswith(k + ".") for k in RESUME_MAY_CHANGE):
            continue
        a, b = old_flat.get(key, ABSENT), new_flat.get(key, ABSENT)
        if a != b and (a, b) not in ((ABSENT, None), (None, ABSENT)):
            differences.append((key, a, b))
    return differences


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(differences: list[tuple[str, Any, Any]]) -> str:
    shown = [f"{key}: {_show(a)} -> {_show(b)}" for key, a, b in differences[:MAX_LISTED]]
    more = len(differences) - MAX_LISTED
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def previous_checkpoints(run_dir: Path) -> list[Path]:
    directory = run_dir / "checkpoints"
    return sorted(directory.glob("*.ckpt")) if directory.is_dir() else []


def resume_checkpoint(run_dir: str | Path, cfg: Mapping[str, Any]) -> Path | None:
    """The ``last.ckpt`` to resume from, or None to start over; refuses a directory of another run.

    Decides without changing anything. A directory holding checkpoints is another run unless its
    ``config.json`` matches ``cfg`` (``resolved``, ``data_dir`` absolute) outside ``RESUME_MAY_CHANGE``;
    with ``resume=false`` it is started over instead (``start_over``). A directory without checkpoints
    holds no run to resume or to protect.
    """
    run_dir = Path(run_dir)
    checkpoints = previous_checkpoints(run_dir)
    if not cfg.get("resume", True) or not checkpoints:
        return None
    ways_out = (
        "use another directory (hydra.run.dir=...) or resume=false to start over in this one "
        "(its checkpoints and logs are deleted)"
    )
    stored_path = run_dir / "config.json"
    try:
        stored = json.loads(stored_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        reason = "it is missing" if isinstance(err, FileNotFoundError) else f"it is unreadable ({err})"
        raise ConfigError(
            f"{run_dir} holds checkpoints but not the configuration they were trained with ({stored_path}: "
            f"{reason}): {ways_out}"
        ) from None
    if not isinstance(stored, dict):
        raise ConfigError(f"{stored_path} is not a relx run configuration: {ways_out}")
    differences = config_differences(stored, cfg)
    if differences:
        raise ConfigError(
            f"{run_dir} holds a run with another configuration ({_describe(differences)}); resuming it with "
            f"this one would mix the two: {ways_out}"
        )
    last = run_dir / "checkpoints" / "last.ckpt"
    return last if last.is_file() else None


def start_over(run_dir: str | Path) -> list[Path]:
    """When ``run_dir`` holds an earlier run's checkpoints, delete what that run wrote (``RUN_OUTPUTS``),
    so that nothing of it mixes with the new run: no stale ``last.ckpt`` to resume by mistake, no old rows
    in the logs. Prediction files and other directories (e.g. ``eval/``) are left; the new run overwrites
    its own predictions. A directory without checkpoints is left as it is (the new run overwrites it)."""
    run_dir = Path(run_dir)
    checkpoints = previous_checkpoints(run_dir)
    if not checkpoints:
        return []
    removed = [run_dir / name for name in RUN_OUTPUTS if (run_dir / name).exists()]
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    log.warning(
        "starting over in %s: deleted the previous run's %s, logs and metrics",
        run_dir,
        ", ".join(p.name for p in checkpoints),
    )
    return removed
