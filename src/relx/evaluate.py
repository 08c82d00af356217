"""``python -m relx.evaluate ckpt_path=CKPT [data_dir=DIR] [split=auto|test|dev] [decoder=greedy]``: score a
split with a checkpoint alone (its stored config and label vocabularies rebuild everything).

``split=auto`` (the default) scores the test split when the data has a labelled one, else dev: DocRED's
official ``test.json`` is unlabelled, so it can only be predicted (``relx.predict``), never scored."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from relx.cli import reports_errors
from relx.errors import ConfigError

log = logging.getLogger("relx.evaluate")  # not __main__ under python -m


def set_decoder(module: Any, decoder: str) -> None:
    """Switch every head of ``module`` that decodes with ``decoder``'s family: tree decoders for parsers
    (mst | eisner | greedy), tag decoders for word taggers (argmax | bio_viterbi)."""
    from relx.heads.biaffine import DECODERS
    from relx.heads.decoding import TAG_DECODERS

    if decoder not in (*DECODERS, *TAG_DECODERS):
        raise ConfigError(f"decoder must be one of {sorted({*DECODERS, *TAG_DECODERS})}, not {decoder!r}")
    family = tuple(TAG_DECODERS) if decoder in TAG_DECODERS else tuple(DECODERS)
    heads = [
        head
        for head in module.heads.values()
        if hasattr(head, "decoder") and tuple(getattr(head, "decoders", DECODERS)) == family
    ]
    if not heads:
        kind = "word taggers (head=token, joint)" if decoder in TAG_DECODERS else "dependency parsers"
        raise ConfigError(f"decoder={decoder} applies to {kind} only; this checkpoint has none")
    for head in heads:
        head.decoder = decoder


SPLIT_ALIASES = {"dev": "validation", "val": "validation", "validation": "validation", "test": "test"}
AUTO = "auto"


def requested_split(value: Any) -> str:
    """``split=`` as a DataModule split name, or ``auto``; checked before anything is loaded."""
    if value is None or str(value) == AUTO:
        return AUTO
    split = SPLIT_ALIASES.get(str(value))
    if split is None:
        raise ConfigError(f"split must be {AUTO} or one of {sorted(SPLIT_ALIASES)}, not {value!r}")
    return split


def choose_split(datamodule: Any, requested: str, ckpt_path: Path) -> str:
    """The split to score: ``requested``, or for ``auto`` test when labelled, else dev.

    A split the data lacks, or one without gold labels (DocRED's official test file), is a one-line
    ``ConfigError`` saying what to run instead: scoring it would compare predictions with nothing.
    """
    if requested == AUTO:
        if datamodule.has_split("test") and datamodule.is_labelled("test"):
            return "test"
        if datamodule.has_split("test"):
            log.info("split=auto: the test split (%s) has no labels; scoring dev", datamodule.describe_split("test"))
        requested = "validation"
    if not datamodule.has_split(requested):
        where = datamodule.describe_split(requested)
        raise ConfigError(f"split '{requested}' not found in {datamodule.data_dir} (expected {where})")
    if not datamodule.is_labelled(requested):
        where = datamodule.describe_split(requested)
        raise ConfigError(
            f"split '{requested}' ({where}) has no gold labels to score: evaluate split=dev, or write its "
            f"predictions without scores with python -m relx.predict ckpt_path={ckpt_path} input={where}"
        )
    return requested


def evaluate(cfg: DictConfig) -> tuple[Path, dict[str, float]]:
    """Score one split with ``cfg.ckpt_path``; returns the output directory and the metrics written there."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.get("ckpt_path"):
        raise ConfigError(
            "ckpt_path= is required: the checkpoint of a relx.train run (<run dir>/checkpoints/best.ckpt or "
            "last.ckpt), e.g. python -m relx.evaluate ckpt_path=CKPT split=dev (see python -m relx.evaluate --help)"
        )
    requested = requested_split(cfg.get("split"))

    import lightning as L

    from relx.checkpointing import load_relx_checkpoint
    from relx.io import write_json_atomic
    from relx.runs import evaluate_split, format_summary, predict_split, restore

    ckpt_path = Path(cfg.ckpt_path)
    checkpoint = load_relx_checkpoint(ckpt_path)
    _, module, datamodule = restore(checkpoint, data_dir=cfg.data_dir, eval_batch_size=int(cfg.batch_size))
    if cfg.decoder:
        set_decoder(module, str(cfg.decoder))
    split = choose_split(datamodule, requested, ckpt_path)
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
    return out_dir, metrics


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
@reports_errors
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
