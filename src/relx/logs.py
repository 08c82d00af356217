"""``logs/metrics.csv`` that survives a resume.

Lightning's ``CSVLogger`` deletes ``metrics.csv`` when its writer starts, so a resumed run used to lose every
row logged before the interruption. ``ResumableCSVLogger`` keeps the file when the run resumes, merges the
columns the resumed run adds (rewriting the file atomically), and drops the rows of steps at or after the
checkpoint's: the resumed run logs those steps again.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.loggers.csv_logs import _ExperimentWriter as _FabricExperimentWriter
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from relx.io import write_text_atomic


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write_rows(path: Path, fieldnames: list[str], rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


class AppendingExperimentWriter(ExperimentWriter):
    """Lightning's writer, but an existing ``metrics.csv`` is continued instead of deleted."""

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if path.is_file():
            self.metrics_keys, _ = _read_rows(path)  # new columns are merged into these

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        path = Path(self.metrics_file_path)
        _write_rows(path, fieldnames, _read_rows(path)[1])

    def drop_steps_from(self, step: int) -> None:
        """Forget the rows of steps ``>= step`` (logged after the checkpoint being resumed was saved)."""
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        fieldnames, rows = _read_rows(path)
        kept = [row for row in rows if not row.get("step") or float(row["step"]) < step]
        if len(kept) < len(rows):
            _write_rows(path, fieldnames, kept)


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` is continued when ``resuming``."""

    def __init__(self, *args: Any, resuming: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resuming = resuming

    @property
    @rank_zero_experiment
    def experiment(self) -> _FabricExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            writer = AppendingExperimentWriter if self.resuming else ExperimentWriter
            self._experiment = writer(log_dir=self.log_dir)
        return self._experiment


class TrimLogsOnResume(L.Callback):
    """Once the resumed training state is restored, drop the rows logged after that state was saved."""

    def __init__(self, logger: ResumableCSVLogger) -> None:
        self.logger = logger

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.logger.resuming and trainer.is_global_zero:
            writer = self.logger.experiment
            if isinstance(writer, AppendingExperimentWriter):
                writer.drop_steps_from(trainer.global_step)
