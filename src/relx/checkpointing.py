"""Checkpoints written atomically and read safely.

Writing: a crash mid-save never corrupts ``last.ckpt`` (temporary file, fsync, rename).

Reading: checkpoints are files people share like model files, and ``torch.load`` of an arbitrary
pickle runs arbitrary code. relx checkpoints hold only tensors and plain containers (numbers,
strings, lists, dicts), so every load — ``relx.evaluate``, ``relx.predict``, the library API and
Lightning's resume — uses ``weights_only=True``; a file that needs more is refused with one line.

Exported models: a directory written by ``python -m relx.export`` (``relx.exporting``) holds no pickle at
all: ``relx.json`` (what ``checkpoint["relx"]`` holds), ``encoder/`` (a Hugging Face model directory,
safetensors) and ``heads.safetensors``. ``load_relx_checkpoint`` reads such a directory back into the
checkpoint dict of the file it was exported from, so every loader accepts either.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from safetensors import SafetensorError
from safetensors.torch import load_file

from relx.errors import ConfigError
from relx.io import atomic_write


class UnsafeCheckpointError(ConfigError):
    """The checkpoint needs more than tensors and plain containers to load: refused, never unpickled."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def safe_torch_load(path: str | Path, map_location: Any = "cpu", mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` with relx's one-line errors (``mmap``: tensors are mapped from
    the file, not read, for a caller that needs only the plain entries).

    Raises ``UnsafeCheckpointError`` when the pickle references anything beyond tensors and plain
    containers (the payload is not executed: the restricted unpickler stops at the first such global),
    and ``ConfigError`` for a missing, truncated or non-PyTorch file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
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
    unreadable, unsafe, or not a relx checkpoint. Its stored config is checked again by ``runs.restore``.

    ``path`` may also be a directory written by ``python -m relx.export`` (``load_exported_model``)."""
    path = Path(path)
    checkpoint = load_exported_model(path) if path.is_dir() else safe_torch_load(path)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("relx"), dict):
        raise ConfigError(f"{path} is not a relx checkpoint (no stored run configuration)")
    stored = checkpoint["relx"]
    if not isinstance(stored.get("config"), dict) or not isinstance(stored.get("vocabs"), dict):
        version = stored.get("version", "before 0.1.0")
        raise ConfigError(f"{path}: its stored run configuration is incomplete (written by relx {version})")
    if not isinstance(checkpoint.get("state_dict"), dict):
        raise ConfigError(f"{path} is not a relx checkpoint (no model weights)")
    return checkpoint


def checkpoint_progress(path: str | Path) -> tuple[int, int]:
    """``(epoch, global_step)`` at which a Lightning checkpoint was saved (``epoch`` counted from 0: the epoch
    during which it was written); the weights are memory-mapped, not read."""
    checkpoint = safe_torch_load(path, mmap=True)
    return int(checkpoint.get("epoch", -1)), int(checkpoint.get("global_step", -1))


# The files of an exported model directory (``relx.exporting`` writes them).
EXPORT_CONFIG = "relx.json"
EXPORT_ENCODER = "encoder"
EXPORT_HEADS = "heads.safetensors"
EXPORT_FORMAT = 1


def is_exported_model(path: str | Path) -> bool:
    """Whether ``path`` is a directory written by ``python -m relx.export``."""
    return (Path(path) / EXPORT_CONFIG).is_file()


def run_dir_of(ckpt_path: str | Path) -> Path:
    """The directory that a checkpoint's evaluation outputs (``eval/``) go into by default: the run directory
    of ``<run dir>/checkpoints/best.ckpt``, or an exported model directory itself."""
    path = Path(ckpt_path)
    return path if path.is_dir() else path.parent.parent


def _inside(directory: Path, name: Any, what: str) -> Path:
    """``directory / name``, which must stay inside ``directory`` (a shared relx.json names no other files)."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{directory / EXPORT_CONFIG}: export.{what} must be a file name, not {name!r}")
    path = (directory / name).resolve()
    if not path.is_relative_to(directory.resolve()):
        raise ConfigError(f"{directory / EXPORT_CONFIG}: export.{what}={name!r} is outside the exported directory")
    return path


def _safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file (no pickle, no code), with one-line errors."""
    if not path.is_file():
        raise ConfigError(f"{path} not found: the exported model directory is incomplete")
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise ConfigError(f"{path}: not a readable safetensors file: {_first_line(err)}") from None


def encoder_weight_files(encoder_dir: Path) -> list[Path]:
    """The safetensors files ``save_pretrained`` wrote into ``encoder_dir`` (one, or the shards its index
    names); a directory with pickled weights only (``pytorch_model.bin``) is refused, never unpickled."""
    single = encoder_dir / "model.safetensors"
    if single.is_file():
        return [single]
    index = encoder_dir / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ConfigError(f"{index}: not a readable safetensors index: {_first_line(err)}") from None
        return [_inside(encoder_dir, name, "encoder shard") for name in names]
    raise ConfigError(f"{encoder_dir}: no model.safetensors (relx reads encoder weights from safetensors only)")


def load_exported_model(directory: str | Path) -> dict[str, Any]:
    """A directory written by ``python -m relx.export`` as the checkpoint dict it was exported from:
    ``state_dict`` (the encoder's weights from ``encoder/``, prefixed with the module's attribute path,
    and ``heads.safetensors``) and ``relx`` (``relx.json``, with ``encoder.name`` the absolute ``encoder/``
    directory, so that ``runs.restore`` builds the encoder and its tokenizer from it)."""
    directory = Path(directory)
    config_file = directory / EXPORT_CONFIG
    if not config_file.is_file():
        raise ConfigError(
            f"{directory} is a directory without {EXPORT_CONFIG}: give a checkpoint file (<run dir>/checkpoints/"
            "best.ckpt) or a directory written by python -m relx.export"
        )
    try:
        stored = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ConfigError(f"{config_file}: not readable JSON: {_first_line(err)}") from None
    export = stored.get("export") if isinstance(stored, dict) else None
    if not isinstance(export, dict) or not isinstance(stored.get("config"), dict):
        raise ConfigError(f"{config_file} is not the relx.json of a model exported by python -m relx.export")
    if export.get("format") != EXPORT_FORMAT:
        raise ConfigError(
            f"{config_file}: export format {export.get('format')!r}; this relx reads format {EXPORT_FORMAT} "
            f"(written by relx {stored.get('version', '?')})"
        )
    encoder_dir = _inside(directory, export.get("encoder"), "encoder")
    prefix = export.get("encoder_prefix")
    if not isinstance(prefix, str):
        raise ConfigError(f"{config_file}: export.encoder_prefix must be a string, not {prefix!r}")
    state: dict[str, torch.Tensor] = {}
    for file in encoder_weight_files(encoder_dir):
        state.update({prefix + key: value for key, value in _safetensors(file).items()})
    state.update(_safetensors(_inside(directory, export.get("heads"), "heads")))
    encoder = stored["config"].get("encoder")
    if not isinstance(encoder, dict):
        raise ConfigError(f"{config_file}: config.encoder must be a mapping")
    stored["config"] = {**stored["config"], "encoder": {**encoder, "name": str(encoder_dir)}}
    return {"state_dict": state, "relx": stored}
