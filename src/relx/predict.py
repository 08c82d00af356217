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

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from relx.cli import reports_errors
from relx.errors import ConfigError, DataFormatError


@dataclass(frozen=True)
class InputFormat:
    """What ``input=`` holds for one task family; ``--help`` shows it and errors about ``input=`` quote it."""

    tasks: str  # the task= configs whose checkpoints read this format
    summary: str  # one line: what each input is
    examples: tuple[str, ...]  # files under relx/resources/examples/ (the first is the one to pass as input=)
    output: str  # what each output record holds


INPUT_FORMATS: dict[str, InputFormat] = {
    "words": InputFormat(
        "task=mit_movie, mit_movie_trivia, conll_ner, atis, snips",
        "plain text, one sentence per line (split into words and punctuation; blank lines skipped)",
        ("words.txt",),
        "JSON lines {source, words, tags, entities: [{type, start, end, text}]}, + intent for atis/snips models",
    ),
    "parsing": InputFormat(
        "task=ud_ewt, ptb_sd",
        "plain text, one sentence per line (split into words and punctuation; blank lines skipped)",
        ("parsing.txt",),
        "JSON lines {source, words, heads (1-based head of each word, 0 = root), rels}",
    ),
    "relations": InputFormat(
        "task=semeval, klue_re",
        "one sentence per line with the two entities marked <e1>..</e1> and <e2>..</e2>",
        ("relations.txt",),
        "JSON lines {source, text, e1, e2, relation, probs: {relation: probability}}",
    ),
    "documents": InputFormat(
        "task=docred, redocred",
        "a DocRED JSON list of documents {title, sents: [[word, ...], ...], vertexSet: [[{name, sent_id, pos: "
        "[start, end) within the sentence, type}, ...], ...]}, or one such document a line (JSON lines); "
        "labels, if present, are ignored",
        ("documents.json",),
        "JSON lines {title, entities: [{name, type}], facts: [{h_idx, h_name, h_type, t_idx, t_name, t_type, r, "
        "r_name, score}]} (h_idx/t_idx index vertexSet; r a relation id, r_name its name)",
    ),
    "cdr": InputFormat(
        "task=cdr",
        "BioCreative V CDR documents in the *_filter.data layout of the training files: one document a line, "
        "PMID<TAB>|-joined sentences<TAB>17 fields per chemical-disease candidate pair (their labels are ignored)",
        ("cdr.data",),
        "JSON lines {title (the PMID), entities: [{name, type}], facts: [{h_idx, h_name, h_type, t_idx, t_name, "
        "t_type, r, r_name, score}]} (h_idx/t_idx: entities in document order)",
    ),
    "span_qa": InputFormat(
        "task=cmrc2018, drcd",
        "a SQuAD-style JSON file {data: [{title, paragraphs: [{context, qas: [{id, question}]}]}]} "
        "(answers, if present, are ignored)",
        ("span_qa.json",),
        "JSON lines {id, question, answer, answer_start}",
    ),
    "choice": InputFormat(
        "task=c3",
        "a C3 JSON list of documents [[passage lines...], [{question, choice: [candidates...]}], id] "
        "(answers, if present, are ignored)",
        ("choice.json",),
        "JSON lines {id (document id-question index), question, pred (index of the chosen candidate), "
        "pred_answer, probs}",
    ),
    "selection": InputFormat(
        "task=drcd_select",
        "seed 003's layout: a JSON list of questions {id, question, paragraphs: [paragraph ids]} over "
        "contexts= (default: context.json beside the input, a JSON list of paragraph strings); or a SQuAD-style "
        "file, every paragraph of a question's article a candidate",
        ("mrc_questions.json", "context.json"),
        "JSON lines {id, question, pred (index of the chosen paragraph among its candidates), probs}",
    ),
    "pipeline": InputFormat(
        "ckpt_path=<cmrc2018/drcd span QA run> select_ckpt_path=<drcd_select run>",
        "questions in seed 003's layout over contexts= (default: context.json beside the input), or a "
        "SQuAD-style file (every paragraph of a question's article a candidate)",
        ("mrc_questions.json", "context.json"),
        "PREFIX.json {id: answer}, PREFIX.csv (id,answer), PREFIX.metrics.json (EM/F1) for labelled input; "
        "PREFIX = output= (default <input>.answers)",
    ),
}

# The DataModule a checkpoint's stored config names (task.datamodule._target_) -> its input family. Matched
# as strings: nothing named by a checkpoint is imported just to word a message.
FAMILY_OF_DATAMODULE: dict[str, str] = {
    "relx.data.word_tasks.BioNerDataModule": "words",
    "relx.data.word_tasks.IntentSlotDataModule": "words",
    "relx.data.parsing.DependencyDataModule": "parsing",
    "relx.data.relation_tasks.SemEvalDataModule": "relations",
    "relx.data.relation_tasks.KlueReDataModule": "relations",
    "relx.data.document_tasks.DocumentREDataModule": "documents",
    "relx.data.document_tasks.CdrDataModule": "cdr",
    "relx.data.mrc_tasks.SpanQADataModule": "span_qa",
    "relx.data.mrc_tasks.C3DataModule": "choice",
    "relx.data.mrc_tasks.ContextSelectionDataModule": "selection",
}


def examples_dir() -> Path:
    """The bundled example inputs (inside the installed package, so the paths ``--help`` prints work)."""
    return Path(str(resources.files("relx") / "resources" / "examples"))


def family_of(checkpoint: dict[str, Any]) -> str | None:
    """The input family of a relx checkpoint, from the DataModule its stored config names; ``None`` for one
    outside ``FAMILY_OF_DATAMODULE`` (messages then point at ``--help``)."""
    task = checkpoint["relx"]["config"].get("task")
    datamodule = task.get("datamodule") if isinstance(task, dict) else None
    target = datamodule.get("_target_") if isinstance(datamodule, dict) else None
    return FAMILY_OF_DATAMODULE.get(target) if isinstance(target, str) else None


def reader_of(checkpoint: dict[str, Any]) -> str:
    """``a task=NAME checkpoint``, for messages."""
    task = checkpoint["relx"]["config"].get("task")
    name = task.get("name") if isinstance(task, dict) else None
    return f"a task={name} checkpoint" if name else "this checkpoint"


def describe_input(family: str | None, reader: str) -> str:
    """One line for errors: the input ``reader`` (a checkpoint, or the pipeline) takes, and its example file."""
    if family is None:
        return f"python -m relx.predict --help shows the input format of each task ({reader})"
    fmt = INPUT_FORMATS[family]
    return f"{reader} reads {fmt.summary}; example: {examples_dir() / fmt.examples[0]}"


def format_help() -> str:
    """Every family's input format, a two-line example from its bundled file, and its output (for ``--help``)."""
    blocks = [f"Example files: {examples_dir()}"]
    shown: dict[tuple[str, ...], str] = {}  # example files -> the family that showed them
    for family, fmt in INPUT_FORMATS.items():
        lines = [f"{family} ({fmt.tasks}): {fmt.summary}"]
        if fmt.examples in shown:
            lines.append(f"  example: as {shown[fmt.examples]} ({', '.join(fmt.examples)})")
        for name in () if fmt.examples in shown else fmt.examples:
            lines.append(f"  {name}:")
            text = (examples_dir() / name).read_text(encoding="utf-8")
            lines += [f"    {line}" for line in text.splitlines()[:2]]
        shown.setdefault(fmt.examples, family)
        lines.append(f"  output: {fmt.output}")
        blocks.append("\n".join(lines))
    # string.Template reads the help text after this resolver: a literal "$" must be doubled
    return "\n\n".join(blocks).replace("$", "$$")


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
    if not Path(path).is_file():
        raise DataFormatError(path, f"input file not found ({describe_input(family, reader)})")
    return path


def read_input(read: Callable[[str], list[Any]], path: str, family: str | None, reader: str) -> list[Any]:
    """``read(path)``; a reading error, or a file without inputs, also points at the example input."""
    if family is None:
        hint = describe_input(family, reader)
    else:
        hint = f"expected the input of {reader}, like {examples_dir() / INPUT_FORMATS[family].examples[0]}"
    try:
        examples = read(path)
    except DataFormatError as err:
        err.args = (f"{err} ({hint})",)  # the reader's own error (file, line, what is wrong), with the hint
        raise
    if not examples:
        raise DataFormatError(path, f"no inputs found ({describe_input(family, reader)})")
    return list(examples)


def predict_pipeline(cfg: DictConfig) -> list[Path]:
    """Two-stage MRC: select each question's paragraph, extract its answer; returns the files written."""
    from relx.checkpointing import load_relx_checkpoint
    from relx.mrc_pipeline import read_questions, run_pipeline, write_pipeline_outputs

    reader = "the two-stage pipeline"
    qa_path = require(cfg, "ckpt_path", "the span QA checkpoint (task=cmrc2018 or drcd) of the two-stage pipeline")
    input_path = require_input(cfg, "pipeline", reader)
    qa, select = load_relx_checkpoint(qa_path), load_relx_checkpoint(str(cfg.select_ckpt_path))
    questions = read_input(lambda path: read_questions(path, cfg.get("contexts")), input_path, "pipeline", reader)
    result = run_pipeline(qa, select, questions, int(cfg.batch_size), str(cfg.accelerator))
    paths = write_pipeline_outputs(result, cfg.output or f"{input_path}.answers")
    scores = "  ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
    print(f"{len(questions)} questions -> {', '.join(map(str, paths))}" + (f"\n{scores}" if scores else ""))
    return paths


def predict(cfg: DictConfig) -> Path:
    """Predict every input of ``cfg.input`` with ``cfg.ckpt_path``; returns the JSON-lines file written.

    ``input=`` is checked before the model is built, so a missing one costs a second, not a model load.
    """
    from relx.checkpointing import load_relx_checkpoint

    checkpoint = load_relx_checkpoint(require(cfg, "ckpt_path", CKPT_HELP))
    family = family_of(checkpoint)
    reader = reader_of(checkpoint)
    input_path = require_input(cfg, family, reader)

    from relx.runs import predict_split, restore

    _, module, datamodule = restore(checkpoint, read_data=False, eval_batch_size=int(cfg.batch_size))
    examples = read_input(datamodule.read_raw, input_path, family, reader)
    datamodule.set_predict_examples(examples)
    datamodule.setup("predict")
    predictions = predict_split(module, datamodule, "predict", str(cfg.accelerator))
    output = Path(cfg.output or f"{input_path}.predictions.jsonl")
    datamodule.write_raw_predictions(output, examples, predictions)
    print(f"{len(examples)} inputs -> {output}", flush=True)
    return output


@hydra.main(config_path="conf", config_name="predict", version_base="1.3")
@reports_errors
def main(cfg: DictConfig) -> None:
    if cfg.get("select_ckpt_path"):
        predict_pipeline(cfg)
    else:
        predict(cfg)


if __name__ == "__main__":
    main()
