"""The batch fields each kind of head reads, as ``Protocol``s: the contract a task's batch must meet.

A task's batch (an ``relx.data.batch.EncodedBatch`` dataclass defined by the task) satisfies a protocol
structurally, by having the fields; nothing here imports the tasks. Fields are read-only properties, so a
dataclass field typed ``Tensor`` meets a protocol field typed ``Tensor | None``. Gold labels are
``None`` on unlabelled batches (a head's ``gold_field`` names the one that decides).
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor


class SentenceLabelled(Protocol):
    """Sentence heads (``SentenceHead``): one gold label per row, ``sentence_labels`` ``[batch]``."""

    @property
    def sentence_labels(self) -> Tensor | None: ...


class MayNotFit(Protocol):
    """Optional for sentence heads: ``fits`` ``[batch]`` false where a row could not be encoded; those rows
    decode to ``fallback_id`` (``relx.heads.base.fallback_where_unfit`` looks for ``fits``)."""

    @property
    def fits(self) -> Tensor: ...

    @property
    def fallback_id(self) -> int: ...


class EntitySpans(SentenceLabelled, Protocol):
    """Entity-aware relation heads: ``e1_span``/``e2_span`` ``[batch, 2]``, inclusive subword spans."""

    @property
    def e1_span(self) -> Tensor: ...

    @property
    def e2_span(self) -> Tensor: ...


class WordLevel(Protocol):
    """Word taggers: ``word_index``/``word_mask``/``word_labels`` ``[batch, words]``; ``pooling`` and
    ``subword_word`` ``[batch, seq]`` (for ``mean``/``max`` pooling) as ``relx.heads.words.word_states``
    reads them (a batch without ``pooling`` gathers the first subword)."""

    @property
    def word_index(self) -> Tensor: ...

    @property
    def word_mask(self) -> Tensor: ...

    @property
    def word_labels(self) -> Tensor | None: ...

    @property
    def subword_word(self) -> Tensor | None: ...

    @property
    def pooling(self) -> str: ...


class TreeLabelled(Protocol):
    """Dependency parsers: ``word_index``/``word_mask`` ``[batch, words]``; gold ``heads`` (0 = ROOT) and
    relation ids ``rels`` ``[batch, words]``."""

    @property
    def word_index(self) -> Tensor: ...

    @property
    def word_mask(self) -> Tensor: ...

    @property
    def heads(self) -> Tensor | None: ...

    @property
    def rels(self) -> Tensor | None: ...


class DocumentPairs(Protocol):
    """Document-level relation heads: mentions ``[M]`` (``mention_doc``, ``mention_entity``,
    ``mention_anchor``), mention subwords ``[K]`` (``span_token``, ``span_mention``), entities ``[E]``
    (``entity_doc``, ``entity_first``, ``entity_local``), candidate pairs ``[P]`` (``pair_head``,
    ``pair_tail``, ``pair_doc``), gold ``pair_labels`` ``[P, relations]``, ``training_pairs()`` (the pairs
    to train on) and the number of documents (``len``)."""

    @property
    def mention_doc(self) -> Tensor: ...

    @property
    def mention_entity(self) -> Tensor: ...

    @property
    def mention_anchor(self) -> Tensor: ...

    @property
    def span_token(self) -> Tensor: ...

    @property
    def span_mention(self) -> Tensor: ...

    @property
    def entity_doc(self) -> Tensor: ...

    @property
    def entity_first(self) -> Tensor: ...

    @property
    def entity_local(self) -> Tensor: ...

    @property
    def pair_head(self) -> Tensor: ...

    @property
    def pair_tail(self) -> Tensor: ...

    @property
    def pair_doc(self) -> Tensor: ...

    @property
    def pair_labels(self) -> Tensor | None: ...

    def training_pairs(self) -> Tensor: ...

    def __len__(self) -> int: ...


class AnswerWindows(Protocol):
    """Extractive QA: ``attention_mask``/``offsets`` per window (``[windows, seq]``, ``[windows, seq, 2]``),
    ``window_example`` ``[windows]`` (each window's row), gold ``start_positions``/``end_positions``
    ``[windows]`` and the number of questions (``len``)."""

    @property
    def attention_mask(self) -> Tensor: ...

    @property
    def offsets(self) -> Tensor: ...

    @property
    def window_example(self) -> Tensor: ...

    @property
    def start_positions(self) -> Tensor | None: ...

    @property
    def end_positions(self) -> Tensor | None: ...

    def __len__(self) -> int: ...


class ChoiceCandidates(Protocol):
    """Multiple choice: ``choice_mask`` ``[batch, choices]`` (false for padded candidates) and gold
    ``choice_labels`` ``[batch]``."""

    @property
    def choice_mask(self) -> Tensor: ...

    @property
    def choice_labels(self) -> Tensor | None: ...


class MaskedTokens(Protocol):
    """Masked-LM heads: ``mlm_labels`` ``[batch, seq]``, the original id at each position to predict and
    ``-100`` elsewhere (``None`` until the masks are drawn)."""

    @property
    def mlm_labels(self) -> Tensor | None: ...
