"""conf/ and the bundled samples must resolve after a plain (non-editable) ``pip install .``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import relx, sys
from hydra import compose, initialize_config_module
from relx.build import sample_dir
assert relx.__file__.startswith(sys.argv[1]), relx.__file__
with initialize_config_module("relx.conf", version_base="1.3"):
    cfg = compose("train", overrides=["task=atis", "head=joint", "+experiment=train_fraction"])
assert cfg.monitor == "val/frame_acc"
assert (sample_dir("atis") / "train" / "seq.in").is_file()
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
