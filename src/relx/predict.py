"""``python -m relx.predict ckpt_path=CKPT input=FILE``: raw text lines -> JSON lines (words, tags
and entities; intent for intent models; the relation for relation models, whose input lines mark
the two entities as ``<e1>..</e1>`` and ``<e2>..</e2>``; answers for span QA models over a SQuAD-style
file; the chosen candidate for multiple-choice models).

Two-stage Chinese MRC: ``python -m relx.predict ckpt_path=QA_CKPT select_ckpt_path=SELECT_CKPT
input=FILE [contexts=context.json] [output=PREFIX]`` selects each question's paragraph, extracts the
answer and writes ``PREFIX.json`` / ``PREFIX.csv`` (and ``PREFIX.metrics.json`` for labelled input)."""

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

    if cfg.get("select_ckpt_path"):
        from relx.mrc_pipeline import read_questions, run_pipeline, write_pipeline_outputs

        questions = read_questions(cfg.input, cfg.get("contexts"))
        result = run_pipeline(
            load_relx_checkpoint(cfg.ckpt_path), load_relx_checkpoint(cfg.select_ckpt_path), questions,
            int(cfg.batch_size), str(cfg.accelerator),
        )  # fmt: skip
        paths = write_pipeline_outputs(result, cfg.output or f"{cfg.input}.answers")
        scores = "  ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
        print(f"{len(questions)} questions -> {', '.join(map(str, paths))}" + (f"\n{scores}" if scores else ""))
        return
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
