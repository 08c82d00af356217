"""``python -m relx.evaluate ckpt_path=CKPT [data_dir=DIR] [split=test] [decoder=greedy]``: score a
split with a checkpoint alone (its stored config and label vocabularies rebuild everything)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from relx.cli import reports_errors
from relx.errors import ConfigError


def set_decoder(module: Any, decoder: str) -> None:
    """Switch every tree-decoding head of ``module`` to ``decoder``."""
    from relx.heads.biaffine import DECODERS

    if decoder not in DECODERS:
        raise ConfigError(f"decoder must be one of {sorted(DECODERS)}, not {decoder!r}")
    parsers = [head for head in module.heads.values() if hasattr(head, "decoder")]
    if not parsers:
        raise ConfigError("decoder= applies to dependency parsers only; this checkpoint has none")
    for head in parsers:
        head.decoder = decoder


SPLIT_ALIASES = {"dev": "validation", "val": "validation", "validation": "validation", "test": "test"}


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
@reports_errors
def main(cfg: DictConfig) -> None:
    import lightning as L

    from relx.checkpointing import load_relx_checkpoint
    from relx.io import write_json_atomic
    from relx.runs import evaluate_split, format_summary, predict_split, restore

    split = SPLIT_ALIASES.get(str(cfg.split))
    if split is None:
        raise ConfigError(f"split must be one of {sorted(SPLIT_ALIASES)}, not {cfg.split!r}")
    ckpt_path = Path(cfg.ckpt_path)
    checkpoint = load_relx_checkpoint(ckpt_path)
    _, module, datamodule = restore(checkpoint, data_dir=cfg.data_dir, eval_batch_size=int(cfg.batch_size))
    if cfg.decoder:
        set_decoder(module, str(cfg.decoder))
    if not datamodule.has_split(split):
        where = datamodule.describe_split(split)
        raise ConfigError(f"split '{split}' not found in {datamodule.data_dir} (expected {where})")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out_dir = Path(cfg.output_dir or ckpt_path.parent.parent / f"eval_{split}_{stamp}")
    trainer = L.Trainer(
        accelerator=cfg.accelerator,
        devices=1,
        precision=cfg.precision,
        logger=False,
        enable_checkpointing=False,
        use_distributed_sampler=False,
    )
    datamodule.setup("test")
    metrics = evaluate_split(trainer, module, datamodule, split)
    predictions = predict_split(module, datamodule, split, str(cfg.accelerator))
    datamodule.write_predictions(out_dir, split, predictions)
    write_json_atomic(out_dir / "metrics.json", metrics)
    write_json_atomic(out_dir / "data_summary.json", datamodule.data_summary())
    print(f"\n{datamodule.data_dir} [{split}] -> {out_dir}\n{format_summary(metrics)}\n", flush=True)


if __name__ == "__main__":
    main()
