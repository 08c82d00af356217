"""Checkpoints are shared like model files: loading one must never run code from it.

A malicious pickle is refused (and its payload never runs) through ``relx.evaluate``, ``relx.predict``,
the library API and Lightning's resume; a relx checkpoint whose stored config names classes outside
``relx.*`` or asks for remote code is refused by ``restore``; unreadable files give one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers import TINY_FAST, compose_config
from relx.checkpointing import AtomicCheckpointIO, UnsafeCheckpointError, load_relx_checkpoint, safe_torch_load
from relx.errors import ConfigError


class _Payload:
    """Unpickling this calls ``os.system`` (the classic pickle exploit)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (self.command,)


def _malicious_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.ckpt"
    torch.save({"relx": {"config": {}, "vocabs": {}}, "state_dict": {}, "callbacks": _Payload(f"touch {marker}")}, path)
    return path, marker


def _run(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_malicious_checkpoint_is_refused_by_the_library_and_resume(tmp_path: Path) -> None:
    path, marker = _malicious_checkpoint(tmp_path)
    with pytest.raises(UnsafeCheckpointError, match=r"refused to load: it references (posix|nt)\.system"):
        load_relx_checkpoint(path)
    with pytest.raises(UnsafeCheckpointError):
        AtomicCheckpointIO().load_checkpoint(path)  # Lightning's resume from last.ckpt
    assert not marker.exists()


@pytest.mark.parametrize("entry", ["relx.evaluate", "relx.predict"])
def test_malicious_checkpoint_is_refused_by_the_command_line(tmp_path: Path, entry: str) -> None:
    path, marker = _malicious_checkpoint(tmp_path)
    text = tmp_path / "in.txt"
    text.write_text("hello world\n")
    args = [f"input={text}"] if entry == "relx.predict" else [f"output_dir={tmp_path / 'out'}", "split=dev"]
    done = _run(entry, f"ckpt_path={path}", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert not marker.exists()
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [errors[-1]] and errors[-1].startswith(f"relx: error: {path}: refused to load"), done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a checkpoint\n", "not a readable PyTorch checkpoint"), (None, "not a readable PyTorch checkpoint")],
)
def test_text_or_truncated_file_as_checkpoint_gives_one_line(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "bad.ckpt"
    if content is None:  # a real checkpoint, cut in half
        torch.save({"relx": {}, "state_dict": {"w": torch.zeros(1000)}}, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as caught:
        load_relx_checkpoint(path)
    assert "\n" not in str(caught.value)


def test_a_plain_dict_without_relx_run_config_is_not_a_relx_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ConfigError, match="is not a relx checkpoint"):
        load_relx_checkpoint(path)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real relx checkpoint (tiny encoder, two steps of MIT Movie)."""
    from relx.runs import train

    run_dir = tmp_path_factory.mktemp("tiny-run")
    train(compose_config(["task=mit_movie", "head=token", *TINY_FAST, "write_predictions=false"]), run_dir)
    return run_dir / "checkpoints" / "last.ckpt"


def test_relx_checkpoints_load_with_weights_only(tiny_checkpoint: Path) -> None:
    checkpoint = safe_torch_load(tiny_checkpoint)  # weights_only=True: only tensors and plain containers
    assert checkpoint["relx"]["version"]
    from relx.runs import restore

    _, module, _ = restore(load_relx_checkpoint(tiny_checkpoint), read_data=False)
    assert not module.training


def _tampered(checkpoint_path: Path, tmp_path: Path, edit: Any) -> Path:
    checkpoint = safe_torch_load(checkpoint_path)
    edit(checkpoint["relx"]["config"])
    path = tmp_path / "tampered.ckpt"
    torch.save(checkpoint, path)
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["task"].update(_target_="subprocess.Popen"), "'subprocess.Popen' is not a relx class"),
        (
            lambda c: c["task"].update(datamodule={"_target_": "subprocess.Popen"}),  # the relx 0.1 layout
            "'subprocess.Popen' is not a DataModule this relx can read",
        ),
        (lambda c: c["head"]["heads"]["token"].update(_target_="relx.build.L.Trainer"), "is not a relx class"),
        (lambda c: c["encoder"]["tokenizer_kwargs"].update(trust_remote_code=True), "may not set trust_remote_code"),
        (lambda c: c["encoder"]["config_overrides"].update(auto_map={"AutoModel": "x.Y"}), "may not set auto_map"),
    ],
)
def test_restore_refuses_stored_configs_that_reach_outside_relx(
    tiny_checkpoint: Path, tmp_path: Path, edit: Any, message: str
) -> None:
    from relx.runs import restore

    path = _tampered(tiny_checkpoint, tmp_path, edit)
    with pytest.raises(ConfigError, match=message):
        restore(load_relx_checkpoint(path), read_data=False)
