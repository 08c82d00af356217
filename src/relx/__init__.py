"""relx: fine-tune pretrained transformer encoders on relation extraction and related NLP tasks.

``relx.load(checkpoint).predict(inputs)`` predicts with a trained model (``relx.api``); the commands are
``python -m relx.train`` / ``relx.evaluate`` / ``relx.predict`` / ``relx.export``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relx.api import Model

from relx.version import __version__

__all__ = ["__version__", "load"]


def load(
    checkpoint: str | Path, batch_size: int | None = None, accelerator: str = "auto", task_name: str | None = None
) -> Model:
    """A trained model from a ``relx.train`` checkpoint: ``relx.load(ckpt).predict(["show me films"])``
    (``relx.api.load``; imported on use, so ``import relx`` stays light). ``task_name``: the task of a
    multi-task checkpoint."""
    from relx.api import load as load_checkpoint

    return load_checkpoint(checkpoint, batch_size=batch_size, accelerator=accelerator, task_name=task_name)
