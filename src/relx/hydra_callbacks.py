"""Hydra callbacks of ``relx.train`` (``hydra.callbacks`` in ``conf/train.yaml``).

* Before a run: its directory must be writable and, when it already holds a run, hold one of the same
  configuration (``relx.rundir``). Checked before Hydra creates the directory and writes ``.hydra/`` and
  the log into it, so a refused run changes nothing there, and the refusal is one line, not a traceback.
* A multirun checks its sweep directory the same way, runs every job even when some fail (``relx.cli``
  turns a failing job into a returned ``FailedJob``), and ends by listing the failed jobs, their overrides
  and errors, with exit status 1.

The collection happens in this process, which is where Hydra's default (basic) launcher runs the jobs.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from relx.cli import FailedJob, FailedTrial, collect_failures, exit_with_error, first_line
from relx.composition import expand_tasks
from relx.errors import RelxError
from relx.rundir import check_writable, resume_checkpoint, with_absolute_data_dir


@dataclass
class JobOutcome:
    number: int
    overrides: list[str]
    error: str | None  # None: the job succeeded


def _task_config(config: DictConfig) -> dict[str, Any] | None:
    """The resolved job config, as ``relx.train`` will see it; None when it does not resolve (the job
    itself then reports why)."""
    try:
        task = copy.deepcopy(config)
        with read_write(task), open_dict(task):
            del task["hydra"]
        resolved = OmegaConf.to_container(task, resolve=True)
    except Exception:
        return None
    return cast(dict[str, Any], resolved) if isinstance(resolved, dict) else None


def _job_error(job_return: JobReturn) -> str | None:
    """The one-line error of a failed job, None for a job that succeeded."""
    if job_return.status == JobStatus.FAILED:
        err = job_return._return_value
        return f"{type(err).__name__}: {first_line(err)}" if not isinstance(err, RelxError) else str(err)
    value = job_return.return_value if job_return.status == JobStatus.COMPLETED else None
    return value.error if isinstance(value, FailedJob | FailedTrial) else None  # FailedTrial: relx.search


def failure_report(outcomes: list[JobOutcome]) -> list[str]:
    """Lines naming each failed job by its overrides (those shared by every job of the sweep left out)."""
    failed = [o for o in outcomes if o.error is not None]
    if not failed:
        return []
    shared = set.intersection(*(set(o.overrides) for o in outcomes)) if len(outcomes) > 1 else set()
    lines = [f"relx: {len(failed)} of {len(outcomes)} jobs of the sweep failed:"]
    for job in failed:
        own = [o for o in job.overrides if o not in shared] or job.overrides
        lines.append(f"relx:   job {job.number} ({' '.join(own)}): {job.error}")
    return lines


class RelxCallbacks(Callback):
    """See the module docstring."""

    def __init__(self) -> None:
        self.outcomes: list[JobOutcome] = []

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            run_dir = Path(str(config.hydra.run.dir))
        except Exception:  # an interpolation Hydra itself will report when it creates the directory
            return
        try:
            check_writable(run_dir)
            cfg = _task_config(config)
            if cfg is not None:
                cfg = expand_tasks(cfg, list(config.hydra.overrides.task))
                resume_checkpoint(run_dir, with_absolute_data_dir(cfg))
        except RelxError as err:
            exit_with_error(err)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_writable(Path(str(config.hydra.sweep.dir)), "sweep directory")
        except RelxError as err:
            exit_with_error(err)
        self.outcomes = []
        collect_failures(True)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        number = int(config.hydra.job.num)
        self.outcomes.append(JobOutcome(number, list(job_return.overrides or []), _job_error(job_return)))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        collect_failures(False)
        lines = failure_report(self.outcomes)
        if lines:
            print("\n".join(lines), file=sys.stderr, flush=True)
            sys.exit(1)
