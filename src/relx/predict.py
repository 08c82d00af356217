"""``python -m relx.predict ckpt_path=CKPT input=FILE``: raw text lines -> JSON lines (words, tags
and entities; intent for intent models; the relation for relation models, whose input lines mark
the two entities as ``<e1>..</e1>`` and ``<e2>..</e2>``)."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from relx.cli import reports_errors


@hydra.main(config_path="conf", config_name="predict", version_base="1.3")
@reports_errors
def main(cfg: DictConfig) -> None:
    from relx.checkpointing import load_relx_checkpoint
    from relx.runs import predict_split, restore

    checkpoint = load_relx_checkpoint(cfg.ckpt_path)
    _, module, datamodule = restore(checkpoint, read_data=False, eval_batch_size=int(cfg.batch_size))
    examples = datamodule.read_raw(cfg.input)
    datamodule.set_predict_examples(examples)
    datamodule.setup("predict")
    predictions = predict_split(module, datamodule, "predict", str(cfg.accelerator))
    output = Path(cfg.output or f"{cfg.input}.predictions.jsonl")
    datamodule.write_raw_predictions(output, examples, predictions)
    print(f"{len(examples)} inputs -> {output}", flush=True)


if __name__ == "__main__":
    main()
