"""User-facing errors: each names the file/line, record or config key that is wrong."""

from __future__ import annotations

from pathlib import Path


class RelxError(Exception):
    """Base class of every error relx raises on purpose for bad input or configuration."""


class DataFormatError(RelxError):
    """A data file is missing, empty or malformed; the message names file and line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


class ConfigError(RelxError):
    """A configuration value is invalid or two choices do not fit together."""


class EncoderLoadError(RelxError):
    """A pretrained encoder or tokenizer could not be loaded (typically: offline and not cached)."""
