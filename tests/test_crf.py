"""Sequence labelling: the CRF against brute-force enumeration, BIO-constrained decoding as a property,
subword pooling against a per-word loop, and label_all_subwords scoring every word once."""

from __future__ import annotations

import itertools
import math
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities

from helpers import bio_ner_data
from relx.data.batch import IGNORE_INDEX, WordCollator
from relx.data.settings import DataSettings
from relx.data.subwords import encode_words
from relx.encoders import Encoded
from relx.errors import ConfigError
from relx.heads import CRFHead, TokenClassificationHead
from relx.heads.crf import crf_log_partition, crf_path_score
from relx.heads.decoding import bio_allowed, bio_viterbi, compact, viterbi
from relx.heads.words import pool_subwords
from relx.metrics import SeqevalScores

MIT_FILES = {"train": "engtrain.bio", "validation": None, "test": "engtest.bio"}


def is_valid_bio(tags: list[str]) -> bool:
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous not in ("B-" + tag[2:], tag):
            return False
        previous = tag
    return True


def enumerate_paths(
    emissions: torch.Tensor, length: int, transitions: torch.Tensor, start: torch.Tensor, end: torch.Tensor
) -> dict[tuple[int, ...], float]:
    """Every tag sequence of one row's first ``length`` words with its score, computed one by one."""
    scores = {}
    for path in itertools.product(range(emissions.shape[-1]), repeat=length):
        score = float(start[path[0]] + end[path[-1]])
        score += sum(float(emissions[t, tag]) for t, tag in enumerate(path))
        score += sum(float(transitions[a, b]) for a, b in itertools.pairwise(path))
        scores[path] = score
    return scores


@pytest.mark.parametrize("lengths", [[4, 4, 4], [4, 2, 1], [3, 1, 2]])
def test_crf_partition_path_score_and_viterbi_equal_brute_force(lengths: list[int]) -> None:
    torch.manual_seed(sum(lengths))
    batch, words, tags = len(lengths), max(lengths), 3
    emissions = torch.randn(batch, words, tags, dtype=torch.float64) * 2
    transitions = torch.randn(tags, tags, dtype=torch.float64)
    start, end = torch.randn(tags, dtype=torch.float64), torch.randn(tags, dtype=torch.float64)
    mask = torch.arange(words).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    gold = torch.randint(0, tags, (batch, words))

    log_z = crf_log_partition(emissions, mask, transitions, start, end)
    path_score = crf_path_score(emissions, gold, mask, transitions, start, end)
    best = viterbi(emissions, mask, transitions, start, end)
    for row, length in enumerate(lengths):
        scores = enumerate_paths(emissions[row], length, transitions, start, end)
        assert float(log_z[row]) == pytest.approx(math.log(sum(math.exp(s) for s in scores.values())), abs=1e-9)
        assert float(path_score[row]) == pytest.approx(scores[tuple(gold[row, :length].tolist())], abs=1e-9)
        assert tuple(best[row, :length].tolist()) == max(scores, key=scores.__getitem__)


def test_crf_head_loss_skips_lost_words_and_unseen_labels() -> None:
    """Lost words and unseen dev labels leave the chain: the loss is the NLL of the remaining words,
    enumerated by brute force, divided by their number; gradients reach every CRF parameter."""
    torch.manual_seed(0)
    labels = ["O", "B-A", "I-A"]
    head = CRFHead(4, 3, labels=labels, constrained=False)
    with torch.no_grad():
        head.transitions.normal_()
        head.start_transitions.normal_()
        head.end_transitions.normal_()
    emissions = torch.randn(2, 4, 3)
    batch = SimpleNamespace(
        word_index=torch.tensor([[1, -1, 3, 4], [1, 2, -1, -1]]),  # row 0: a word with no subword
        word_mask=torch.tensor([[True, True, True, True], [True, True, True, False]]),
        word_labels=torch.tensor([[1, 0, 2, 5], [0, 1, 0, IGNORE_INDEX]]),  # 5: a label unseen in training
    )
    emissions.requires_grad_(True)
    loss = head.loss(emissions, batch)
    loss.backward()
    t, s, e = (p.detach().double() for p in (head.transitions, head.start_transitions, head.end_transitions))
    expected = 0.0
    for row, keep, gold in ((0, [0, 2], (1, 2)), (1, [0, 1], (0, 1))):
        scores = enumerate_paths(emissions[row, keep].detach().double(), len(keep), t, s, e)
        expected += math.log(sum(math.exp(v) for v in scores.values())) - scores[gold]
    assert float(loss) == pytest.approx(expected / 4, abs=1e-5)
    crf = (head.transitions, head.start_transitions, head.end_transitions)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in crf)


def test_constrained_crf_is_finite_when_a_tag_is_unreachable() -> None:
    # I-X without B-X: no valid path reaches it; the forward algorithm must still give finite gradients.
    labels = ["O", "I-X", "B-Y", "I-Y"]
    head = CRFHead(4, 4, labels=labels)
    emissions = torch.randn(2, 3, 4, requires_grad=True)
    batch = SimpleNamespace(
        word_index=torch.tensor([[1, 2, 3], [1, 2, -1]]),
        word_mask=torch.ones(2, 3, dtype=torch.bool),
        word_labels=torch.tensor([[2, 3, 0], [0, 2, 0]]),
    )
    loss = head.loss(emissions, batch)
    loss.backward()
    assert torch.isfinite(loss) and emissions.grad is not None and torch.isfinite(emissions.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)
    pred = head.decode(emissions.detach(), batch)
    assert pred[1, 2] == 0 and all(is_valid_bio([labels[i] for i in row]) for row in pred.tolist())


@st.composite
def bio_problems(draw: Any) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """A BIO label set (``O`` plus, per type, ``B-``, ``I-`` or both, in any order), random scores
    ``[2, words, labels]`` and a prefix mask."""
    types = draw(st.lists(st.sampled_from("XYZ"), unique=True, max_size=3))
    labels = ["O"] + [f"{p}-{t}" for t in types for p in draw(st.sampled_from(["B", "I", "BI"]))]
    labels = draw(st.permutations(labels))
    words = draw(st.integers(1, 6))
    values = draw(
        st.lists(st.floats(-8, 8, width=32), min_size=2 * words * len(labels), max_size=2 * words * len(labels))
    )
    scores = torch.tensor(values).view(2, words, len(labels))
    lengths = torch.tensor([words, draw(st.integers(1, words))])
    return labels, scores, torch.arange(words).unsqueeze(0) < lengths.unsqueeze(1)


def rows(pred: torch.Tensor, mask: torch.Tensor, labels: list[str]) -> list[list[str]]:
    return [[labels[int(i)] for i in row[m]] for row, m in zip(pred, mask, strict=True)]


def _near_tie() -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """The case hypothesis found: at the last word B-Z's score is 1.2e-7 above the rest's."""
    scores = torch.zeros(2, 3, 6)
    scores[0, 2, 5] = 1.1921e-07
    return ["O", "B-X", "I-X", "B-Y", "I-Y", "B-Z"], scores, torch.tensor([[True] * 3, [True, False, False]])


@settings(max_examples=100, deadline=None)
@given(bio_problems())
@example(_near_tie())
def test_bio_viterbi_is_always_valid_and_equals_a_valid_argmax(problem: Any) -> None:
    labels, scores, mask = problem
    allowed, start = bio_allowed(labels)
    log_probs = scores.log_softmax(-1)
    viterbi_ids, argmax_ids = bio_viterbi(log_probs, mask, allowed, start), log_probs.argmax(-1)
    decoded, argmax = rows(viterbi_ids, mask, labels), rows(argmax_ids, mask, labels)
    for row, (best, greedy) in enumerate(zip(decoded, argmax, strict=True)):
        assert is_valid_bio(best)
        if is_valid_bio(greedy):
            # the same sequence, or one that scores the same: labels whose scores differ by a float32 rounding
            # (hypothesis finds 1.2e-7) tie once summed along the path
            path_score = [
                float(log_probs[row][mask[row]].gather(-1, ids[row][mask[row]].unsqueeze(-1)).sum())
                for ids in (viterbi_ids, argmax_ids)
            ]
            assert best == greedy or path_score[0] == pytest.approx(path_score[1], abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(bio_problems(), st.integers(0, 2**16))
def test_bio_viterbi_keeps_a_valid_sequence_the_scores_favour(problem: Any, seed: int) -> None:
    """Scores whose argmax is a valid sequence (a random path through the grammar, boosted) decode to it."""
    labels, scores, mask = problem
    allowed, start = bio_allowed(labels)
    generator = torch.Generator().manual_seed(seed)
    path = [int(torch.multinomial(start.float(), 1, generator=generator))]
    for _ in range(scores.shape[1] - 1):
        path.append(int(torch.multinomial(allowed[path[-1]].float(), 1, generator=generator)))
    boosted = scores.clone()
    boosted[:, torch.arange(len(path)), torch.tensor(path)] += 40.0
    decoded = bio_viterbi(boosted.log_softmax(-1), mask, allowed, start)
    assert rows(decoded, mask, labels) == [[labels[i] for i in path][: int(m.sum())] for m in mask]


@settings(max_examples=40, deadline=None)
@given(bio_problems(), st.integers(0, 2**16))
def test_constrained_crf_and_token_head_decode_only_valid_sequences(problem: Any, seed: int) -> None:
    labels, scores, mask = problem
    torch.manual_seed(seed)
    crf = CRFHead(4, len(labels), labels=labels, outside_id=labels.index("O"))
    with torch.no_grad():
        crf.transitions.normal_(std=5.0)
        crf.start_transitions.normal_(std=5.0)
    token = TokenClassificationHead(4, len(labels), labels=labels, decoder="bio_viterbi", outside_id=labels.index("O"))
    word_index = torch.arange(1, scores.shape[1] + 1).expand(2, -1).clone()
    word_index[0, -1] = -1  # a word lost to truncation decodes to O
    batch = SimpleNamespace(word_index=word_index, word_mask=mask)
    for head in (crf, token):
        pred = head.decode(scores, batch)
        assert (pred[~mask] == IGNORE_INDEX).all() and labels[int(pred[0, -1])] == "O"
        assert all(is_valid_bio(row) for row in rows(pred, mask, labels))


def test_token_head_decoder_choice_and_checkpoint_keys() -> None:
    labels = ["O", "B-A", "I-A"]
    plain = TokenClassificationHead(8, 3)
    with_labels = TokenClassificationHead(8, 3, labels=labels, decoder="bio_viterbi")
    assert plain.state_dict().keys() == with_labels.state_dict().keys()  # the BIO mask is not saved
    with pytest.raises(ConfigError, match="head.decoder must be one of argmax, bio_viterbi"):
        with_labels.decoder = "greedy"
    with pytest.raises(ConfigError, match="needs the label names"):
        plain.decoder = "bio_viterbi"
    # O I-A: argmax emits a stray I-A; BIO Viterbi does not
    logits = torch.log(torch.tensor([[[0.9, 0.05, 0.05], [0.4, 0.05, 0.55]]]))
    batch = SimpleNamespace(word_index=torch.tensor([[1, 2]]), word_mask=torch.ones(1, 2, dtype=torch.bool))
    assert plain.decode(logits, batch).tolist() == [[0, 2]]
    assert with_labels.decode(logits, batch).tolist() == [[0, 0]]
    with_labels.decoder = "argmax"
    assert with_labels.decode(logits, batch).tolist() == [[0, 2]]


def test_compact_moves_kept_positions_first_in_order() -> None:
    keep = torch.tensor([[False, True, False, True], [True, True, True, True], [False, False, False, False]])
    order, mask = compact(keep)
    assert order[0, :2].tolist() == [1, 3] and order[1].tolist() == [0, 1, 2, 3]
    assert mask.sum(1).tolist() == [2, 4, 0] and mask[0].tolist() == [True, True, False, False]


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_subword_pooling_equals_a_per_word_loop(tokenizer: Any, mode: str) -> None:
    words = [["barrymore", "films", "unbelievably", "x"], ["show", "me"], ["a"] * 3 + ["supercalifragilistic"] * 3]
    enc = encode_words(words, tokenizer, max_length=12, subword=mode)
    features = [
        {"input_ids": i, "word_index": w, "subword_word": s, "tag_ids": [0] * len(w), "label_id": -100, "example_id": n}
        for n, (i, w, s) in enumerate(zip(enc["input_ids"], enc["word_index"], enc["subword_word"], strict=True))
    ]
    batch = WordCollator(0, pad_to_multiple_of=8, pooling=mode)(features)
    assert batch.subword_word is not None and batch.subword_word.shape == batch.input_ids.shape
    assert (batch.word_index < 0).any()  # the last sentence is truncated: its lost words pool to zeros
    torch.manual_seed(0)
    hidden = torch.randn(*batch.input_ids.shape, 5, requires_grad=True)
    pooled = pool_subwords(hidden, batch.subword_word, batch.word_index.shape[1], mode)
    for b in range(len(words)):
        for w in range(batch.word_index.shape[1]):
            positions = (batch.subword_word[b] == w).nonzero().flatten()
            if len(positions) == 0:
                expected = torch.zeros(5)
            else:
                states = hidden[b, positions]
                expected = states.mean(0) if mode == "mean" else states.max(0).values
            assert torch.allclose(pooled[b, w], expected, atol=1e-6), (b, w)
    pooled.sum().backward()
    assert hidden.grad is not None and hidden.grad[batch.subword_word >= 0].abs().sum() > 0
    assert not hidden.grad[batch.subword_word < 0].any()  # special tokens and padding feed no word


def entities_in(tags: list[list[str]]) -> int:
    return len(get_entities(tags))


def test_label_all_subwords_trains_on_subwords_and_scores_every_word_once(tokenizer: Any) -> None:
    """transformers#14043's bug class: with every subword labelled, metrics must still count words, so the
    entity counts (gold and predicted) equal those of the plain setting and of the data itself."""
    data = Path(str(resources.files("relx") / "resources" / "samples" / "mit_movie"))
    plain = bio_ner_data(data, tokenizer, MIT_FILES, settings=DataSettings(max_length=16))
    every = bio_ner_data(data, tokenizer, MIT_FILES, settings=DataSettings(max_length=16, label_all_subwords=True))
    vocab = every.vocabs["token"]
    assert vocab.labels == plain.vocabs["token"].labels

    # training targets: one per kept subword, the word's tag first, its continuation (I-X for B-X) after
    train = next(iter(every.loader("train", shuffle=False)))
    words_train = next(iter(plain.loader("train", shuffle=False)))
    assert train.word_mask.sum() > (words_train.word_index >= 0).sum()
    train_features = every.features["train"]
    for row in train_features.select(range(40)):
        units = [vocab.label(i) for i in row["unit_tag_ids"]]
        assert is_valid_bio(units) and len(units) == sum(1 for w in row["input_ids"][1:-1])
        word_tags = [vocab.label(i) for i, pos in zip(row["tag_ids"], row["word_index"], strict=True) if pos >= 0]
        assert [units[row["unit_index"].index(pos)] for pos in row["word_index"] if pos >= 0] == word_tags
        assert entities_in([units]) == entities_in([word_tags])

    # evaluation: one entry per word, the same entities counted, gold and predicted
    head = TokenClassificationHead(7, vocab.num_labels, labels=vocab.labels, decoder="bio_viterbi")
    counts = []
    for dm in (plain, every):
        torch.manual_seed(0)  # the same scores for the same (identical) test batches
        metric = SeqevalScores(vocab)
        for batch in dm.loader("test"):
            hidden = torch.randn(*batch.input_ids.shape, 7)
            pred = head.decode(head(Encoded(hidden), batch), batch)
            assert ((pred != IGNORE_INDEX) == batch.word_mask).all()
            metric.update({"token": pred}, batch)
        gold, predicted = metric.sequences()
        counts.append((sum(map(len, gold)), entities_in(gold), entities_in(predicted)))
    examples = [list(ex.tags) for ex in plain.examples["test"]]
    assert counts[0][:2] == (sum(map(len, examples)), entities_in(examples))
    assert counts[0] == counts[1]


def test_label_all_subwords_needs_a_single_subword_state() -> None:
    with pytest.raises(ValueError, match="data.label_all_subwords"):
        DataSettings(subword="mean", label_all_subwords=True)
    assert DataSettings(subword="max").subword == "max"
