"""conf/ (at the top of the repository, shipped as the package ``relx.conf``) and the bundled samples must
resolve after a plain (non-editable) ``pip install .`` and in the editable install of the development
environment, with ``python -m relx.train`` run from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import relx, sys
from hydra import compose, initialize_config_module
from relx.build import monitor_of, sample_dir
assert relx.__file__.startswith(sys.argv[1]), relx.__file__
with initialize_config_module("relx.conf", version_base="1.3"):
    cfg = compose("train", overrides=["task=atis", "head=joint", "+experiment=train_fraction"])
assert monitor_of(cfg) == "val/frame_acc"
assert (sample_dir("atis") / "train" / "seq.in").is_file()
from importlib import resources
assert (resources.files("relx") / "resources" / "task_table.txt").is_file()  # relx.train --help's table
print("OK")
"""


def test_installed_wheel_carries_configs_and_samples(tmp_path: Path) -> None:
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True, capture_output=True)
    wheel = next(wheels.glob("relx-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(target)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.stdout.strip() == "OK", done.stderr[-2000:]
    composed = subprocess.run(
        [sys.executable, "-m", "relx.train", "--cfg", "job", "task=ud_ewt"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert "name: ud_ewt" in composed.stdout, composed.stderr[-2000:]


def test_editable_install_runs_from_any_directory(tmp_path: Path) -> None:
    import relx

    assert Path(relx.__file__).resolve().is_relative_to(ROOT / "src")  # the development install is editable
    done = subprocess.run(
        [sys.executable, "-m", "relx.train", "--cfg", "job", "task=semeval", "head=pairwise_attention"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert "name: semeval" in done.stdout and "kind: pairwise_attention" in done.stdout, done.stderr[-2000:]


def test_every_package_is_listed_in_pyproject() -> None:
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT / "src").parts) for p in (ROOT / "src").rglob("__init__.py")}
    assert listed == found | {"relx.conf"} and (ROOT / "conf" / "train.yaml").is_file()
