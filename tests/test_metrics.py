from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from relx.data.vocab import LabelVocab
from relx.metrics import LabelAccuracy, SentenceFrameAccuracy, SeqevalScores

VOCAB = LabelVocab(["O", "B-PER", "I-PER", "B-LOC", "B-ORG", "I-ORG"])
P = -100  # padding


def ids(*rows: list[str]) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([[VOCAB.index(t) for t in r] + [P] * (width - len(r)) for r in rows])


GOLD = ids(["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"])
PRED = ids(["B-PER", "I-PER", "O", "B-PER"], ["I-ORG", "O"])


def batch(gold: torch.Tensor, sentence: torch.Tensor | None = None) -> SimpleNamespace:
    return SimpleNamespace(word_labels=gold, word_mask=gold != P, sentence_labels=sentence)


def test_entity_scores_match_hand_computed_values() -> None:
    metric = SeqevalScores(VOCAB)
    # split over two updates, as over two batches
    metric.update({"token": PRED[:1]}, batch(GOLD[:1]))
    metric.update({"token": PRED[1:]}, batch(GOLD[1:]))
    scores = {k: float(v) for k, v in metric.compute().items()}
    # conlleval reading: predicted PER(0-1), PER(3), ORG(0; the stray I-ORG starts a chunk);
    # gold PER(0-1), LOC(3), ORG(0): 2 of 3 right both ways.
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)
    # strict IOB2: the stray I-ORG is no entity -> P = 1/2, R = 1/3, F1 = 0.4
    assert scores["f1_strict"] == pytest.approx(0.4)
    # token-level micro F1 over the 6 words: 4 right
    assert scores["token_f1"] == pytest.approx(4 / 6)


def test_prefix_and_reset() -> None:
    metric = SeqevalScores(VOCAB, prefix="slot_")
    metric.update({"token": GOLD}, batch(GOLD))
    assert float(metric.compute()["slot_f1"]) == 1.0
    metric.reset()
    assert float(metric.compute()["slot_f1"]) == 0.0


def test_unseen_gold_labels_count_as_missed() -> None:
    vocab = LabelVocab(["O", "B-A"])
    gold_id = vocab.index_for_eval("B-NEW")
    metric = SeqevalScores(vocab)
    metric.update({"token": torch.tensor([[1, 0]])}, batch(torch.tensor([[1, gold_id]])))
    scores = metric.compute()
    assert float(scores["precision"]) == 1.0 and float(scores["recall"]) == 0.5


def test_intent_accuracy_and_sentence_frame_accuracy() -> None:
    gold_intent = torch.tensor([0, 1])
    acc = LabelAccuracy(prefix="intent_")
    frame = SentenceFrameAccuracy()
    # sentence 0: intent right, a slot wrong; sentence 1: intent right, slots right
    preds = {"sentence": torch.tensor([0, 1]), "token": PRED}
    gold_tokens = GOLD.clone()
    gold_tokens[1] = PRED[1]
    b = batch(gold_tokens, gold_intent)
    acc.update(preds, b)
    frame.update(preds, b)
    assert float(acc.compute()["intent_acc"]) == 1.0
    assert float(frame.compute()["frame_acc"]) == 0.5
    frame.update({"sentence": gold_intent, "token": gold_tokens}, b)  # both sentences fully right
    assert float(frame.compute()["frame_acc"]) == pytest.approx(3 / 4)
