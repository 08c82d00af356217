"""Reading-comprehension scores exactly as the official scripts define them.

Chinese (``language="zh"``): the CMRC 2018 evaluation script (``cmrc2018_evaluate.py``, also used for
DRCD). Text is lower-cased and stripped; the script's punctuation list (``SP_CHAR``) is removed;
``mixed_segmentation`` makes every CJK character (U+4E00..U+9FA5) one token and splits the runs
between them into words. F1 is computed from the longest common *contiguous* token sequence of
prediction and answer (``find_lcs``): P = lcs / len(prediction), R = lcs / len(answer); EM compares
the punctuation-free strings. Both take the maximum over the gold answers and are averaged over
questions. The script runs the non-CJK runs through ``nltk.word_tokenize``; relx, without NLTK,
splits them into numbers (``3.5``, ``1,000``), words and single punctuation marks, which is what
word_tokenize does for the digits, Latin words and punctuation of these datasets (it differs on
English contractions such as ``don't``).

English (``language="en"``): SQuAD v1.1's ``evaluate-v1.1.py``: ``normalize_answer`` (lower-case,
remove ASCII punctuation, remove articles a/an/the, collapse whitespace), EM on normalised strings,
F1 from the bag-of-tokens overlap, maximum over gold answers.

Values are fractions in [0, 1] like every relx metric (the scripts print them x100).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from relx.data.vocab import LabelVocab
from relx.metrics.classification import LabelAccuracy

# cmrc2018_evaluate.py's sp_char, verbatim ("……" is one two-character entry, so it never equals a single
# character: the script keeps "…", and so does relx).
SP_CHAR = [
    "-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=",
    "，", "。", "：", "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、",
    "「", "」", "（", "）", "－", "～", "『", "』",
]  # fmt: skip
_CJK = re.compile(r"[\u4e00-\u9fa5]")
_WORDS = re.compile(r"\d+(?:[.,]\d+)+|\w+|[^\w\s]")


def _word_tokenize(text: str) -> list[str]:
    """Stand-in for ``nltk.word_tokenize`` on the non-CJK runs (see the module docstring)."""
    return _WORDS.findall(text)


def mixed_segmentation(text: str, rm_punc: bool = False) -> list[str]:
    """CJK characters as single tokens, the runs between them as words (CMRC 2018 script)."""
    text = str(text).lower().strip()
    segments: list[str] = []
    run = ""
    for char in text:
        if rm_punc and char in SP_CHAR:
            continue
        if _CJK.search(char) or char in SP_CHAR:
            if run:
                segments.extend(_word_tokenize(run))
                run = ""
            segments.append(char)
        else:
            run += char
    if run:
        segments.extend(_word_tokenize(run))
    return segments


def remove_punctuation(text: str) -> str:
    return "".join(char for char in str(text).lower().strip() if char not in SP_CHAR)


def find_lcs(s1: Sequence[str], s2: Sequence[str]) -> tuple[Sequence[str], int]:
    """Longest common contiguous subsequence (the script's dynamic programme): (tokens, length)."""
    m = [[0] * (len(s2) + 1) for _ in range(len(s1) + 1)]
    longest, end = 0, 0
    for i in range(len(s1)):
        for j in range(len(s2)):
            if s1[i] == s2[j]:
                m[i + 1][j + 1] = m[i][j] + 1
                if m[i + 1][j + 1] > longest:
                    longest, end = m[i + 1][j + 1], i + 1
    return s1[end - longest : end], longest


def cmrc_f1(answers: Sequence[str], prediction: str) -> float:
    scores = []
    for answer in answers:
        answer_segs = mixed_segmentation(answer, rm_punc=True)
        prediction_segs = mixed_segmentation(prediction, rm_punc=True)
        _, lcs = find_lcs(answer_segs, prediction_segs)
        if lcs == 0:
            scores.append(0.0)
            continue
        precision, recall = lcs / len(prediction_segs), lcs / len(answer_segs)
        scores.append(2 * precision * recall / (precision + recall))
    return max(scores, default=0.0)


def cmrc_em(answers: Sequence[str], prediction: str) -> float:
    return float(any(remove_punctuation(a) == remove_punctuation(prediction) for a in answers))


def normalize_answer(text: str) -> str:
    """SQuAD v1.1: lower, remove punctuation, remove articles, fix whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_f1(answers: Sequence[str], prediction: str) -> float:
    scores = []
    for answer in answers:
        pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(answer).split()
        same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
        if same == 0:
            scores.append(0.0)
            continue
        precision, recall = same / len(pred_tokens), same / len(gold_tokens)
        scores.append(2 * precision * recall / (precision + recall))
    return max(scores, default=0.0)


def squad_em(answers: Sequence[str], prediction: str) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(a) for a in answers))


SCORERS = {"zh": (cmrc_em, cmrc_f1), "en": (squad_em, squad_f1)}


def qa_scores(predictions: Sequence[str], answers: Sequence[Sequence[str]], language: str = "zh") -> dict[str, float]:
    """Mean EM and F1 (fractions) of ``predictions`` against each question's gold ``answers``."""
    em, f1 = SCORERS[language]
    n = max(1, len(predictions))
    pairs = list(zip(predictions, answers, strict=True))
    return {"em": sum(em(a, p) for p, a in pairs) / n, "f1": sum(f1(a, p) for p, a in pairs) / n}


class SpanQAScores(Metric):
    """EM and F1 of predicted answer spans (``predictions["span"]``: character ``[batch, 2]``) against
    ``batch.answers``, by the CMRC 2018 script (``language="zh"``) or SQuAD v1.1 (``"en"``)."""

    full_state_update = False
    em: Tensor
    f1: Tensor
    total: Tensor

    def __init__(self, vocab: LabelVocab | None = None, prefix: str = "", language: str = "zh") -> None:
        super().__init__()
        if language not in SCORERS:
            raise ValueError(f"language must be one of {sorted(SCORERS)}, not {language!r}")
        self.prefix = prefix
        self.language = language
        self.add_state("em", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("f1", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, predictions: dict[str, Tensor], batch: Any) -> None:
        em, f1 = SCORERS[self.language]
        for (start, end), context, answers in zip(
            predictions["span"].tolist(), batch.contexts, batch.answers, strict=True
        ):
            text = context[start:end]
            self.em += em(answers, text)
            self.f1 += f1(answers, text)
            self.total += 1

    def compute(self) -> dict[str, Tensor]:
        n = self.total.clamp(min=1)
        return {f"{self.prefix}em": (self.em / n).float(), f"{self.prefix}f1": (self.f1 / n).float()}


class ChoiceAccuracy(LabelAccuracy):
    """Share of questions whose chosen candidate (``predictions["choice"]``) is the gold one."""

    space = "choice"
    gold_field = "choice_labels"
