"""Words and their subwords: which subword positions represent each word of a pre-split sentence, and the
training units of ``data.label_all_subwords``. Pure functions over a tokenizer's output."""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from relx.data.settings import POOLED
from relx.data.vocab import LabelVocab


def encode_words(
    words: Sequence[Sequence[str]],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    subword: str = "first",
    owners: bool = False,
) -> dict[str, list[list[int]]]:
    """Tokenise pre-split sentences; each word is represented by its first (or ``last``) subword.

    Returns ``input_ids`` and ``word_index`` (per word: position of its representative subword, the
    first one for ``mean``/``max``; ``-1`` when truncation removed it or it produced no subword), plus
    ``subword_word`` (per position: the word it belongs to, ``-1`` for special tokens) for ``mean``/``max``
    pooling or when ``owners`` is asked for. Special tokens come from the tokenizer itself.
    """
    enc = tokenizer([list(w) for w in words], is_split_into_words=True, truncation=True, max_length=max_length)
    word_index: list[list[int]] = []
    subword_word: list[list[int]] = []
    for i, sentence in enumerate(words):
        owner = [-1 if word_id is None else word_id for word_id in enc.word_ids(i)]
        first = [-1] * len(sentence)
        for pos, word_id in enumerate(owner):
            if word_id >= 0 and (first[word_id] < 0 or subword == "last"):
                first[word_id] = pos
        word_index.append(first)
        subword_word.append(owner)
    out = {"input_ids": enc["input_ids"], "word_index": word_index}
    if owners or subword in POOLED:
        out["subword_word"] = subword_word
    return out


def continuation_ids(vocab: LabelVocab) -> list[int]:
    """Per tag id, the tag of a word's later subwords: ``I-X`` for ``B-X`` (``B-X`` itself when the
    vocabulary has no ``I-X``, as the Hugging Face example's ``b_to_i_label``), the tag itself otherwise."""
    return [
        vocab.index("I-" + tag[2:]) if tag.startswith("B-") and "I-" + tag[2:] in vocab else i
        for i, tag in enumerate(vocab.labels)
    ]


def subword_units(
    subword_word: Sequence[int], tag_ids: Sequence[int], continuation: Sequence[int]
) -> dict[str, list[int]]:
    """Every kept subword of a sentence as a training unit (``data.label_all_subwords``): ``unit_index``
    (its position) and ``unit_tag_ids`` (the word's tag on its first subword, ``continuation`` of it on
    the others). Words lost to truncation have no unit."""
    index: list[int] = []
    tags: list[int] = []
    previous = -1
    for pos, word in enumerate(subword_word):
        if word < 0:
            continue
        index.append(pos)
        tags.append(tag_ids[word] if word != previous else continuation[tag_ids[word]])
        previous = word
    return {"unit_index": index, "unit_tag_ids": tags}
