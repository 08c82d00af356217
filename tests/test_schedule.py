"""The learning-rate schedule: exactly transformers' linear warm-up/decay over steps, and fitted into
``trainer.max_time`` when the run has a time budget (relx.modules.schedule)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, Timer
from transformers import get_linear_schedule_with_warmup

from helpers import TINY_FAST, compose_config
from relx.modules.schedule import budgeted_schedule, time_budget_of, warmup_then_decay


def _factors(scheduler: Any, steps: int) -> list[float]:
    optimizer = scheduler.optimizer
    factors = []
    for _ in range(steps):
        factors.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return factors


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)


@pytest.mark.parametrize(("warmup_fraction", "total"), [(0.1, 37), (0.0, 10), (0.25, 8), (0.1, 1)])
def test_without_a_budget_the_schedule_is_transformers_linear_warmup(warmup_fraction: float, total: int) -> None:
    ours = budgeted_schedule(_optimizer(), warmup_fraction, total)
    reference = get_linear_schedule_with_warmup(_optimizer(), int(warmup_fraction * total), total)
    assert _factors(ours, total + 3) == _factors(reference, total + 3)


def test_a_spent_budget_moves_the_schedule_along() -> None:
    spent = {"fraction": 0.0}
    scheduler = budgeted_schedule(_optimizer(), 0.1, 100, lambda: spent["fraction"])
    assert scheduler.get_last_lr()[0] == 0.0  # step 0 of the warm-up
    spent["fraction"] = 0.05  # half-way through a warm-up of 10 % of the budget, at step 1
    scheduler.optimizer.step()
    scheduler.step()
    assert scheduler.get_last_lr()[0] == pytest.approx(0.5)
    spent["fraction"] = 0.55  # time says 55 % while steps say 2 %: decay from the time
    scheduler.optimizer.step()
    scheduler.step()
    assert scheduler.get_last_lr()[0] == pytest.approx((100 - 55) / 90)
    spent["fraction"] = 1.0  # the time is up: the rate is 0, not cut at a high value
    scheduler.optimizer.step()
    scheduler.step()
    assert scheduler.get_last_lr()[0] == 0.0


def test_steps_ahead_of_time_keep_the_step_schedule() -> None:
    scheduler = budgeted_schedule(_optimizer(), 0.0, 10, lambda: 0.01)
    for _ in range(5):
        scheduler.optimizer.step()
        scheduler.step()
    assert scheduler.get_last_lr()[0] == pytest.approx(warmup_then_decay(5, 0, 10)) == pytest.approx(0.5)


def test_time_budget_of_reads_the_trainers_timer_with_a_resumed_runs_time() -> None:
    assert time_budget_of(L.Trainer(logger=False, enable_checkpointing=False)) is None
    trainer = L.Trainer(max_time={"seconds": 100}, logger=False, enable_checkpointing=False)
    timer = next(c for c in trainer.callbacks if isinstance(c, Timer))  # type: ignore[attr-defined]
    timer.load_state_dict({"time_elapsed": {"train": 40.0}})  # what a resumed run carries over
    fraction = time_budget_of(trainer)
    assert fraction is not None and fraction() == pytest.approx(0.4)


class _SpendBudgetThenStop(Callback):
    """Pretends 75 % of the time budget was spent before training, records the rate after step 1, stops."""

    def __init__(self) -> None:
        self.lr_after_first_step: float | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        timer = next(c for c in trainer.callbacks if isinstance(c, Timer))  # type: ignore[attr-defined]
        timer.load_state_dict({"time_elapsed": {"train": 0.75 * 3600}})

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.lr_after_first_step = trainer.optimizers[0].param_groups[0]["lr"]
        trainer.should_stop = True


def test_a_run_with_max_time_schedules_its_learning_rate_by_the_time_spent(tmp_path: Path) -> None:
    """20 planned steps (warm-up 2) and 75 % of a one-hour budget spent: after one step the encoder's rate
    is the decay's at step 15 (5/18 of the peak), not the warm-up's at step 1 (1/2 of it)."""
    from relx.runs import train

    cfg = compose_config(
        [*TINY_FAST, "task=semeval", "trainer.max_steps=20", "trainer.max_time=00:01:00:00", "write_predictions=false"]
    )
    probe = _SpendBudgetThenStop()
    train(cfg, tmp_path / "run", extra_callbacks=[probe])
    peak = cfg["optim"]["encoder_lr"]
    assert probe.lr_after_first_step == pytest.approx(peak * 5 / 18, rel=1e-2)
