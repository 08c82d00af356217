"""``python -m relx.evaluate ckpt_path=CKPT [data_dir=DIR] [split=auto|test|dev] [decoder=greedy]``: score a
split with a checkpoint alone; a command-line shim over ``relx.inference.evaluate`` (``--help`` says more)."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from relx.cli import reports_errors
from relx.errors import ConfigError


def evaluate(cfg: DictConfig) -> tuple[Path, dict[str, float]]:
    """``relx.inference.evaluate`` with the options of ``conf/evaluate.yaml``."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.get("ckpt_path"):
        raise ConfigError(
            "ckpt_path= is required: the checkpoint of a relx.train run (<run dir>/checkpoints/best.ckpt or "
            "last.ckpt), e.g. python -m relx.evaluate ckpt_path=CKPT split=dev (see python -m relx.evaluate --help)"
        )
    from relx.inference import evaluate as evaluate_checkpoint

    return evaluate_checkpoint(
        str(cfg.ckpt_path),
        data_dir=cfg.data_dir,
        split=str(cfg.get("split") or "auto"),
        output_dir=cfg.output_dir or None,
        decoder=cfg.decoder,
        batch_size=None if cfg.batch_size is None else int(cfg.batch_size),
        input_path=cfg.get("input") or None,
        accelerator=str(cfg.accelerator),
        precision=str(cfg.precision),
        task_name=cfg.get("task_name") or None,
    )


@hydra.main(config_path="pkg://relx.conf", config_name="evaluate", version_base="1.3")
@reports_errors
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
