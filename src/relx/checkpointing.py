"""Checkpoints written atomically: a crash mid-save never corrupts ``last.ckpt``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from relx.io import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves to a temporary file beside the target, fsyncs, then renames over it."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        atomic_write(Path(path), lambda fh: torch.save(checkpoint, fh), binary=True)


def load_relx_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dict (CPU tensors); raises a clear error when it is not a relx checkpoint."""
    from relx.errors import ConfigError

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint not found: {path}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    if "relx" not in checkpoint:
        raise ConfigError(f"{path} is not a relx checkpoint (no stored run configuration)")
    return checkpoint
