"""Two-stage Chinese MRC (the Chinese MRC report): a context-selection model ranks the candidate paragraphs, a
span QA model extracts an answer from each of the ``top_k`` best (default 1, the report's single selected
paragraph), and the answer with the highest ``log p_select(paragraph) + log p(start) + log p(end)`` is kept
(``relx.postprocess.best_paragraph``: the joint probability of the paragraph and of the span in it).

Input: the Chinese MRC report's layout (a question list with candidate ``paragraphs`` ids over a ``context.json``)
or a SQuAD-style file, whose questions get every paragraph of their article as candidates. Output:
``{id: answer}`` JSON (the CMRC/DRCD scripts' prediction format) and CSV ``id,answer``; when the input
is labelled, selection accuracy and EM/F1 (the QA model's metric language) as well.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from relx.data.mrc import ChoiceExample, QAExample, read_questions
from relx.errors import ConfigError
from relx.io import atomic_write, write_json_atomic
from relx.metrics.mrc_scores import qa_scores
from relx.postprocess import best_paragraph
from relx.tasks.base import Task
from relx.tasks.mrc import answer_texts

__all__ = [
    "PipelineResult",
    "ranked_candidates",
    "read_questions",
    "run_pipeline",
    "write_answers",
    "write_pipeline_outputs",
]


@dataclass
class PipelineResult:
    """Per question: ``answers``; ``chosen``, the candidate paragraph the answer was read from; ``kept``, the
    ``top_k`` paragraphs the selection model ranked best (best first). ``metrics`` when the input is labelled."""

    ids: list[str]
    answers: list[str]
    chosen: list[int]
    metrics: dict[str, float]
    kept: list[list[int]] = field(default_factory=list)


def _predict(
    checkpoint: dict[str, Any], examples: list[Any], batch_size: int | None, accelerator: str
) -> tuple[Task[Any], dict[str, list[Any]]]:
    """The checkpoint's Task and its predictions of ``examples``."""
    from relx.runs import restore
    from relx.scoring import predict_split

    _, module, datamodule = restore(checkpoint, read_data=False, eval_batch_size=batch_size)
    datamodule.set_predict_examples(examples)
    datamodule.setup("predict")
    return datamodule.task, predict_split(module, datamodule, "predict", accelerator)


def ranked_candidates(probs: list[float], n_candidates: int, top_k: int) -> list[int]:
    """The ``top_k`` best of a question's ``n_candidates`` paragraphs by selection probability (``probs`` may be
    padded past them), best first; the earlier candidate on ties."""
    return sorted(range(n_candidates), key=lambda c: (-probs[c], c))[:top_k]


def run_pipeline(
    qa_checkpoint: dict[str, Any],
    select_checkpoint: dict[str, Any],
    questions: list[ChoiceExample],
    batch_size: int | None = None,
    accelerator: str = "cpu",
    top_k: int = 1,
) -> PipelineResult:
    """Rank every question's paragraphs, extract an answer from each of its ``top_k`` best, keep the answer
    of the paragraph with the best joint score (``best_paragraph``; none valid: the empty answer from the
    best-ranked paragraph)."""
    if top_k < 1:
        raise ConfigError(f"top_k must be at least 1, not {top_k}")
    for ckpt, space, option in (
        (select_checkpoint, "choice", "select_ckpt_path"),
        (qa_checkpoint, "span", "ckpt_path"),
    ):
        if space not in ckpt["relx"]["vocabs"]:
            raise ConfigError(f"{option} is not a {'context-selection' if space == 'choice' else 'span QA'} model")
    _, selected = _predict(select_checkpoint, questions, batch_size, accelerator)
    probs = selected["choice_probs"]
    kept = [ranked_candidates(probs[i], len(q.candidates), top_k) for i, q in enumerate(questions)]
    qa_examples = [
        QAExample(q.id, q.question, q.candidates[c]) for q, cs in zip(questions, kept, strict=True) for c in cs
    ]
    qa_task, spans = _predict(qa_checkpoint, qa_examples, batch_size, accelerator)
    texts, span_scores = answer_texts(qa_examples, spans), spans["span_score"]
    answers, chosen, first = [], [], 0
    for i, cs in enumerate(kept):
        rows = range(first, first + len(cs))
        pick = best_paragraph([probs[i][c] for c in cs], [span_scores[r] for r in rows])
        pick = 0 if pick is None else pick  # no valid span anywhere: the best-ranked paragraph's empty answer
        answers.append(texts[first + pick])
        chosen.append(cs[pick])
        first += len(cs)
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
        metrics["select_acc"] = sum(kept[i][0] == questions[i].label for i in with_relevant) / len(with_relevant)
        if top_k > 1:  # the relevant paragraph among those kept, and the one answered from
            metrics["select_recall_at_k"] = sum(questions[i].label in kept[i] for i in with_relevant) / len(
                with_relevant
            )
            metrics["answer_paragraph_acc"] = sum(chosen[i] == questions[i].label for i in with_relevant) / len(
                with_relevant
            )
    return PipelineResult([q.id for q in questions], answers, chosen, metrics, kept)


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
    top_k: int = 1,
) -> list[Path]:
    """Library API of the two-stage pipeline (``relx.predict ... select_ckpt_path=``): read the questions of
    ``input_path`` (over ``contexts``, default ``context.json`` beside it), rank each one's paragraphs, extract
    an answer from the ``top_k`` best and keep the best one (``run_pipeline``), write ``<output>.json``/``.csv``
    (and ``.metrics.json`` for labelled input; default prefix ``<input>.answers``); returns the files written."""
    from relx.checkpointing import load_relx_checkpoint
    from relx.inputs import check_input_file, read_input

    reader = "the two-stage pipeline"
    input_path = check_input_file(input_path, "pipeline", reader)
    qa, select = load_relx_checkpoint(qa_ckpt_path), load_relx_checkpoint(select_ckpt_path)
    questions = read_input(lambda path: read_questions(path, contexts), input_path, "pipeline", reader)
    result = run_pipeline(qa, select, questions, batch_size, accelerator, top_k)
    paths = write_pipeline_outputs(result, output or f"{input_path}.answers")
    scores = "  ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
    print(f"{len(questions)} questions -> {', '.join(map(str, paths))}" + (f"\n{scores}" if scores else ""))
    return paths
