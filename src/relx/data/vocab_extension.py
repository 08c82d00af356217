"""Vocabulary extension (``encoder.extend_vocab``): which tokens a tokenizer lacks for a text, and how much of
the text it reads as ``[UNK]`` (pure functions over a fast tokenizer; no task knowledge).

A text is given as passages of words (``Task.passages``). Candidates are found as the tokenizer itself sees
the text: normalised (lower-cased, accents stripped, CJK characters spaced, as its normaliser does) and
pre-tokenised into words, each word looked up by the tokenizer's model. A word the model reads as ``[UNK]``
contributes its characters that are ``[UNK]`` on their own (a rare CJK character, an emoji): added as tokens
they are split out of any word that holds them, which fixes every such word at once; a word none of whose
characters is unknown on its own (WordPiece lacks only one of its ``##`` continuations) is a candidate itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

from relx.data.readers import read_lines
from relx.errors import ConfigError, DataFormatError

BATCH = 512  # passages tokenised per call


def _backend(tokenizer: PreTrainedTokenizerBase) -> Any:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not getattr(tokenizer, "is_fast", False) or backend is None:
        raise ConfigError(
            f"encoder.extend_vocab needs a fast (Rust) tokenizer to see the text as the model does; "
            f"{type(tokenizer).__name__} is not one"
        )
    return backend


def tokenizer_words(text: str, tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """``text`` normalised and pre-tokenised as ``tokenizer`` does before its model looks words up."""
    backend = _backend(tokenizer)
    if backend.normalizer is not None:
        text = backend.normalizer.normalize_str(text)
    if backend.pre_tokenizer is None:
        return text.split()
    return [word for word, _ in backend.pre_tokenizer.pre_tokenize_str(text)]


def unk_rate(passages: Sequence[Sequence[str]], tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """How much of the text ``tokenizer`` reads as its unknown token: ``tokens`` (subword tokens, no special
    tokens), ``unk`` (of them ``[UNK]``) and ``rate`` (``unk / tokens``). A tokenizer without an unknown
    token (byte-level BPE) has rate 0."""
    unk_id = tokenizer.unk_token_id
    tokens = unk = 0
    for start in range(0, len(passages), BATCH):
        chunk = [list(p) for p in passages[start : start + BATCH] if len(p)]
        if not chunk:
            continue
        ids = tokenizer(chunk, is_split_into_words=True, add_special_tokens=False)["input_ids"]
        tokens += sum(len(row) for row in ids)
        if unk_id is not None:
            unk += sum(row.count(unk_id) for row in ids)
    return {"tokens": tokens, "unk": unk, "rate": unk / tokens if tokens else 0.0}


def _is_unknown(backend: Any, word: str, unk: str) -> bool:
    return any(token.value == unk for token in backend.model.tokenize(word))


def unknown_token_counts(passages: Iterable[Sequence[str]], tokenizer: PreTrainedTokenizerBase) -> Counter[str]:
    """Each candidate token (see the module docstring) with how often the text reads it as ``[UNK]``."""
    backend = _backend(tokenizer)
    unk = tokenizer.unk_token
    if unk is None:
        return Counter()
    words: Counter[str] = Counter()
    for passage in passages:
        words.update(tokenizer_words(" ".join(passage), tokenizer))
    counts: Counter[str] = Counter()
    for word, n in words.items():
        if not _is_unknown(backend, word, unk):
            continue
        chars = [c for c in dict.fromkeys(word) if _is_unknown(backend, c, unk)] if len(word) > 1 else [word]
        for candidate in chars or [word]:
            counts[candidate] += n * (word.count(candidate) if len(candidate) == 1 else 1)
    return counts


def frequent_tokens(counts: Counter[str], min_count: int) -> list[str]:
    """Candidates seen at least ``min_count`` times, most frequent first (ties in code-point order)."""
    return [token for token, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count]


def read_token_file(path: Path, tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """The tokens of a file of one token a line (blank lines and ``#`` comments skipped), as the tokenizer
    sees them: normalised and pre-tokenised (an entry the tokenizer splits, e.g. ``中文`` into its
    characters, adds its pieces); repeats dropped. A file without tokens is a ``DataFormatError``."""
    tokens: dict[str, None] = {}
    for lineno, line in enumerate(read_lines(path), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if len(entry.split()) > 1:
            raise DataFormatError(path, f"{entry!r}: one token a line, without spaces", lineno)
        pieces = tokenizer_words(entry, tokenizer)
        if not pieces:
            raise DataFormatError(path, f"{entry!r} is nothing once normalised by the tokenizer", lineno)
        tokens.update(dict.fromkeys(pieces))
    if not tokens:
        raise DataFormatError(path, "no tokens (one token a line)")
    return list(tokens)
