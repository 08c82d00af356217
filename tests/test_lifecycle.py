"""A run's life cycle: signals, resuming only into the same configuration, sweeps with failing jobs, logs and
curves across a resume, temporary files, permissions and unwritable run directories."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import pytest

import relx.io
from helpers import TINY_FAST, compose_config, run_cli
from relx.cli import FailedJob, collect_failures, reports_errors
from relx.errors import ConfigError
from relx.hydra_callbacks import JobOutcome, failure_report
from relx.io import atomic_write, write_text_atomic
from relx.runs import train


class FirstStep(L.Callback):
    """Records the global step training starts from (after a resume: the checkpoint's)."""

    step: int | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.step = trainer.global_step


class CrashAt(L.Callback):
    """Simulates a crash (not a signal) before the batch that would make ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("simulated crash")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- 1. signals ------------------------------------------------------------------------------------


def test_sigterm_saves_a_checkpoint_exits_143_and_the_same_command_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    overrides = [
        "task=mit_movie", "head=token", "encoder=tiny", "trainer.max_steps=12", "trainer.limit_train_batches=10",
        "trainer.enable_progress_bar=false", "data.batch_size=8", "write_predictions=false",
    ]  # fmt: skip
    command = [sys.executable, "-m", "relx.train", *overrides, f"hydra.run.dir={run_dir}"]
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        proc = subprocess.Popen(command, cwd=tmp_path, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                                stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
        deadline = time.monotonic() + 300
        while not list((run_dir / "tensorboard").glob("events.*")):  # written as fit starts
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    lines = [line for line in log.read_text().splitlines() if line.startswith("relx:")]
    assert proc.returncode == 128 + signal.SIGTERM, log.read_text()[-3000:]
    last = run_dir / "checkpoints" / "last.ckpt"
    assert len(lines) == 1 and lines[0].startswith("relx: interrupted by SIGTERM at epoch 0 step "), lines
    assert lines[0].endswith(f"; checkpoint saved to {last}; run the same command to resume")
    step = int(lines[0].split(" step ")[1].split(";")[0])
    assert 0 <= step < 12 and last.is_file() and not (run_dir / "metrics.json").exists()  # 0: a loaded machine

    first = FirstStep()  # the same configuration again resumes from that step and finishes
    train(compose_config(overrides), run_dir, extra_callbacks=[first])
    assert first.step == step and (run_dir / "metrics.json").is_file()


# ---- 2. resuming only into the same configuration; 5. temporary files and permissions ----------------


def test_a_changed_config_is_refused_and_longer_training_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    base = ["task=mit_movie", "head=token", *TINY_FAST, "write_predictions=false"]
    train(compose_config(base), run_dir)
    expected_mode = 0o666 & ~relx.io.UMASK
    for name in ("config.json", "metrics.json", "checkpoints/last.ckpt"):
        assert _mode(run_dir / name) == expected_mode, name
    stored = (run_dir / "config.json").read_bytes()

    changed = compose_config([*base, "optim.encoder_lr=0.001", "encoder.config_overrides.hidden_size=64"])
    with pytest.raises(ConfigError) as refused:
        train(changed, run_dir)
    message = str(refused.value)
    assert "\n" not in message and f"{run_dir} holds a run with another configuration" in message
    assert "encoder.config_overrides.hidden_size: 32 -> 64" in message and "optim.encoder_lr: " in message
    assert "-> 0.001" in message and "hydra.run.dir=" in message and "resume=false" in message
    assert (run_dir / "config.json").read_bytes() == stored

    # the command line refuses it before Hydra writes anything into the directory
    args = [*base, "optim.encoder_lr=0.001", f"hydra.run.dir={run_dir}"]
    done = run_cli("relx.train", *args, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"relx: error: {run_dir} holds a run with another")
    assert not (run_dir / ".hydra").exists() and (run_dir / "config.json").read_bytes() == stored

    orphans = [run_dir / ".config.json.a1b2c3d4.tmp", run_dir / "checkpoints" / ".last.ckpt.x_9Yz0Qw.tmp"]
    kept = [run_dir / "notes.tmp", run_dir / ".hidden.tmp", run_dir / "checkpoints" / ".last.ckpt.tmp"]
    for path in [*orphans, *kept]:
        path.write_text("left over")
    first = FirstStep()
    train(compose_config([*base, "trainer.max_steps=4"]), run_dir, extra_callbacks=[first])
    assert first.step == 2  # resumed: trainer.max_steps may change
    assert json.loads((run_dir / "config.json").read_text())["trainer"]["max_steps"] == 4
    assert not any(p.exists() for p in orphans) and all(p.exists() for p in kept)

    train(changed | {"resume": False}, run_dir, extra_callbacks=[first])
    assert first.step == 0  # started over: the previous checkpoints were deleted first
    assert json.loads((run_dir / "config.json").read_text())["optim"]["encoder_lr"] == 0.001


def test_written_files_get_the_umask_permissions_or_keep_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relx.io, "UMASK", 0o027)
    fresh = tmp_path / "fresh.txt"
    write_text_atomic(fresh, "x")
    assert _mode(fresh) == 0o640
    existing = tmp_path / "existing.bin"
    existing.write_bytes(b"")
    existing.chmod(0o604)
    atomic_write(existing, lambda fh: fh.write(b"y"), binary=True)
    assert _mode(existing) == 0o604 and existing.read_bytes() == b"y"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.bin", "fresh.txt"]  # no temporary file left
    old = os.umask(0o077)
    os.umask(old)
    assert relx.io._read_umask() == old


# ---- 3. sweeps ---------------------------------------------------------------------------------------


def test_a_failing_job_does_not_stop_the_sweep_and_is_reported(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "task=snips", "head=sequence", *TINY_FAST, "trainer.max_steps=1", "write_predictions=false"]
    done = run_cli("relx.train", *args, "data_dir=/nonexistent/dir,null", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("relx:")]
    assert lines == [
        "relx: error: /nonexistent/dir: data directory not found",
        "relx: 1 of 2 jobs of the sweep failed:",
        "relx:   job 0 (data_dir=/nonexistent/dir): /nonexistent/dir: data directory not found",
    ]
    assert [p.parent.name[:2] for p in sweep.glob("*/metrics.json")] == ["1_"]


def test_any_exception_of_a_sweep_job_is_collected(caplog: pytest.LogCaptureFixture) -> None:
    @reports_errors
    def job() -> float:
        raise ZeroDivisionError("division by zero\nmore")

    collect_failures(True)
    try:
        failed = job()
    finally:
        collect_failures(False)
    assert isinstance(failed, FailedJob) and failed != failed and failed.error == "ZeroDivisionError: division by zero"
    assert "job failed" in caplog.text and "ZeroDivisionError" in caplog.text  # the traceback goes to the log
    with pytest.raises(ZeroDivisionError):  # outside a collecting sweep: unchanged
        job()
    report = failure_report([JobOutcome(0, ["a=1", "b=x"], None), JobOutcome(1, ["a=1", "b=y"], failed.error)])
    assert report == ["relx: 1 of 2 jobs of the sweep failed:", f"relx:   job 1 (b=y): {failed.error}"]


# ---- 4. logs and curves survive a resume -------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, float]]:
    with path.open(newline="") as fh:
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(fh)]


def test_metrics_csv_and_curves_survive_a_crash_and_resume(tmp_path: Path) -> None:
    # curves as the MRC tasks record them, on a task that trains faster; a validation after every step
    overrides = [
        "task=mit_movie", "head=token", "+task.curves=[val/f1]", "encoder=tiny", "trainer.max_epochs=2",
        "trainer.limit_train_batches=2", "trainer.limit_val_batches=2", "trainer.val_check_interval=1",
        "trainer.log_every_n_steps=1", "trainer.early_stopping_patience=0", "trainer.enable_progress_bar=false",
        "data.batch_size=4", "write_predictions=false",
    ]  # fmt: skip
    cfg = compose_config(overrides)
    train(cfg, tmp_path / "straight")
    resumed = tmp_path / "resumed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, resumed, extra_callbacks=[CrashAt(step=3)])  # mid-epoch 1; last.ckpt: end of epoch 0
    assert [p["step"] for p in json.loads((resumed / "curves.json").read_text())] == [1, 2, 3]
    assert max(r["step"] for r in _rows(resumed / "logs" / "metrics.csv")) >= 2  # to be dropped and logged again
    first = FirstStep()
    train(cfg, resumed, extra_callbacks=[first])
    assert first.step == 2

    straight_rows, resumed_rows = _rows(tmp_path / "straight/logs/metrics.csv"), _rows(resumed / "logs/metrics.csv")
    assert [sorted(r) for r in resumed_rows] == [sorted(r) for r in straight_rows]
    assert all(a == pytest.approx(b, abs=1e-5) for a, b in zip(resumed_rows, straight_rows, strict=True))
    straight_curve = json.loads((tmp_path / "straight" / "curves.json").read_text())
    resumed_curve = json.loads((resumed / "curves.json").read_text())
    assert [p["step"] for p in resumed_curve] == [p["step"] for p in straight_curve] == [1, 2, 3, 4]
    assert all(a == pytest.approx(b, abs=1e-5) for a, b in zip(resumed_curve, straight_curve, strict=True))


# ---- 6. unwritable run directory ----------------------------------------------------------------------


def test_a_run_directory_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run_dir = blocker / "run"
    message = f"cannot create the run directory {run_dir}: {blocker} is not a directory"
    with pytest.raises(ConfigError, match=re.escape(message)):
        train(compose_config(["task=mit_movie", "head=token", *TINY_FAST]), run_dir)
    done = run_cli("relx.train", "task=mit_movie", "encoder=tiny", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [f"relx: error: {message}"], done.stderr
    done = run_cli("relx.train", "-m", "task=mit_movie", "encoder=tiny", f"hydra.sweep.dir={run_dir}", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"relx: error: {message.replace('run directory', 'sweep directory')}"
    ]
