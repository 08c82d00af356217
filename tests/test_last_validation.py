"""The best checkpoint's dev metrics come from fit's last validation only when that validation scored
exactly the best checkpoint's weights; otherwise the run validates the best checkpoint again."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.trainer.states import TrainerFn

from helpers import TINY_FAST, compose_config
from relx.inference import evaluate
from relx.runs import train


class ValidationPasses(L.Callback):
    """What each validation pass (the sanity check aside) ran under: fit, or a ``trainer.validate`` call."""

    def __init__(self) -> None:
        self.under: list[TrainerFn | None] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.under.append(trainer.state.fn)


# One epoch of two batches: one validation, at the end of training (TINY_FAST's two steps end mid-epoch, before
# any validation, so its best checkpoint is last.ckpt)
BEST_IS_FINAL = ["trainer.max_steps=-1", "trainer.max_epochs=1", "trainer.limit_train_batches=2"]
# Learning rates 0 and a validation every two steps: every validation scores the same, so the first one stays
# the best (a later tie does not replace it) and training goes on after it. (Not every step: an interval of 1
# equals 1.0, "once an epoch", to Lightning's checkpointing, which then saves only at the epoch's end.)
BEST_IS_EARLIER = ["optim.encoder_lr=0", "optim.head_lr=0", "trainer.max_steps=4", "trainer.val_check_interval=2"]
SEMEVAL = ["task=semeval", "head=rbert"]
# One epoch of the 12-document sample, one validation at its end, after which the baseline retunes its threshold
# on dev: the best checkpoint is the final state, but it decides with the new threshold
RETUNED_AFTER = ["task=redocred", "head=docre_baseline", "data.batch_size=4", "trainer.max_steps=3"]


@pytest.mark.parametrize(
    ("overrides", "fit_validations", "revalidated"),
    [([*SEMEVAL, *BEST_IS_FINAL], 1, False), ([*SEMEVAL, *BEST_IS_EARLIER], 2, True), (RETUNED_AFTER, 1, True)],
    ids=["best-is-final", "best-is-earlier", "threshold-retuned"],
)
def test_the_best_checkpoint_is_validated_again_only_when_its_figures_are_not_the_last_validation_s(
    tmp_path: Path, overrides: list[str], fit_validations: int, revalidated: bool
) -> None:
    cfg = compose_config([*TINY_FAST, *overrides])
    passes = ValidationPasses()
    metrics = train(cfg, tmp_path / "run", extra_callbacks=[passes])
    assert passes.under.count(TrainerFn.VALIDATING) == int(revalidated)
    assert passes.under.count(TrainerFn.FITTING) == fit_validations
    best = json.loads((tmp_path / "run" / "data_summary.json").read_text())["best_checkpoint"]
    assert Path(best).name != "last.ckpt"
    # the reported dev metrics are the best checkpoint's, as relx.evaluate scores it on its own
    _, scored = evaluate(best, split="validation", output_dir=tmp_path / "eval", accelerator="cpu")
    dev = {k: v for k, v in metrics.items() if k.startswith("val/")}
    assert dev.keys() == scored.keys()
    assert dev == pytest.approx(scored, abs=1e-6)
