"""The learning-rate schedule: linear warm-up then linear decay to 0, over steps or over a time budget.

A schedule is planned over ``total`` optimiser steps (``trainer.estimated_stepping_batches``). When the
run also has a time budget (``trainer.max_time``), stepping alone would let the stop cut the schedule
anywhere: a 20-epoch DocRE schedule stopped after 2 hours may end just after its warm-up, at a high
learning rate, with a model worse than its first epoch. So progress is measured on both clocks and the
one further along wins: ``progress = max(step / total, elapsed / budget)``. Warm-up then ends by
``warmup_fraction`` of the budget at the latest and the rate reaches 0 when the time is up, whichever
of steps and time runs out first. Without a budget the schedule is exactly
``transformers.get_linear_schedule_with_warmup``.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
from lightning.pytorch.callbacks import Timer
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

# () -> fraction of the time budget spent so far, in [0, 1]
BudgetFraction = Callable[[], float]


def warmup_then_decay(step: float, warmup_steps: int, total_steps: int) -> float:
    """The learning-rate factor at (possibly fractional) ``step`` of ``total_steps``: ``step / warmup``
    during warm-up, then linear decay to 0 at ``total_steps`` (never below 0)."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def budgeted_schedule(
    optimizer: Optimizer,
    warmup_fraction: float,
    total_steps: int,
    budget_fraction: BudgetFraction | None = None,
) -> LambdaLR:
    """A ``LambdaLR`` stepped once per optimiser step. ``budget_fraction`` (None: steps only) reports how
    much of the time budget is spent; the schedule then runs at ``max(step, fraction * total_steps)``, so
    warm-up and decay both fit inside the budget."""
    total_steps = max(1, total_steps)
    warmup_steps = int(warmup_fraction * total_steps)

    def factor(step: int) -> float:
        position = float(step)
        if budget_fraction is not None:
            position = max(position, budget_fraction() * total_steps)
        return warmup_then_decay(position, warmup_steps, total_steps)

    return LambdaLR(optimizer, factor)


def time_budget_of(trainer: L.Trainer) -> BudgetFraction | None:
    """The fraction of ``trainer.max_time`` spent in fitting so far (Lightning's ``Timer``, which also
    counts validation and carries the time of earlier attempts of a resumed run), or None without one."""
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)  # type: ignore[attr-defined]
    if timer is None:
        return None

    def fraction() -> float:
        elapsed = timer.time_elapsed("train")
        remaining = timer.time_remaining("train")
        if remaining is None:
            return 0.0
        return min(1.0, elapsed / max(1e-9, elapsed + remaining))

    return fraction
