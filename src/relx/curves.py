"""Learning curves: chosen metrics and the training loss recorded at every validation during training
(every ``trainer.val_check_interval`` steps), written to ``curves.json`` and plotted to ``curves.png``.

Every run records one: the metrics the task lists under ``curves``, else the caller's ``default_metrics``
(the run's monitored metric), with ``train/loss`` (the last training step's loss) on a second axis, so
that over- and under-fitting show without opening TensorBoard.

``curves.json`` is rewritten (atomically) after every validation, so an interrupted run keeps its curve;
a resumed run continues it from the points up to the checkpoint's step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L

from relx.io import write_json_atomic

LOSS = "train/loss"  # what the modules log at every training step


def read_points(path: Path, up_to_step: int) -> list[dict[str, float]]:
    """The points of an existing ``curves.json`` recorded at steps ``<= up_to_step`` (a resumed run
    records the later ones again); none when the file is missing or unreadable."""
    try:
        points = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(points, list):
        return []
    return [
        p for p in points if isinstance(p, dict) and isinstance(p.get("step"), int | float) and p["step"] <= up_to_step
    ]


class ValidationCurves(L.Callback):
    """Records ``metrics`` (e.g. ``val/em``, ``val/f1``) and ``loss`` (the training loss as last logged;
    None: not recorded) after each validation run inside ``fit``; ``resuming``: continue the points
    already in ``run_dir/curves.json``."""

    def __init__(
        self, run_dir: str | Path, metrics: Sequence[str], resuming: bool = False, loss: str | None = LOSS
    ) -> None:
        self.run_dir = Path(run_dir)
        self.metrics = list(metrics)
        self.loss = loss
        self.resuming = resuming
        self.points: list[dict[str, float]] = []

    @property
    def path(self) -> Path:
        return self.run_dir / "curves.json"

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Called after Lightning restored the checkpoint, so global_step is the resumed step.
        if self.resuming and not self.points:
            self.points = read_points(self.path, trainer.global_step)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.training and trainer.state.fn != "fit":
            return
        recorded = [*self.metrics, self.loss] if self.loss and self.loss not in self.metrics else self.metrics
        values = {m: float(trainer.callback_metrics[m]) for m in recorded if m in trainer.callback_metrics}
        if values and trainer.is_global_zero:
            point = {"step": float(trainer.global_step), "epoch": float(trainer.current_epoch), **values}
            if self.points and self.points[-1]["step"] == point["step"]:
                self.points[-1] = point  # validated again at the same step (resumed mid-validation)
            else:
                self.points.append(point)
            write_json_atomic(self.path, self.points)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.points:
            write_json_atomic(self.path, self.points)
            plot_curves(self.points, self.metrics, self.run_dir / "curves.png", self.loss)


def plot_curves(
    points: Sequence[dict[str, float]], metrics: Sequence[str], path: Path, loss: str | None = LOSS
) -> None:
    """One line per metric against the training step, and ``loss`` (when the points hold it) dashed on a
    second y-axis: scores and a loss do not share a scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    metrics = [m for m in metrics if m != loss]
    for metric in metrics:
        xs = [p["step"] for p in points if metric in p]
        ax.plot(xs, [p[metric] for p in points if metric in p], marker="o", label=metric)
    ax.set_xlabel("training step")
    ax.set_ylabel("score")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    loss_points = [p for p in points if loss and loss in p]
    if loss and loss_points:
        loss_ax = ax.twinx()
        steps, losses = [p["step"] for p in loss_points], [p[loss] for p in loss_points]
        loss_ax.plot(steps, losses, color="grey", linestyle="--", marker=".", label=loss)
        loss_ax.set_ylabel("training loss")
        more_handles, more_labels = loss_ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    if handles:
        ax.legend(handles, labels)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def curve_metrics(cfg: dict[str, Any], default_metrics: Sequence[str] = ()) -> list[str]:
    """The scores a run's curve follows: the task's ``curves`` list, else a multi-task run's ``val/average``,
    else ``default_metrics`` (the caller passes the monitored metric: ``relx.build`` sits above this module)."""
    listed = (cfg.get("task") or {}).get("curves")
    if listed:
        return list(listed)
    return ["val/average"] if cfg.get("tasks") else list(default_metrics)


def curve_callbacks(
    cfg: dict[str, Any], run_dir: Path, resuming: bool = False, default_metrics: Sequence[str] = ()
) -> list[L.Callback]:
    """The run's ``ValidationCurves``: the ``curve_metrics`` and the training loss, for every run."""
    return [ValidationCurves(run_dir, curve_metrics(cfg, default_metrics), resuming)]
