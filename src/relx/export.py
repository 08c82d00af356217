"""``python -m relx.export ckpt_path=CKPT output=DIR [task_name=NAME] [overwrite=true] [onnx=true]``: a checkpoint
as a portable model directory (a Hugging Face encoder, safetensors heads, relx.json, a model card, with
``onnx=true`` an ONNX graph of the logits); a command-line shim over ``relx.exporting.export`` (``--help`` says
more)."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from relx.cli import reports_errors
from relx.errors import ConfigError


def _required(cfg: DictConfig, key: str, what: str) -> str:
    value = None if OmegaConf.is_missing(cfg, key) else cfg.get(key)
    if value is None or str(value) == "":
        raise ConfigError(f"{key}= is required: {what} (see python -m relx.export --help)")
    return str(value)


def export(cfg: DictConfig) -> Path:
    """``relx.exporting.export`` with the options of ``conf/export.yaml``."""
    ckpt_path = _required(
        cfg, "ckpt_path", "the checkpoint of a relx.train run (<run dir>/checkpoints/best.ckpt or last.ckpt)"
    )
    output = _required(cfg, "output", "the directory to write the exported model into, e.g. output=models/semeval")
    if not Path(ckpt_path).expanduser().exists():  # before the heavy imports: a typo answers at once
        raise ConfigError(f"checkpoint not found: {ckpt_path}")
    from relx.exporting import export as export_checkpoint

    onnx = bool(cfg.get("onnx"))
    written = export_checkpoint(
        ckpt_path, output, task_name=cfg.get("task_name") or None, overwrite=bool(cfg.get("overwrite")), onnx=onnx
    )
    print(
        f"exported {ckpt_path} -> {written}\n"
        f"  python -m relx.predict ckpt_path={written} input=FILE\n"
        f"  transformers.AutoModel.from_pretrained('{written / 'encoder'}')  (the encoder alone)"
        + (
            f"\n  onnxruntime.InferenceSession('{written / 'model.onnx'}')  (the logits; see README.md there)"
            if onnx
            else ""
        ),
        flush=True,
    )
    return written


@hydra.main(config_path="pkg://relx.conf", config_name="export", version_base="1.3")
@reports_errors
def main(cfg: DictConfig) -> None:
    export(cfg)


if __name__ == "__main__":
    main()
