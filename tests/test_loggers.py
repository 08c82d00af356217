"""``logger=...``: TensorBoard, MLflow (a local file store) and W&B (offline) besides the CSV log, built from
names (``relx.loggers.BUILDERS``), quiet at the entry point, continued on resume."""

from __future__ import annotations

import csv
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import TINY_FAST, compose_config
from relx.errors import ConfigError

# Every optional logger at once, through the entry point: one run serves the tests of this file.
OVERRIDES = [
    "task=semeval", "head=sequence", *TINY_FAST, "trainer.max_steps=4", "trainer.val_check_interval=2",
    "write_predictions=false", "logger=many",
]  # fmt: skip


def isolated_wandb_env(tmp: Path) -> dict[str, str]:
    """W&B's own directories (settings, caches) inside ``tmp``, and no credentials from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "MLFLOW_"))}
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        (tmp / name).mkdir(exist_ok=True)
        env[name] = str(tmp / name)
    env["NETRC"] = str(tmp / "no-netrc")
    return env


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("loggers")
    env = {**isolated_wandb_env(tmp), "HF_HUB_OFFLINE": "1"}
    run_dir = tmp / "run"
    done = subprocess.run(
        [sys.executable, "-m", "relx.train", *OVERRIDES, f"hydra.run.dir={run_dir}"],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir, done


def val_metrics(run_dir: Path) -> dict[str, float]:
    return {k: v for k, v in json.loads((run_dir / "metrics.json").read_text()).items() if k.startswith("val/")}


def test_mlflow_run_in_the_run_directory(run: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    run_dir, _ = run
    client = MlflowClient((run_dir / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("semeval")  # experiment = the task
    assert experiment is not None
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.run_name == "run" and found.info.status == "FINISHED"  # run name = the run directory's
    params = found.data.params
    assert params["seed"] == "42" and params["task/name"] == "semeval" and params["head/kind"] == "sequence"
    assert params["data/batch_size"] == "8" and params["logger/mlflow/experiment_name"] == "None"
    expected = val_metrics(run_dir)
    assert expected and set(expected) <= set(found.data.metrics)
    for key, value in expected.items():  # the last logged value: the best checkpoint's validation
        assert found.data.metrics[key] == pytest.approx(value, abs=1e-6), key
    history = client.get_metric_history(found.info.run_id, "val/loss")
    assert len(history) == 3  # validations at steps 2 and 4, then the best checkpoint's
    ids = json.loads((run_dir / "logs" / "experiment_runs.json").read_text())
    assert ids["mlflow"]["run_id"] == found.info.run_id


BLOCK = 32768  # W&B's transaction log: LevelDB's log format, records in 32 KiB blocks


def wandb_records(path: Path) -> Iterator[Any]:
    """The protobuf records of a W&B ``run-<id>.wandb`` file (W&B's own reader lives in its Go core)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a W&B transaction log"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if left < 7 or (kind == 0 and length == 0):  # the padded end of a block
            pos += left
            continue
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a whole record, or the last part of one
            record = pb.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def test_wandb_offline_run_in_the_run_directory(run: tuple[Path, Any]) -> None:
    run_dir, _ = run
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    (log,) = offline.glob("run-*.wandb")
    history: list[dict[str, Any]] = []
    config: dict[str, Any] = {}
    runs = []
    for record in wandb_records(log):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            )
        elif kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "run":
            runs.append(record.run)
    assert runs and runs[0].project == "relx" and runs[0].display_name == "run"
    ids = json.loads((run_dir / "logs" / "experiment_runs.json").read_text())
    assert ids["wandb"] == {"project": "relx", "id": runs[0].run_id} and log.name == f"run-{runs[0].run_id}.wandb"
    assert config["seed"] == 42 and config["task"]["name"] == "semeval"
    assert config["logger"]["wandb"]["mode"] == "offline"
    validations = [row for row in history if "val/loss" in row]  # two during training, the best checkpoint's
    with (run_dir / "logs" / "metrics.csv").open() as fh:
        csv_steps = [int(row["step"]) for row in csv.DictReader(fh) if row.get("val/loss")]
    assert [row["trainer/global_step"] for row in validations] == csv_steps and len(csv_steps) == 3
    for key, value in val_metrics(run_dir).items():
        assert validations[-1][key] == pytest.approx(value, abs=1e-6), key


def test_csv_and_tensorboard_still_written(run: tuple[Path, Any]) -> None:
    run_dir, _ = run
    rows = (run_dir / "logs" / "metrics.csv").read_text().splitlines()
    assert "val/loss" in rows[0] and len(rows) > 2
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert compose_config([])["logger"] == {"tensorboard": {}}  # the default: CSV + TensorBoard, as before


def test_the_entry_point_stays_quiet(run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    _, done = run
    for stream in (done.stdout, done.stderr):
        noisy = [
            line for line in stream.lower().splitlines() if any(w in line for w in ("wandb", "mlflow", "experiment"))
        ]
        assert not noisy, noisy
    assert "warning" not in done.stdout.lower()


def test_resume_continues_the_same_runs(run: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from relx.loggers import build_loggers
    from relx.rundir import config_differences

    for key, value in isolated_wandb_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    run_dir, _ = run
    ids = json.loads((run_dir / "logs" / "experiment_runs.json").read_text())
    cfg = compose_config(OVERRIDES)
    tensorboard, mlflow, wandb = build_loggers(cfg, run_dir, resuming=True)
    assert mlflow.run_id == ids["mlflow"]["run_id"] and wandb._id == ids["wandb"]["id"]
    assert build_loggers(cfg, run_dir, resuming=False)[2]._id is None  # a new run starts new ones
    # another choice of loggers is no reason to refuse resuming a run
    assert config_differences(cfg, compose_config([*OVERRIDES, "logger=none"])) == []


def test_bad_logger_choices_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from relx.loggers import build_loggers

    for key, value in isolated_wandb_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = compose_config(["task=semeval", "encoder=tiny"])
    with pytest.raises(ConfigError, match=r"logger.comet: not a logger relx knows \(tensorboard, mlflow, wandb"):
        build_loggers({**cfg, "logger": {"comet": {}}}, tmp_path)
    with pytest.raises(ConfigError, match="logger.wandb.project_name: not an option of the wandb logger"):
        build_loggers({**cfg, "logger": {"wandb": {"project_name": "x"}}}, tmp_path)
    with pytest.raises(ConfigError, match="mode=online: no W&B credentials .* relx never prompts"):
        build_loggers({**cfg, "logger": {"wandb": {"mode": "online"}}}, tmp_path)
    assert build_loggers({**cfg, "logger": {}}, tmp_path) == []  # logger=none: the CSV log only
