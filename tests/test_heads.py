from __future__ import annotations

from typing import Any

import pytest
import torch

from relx.data.batch import WordCollator
from relx.data.subwords import encode_words
from relx.encoders import EncoderSettings, load_encoder
from relx.heads import CRFHead, SequenceClassificationHead, TokenClassificationHead

TINY = EncoderSettings(
    pretrained=False,
    config_overrides={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
)


def make_batch(tokenizer: Any, max_length: int = 64, subword: str = "first") -> Any:
    words = [["what", "movies", "star", "bruce", "willis"], ["show", "me", "films"]]
    enc = encode_words(words, tokenizer, max_length, subword)
    features = [
        {
            "input_ids": enc["input_ids"][i],
            "word_index": enc["word_index"][i],
            "tag_ids": [0, 0, 0, 1, 2][: len(w)],
            "label_id": i,
            "example_id": i,
            **({"subword_word": enc["subword_word"][i]} if "subword_word" in enc else {}),
        }
        for i, w in enumerate(words)
    ]
    return WordCollator(tokenizer.pad_token_id, pooling=subword)(features)


def test_token_head_shapes_gradients_and_decoding(tokenizer: Any) -> None:
    torch.manual_seed(0)
    encoder = load_encoder(TINY)
    head = TokenClassificationHead(encoder.hidden_size, num_labels=3)
    batch = make_batch(tokenizer)
    logits = head(encoder(batch.input_ids, batch.attention_mask), batch)
    assert logits.shape == (2, 5, 3)
    loss = head.loss(logits, batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert head.classifier.weight.grad is not None and head.classifier.weight.grad.abs().sum() > 0
    emb = encoder.model.embeddings.word_embeddings.weight
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    pred = head.decode(logits, batch)
    assert pred.shape == (2, 5) and (pred[1, 3:] == -100).all() and (pred[0] >= 0).all()


def test_lost_words_decode_to_outside_and_carry_no_loss(tokenizer: Any) -> None:
    batch = make_batch(tokenizer, max_length=4)  # keeps [CLS] + 2 words + [SEP]
    assert batch.word_index[0].tolist() == [1, 2, -1, -1, -1]
    head = TokenClassificationHead(8, num_labels=3, outside_id=0)
    logits = torch.zeros(2, 5, 3)
    logits[..., 2] = 5.0  # argmax would be 2 everywhere
    pred = head.decode(logits, batch)
    assert pred[0].tolist() == [2, 2, 0, 0, 0]
    # gold tag 2 of a lost word is ignored by the loss; only kept words count
    batch.word_labels[0, 4] = 2
    kept = head.loss(logits, batch)
    batch.word_labels[0, 4] = 1
    assert torch.equal(kept, head.loss(logits, batch))


def test_sequence_head_and_unseen_labels(tokenizer: Any) -> None:
    encoder = load_encoder(TINY)
    head = SequenceClassificationHead(encoder.hidden_size, num_labels=2)
    batch = make_batch(tokenizer)
    logits = head(encoder(batch.input_ids, batch.attention_mask), batch)
    assert logits.shape == (2, 2) and head.decode(logits, batch).shape == (2,)
    batch.sentence_labels = torch.tensor([0, 7])  # 7: a dev label unseen in training
    assert torch.isfinite(head.loss(logits, batch))


def test_pretrained_encoder_is_built_in_training_mode() -> None:
    # from_pretrained() returns a model in eval mode; Lightning keeps modes, so dropout would be off.
    encoder = load_encoder(EncoderSettings())
    assert all(m.training for m in encoder.modules())


@pytest.mark.parametrize("subword", ["first", "mean", "max"])
def test_crf_head_trains_the_encoder_and_decodes_tags(tokenizer: Any, subword: str) -> None:
    torch.manual_seed(0)
    encoder = load_encoder(TINY)
    head = CRFHead(encoder.hidden_size, num_labels=3, labels=["O", "B-A", "I-A"])
    batch = make_batch(tokenizer, subword=subword)
    assert batch.pooling == subword and (batch.subword_word is None) == (subword == "first")
    emissions = head(encoder(batch.input_ids, batch.attention_mask), batch)
    assert emissions.shape == (2, 5, 3)
    loss = head.loss(emissions, batch)
    loss.backward()
    assert torch.isfinite(loss) and head.transitions.grad is not None and head.transitions.grad.abs().sum() > 0
    emb = encoder.model.embeddings.word_embeddings.weight
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    pred = head.decode(emissions, batch)
    assert pred.shape == (2, 5) and (pred[1, 3:] == -100).all() and (pred[0] >= 0).all()


def test_crf_lost_words_decode_to_outside(tokenizer: Any) -> None:
    batch = make_batch(tokenizer, max_length=4)  # keeps [CLS] + 2 words + [SEP]
    head = CRFHead(8, num_labels=3, labels=["O", "B-A", "I-A"])
    emissions = torch.zeros(2, 5, 3)
    emissions[..., 2] = 5.0  # I-A everywhere: the constrained CRF may not start with it
    pred = head.decode(emissions, batch)
    assert pred[0].tolist()[2:] == [0, 0, 0] and pred[0, 0] != 2
