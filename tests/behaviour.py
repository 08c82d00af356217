"""The before/after behaviour fixture of the Task redesign (issue "Tasks as objects").

Each end-to-end tiny-encoder run of the suite (every task, its usual heads) calls ``check_behaviour``:
the metrics it returned and the SHA-256 of every prediction file it wrote must equal what the same run
gave before the redesign, stored in ``tests/fixtures/behaviour/<key>.json``. ``RELX_RECORD_BEHAVIOUR=1``
records them instead (run it only on purpose: a changed record is a changed behaviour), together with
the run configuration each checkpoint stored (``<key>.stored.json``): checkpoints written before the
redesign carry that layout, and must still evaluate.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

RECORDS = Path(__file__).parent / "fixtures" / "behaviour"
NOT_PREDICTIONS = {"config.json", "metrics.json", "data_summary.json", "summary.txt", "curves.json"}


def _masked(value: Any) -> Any:
    if isinstance(value, float):
        return "<float>"
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def canonical_bytes(path: Path) -> bytes:
    """The file's bytes; in JSON (lines), the decisions only, floats masked: scores differ in their last
    digits between runs of the same model on CPU threads (DocRE's reduced sums), while the decisions and
    the metrics (compared to 1e-6) do not."""
    if path.suffix == ".json":
        return json.dumps(_masked(json.loads(path.read_text())), sort_keys=True).encode()
    if path.suffix == ".jsonl":
        rows = [_masked(json.loads(line)) for line in path.read_text().splitlines() if line]
        return "\n".join(json.dumps(r, sort_keys=True) for r in rows).encode()
    return path.read_bytes()


def prediction_files(run_dir: Path) -> dict[str, str]:
    """SHA-256 of each prediction / official output file at the top of ``run_dir`` (plots excluded: their
    bytes depend on the matplotlib version)."""
    return {
        path.name: hashlib.sha256(canonical_bytes(path)).hexdigest()
        for path in sorted(run_dir.iterdir())
        if path.is_file() and path.name not in NOT_PREDICTIONS and path.suffix not in (".png", ".svg", ".tmp")
    }


def check_behaviour(key: str, run_dir: Path, metrics: dict[str, float]) -> None:
    observed = {"metrics": dict(sorted(metrics.items())), "files": prediction_files(run_dir)}
    record = RECORDS / f"{key}.json"
    if os.environ.get("RELX_RECORD_BEHAVIOUR") == "1":
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(observed, indent=1) + "\n")
        stored = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")["relx"]
        (RECORDS / f"{key}.stored.json").write_text(json.dumps(stored, indent=1) + "\n")
        return
    expected = json.loads(record.read_text())
    assert observed["metrics"] == pytest.approx(expected["metrics"], abs=1e-6, nan_ok=True)
    assert observed["files"] == expected["files"]
