"""Validation curves: chosen metrics recorded at every validation during training (every
``trainer.val_check_interval`` steps), written to ``curves.json`` and plotted to ``curves.png``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L

from relx.io import write_json_atomic


class ValidationCurves(L.Callback):
    """Records ``metrics`` (e.g. ``val/em``, ``val/f1``) after each validation run inside ``fit``."""

    def __init__(self, run_dir: str | Path, metrics: Sequence[str]) -> None:
        self.run_dir = Path(run_dir)
        self.metrics = list(metrics)
        self.points: list[dict[str, float]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.training and trainer.state.fn != "fit":
            return
        values = {m: float(trainer.callback_metrics[m]) for m in self.metrics if m in trainer.callback_metrics}
        if values and trainer.is_global_zero:
            point = {"step": float(trainer.global_step), "epoch": float(trainer.current_epoch), **values}
            if not self.points or self.points[-1] != point:
                self.points.append(point)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.points:
            write_json_atomic(self.run_dir / "curves.json", self.points)
            plot_curves(self.points, self.metrics, self.run_dir / "curves.png")


def plot_curves(points: Sequence[dict[str, float]], metrics: Sequence[str], path: Path) -> None:
    """One line per metric against the training step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for metric in metrics:
        xs = [p["step"] for p in points if metric in p]
        ax.plot(xs, [p[metric] for p in points if metric in p], marker="o", label=metric)
    ax.set_xlabel("training step")
    ax.set_ylabel("score")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def curve_callbacks(cfg: dict[str, Any], run_dir: Path) -> list[L.Callback]:
    """``ValidationCurves`` for the metrics the task lists under ``curves`` (none: no callback)."""
    metrics = cfg["task"].get("curves") or []
    return [ValidationCurves(run_dir, metrics)] if metrics else []
