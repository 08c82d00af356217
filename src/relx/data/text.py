"""Raw text as words and passages (pure, no task knowledge): what continued pretraining and vocabulary
extension read.

A passage is a list of words: a sentence, a paragraph, a document. Words are split at whitespace and
punctuation, and every CJK character is a word of its own (``split_cjk``): Chinese and Japanese are written
without spaces, so a "word" there is a character, as BERT-family tokenizers split them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence

from transformers import PreTrainedTokenizerBase

# Code point ranges of CJK ideographs (BERT's ``_is_chinese_char``), plus Japanese kana, also written without
# spaces between words. Hangul is not among them: Korean separates its words with spaces.
CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F), (0x3040, 0x309F), (0x30A0, 0x30FF),
)  # fmt: skip


def is_cjk(char: str) -> bool:
    """Whether ``char`` is a CJK ideograph or Japanese kana (a word of its own)."""
    code = ord(char)
    return any(low <= code <= high for low, high in CJK_RANGES)


def _split_off(word: str, own_word: Callable[[str], bool]) -> list[str]:
    """``word`` cut so that each character for which ``own_word`` holds is a word of its own."""
    pieces: list[str] = []
    run = ""
    for char in word:
        if own_word(char):
            if run:
                pieces.append(run)
                run = ""
            pieces.append(char)
        else:
            run += char
    if run:
        pieces.append(run)
    return pieces


def split_cjk(words: Iterable[str]) -> list[str]:
    """``words`` with every CJK character split off as a word of its own (``'BERT模型'`` -> ``BERT``, ``模``,
    ``型``); other characters stay in their words."""
    return [piece for word in words for piece in _split_off(word, is_cjk)]


def is_punctuation(char: str) -> bool:
    """ASCII symbols and Unicode punctuation (BERT's ``_is_punctuation``): a word of their own."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def text_words(text: str) -> list[str]:
    """Raw text as words: split at whitespace, punctuation and every CJK character a word of its own."""
    return [piece for chunk in text.split() for piece in _split_off(chunk, lambda c: is_cjk(c) or is_punctuation(c))]


def unique_passages(passages: Iterable[Sequence[str]]) -> list[list[str]]:
    """``passages`` without repeats (SQuAD-style data repeats a context for every question) or empty ones, in
    first-seen order."""
    seen: set[tuple[str, ...]] = set()
    out: list[list[str]] = []
    for words in passages:
        key = tuple(words)
        if key and key not in seen:
            seen.add(key)
            out.append(list(words))
    return out


def pack_passage(token_counts: Sequence[int], max_tokens: int) -> list[tuple[int, int]]:
    """Consecutive word ranges ``[start, end)`` of a passage whose words have ``token_counts`` subwords, each
    holding at most ``max_tokens`` subwords (greedy; a word longer than that is a range of its own, to be
    truncated). Words without subwords join the range they fall in."""
    ranges: list[tuple[int, int]] = []
    start, used = 0, 0
    for i, n in enumerate(token_counts):
        if used + n > max_tokens and i > start:
            ranges.append((start, i))
            start, used = i, 0
        used += n
    if start < len(token_counts):
        ranges.append((start, len(token_counts)))
    return ranges


def pack_passages(
    passages: Sequence[Sequence[str]], tokenizer: PreTrainedTokenizerBase, max_tokens: int, batch: int = 512
) -> list[list[tuple[int, int]]]:
    """``pack_passage`` of every passage, its words' subword counts taken from ``tokenizer`` (no special
    tokens)."""
    out: list[list[tuple[int, int]]] = []
    for first in range(0, len(passages), batch):
        chunk = [list(p) for p in passages[first : first + batch]]
        enc = tokenizer(chunk, is_split_into_words=True, add_special_tokens=False)
        for i, words in enumerate(chunk):
            counts = [0] * len(words)
            for word in enc.word_ids(i):
                if word is not None:
                    counts[word] += 1
            out.append(pack_passage(counts, max_tokens))
    return out
