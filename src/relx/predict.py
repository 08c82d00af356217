"""``python -m relx.predict ckpt_path=CKPT input=FILE``: new input -> JSON lines, in the input format of the
checkpoint's task family (``INPUT_FORMATS``, shown by ``--help``; one example file per family ships in
``relx/resources/examples/``): words and tags with entities (intent for intent models), dependency trees,
the relation between the two entities a line marks as ``<e1>..</e1>`` and ``<e2>..</e2>``, the facts of
DocRED-format documents, answers for span QA models over a SQuAD-style file, the chosen candidate for
multiple-choice models.

Two-stage Chinese MRC: ``python -m relx.predict ckpt_path=QA_CKPT select_ckpt_path=SELECT_CKPT
input=FILE [contexts=context.json] [output=PREFIX]`` selects each question's paragraph, extracts the
answer and writes ``PREFIX.json`` / ``PREFIX.csv`` (and ``PREFIX.metrics.json`` for labelled input)."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from relx.cli import reports_errors
from relx.errors import ConfigError
from relx.inputs import check_input_file, describe_input, family_of, format_help, reader_of

OmegaConf.register_new_resolver("relx.predict_input_formats", format_help, replace=True)


def require(cfg: DictConfig, key: str, what: str) -> str:
    """``cfg[key]`` as a string; a ``ConfigError`` saying what ``key=`` is when it is missing or empty."""
    value = None if OmegaConf.is_missing(cfg, key) else cfg.get(key)
    if value is None or str(value) == "":
        raise ConfigError(f"{key}= is required: {what}")
    return str(value)


CKPT_HELP = (
    "the checkpoint of a relx.train run (<run dir>/checkpoints/best.ckpt or last.ckpt), e.g. python -m relx.predict "
    "ckpt_path=CKPT input=FILE (python -m relx.predict --help shows the input formats)"
)


def require_input(cfg: DictConfig, family: str | None, reader: str) -> str:
    """``cfg.input``, which must name an existing file; else one error saying what it should hold."""
    path = require(cfg, "input", f"the file to predict on; {describe_input(family, reader)}")
    return str(check_input_file(path, family, reader))


def predict_pipeline(cfg: DictConfig) -> list[Path]:
    """``relx.mrc_pipeline.predict_two_stage`` with the options of ``conf/predict.yaml``."""
    from relx.mrc_pipeline import predict_two_stage

    qa_path = require(cfg, "ckpt_path", "the span QA checkpoint (task=cmrc2018 or drcd) of the two-stage pipeline")
    input_path = require_input(cfg, "pipeline", "the two-stage pipeline")
    return predict_two_stage(
        qa_path,
        str(cfg.select_ckpt_path),
        input_path,
        contexts=cfg.get("contexts"),
        output=cfg.output,
        batch_size=None if cfg.batch_size is None else int(cfg.batch_size),
        accelerator=str(cfg.accelerator),
        top_k=int(cfg.get("top_k") or 1),
    )


def predict(cfg: DictConfig) -> Path:
    """``relx.inference.predict`` with the options of ``conf/predict.yaml``; a multi-task checkpoint
    predicts with ``task_name``, else with every task that reads the input (``predict_each``; the first
    task's file is returned)."""
    from relx.checkpointing import load_relx_checkpoint
    from relx.inference import predict as predict_input
    from relx.inference import predict_each
    from relx.multitask import is_multitask_checkpoint

    ckpt_path = require(cfg, "ckpt_path", CKPT_HELP)
    checkpoint = load_relx_checkpoint(ckpt_path)
    task_name = cfg.get("task_name") or None
    batch_size = None if cfg.batch_size is None else int(cfg.batch_size)
    if is_multitask_checkpoint(checkpoint):
        input_path = require(cfg, "input", "the file to predict on (python -m relx.predict --help)")
        written = predict_each(ckpt_path, input_path, cfg.output, batch_size, str(cfg.accelerator), task_name)
        return next(iter(written.values()))
    input_path = require_input(cfg, family_of(checkpoint), reader_of(checkpoint))
    return predict_input(
        ckpt_path,
        input_path,
        output=cfg.output,
        batch_size=batch_size,
        accelerator=str(cfg.accelerator),
        checkpoint=checkpoint,
        task_name=task_name,
    )


@hydra.main(config_path="pkg://relx.conf", config_name="predict", version_base="1.3")
@reports_errors
def main(cfg: DictConfig) -> None:
    if cfg.get("select_ckpt_path"):
        predict_pipeline(cfg)
    else:
        predict(cfg)


if __name__ == "__main__":
    main()
