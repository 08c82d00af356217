"""Two-stage Chinese MRC (the Chinese MRC report): a context-selection model picks the paragraph, a span QA model
extracts the answer from it.

Input: the Chinese MRC report's layout (a question list with candidate ``paragraphs`` ids over a ``context.json``)
or a SQuAD-style file, whose questions get every paragraph of their article as candidates. Output:
``{id: answer}`` JSON (the CMRC/DRCD scripts' prediction format) and CSV ``id,answer``; when the input
is labelled, selection accuracy and EM/F1 (the QA model's metric language) as well.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from relx.data.mrc import ChoiceExample, QAExample, read_questions
from relx.errors import ConfigError
from relx.io import atomic_write, write_json_atomic
from relx.metrics.mrc_scores import qa_scores
from relx.tasks.base import Task
from relx.tasks.mrc import answer_texts

__all__ = ["PipelineResult", "read_questions", "run_pipeline", "write_answers", "write_pipeline_outputs"]


@dataclass
class PipelineResult:
    ids: list[str]
    answers: list[str]
    chosen: list[int]
    metrics: dict[str, float]


def _predict(
    checkpoint: dict[str, Any], examples: list[Any], batch_size: int | None, accelerator: str
) -> tuple[Task[Any], dict[str, list[Any]]]:
    """The checkpoint's Task and its predictions of ``examples``."""
    from relx.runs import predict_split, restore

    _, module, datamodule = restore(checkpoint, read_data=False, eval_batch_size=batch_size)
    datamodule.set_predict_examples(examples)
    datamodule.setup("predict")
    return datamodule.task, predict_split(module, datamodule, "predict", accelerator)


def run_pipeline(
    qa_checkpoint: dict[str, Any],
    select_checkpoint: dict[str, Any],
    questions: list[ChoiceExample],
    batch_size: int | None = None,
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
    qa_task, spans = _predict(qa_checkpoint, qa_examples, batch_size, accelerator)
    answers = answer_texts(qa_examples, spans)
    metrics: dict[str, float] = {}
    labelled = [i for i, q in enumerate(questions) if q.answers]
    if labelled:
        language = qa_task.metric_specs.get("span", {}).get("language", "zh")
        metrics.update(
            qa_scores([answers[i] for i in labelled], [list(questions[i].answers) for i in labelled], language)
        )
        metrics["answered"] = float(len(labelled))
    with_relevant = [i for i, q in enumerate(questions) if q.label is not None]
    if with_relevant:
        metrics["select_acc"] = sum(chosen[i] == questions[i].label for i in with_relevant) / len(with_relevant)
    return PipelineResult([q.id for q in questions], answers, chosen, metrics)


def write_answers(json_path: Path, csv_path: Path, ids: list[str], answers: list[str]) -> None:
    """Answers as ``{id: answer}`` JSON (what the CMRC/DRCD scripts read) and as CSV ``id,answer``."""
    write_json_atomic(json_path, dict(zip(ids, answers, strict=True)))

    def write(fh: IO[Any]) -> None:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "answer"])
        writer.writerows(zip(ids, answers, strict=True))

    atomic_write(csv_path, write)


def write_pipeline_outputs(result: PipelineResult, output: str | Path) -> list[Path]:
    """``<output>.json`` (``{id: answer}``), ``<output>.csv`` and, when scored, ``<output>.metrics.json``."""
    base = Path(output)
    base = base.with_suffix("") if base.suffix in (".json", ".csv") else base
    paths = [base.with_suffix(".json"), base.with_suffix(".csv")]
    write_answers(paths[0], paths[1], result.ids, result.answers)
    if result.metrics:
        paths.append(base.with_suffix(".metrics.json"))
        write_json_atomic(paths[-1], result.metrics)
    return paths


def predict_two_stage(
    qa_ckpt_path: str | Path,
    select_ckpt_path: str | Path,
    input_path: str | Path,
    contexts: str | Path | None = None,
    output: str | Path | None = None,
    batch_size: int | None = None,
    accelerator: str = "auto",
) -> list[Path]:
    """Library API of the two-stage pipeline (``relx.predict ... select_ckpt_path=``): read the questions of
    ``input_path`` (over ``contexts``, default ``context.json`` beside it), select each one's paragraph,
    extract its answer, write ``<output>.json``/``.csv`` (and ``.metrics.json`` for labelled input; default
    prefix ``<input>.answers``); returns the files written."""
    from relx.checkpointing import load_relx_checkpoint
    from relx.inputs import check_input_file, read_input

    reader = "the two-stage pipeline"
    input_path = check_input_file(input_path, "pipeline", reader)
    qa, select = load_relx_checkpoint(qa_ckpt_path), load_relx_checkpoint(select_ckpt_path)
    questions = read_input(lambda path: read_questions(path, contexts), input_path, "pipeline", reader)
    result = run_pipeline(qa, select, questions, batch_size, accelerator)
    paths = write_pipeline_outputs(result, output or f"{input_path}.answers")
    scores = "  ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
    print(f"{len(questions)} questions -> {', '.join(map(str, paths))}" + (f"\n{scores}" if scores else ""))
    return paths
