"""Two-stage Chinese MRC (seed 003): a context-selection model picks the paragraph, a span QA model
extracts the answer from it.

Input: seed 003's layout (a question list with candidate ``paragraphs`` ids over a ``context.json``)
or a SQuAD-style file, whose questions get every paragraph of their article as candidates. Output:
``{id: answer}`` JSON (the CMRC/DRCD scripts' prediction format) and CSV ``id,answer``; when the input
is labelled, selection accuracy and EM/F1 (the QA model's metric language) as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relx.data.mrc import ChoiceExample, QAExample, read_questions
from relx.errors import ConfigError
from relx.io import write_json_atomic
from relx.metrics.mrc_scores import qa_scores

__all__ = ["PipelineResult", "read_questions", "run_pipeline", "write_pipeline_outputs"]


@dataclass
class PipelineResult:
    ids: list[str]
    answers: list[str]
    chosen: list[int]
    metrics: dict[str, float]


def _predict(checkpoint: dict[str, Any], examples: list[Any], batch_size: int, accelerator: str) -> tuple[Any, Any]:
    from relx.runs import predict_split, restore

    cfg, module, datamodule = restore(checkpoint, read_data=False, eval_batch_size=batch_size)
    datamodule.set_predict_examples(examples)
    datamodule.setup("predict")
    return cfg, predict_split(module, datamodule, "predict", accelerator)


def run_pipeline(
    qa_checkpoint: dict[str, Any],
    select_checkpoint: dict[str, Any],
    questions: list[ChoiceExample],
    batch_size: int = 16,
    accelerator: str = "cpu",
) -> PipelineResult:
    """Select a paragraph for every question, then extract its answer from that paragraph."""
    for ckpt, space, option in (
        (select_checkpoint, "choice", "select_ckpt_path"),
        (qa_checkpoint, "span", "ckpt_path"),
    ):
        if space not in ckpt["relx"]["vocabs"]:
            raise ConfigError(f"{option} is not a {'context-selection' if space == 'choice' else 'span QA'} model")
    _, selected = _predict(select_checkpoint, questions, batch_size, accelerator)
    chosen = [int(label) for label in selected["choice"]]
    qa_examples = [QAExample(q.id, q.question, q.candidates[c]) for q, c in zip(questions, chosen, strict=True)]
    qa_cfg, spans = _predict(qa_checkpoint, qa_examples, batch_size, accelerator)
    answers = [ex.context[s:e] for ex, (s, e) in zip(qa_examples, spans["span"], strict=True)]
    metrics: dict[str, float] = {}
    labelled = [i for i, q in enumerate(questions) if q.answers]
    if labelled:
        language = (qa_cfg["task"].get("metrics", {}).get("span") or {}).get("language", "zh")
        metrics.update(
            qa_scores([answers[i] for i in labelled], [list(questions[i].answers) for i in labelled], language)
        )
        metrics["answered"] = float(len(labelled))
    with_relevant = [i for i, q in enumerate(questions) if q.label is not None]
    if with_relevant:
        metrics["select_acc"] = sum(chosen[i] == questions[i].label for i in with_relevant) / len(with_relevant)
    return PipelineResult([q.id for q in questions], answers, chosen, metrics)


def write_pipeline_outputs(result: PipelineResult, output: str | Path) -> list[Path]:
    """``<output>.json`` (``{id: answer}``), ``<output>.csv`` and, when scored, ``<output>.metrics.json``."""
    from relx.data.mrc_tasks import write_answers

    base = Path(output)
    base = base.with_suffix("") if base.suffix in (".json", ".csv") else base
    paths = [base.with_suffix(".json"), base.with_suffix(".csv")]
    write_answers(paths[0], paths[1], result.ids, result.answers)
    if result.metrics:
        paths.append(base.with_suffix(".metrics.json"))
        write_json_atomic(paths[-1], result.metrics)
    return paths
