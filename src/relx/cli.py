"""Shared entry-point behaviour: honest exit statuses and one clear line instead of a traceback.

* A ``RelxError`` prints ``relx: error: ...`` on stderr and exits with status 2.
* A run stopped by SIGTERM/SIGINT (``RunInterrupted``) prints ``relx: interrupted by ...`` and exits with
  128+signum (143, 130), as a process killed by the signal would.
* In a Hydra multirun whose failures are collected (``relx.hydra_callbacks``), a failing job does not end
  the sweep: its error is printed and it returns a ``FailedJob``; the sweep reports the failed jobs at the
  end and exits non-zero. An interrupted job still ends the whole sweep.
"""

from __future__ import annotations

import functools
import logging
import sys
import warnings
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from relx.errors import RelxError
from relx.interrupts import RunInterrupted

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("relx")


class FailedJob(float):
    """What a failed job of a sweep returns: NaN to sweepers that optimise the returned objective, and
    its one-line ``error`` for the report at the end of the sweep."""

    error: str

    def __new__(cls, error: str) -> FailedJob:
        job = super().__new__(cls, float("nan"))
        job.error = error
        return job

    def __reduce__(self) -> tuple[Any, ...]:  # a launcher may send it back from another process
        return FailedJob, (self.error,)


class FailedTrial:
    """A failed job's return value as an Optuna search hands it to the sweeper (``relx.search``): ``float()``
    refuses it, so the sweeper records a FAIL trial and goes on (told NaN, Optuna 2 raises and the search ends)."""

    def __init__(self, error: str) -> None:
        self.error = error

    def __float__(self) -> float:
        raise ValueError(self.error)

    def __str__(self) -> str:
        return self.error


class _Sweep:
    """Whether a sweep that collects failed jobs runs in this process (set by ``relx.hydra_callbacks``)."""

    collecting_failures = False


def collect_failures(active: bool) -> None:
    _Sweep.collecting_failures = active


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""


def print_error(err: RelxError) -> None:
    logging.getLogger("relx").debug("error", exc_info=err)
    print(f"relx: error: {err}", file=sys.stderr, flush=True)


def exit_with_error(err: RelxError) -> NoReturn:
    print_error(err)
    sys.exit(2)


# Third-party warnings a relx command can do nothing about (message regexes): hidden at the entry points only.
KNOWN_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",  # Lightning's pytree helper under torch >= 2.10
    r".*is smaller than the logging interval.*",  # short epochs (samples, small data): the CSV log covers them
    r".*Checkpoint directory .* exists and is not empty.*",  # a resumed run's own checkpoints
)


def configure_logging() -> None:
    """Logging of a command-line run (not done at import: a library user keeps their own setup). Lightning
    logs through its own handler; without this, Hydra's root handler would print each of its lines twice."""
    logging.getLogger("lightning.pytorch").propagate = False
    # logger=mlflow: "Experiment with name ... not found. Creating it." for every new store (relx.loggers)
    logging.getLogger("lightning.pytorch.loggers.mlflow").setLevel(logging.ERROR)
    for message in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    # transformers' "Loading weights" bar: one more bar on a terminal, and a line of carriage returns in a log
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if not sys.stderr.isatty():  # tokenising bars in a log file are lines of carriage returns
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()


def reports_errors(fn: F) -> F:
    """Run ``fn`` with relx's logging, exit statuses and one-line errors (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        configure_logging()
        try:
            return fn(*args, **kwargs)
        except RunInterrupted as err:
            if err.report:
                print(f"relx: {err}", file=sys.stderr, flush=True)
            raise
        except RelxError as err:
            if not _Sweep.collecting_failures:
                exit_with_error(err)
            print_error(err)
            return FailedJob(str(err))
        except Exception as err:
            if not _Sweep.collecting_failures:
                raise
            log.error("job failed", exc_info=err)  # not relx's own error: a bug, worth its traceback
            return FailedJob(f"{type(err).__name__}: {first_line(err)}".rstrip(": "))

    return wrapper  # type: ignore[return-value]
