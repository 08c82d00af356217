"""Machine reading comprehension data: typed examples and pure, validating readers.

- SQuAD-style JSON (CMRC 2018, DRCD): ``data[].paragraphs[].context`` with ``qas[].id/question/answers[]``.
  Every answer's ``answer_start`` is checked against its text: a mismatch is repaired only when the
  text occurs exactly once in the context (counted as ``answer_starts_fixed``); otherwise it is
  reported with the question id and counted (``answer_starts_ambiguous``), and that answer gives no
  training position. An answer whose text is not in the context at all is an error in a training
  file; in an evaluation file it is counted (``answers_not_in_context``: CMRC 2018 dev has human
  answers that are not verbatim spans) and still scored, as the official script scores text.
- Context selection (the Chinese MRC report's layout): ``context.json`` (a list of paragraphs) and a list of
  ``{id, question, paragraphs: [paragraph ids], relevant: id, answer: {text, start}}``; or built from a
  SQuAD-style file (the answer's paragraph + up to 3 other paragraphs of the same article).
- C3: ``[[passage or dialogue turns], [{question, choice: [...], answer}], id]``.
"""

from __future__ import annotations

import json
import logging
import random
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relx.data.readers import read_text
from relx.errors import DataFormatError

log = logging.getLogger(__name__)

MAX_SELECTION_CANDIDATES = 4


@dataclass(frozen=True)
class QAExample:
    """One question over one context. ``answers``/``answer_starts`` (character offsets, ``-1`` where no
    verified position exists) are empty when unlabelled; ``article`` groups questions for carving."""

    id: str
    question: str
    context: str
    answers: tuple[str, ...] = ()
    answer_starts: tuple[int, ...] = ()
    article: str = ""
    source: str = ""

    @property
    def labelled(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class ChoiceExample:
    """One question with candidate answers (C3) or candidate paragraphs (context selection).

    ``passage`` (C3) is encoded before ``question + candidate``; without one, ``question`` is paired with
    each candidate paragraph. ``label``: index of the right candidate, ``None`` when unlabelled.
    ``answer`` carries the span answer of a selection example (for the end-to-end pipeline)."""

    id: str
    question: str
    candidates: tuple[str, ...]
    label: int | None = None
    passage: str = ""
    article: str = ""
    source: str = ""
    answers: tuple[str, ...] = ()


def load_json(path: str | Path) -> Any:
    """Parsed JSON of a UTF-8 file (read by the shared reader: missing, undecodable or empty files are
    ``DataFormatError``s); a syntax error names file, line and column."""
    text = read_text(Path(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFormatError(path, f"malformed JSON: {err.msg} (column {err.colno})", line=err.lineno) from err


def _need(record: Any, key: str, path: str | Path, where: str) -> Any:
    if not isinstance(record, dict) or key not in record:
        raise DataFormatError(path, f"{where}: missing '{key}'")
    return record[key]


def _need_list(record: Any, key: str, path: str | Path, where: str, optional: bool = False) -> list[Any]:
    """``record[key]``, which must be a list (``null`` or absent counts as empty when ``optional``)."""
    if optional and (not isinstance(record, dict) or record.get(key) is None):
        return []
    value = _need(record, key, path, where)
    if not isinstance(value, list):
        raise DataFormatError(path, f"{where}: '{key}' must be a list, got {type(value).__name__}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def verify_answer(
    context: str, text: str, start: int, qid: str, path: str | Path, stats: Counter[str], must_be_in_context: bool
) -> int:
    """The verified character offset of ``text`` in ``context`` (repaired when unambiguous), or ``-1``."""
    if start >= 0 and context[start : start + len(text)] == text and text:
        return start
    occurrences = context.count(text) if text else 0
    if occurrences == 0:
        if must_be_in_context:
            raise DataFormatError(path, f"question {qid}: answer {text!r} is not in its context")
        stats["answers_not_in_context"] += 1
        return -1
    if occurrences == 1:
        stats["answer_starts_fixed"] += 1
        fixed = context.index(text)
        log.info("%s: question %s: answer_start %d of %r fixed to %d", path, qid, start, text, fixed)
        return fixed
    stats["answer_starts_ambiguous"] += 1
    log.warning(
        "%s: question %s: answer_start %d does not match %r, which occurs %d times: not used for training",
        path, qid, start, text, occurrences,
    )  # fmt: skip
    return -1


def _check_question(question: Any, qid: str, path: str | Path) -> str:
    if not isinstance(question, str) or not question.strip():
        raise DataFormatError(path, f"question {qid}: empty question")
    return question


def read_squad(path: str | Path, training: bool = False) -> tuple[list[QAExample], dict[str, int]]:
    """Questions of a SQuAD-style file, answers verified (see the module docstring); (examples, stats)."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataFormatError(path, f'expected a SQuAD-style object {{"data": [articles]}}, got {type(data).__name__}')
    stats: Counter[str] = Counter()
    examples: list[QAExample] = []
    seen: set[str] = set()
    for a, article in enumerate(_need_list(data, "data", path, "top level")):
        article_id = str(article.get("id") or article.get("title") or a) if isinstance(article, dict) else str(a)
        for p, paragraph in enumerate(_need_list(article, "paragraphs", path, f"article {article_id}")):
            where = f"article {article_id} paragraph {p}"
            context = _need(paragraph, "context", path, where)
            if not isinstance(context, str) or not context:
                raise DataFormatError(path, f"{where}: empty context")
            for q, qa in enumerate(_need_list(paragraph, "qas", path, where)):
                qid = str(qa.get("id", f"{article_id}-{p}-{q}")) if isinstance(qa, dict) else f"{article_id}-{p}-{q}"
                if qid in seen:
                    raise DataFormatError(path, f"question {qid}: duplicate id")
                seen.add(qid)
                question = _check_question(_need(qa, "question", path, f"question {qid}"), qid, path)
                texts, starts = [], []
                for answer in _need_list(qa, "answers", path, f"question {qid}", optional=True):
                    text = _need(answer, "text", path, f"question {qid} answer")
                    start = answer.get("answer_start", -1)
                    if not isinstance(text, str) or not _is_int(start):
                        raise DataFormatError(path, f"question {qid}: answer needs a text and an integer answer_start")
                    texts.append(text)
                    starts.append(verify_answer(context, text, start, qid, path, stats, training))
                examples.append(
                    QAExample(qid, question, context, tuple(texts), tuple(starts), article_id, f"{path}#{qid}")
                )
    if not examples:
        raise DataFormatError(path, "no questions found")
    return examples, dict(stats)


def selection_candidates(qid: str, answer_paragraph: int, n_paragraphs: int) -> tuple[list[int], int]:
    """Deterministic candidates for question ``qid``: the answer's paragraph + up to 3 others of the same
    article, in a shuffled order that depends only on ``qid``; returns (paragraph indices, label)."""
    rng = random.Random(zlib.crc32(qid.encode("utf-8")))
    others = [i for i in range(n_paragraphs) if i != answer_paragraph]
    chosen = [answer_paragraph, *rng.sample(others, min(len(others), MAX_SELECTION_CANDIDATES - 1))]
    rng.shuffle(chosen)
    return chosen, chosen.index(answer_paragraph)


def selection_from_squad(path: str | Path, training: bool = False) -> tuple[list[ChoiceExample], dict[str, int]]:
    """Context-selection examples from a SQuAD-style file (see ``selection_candidates``)."""
    qa_examples, stats = read_squad(path, training)
    by_article: dict[str, list[str]] = {}
    for ex in qa_examples:
        contexts = by_article.setdefault(ex.article, [])
        if ex.context not in contexts:
            contexts.append(ex.context)
    examples = []
    for ex in qa_examples:
        paragraphs = by_article[ex.article]
        chosen, label = selection_candidates(ex.id, paragraphs.index(ex.context), len(paragraphs))
        examples.append(
            ChoiceExample(
                ex.id, ex.question, tuple(paragraphs[i] for i in chosen), label, "", ex.article, ex.source, ex.answers
            )
        )
    return examples, stats


def read_contexts(path: str | Path) -> list[str]:
    contexts = load_json(path)
    if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
        raise DataFormatError(path, "expected a JSON list of paragraph strings")
    return contexts


def read_seed_selection(
    path: str | Path, contexts: list[str], contexts_path: str | Path, training: bool = False
) -> tuple[list[ChoiceExample], dict[str, int]]:
    """The Chinese MRC report's layout: ``[{id, question, paragraphs, relevant, answer: {text, start}}]`` over
    ``contexts``; ``relevant``/``answer`` absent when unlabelled. All candidates are kept (the head
    masks the difference between questions with fewer and more)."""
    records = load_json(path)
    if not isinstance(records, list):
        raise DataFormatError(path, "expected a JSON list of questions")
    stats: Counter[str] = Counter()
    examples = [
        _seed_question(path, r, record, contexts, contexts_path, stats, training) for r, record in enumerate(records)
    ]
    if not examples:
        raise DataFormatError(path, "no questions found")
    return examples, dict(stats)


def _seed_question(
    path: str | Path,
    r: int,
    record: Any,
    contexts: list[str],
    contexts_path: str | Path,
    stats: Counter[str],
    training: bool,
) -> ChoiceExample:
    """One question of the Chinese MRC report's layout, every field checked (ids are indices into ``contexts``)."""
    qid = str(record.get("id", r)) if isinstance(record, dict) else str(r)
    question = _check_question(_need(record, "question", path, f"question {qid}"), qid, path)
    ids = _need(record, "paragraphs", path, f"question {qid}")
    if not isinstance(ids, list) or not ids:
        raise DataFormatError(path, f"question {qid}: 'paragraphs' must be a non-empty list of paragraph ids")
    for pid in ids:
        if not _is_int(pid) or not 0 <= pid < len(contexts):
            raise DataFormatError(
                path, f"question {qid}: candidate paragraph id {pid!r} does not exist in {contexts_path} "
                f"({len(contexts)} paragraphs)",
            )  # fmt: skip
    label = None
    answers: tuple[str, ...] = ()
    if "relevant" in record:
        relevant = record["relevant"]
        if not _is_int(relevant) or relevant not in ids:
            raise DataFormatError(path, f"question {qid}: relevant paragraph {relevant!r} is not a candidate")
        label = ids.index(relevant)
        answer = record.get("answer")
        if answer is not None:
            text, start = _seed_answer(answer, qid, path)
            verify_answer(contexts[relevant], text, start, qid, path, stats, training)
            answers = (text,)
    return ChoiceExample(qid, question, tuple(contexts[i] for i in ids), label, "", "", f"{path}#{qid}", answers)


def _seed_answer(answer: Any, qid: str, path: str | Path) -> tuple[str, int]:
    """(text, start) of an answer ``{text, start}`` in that layout; ``start`` may be absent (-1: found by its text)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
        raise DataFormatError(path, f"question {qid}: 'answer' must be {{text, start}} with a text string")
    start = answer.get("start", -1)
    if not _is_int(start):
        raise DataFormatError(path, f"question {qid}: answer start must be an integer, got {start!r:.30}")
    return answer["text"], start


def read_selection(
    path: str | Path, contexts_path: str | Path | None, training: bool = False
) -> tuple[list[ChoiceExample], dict[str, int]]:
    """Either layout, told apart by the top level (an object with ``data``: SQuAD-style; a list: seed)."""
    data = load_json(path)
    if isinstance(data, dict):
        return selection_from_squad(path, training)
    if contexts_path is None or not Path(contexts_path).is_file():
        raise DataFormatError(path, f"the question list needs its paragraphs file (context file {contexts_path})")
    return read_seed_selection(path, read_contexts(contexts_path), contexts_path, training)


def read_questions(path: str | Path, contexts: str | Path | None = None) -> list[ChoiceExample]:
    """Questions to answer with their candidate paragraphs, for prediction: the Chinese MRC report's layout (a list;
    paragraphs from ``contexts``, default ``context.json`` beside ``path``), or a SQuAD-style file, where
    every paragraph of a question's article is a candidate (no gold information chooses them). The
    label (where the file tells the question's paragraph) and gold answers are kept for scoring."""
    data = load_json(path)
    if isinstance(data, list):
        contexts_path = Path(contexts) if contexts else Path(path).parent / "context.json"
        if not contexts_path.is_file():
            raise DataFormatError(
                path, f"a question list needs its paragraphs file: {contexts_path} not found (contexts=FILE names it)"
            )
        return read_seed_selection(path, read_contexts(contexts_path), contexts_path)[0]
    qa, _ = read_squad(path)
    paragraphs: dict[str, list[str]] = {}
    for ex in qa:
        article = paragraphs.setdefault(ex.article, [])
        if ex.context not in article:
            article.append(ex.context)
    return [
        ChoiceExample(
            ex.id,
            ex.question,
            tuple(paragraphs[ex.article]),
            paragraphs[ex.article].index(ex.context),
            "",
            ex.article,
            ex.source,
            ex.answers,
        )  # fmt: skip
        for ex in qa
    ]


def read_c3(path: str | Path) -> tuple[list[ChoiceExample], dict[str, int]]:
    """C3 documents -> one example per question (label: the index of the answer among the choices)."""
    docs = load_json(path)
    if not isinstance(docs, list):
        raise DataFormatError(path, "expected a JSON list of [passage, questions, id] documents")
    examples = []
    for d, doc in enumerate(docs):
        examples += _c3_document(path, d, doc)
    if not examples:
        raise DataFormatError(path, "no questions found")
    return examples, {}


def _c3_document(path: str | Path, d: int, doc: Any) -> list[ChoiceExample]:
    """The questions of one C3 document ``[passage turns, questions, id]``, every field checked."""
    if not isinstance(doc, list) or len(doc) < 3:
        raise DataFormatError(path, f"document {d}: expected [passage, questions, id]")
    turns, questions, doc_id = doc[0], doc[1], str(doc[2])
    if isinstance(turns, str):
        turns = [turns]
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        raise DataFormatError(path, f"document {d} ({doc_id}): the passage must be a list of strings (dialogue turns)")
    if not isinstance(questions, list):
        raise DataFormatError(path, f"document {d} ({doc_id}): the questions must be a list")
    passage = "\n".join(turns)
    examples = []
    for q, item in enumerate(questions):
        qid = f"{doc_id}-{q}"
        question = _check_question(_need(item, "question", path, f"question {qid}"), qid, path)
        choices = _need(item, "choice", path, f"question {qid}")
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
            raise DataFormatError(path, f"question {qid}: 'choice' must be a non-empty list of strings")
        label = None
        if "answer" in item:
            if item["answer"] not in choices:
                raise DataFormatError(path, f"question {qid}: answer {item['answer']!r:.60} is not among its choices")
            label = choices.index(item["answer"])
        examples.append(ChoiceExample(qid, question, tuple(choices), label, passage, doc_id, f"{path}#{qid}"))
    return examples


def squad_answer_key(examples: list[QAExample]) -> dict[str, Any]:
    """The labelled ``examples`` as a SQuAD-style file (``{version, data: [{title, paragraphs: [{context, qas}]}]}``),
    in their order: consecutive questions over one article and context share one entry. It is what the CMRC
    2018 / DRCD scripts read as the dataset, so a split carved from train can be scored (and two runs compared)
    from the run directory alone. ``answer_start`` is ``-1`` where no verified position exists."""
    articles: list[dict[str, Any]] = []
    for ex in examples:
        if not articles or articles[-1]["title"] != ex.article:
            articles.append({"title": ex.article, "paragraphs": []})
        paragraphs = articles[-1]["paragraphs"]
        if not paragraphs or paragraphs[-1]["context"] != ex.context:
            paragraphs.append({"context": ex.context, "qas": []})
        answers = [{"text": t, "answer_start": s} for t, s in zip(ex.answers, ex.answer_starts, strict=True)]
        paragraphs[-1]["qas"].append({"id": ex.id, "question": ex.question, "answers": answers})
    return {"version": "relx answer key", "data": articles}


def carve_by_article(examples: list[Any], fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """(train, dev) with whole articles in dev (no paragraph is shared between the two), deterministic."""
    from relx.data.splits import carve_dev

    articles = list(dict.fromkeys(ex.article for ex in examples))
    if len(articles) < 2:
        return carve_dev(examples, fraction, seed)
    _, dev_articles = carve_dev(articles, fraction, seed)
    held = set(dev_articles)
    return [ex for ex in examples if ex.article not in held], [ex for ex in examples if ex.article in held]
