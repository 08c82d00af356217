"""Checkpoints written atomically and read safely.

Writing: a crash mid-save never corrupts ``last.ckpt`` (temporary file, fsync, rename).

Reading: checkpoints are files people share like model files, and ``torch.load`` of an arbitrary
pickle runs arbitrary code. relx checkpoints hold only tensors and plain containers (numbers,
strings, lists, dicts), so every load — ``relx.evaluate``, ``relx.predict``, the library API and
Lightning's resume — uses ``weights_only=True``; a file that needs more is refused with one line.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from relx.errors import ConfigError
from relx.io import atomic_write


class UnsafeCheckpointError(ConfigError):
    """The checkpoint needs more than tensors and plain containers to load: refused, never unpickled."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def safe_torch_load(path: str | Path, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with relx's one-line errors.

    Raises ``UnsafeCheckpointError`` when the pickle references anything beyond tensors and plain
    containers (the payload is not executed: the restricted unpickler stops at the first such global),
    and ``ConfigError`` for a missing, truncated or non-PyTorch file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        # The restricted unpickler names the first global (class or function) the file imports.
        found = re.search(r"unsupported (?:global: )?GLOBAL (\S+)", str(err), flags=re.IGNORECASE)
        if found is None:  # e.g. "Unsupported operand": not a pickle at all
            raise ConfigError(
                f"{path}: not a readable PyTorch checkpoint (truncated, or another kind of file)"
            ) from None
        raise UnsafeCheckpointError(
            f"{path}: refused to load: it references {found.group(1)}; relx checkpoints hold only tensors and "
            "plain containers, and unpickling anything else could run code from the file"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, IndexError) as err:
        raise ConfigError(
            f"{path}: not a readable PyTorch checkpoint (truncated, or another kind of file): {_first_line(err)}"
        ) from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves to a temporary file beside the target, fsyncs, then renames over it; loads (Lightning's
    resume from ``last.ckpt``) with ``weights_only=True`` like every other relx load."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        atomic_write(Path(path), lambda fh: torch.save(checkpoint, fh), binary=True)

    def load_checkpoint(
        self,
        path: str | os.PathLike,
        map_location: Callable[..., Any] | str | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        return safe_torch_load(Path(path), map_location=map_location)  # type: ignore[no-any-return]


def load_relx_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dict (CPU tensors); raises a one-line ``ConfigError`` when the file is missing,
    unreadable, unsafe, or not a relx checkpoint. Its stored config is checked again by ``runs.restore``."""
    path = Path(path)
    checkpoint = safe_torch_load(path)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("relx"), dict):
        raise ConfigError(f"{path} is not a relx checkpoint (no stored run configuration)")
    stored = checkpoint["relx"]
    if not isinstance(stored.get("config"), dict) or not isinstance(stored.get("vocabs"), dict):
        version = stored.get("version", "before 0.1.0")
        raise ConfigError(f"{path}: its stored run configuration is incomplete (written by relx {version})")
    if not isinstance(checkpoint.get("state_dict"), dict):
        raise ConfigError(f"{path} is not a relx checkpoint (no model weights)")
    return checkpoint
