"""``MultiTaskModule``: one encoder, each task's heads and metrics, batches routed by task.

A multi-task batch is a ``SourceBatch(task name, batch)``: the encoder runs on it, then only that task's
heads. The loss of a step is ``task weight x`` the task's heads' weighted loss. Metrics are each task's own
(``Task.metric``), logged as ``val/<task>/<metric>``; ``val/average`` is the mean of every task's main
metric (the default monitor of a multi-task run).

Heads live in ``heads[<task>][<head name>]``. Two tasks may share one head instance (``share_head``): the
same module object sits under both names, so it is trained by both tasks' batches and stored once per name
(the weights are equal, a checkpoint loads either way).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import lightning as L
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor, nn
from torchmetrics import MetricCollection

from relx.data.batch import EncodedBatch
from relx.data.mixing import SourceBatch
from relx.encoders import Encoder
from relx.heads.base import Head
from relx.modules.task import Calibration, OptimSettings, TaskModule

AVERAGE = "average"


class MultiTaskModule(TaskModule):
    """Encoder + ``heads[task][name]`` + ``metrics[task]``; ``main_metrics[task]`` names each task's main
    validation metric without its ``val/`` prefix (``las``), averaged into ``val/average``."""

    def __init__(
        self,
        encoder: Encoder,
        task_heads: Mapping[str, dict[str, Head]],
        task_metrics: Mapping[str, MetricCollection],
        main_metrics: Mapping[str, str],
        optim: OptimSettings | None = None,
        loss_weights: Mapping[str, dict[str, float] | None] | None = None,
        task_weights: Mapping[str, float] | None = None,
        seed: int = 42,
        run_config: dict[str, Any] | None = None,
        calibrations: Mapping[str, Calibration | None] | None = None,
    ) -> None:
        L.LightningModule.__init__(self)
        if not task_heads or not all(task_heads.values()):
            raise ValueError("MultiTaskModule needs at least one head per task")
        self.encoder = encoder
        self.heads = nn.ModuleDict({task: nn.ModuleDict(heads) for task, heads in task_heads.items()})
        self.tasks = list(task_heads)
        weights = loss_weights or {}
        self.loss_weights_of = {
            task: {name: float((weights.get(task) or {}).get(name, 1.0)) for name in heads}
            for task, heads in task_heads.items()
        }
        self.task_weights = {task: float((task_weights or {}).get(task, 1.0)) for task in task_heads}
        self.val_metrics = nn.ModuleDict({t: m.clone(prefix=f"val/{t}/") for t, m in task_metrics.items()})  # type: ignore[assignment]
        self.test_metrics = nn.ModuleDict({t: m.clone(prefix=f"test/{t}/") for t, m in task_metrics.items()})  # type: ignore[assignment]
        self.main_metrics = dict(main_metrics)
        self.optim = optim or OptimSettings()
        self.seed = seed
        self.run_config = run_config or {}
        self.calibrations = dict(calibrations or {})
        self.calibration = None
        self._init_evaluation_state()
        # The tasks scored by the next validation/test loop (a loop over a subset: tasks with a labelled test).
        self.scored_tasks = list(self.tasks)

    def task_heads(self, task: str) -> list[tuple[str, Head]]:
        return [(name, cast(Head, head)) for name, head in cast(nn.ModuleDict, self.heads[task]).items()]

    def named_heads(self) -> list[tuple[str, Head]]:
        """Every (task/head name, head) pair; a shared head appears under each task."""
        return [(f"{task}/{name}", head) for task in self.tasks for name, head in self.task_heads(task)]

    # ---- routing: a batch goes to its task's heads ------------------------------------------------------
    def heads_for(self, batch: SourceBatch) -> list[tuple[str, Head]]:  # type: ignore[override]
        return self.task_heads(batch.source)

    def inputs_of(self, batch: SourceBatch) -> EncodedBatch:  # type: ignore[override]
        return cast(EncodedBatch, batch.batch)

    def loss_weights_for(self, batch: SourceBatch) -> dict[str, float]:  # type: ignore[override]
        return self.loss_weights_of[batch.source]

    # ---- Lightning hooks -----------------------------------------------------------------------------
    def training_step(self, batch: SourceBatch, batch_idx: int) -> Tensor:  # type: ignore[override]
        loss = self.loss(self(batch), batch)
        size = len(batch)
        self.log(f"train/{batch.source}/loss", loss, batch_size=size)
        weighted = self.task_weights[batch.source] * loss
        self.log("train/loss", weighted, prog_bar=True, batch_size=size)
        return weighted

    def _eval_step(self, batch: SourceBatch, metrics: Any, stage: str) -> None:  # type: ignore[override]
        outputs = self(batch)
        if self._has_labels(batch):
            loss = self.loss(outputs, batch)
            self.log(f"{stage}/{batch.source}/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(batch))
        decoded = self.decode(outputs, batch)
        self._keep_predictions(batch.source, outputs, decoded, batch)
        metrics[batch.source].update(decoded, batch.batch)

    def on_validation_epoch_end(self) -> None:
        values: dict[str, Tensor] = {}
        self.recalibrated = False
        for task in self.scored_tasks:
            metrics = cast(MetricCollection, self.val_metrics[task])
            task_values = metrics.compute()
            metrics.reset()
            values.update(task_values)
            if self.trainer.state.fn == TrainerFn.FITTING and self._calibrate(task, task_values):
                self.recalibrated = True
        self.log_dict(values, sync_dist=True)
        mains = [float(values[f"val/{t}/{self.main_metrics[t]}"]) for t in self.scored_tasks]
        self.log(f"val/{AVERAGE}", sum(mains) / len(mains) if mains else math.nan, sync_dist=True)

    def _calibrate(self, task: str, values: Mapping[str, Tensor]) -> bool:
        """The task's calibration step (the DocRE baseline's dev-tuned threshold) for its heads; whether it
        changed any head's decisions."""
        calibration = self.calibrations.get(task)
        if calibration is None:
            return False
        prefix = f"val/{task}/"
        dev = {k.removeprefix(prefix): float(v) for k, v in values.items()}
        retuned = False
        for _, head in self.task_heads(task):
            rule = calibration(head.label_space, dev)
            if rule and head.calibrate(**rule):
                retuned = True
        return retuned

    def on_test_epoch_end(self) -> None:
        for task in self.scored_tasks:
            metrics = cast(MetricCollection, self.test_metrics[task])
            self.log_dict(metrics.compute(), sync_dist=True)
            metrics.reset()
