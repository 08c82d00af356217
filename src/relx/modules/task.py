"""The one generic LightningModule: encoder + heads + metrics + optimiser."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor, nn
from torchmetrics import MetricCollection

from relx.data.batch import EncodedBatch
from relx.data.mixing import SourceBatch
from relx.encoders import Encoder
from relx.heads.base import Head
from relx.modules.schedule import budgeted_schedule, time_budget_of

# TaskModule.on_before_batch_transfer draws per-step inputs for every loader; relx's DataModules define no such
# hook, so Lightning's note that the module's hook is used when fit is given a DataModule says nothing.
warnings.filterwarnings("ignore", message="You have overridden `on_before_batch_transfer` in `LightningModule`")


@dataclass
class OptimSettings:
    """``optim.*``: AdamW with separate encoder / head learning rates, no weight decay on biases and
    norm weights (every parameter with fewer than 2 dimensions), linear warm-up over
    ``warmup_fraction`` of all optimiser steps, then linear decay to 0 (both fitted into
    ``trainer.max_time`` when the run has one: relx.modules.schedule). ``fused`` AdamW is used on
    CUDA and CPU unless set to false."""

    encoder_lr: float = 5e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    fused: bool | None = None


# What a module's step gets: one task's batch, or in a multi-task run a batch tagged with its task.
Batch = EncodedBatch | SourceBatch

# The task name a single-task module keeps its predictions under (``TaskModule.kept_predictions``); a multi-task
# module keeps them under each batch's task
SINGLE_TASK = ""

# (label space, dev metrics without prefix) -> decision parameters for the heads of that space (Task.calibrate)
Calibration = Callable[[str, dict[str, float]], dict[str, float]]


class TaskModule(L.LightningModule):
    """Encoder + a dict of heads (one head, or several for joint multi-task training).

    ``heads`` are keyed by name; the total loss is the ``loss_weights``-weighted sum of the heads'
    losses. Predictions are keyed by each head's ``label_space`` and fed, with the batch, to the
    metrics (cloned with ``val/`` and ``test/`` prefixes). ``run_config`` (a plain dict: resolved
    config + label vocabularies) is stored in every checkpoint so that a checkpoint alone rebuilds
    the run.
    """

    def __init__(
        self,
        encoder: Encoder,
        heads: dict[str, Head],
        metrics: MetricCollection,
        optim: OptimSettings | None = None,
        loss_weights: dict[str, float] | None = None,
        seed: int = 42,
        run_config: dict[str, Any] | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        super().__init__()
        if not heads:
            raise ValueError("TaskModule needs at least one head")
        self.encoder = encoder
        self.heads = nn.ModuleDict(heads)
        self.loss_weights = {name: float((loss_weights or {}).get(name, 1.0)) for name in heads}
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.optim = optim or OptimSettings()
        self.seed = seed
        self.run_config = run_config or {}
        self.calibration = calibration
        self._init_evaluation_state()

    def _init_evaluation_state(self) -> None:
        """What the evaluation loops set and ``relx.scoring`` / ``relx.last_validation`` read (also a multi-task
        module's)."""
        # whether the last validation while fitting retuned a head's decision rule (the calibration step):
        # the weights it scored then decide differently, so its figures are not the checkpoint's
        self.recalibrated = False
        # While a dict, the evaluation steps also keep each batch's predictions (``predict_step``'s output) in
        # it, under the batch's task (``SINGLE_TASK`` in a single-task module): one pass over a split both scores
        # it and gives its prediction files (``relx.scoring.score_split``), and during fit each validation keeps
        # them (``relx.last_validation``).
        self.kept_predictions: dict[str, list[dict[str, Any]]] | None = None

    def named_heads(self) -> list[tuple[str, Head]]:
        return [(name, cast(Head, head)) for name, head in self.heads.items()]

    # ---- forward / loss / decode -----------------------------------------------------------------
    # A multi-task module (``relx.modules.multitask``) routes each batch to its task's heads by overriding
    # the three ``*_for`` methods; everything below them is shared.
    def heads_for(self, batch: Batch) -> list[tuple[str, Head]]:
        """The heads that predict ``batch``: all of them."""
        return self.named_heads()

    def inputs_of(self, batch: Batch) -> EncodedBatch:
        """The encoded batch the encoder and heads read."""
        return cast(EncodedBatch, batch)

    def loss_weights_for(self, batch: Batch) -> dict[str, float]:
        return self.loss_weights

    def forward(self, batch: Batch) -> dict[str, Any]:
        """Raw head outputs keyed by head name."""
        inputs = self.inputs_of(batch)
        encoded = self.encoder(inputs.input_ids, inputs.attention_mask, getattr(inputs, "token_type_ids", None))
        return {name: head(encoded, inputs) for name, head in self.heads_for(batch)}

    def loss(self, outputs: dict[str, Any], batch: Batch) -> Tensor:
        weights, inputs = self.loss_weights_for(batch), self.inputs_of(batch)
        total = sum(weights[name] * head.loss(outputs[name], inputs) for name, head in self.heads_for(batch))
        return total  # type: ignore[return-value]

    def decode(self, outputs: dict[str, Any], batch: Batch) -> dict[str, Tensor]:
        """Decoded predictions keyed by label space (``token``: ``[batch, words]``, ``sentence``: ``[batch]``),
        plus ``<space>_probs`` from heads that give class probabilities."""
        predictions = {}
        inputs = self.inputs_of(batch)
        for name, head in self.heads_for(batch):
            predictions[head.label_space] = head.decode(outputs[name], inputs)
            probs = head.probabilities(outputs[name])
            if probs is not None:
                predictions[f"{head.label_space}_probs"] = probs
        return predictions

    # ---- Lightning hooks -------------------------------------------------------------------------
    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Draw what a batch draws per step (``EncodedBatch.for_step``: masked-LM masks, anew each training
        epoch, fixed for evaluation), on the CPU, before the batch moves to the device."""
        epoch = self.current_epoch if self._trainer is not None and self.trainer.training else None
        if isinstance(batch, SourceBatch) and isinstance(batch.batch, EncodedBatch):
            return replace(batch, batch=batch.batch.for_step(epoch))
        return batch.for_step(epoch) if isinstance(batch, EncodedBatch) else batch

    def on_train_batch_start(self, batch: EncodedBatch, batch_idx: int) -> None:
        # Dropout randomness depends only on (seed, epoch, batch, rank), not on what ran before in the
        # process (DataLoader iterators draw from the global RNG): a resumed run continues exactly as
        # the uninterrupted run does.
        torch.manual_seed((self.seed * 1_000_003 + self.current_epoch * 100_003 + batch_idx) * 64 + self.global_rank)
        self._new_graph_step()

    def on_validation_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._new_graph_step()

    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._new_graph_step()

    def on_predict_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._new_graph_step()

    def _new_graph_step(self) -> None:
        """An encoder replayed as CUDA graphs (``trainer.compile_mode=reduce-overhead``) reuses its output
        memory at the next replay: mark where a batch starts, since every task encodes a batch in one call
        and the previous batch's outputs are no longer needed there."""
        if self.encoder.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()

    def training_step(self, batch: EncodedBatch, batch_idx: int) -> Tensor:
        loss = self.loss(self(batch), batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch))
        return loss

    def _eval_step(self, batch: EncodedBatch, metrics: MetricCollection, stage: str) -> None:
        outputs = self(batch)
        if self._has_labels(batch):
            self.log(f"{stage}/loss", self.loss(outputs, batch), on_epoch=True, sync_dist=True, batch_size=len(batch))
        decoded = self.decode(outputs, batch)
        self._keep_predictions(SINGLE_TASK, outputs, decoded, batch)
        metrics.update(decoded, batch)

    def _keep_predictions(self, task: str, outputs: dict[str, Any], decoded: dict[str, Tensor], batch: Batch) -> None:
        """Keep the batch's predictions under ``task`` while ``kept_predictions`` is on."""
        if self.kept_predictions is not None:
            self.kept_predictions.setdefault(task, []).append(self._predictions(outputs, decoded, batch))

    def _has_labels(self, batch: Batch) -> bool:
        inputs = self.inputs_of(batch)
        return all(getattr(inputs, head.gold_field, None) is not None for _, head in self.heads_for(batch))

    def validation_step(self, batch: EncodedBatch, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics, "val")

    def on_validation_epoch_end(self) -> None:
        # Metric values are already gathered over DDP ranks; sync_dist only marks them as such.
        values = self.val_metrics.compute()
        self.log_dict(values, sync_dist=True)  # shown per validation by relx.progress.EpochTable
        self.val_metrics.reset()
        # The calibration step: while fitting, the task tunes decision rules on dev (the DocRE baseline's
        # threshold) and the heads take them; every rank gets the same gathered values, so the tuned state
        # stays equal across ranks.
        self.recalibrated = False
        if self.calibration is not None and self.trainer.state.fn == TrainerFn.FITTING:
            dev = {k.removeprefix("val/"): float(v) for k, v in values.items()}
            for _, head in self.named_heads():
                rule = self.calibration(head.label_space, dev)
                if rule and head.calibrate(**rule):
                    self.recalibrated = True

    def test_step(self, batch: EncodedBatch, batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics, "test")

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute(), sync_dist=True)
        self.test_metrics.reset()

    def predict_step(self, batch: EncodedBatch, batch_idx: int) -> dict[str, Any]:
        """Predictions per batch row (and ``<space>_score`` from heads that score them: ``Head.confidence``);
        heads whose predictions are not one row per example (DocRE's pairs) give a list with one entry per
        example instead."""
        outputs = self(batch)
        return self._predictions(outputs, self.decode(outputs, batch), batch)

    def _predictions(self, outputs: dict[str, Any], decoded: dict[str, Tensor], batch: Batch) -> dict[str, Any]:
        """``predict_step``'s output from the batch's head outputs and their decoded predictions, on the CPU
        (the decoded tensors are copied, so a metric updated with them afterwards cannot change these)."""
        inputs = self.inputs_of(batch)
        predictions: dict[str, Any] = {k: v.detach().to("cpu", copy=True) for k, v in decoded.items()}
        for name, head in self.heads_for(batch):
            score = head.confidence(outputs[name], inputs)
            if score is not None:
                predictions[f"{head.label_space}_score"] = score.cpu()
            per_example = head.per_example(outputs[name], predictions[head.label_space], inputs)
            if per_example is not None:
                predictions.pop(f"{head.label_space}_probs", None)
                predictions.pop(f"{head.label_space}_score", None)
                predictions[head.label_space] = per_example
        return {"example_ids": inputs.example_ids.cpu(), **predictions}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["relx"] = self.run_config

    # ---- optimisation ----------------------------------------------------------------------------
    def parameter_groups(self) -> list[dict[str, Any]]:
        """Encoder / head groups, each split into decayed and non-decayed (biases, norms) parameters."""
        groups = []
        for part, lr in ((self.encoder, self.optim.encoder_lr), (self.heads, self.optim.head_lr)):
            params = [p for p in part.parameters() if p.requires_grad]
            decay = [p for p in params if p.ndim >= 2]
            no_decay = [p for p in params if p.ndim < 2]
            groups += [
                {"params": decay, "lr": lr, "weight_decay": self.optim.weight_decay},
                {"params": no_decay, "lr": lr, "weight_decay": 0.0},
            ]
        return [g for g in groups if g["params"]]

    def _mixed_precision_with_clipping(self) -> bool:
        trainer = self._trainer
        if trainer is None:
            return False
        return "mixed" in str(trainer.precision) and bool(trainer.gradient_clip_val)

    def configure_optimizers(self) -> Any:
        # The fused kernel (one launch for all parameters) exists for CUDA and CPU tensors. Lightning
        # cannot clip gradients under mixed precision for an optimizer that unscales them itself (the
        # fused kernel does), so with both, the multi-tensor (foreach) kernel is used instead.
        fused = self.optim.fused if self.optim.fused is not None else self.device.type in ("cuda", "cpu")
        if fused and self._mixed_precision_with_clipping():
            fused = False
        optimizer = torch.optim.AdamW(
            self.parameter_groups(),
            betas=(self.optim.betas[0], self.optim.betas[1]),
            eps=self.optim.eps,
            fused=fused or None,
        )
        # warm-up and decay over the planned steps, or over trainer.max_time when that runs out first
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = budgeted_schedule(optimizer, self.optim.warmup_fraction, total, time_budget_of(self.trainer))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
