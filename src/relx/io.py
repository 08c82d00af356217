"""Atomic file writes: a crash never leaves a half-written prediction, metrics or checkpoint file.

Each write goes to a temporary file beside the target (``.<name>.<random>.tmp``, see ``TEMP_NAME``) and is
renamed into place. A ``kill -9`` mid-write can leave such a temporary file behind; ``remove_orphan_temp_files``
deletes them when a run starts. ``tempfile.mkstemp`` creates files with mode 0600; the renamed file gets the
mode an ordinary ``open()`` would give it (``0o666`` less the umask), or keeps the mode of the file it replaces.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

# ``.{name}.{8 random characters from mkstemp}.tmp``: only files of this shape are ever cleaned up.
TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def _read_umask() -> int:
    """The process umask, read once at import.

    ``os.umask`` can only be read by setting it, which is racy if another thread creates a file in between;
    Linux shows it in ``/proc/self/status`` instead. Elsewhere it is swapped for the most restrictive mask
    (0o077) for an instant at import, so a racing file is never more open than intended.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o077)
    os.umask(old)
    return old


UMASK = _read_umask()


def _file_mode(path: Path) -> int:
    """The mode the written file should have: the replaced file's, else what ``open()`` would create."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~UMASK


def atomic_write(path: str | Path, write: Callable[[IO[Any]], object], binary: bool = False) -> None:
    """Write through ``write(fh)`` into a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode(path))
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_orphan_temp_files(directory: str | Path) -> list[Path]:
    """Delete the temporary files that interrupted ``atomic_write`` calls left under ``directory``.

    Only regular files named like relx's temporary files are removed; call it before anything writes
    into ``directory`` (a file being written by a live process would look the same).
    """
    removed = []
    for path in Path(directory).rglob(".*.tmp"):
        if TEMP_NAME.match(path.name) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_text_atomic(path: str | Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def write_jsonl_atomic(path: str | Path, records: Iterable[Mapping[str, Any]]) -> None:
    """JSON lines, one record a line (UTF-8, non-ASCII kept), written atomically."""

    def write(fh: IO[Any]) -> None:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")

    atomic_write(path, write)
