"""What ``relx.predict`` reads: each task family's input format (``INPUT_FORMATS``, shown by ``--help``), its
bundled example file, and messages that point at both when an input is missing or malformed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

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
        "the Chinese MRC report's layout: a JSON list of questions {id, question, paragraphs: [paragraph ids]} over "
        "contexts= (default: context.json beside the input, a JSON list of paragraph strings); or a SQuAD-style "
        "file, every paragraph of a question's article a candidate",
        ("mrc_questions.json", "context.json"),
        "JSON lines {id, question, pred (index of the chosen paragraph among its candidates), probs}",
    ),
    "text": InputFormat(
        "task=mlm",
        "plain text, one sentence or document per line (blank lines skipped; longer than data.max_length tokens: "
        "truncated)",
        ("words.txt",),
        "JSON lines {source, text, masked (tokens predicted, the evaluation draw of masks), correct, nll, perplexity}",
    ),
    "pipeline": InputFormat(
        "ckpt_path=<cmrc2018/drcd span QA run> select_ckpt_path=<drcd_select run>",
        "questions in the Chinese MRC report's layout over contexts= (default: context.json beside the input), or a "
        "SQuAD-style file (every paragraph of a question's article a candidate)",
        ("mrc_questions.json", "context.json"),
        "PREFIX.json {id: answer}, PREFIX.csv (id,answer), PREFIX.metrics.json (EM/F1) for labelled input; "
        "PREFIX = output= (default <input>.answers)",
    ),
}


def examples_dir() -> Path:
    """The bundled example inputs (inside the installed package, so the paths ``--help`` prints work)."""
    return Path(str(resources.files("relx") / "resources" / "examples"))


def family_of(checkpoint: dict[str, Any]) -> str | None:
    """The input family of a relx checkpoint (``Task.input_format`` of the Task its stored config names, a
    ``relx.*`` class); ``None`` when it names none this relx knows (messages then point at ``--help``)."""
    from relx.build import task_class

    task = checkpoint["relx"]["config"].get("task")
    if not isinstance(task, dict):
        return None
    try:
        return task_class(task).input_format or None
    except ConfigError:
        return None


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


def check_input_file(path: str | Path, family: str | None, reader: str) -> Path:
    """``path``, which must be an existing file; else one error saying what it should hold."""
    if not Path(path).is_file():
        raise DataFormatError(path, f"input file not found ({describe_input(family, reader)})")
    return Path(path)


def read_input(read: Callable[[str | Path], list[Any]], path: str | Path, family: str | None, reader: str) -> list[Any]:
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
