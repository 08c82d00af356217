"""Hugging Face model directories: an encoder written as one (``save_encoder_dir``), and the masked-LM head
weights a pretrained checkpoint ships beside its encoder (``pretrained_lm_head``)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import PreTrainedTokenizerBase

from relx.encoders.attention import CAPTURE
from relx.encoders.hf import Encoder, resolve_model_name
from relx.errors import ConfigError
from relx.io import UMASK, write_text_atomic

# The masked-LM head of BERT-family (``cls.predictions``) and RoBERTa-family (``lm_head``) checkpoints, as
# the names of relx's ``MaskedLMHead`` (dense -> activation -> norm, then the tied decoder and its bias).
LM_HEAD_NAMES = {
    "cls.predictions.transform.dense.weight": "dense.weight",
    "cls.predictions.transform.dense.bias": "dense.bias",
    "cls.predictions.transform.LayerNorm.weight": "norm.weight",
    "cls.predictions.transform.LayerNorm.bias": "norm.bias",
    "cls.predictions.bias": "bias",
    "lm_head.dense.weight": "dense.weight",
    "lm_head.dense.bias": "dense.bias",
    "lm_head.layer_norm.weight": "norm.weight",
    "lm_head.layer_norm.bias": "norm.bias",
    "lm_head.bias": "bias",
}


# Model types whose masked-LM head is RoBERTa's ``lm_head``; the others are named as BERT's ``cls.predictions``.
ROBERTA_FAMILY = frozenset({"roberta", "xlm-roberta", "camembert", "roberta-prelayernorm", "xlm-roberta-xl"})


def _weight_files(name: str) -> list[Path]:
    """The safetensors files of a bundled model, a local directory or a model in the hub cache (never
    downloaded: an encoder loaded from the hub is in the cache already)."""
    path = Path(resolve_model_name(name))
    if path.is_dir():
        return sorted(path.glob("*.safetensors"))
    from transformers.utils import cached_file

    try:
        found = cached_file(
            name, "model.safetensors", local_files_only=True, _raise_exceptions_for_missing_entries=False
        )
    except (OSError, ValueError):
        return []
    return [Path(found)] if found else []


def pretrained_lm_head(name: str) -> dict[str, torch.Tensor]:
    """The masked-LM head weights the checkpoint ``name`` ships (``LM_HEAD_NAMES``, renamed), or ``{}`` when it
    has none (a sentence-embedding model such as the bundled MiniLM ships its encoder only)."""
    found: dict[str, torch.Tensor] = {}
    for file in _weight_files(name):
        with safe_open(str(file), framework="pt") as fh:
            for key in fh.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                if key in LM_HEAD_NAMES:
                    found[LM_HEAD_NAMES[key]] = fh.get_tensor(key)
    return found


def _hf_lm_head_names(model_type: str) -> dict[str, str]:
    """relx's masked-LM head names -> the checkpoint names of the model family (``LM_HEAD_NAMES`` reversed)."""
    family = "lm_head." if model_type in ROBERTA_FAMILY else "cls.predictions."
    return {relx: hf for hf, relx in LM_HEAD_NAMES.items() if hf.startswith(family)}


def _add_lm_head(directory: Path, model_type: str, lm_head: Mapping[str, torch.Tensor]) -> None:
    """Store the masked-LM head beside the encoder weights in ``model.safetensors``, under the family's
    names, so ``AutoModelForMaskedLM.from_pretrained(DIR)`` has the trained head (the decoder is tied to the
    word embeddings) and a later ``task=mlm`` from the directory continues it (``pretrained_lm_head``)."""
    names = _hf_lm_head_names(model_type)
    weights = directory / "model.safetensors"
    if not weights.is_file():  # a sharded save (large models): the head is its own shard in the index
        index_path = directory / "model.safetensors.index.json"
        index = json.loads(index_path.read_text())
        index["weight_map"].update(dict.fromkeys((names[k] for k in lm_head), "lm_head.safetensors"))
        save_file({names[k]: v.detach().cpu().contiguous() for k, v in lm_head.items()},
                  str(directory / "lm_head.safetensors"), metadata={"format": "pt"})  # fmt: skip
        index_path.write_text(json.dumps(index, indent=2))
        return
    state = load_file(str(weights))
    state.update({names[k]: v.detach().cpu().contiguous() for k, v in lm_head.items()})
    save_file(state, str(weights), metadata={"format": "pt"})


def save_encoder_dir(
    encoder: Encoder,
    tokenizer: PreTrainedTokenizerBase,
    directory: str | Path,
    lm_head: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``encoder`` and ``tokenizer`` (with every token a run added) as a Hugging Face model directory
    (``config.json``, ``model.safetensors``, the tokenizer files) that ``AutoModel.from_pretrained`` and a relx
    run with ``encoder.name=DIR`` load; ``lm_head`` (relx names, ``MaskedLMHead.pretrained_weights``) is stored
    with it (``_add_lm_head``). Written beside ``directory`` under a temporary name and renamed into place
    (an earlier directory there is replaced); returns its absolute path."""
    directory = Path(directory).absolute()
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".tmp"))
    try:
        with quiet_progress():
            encoder.model.save_pretrained(tmp, safe_serialization=True)
        if lm_head:
            _add_lm_head(tmp, str(encoder.model.config.model_type), lm_head)
        tokenizer.save_pretrained(tmp)
        plain_attention(tmp / "config.json")
        for path in [tmp, *tmp.rglob("*")]:  # mkdtemp and safetensors write 0600/0700: make it shareable
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~UMASK)
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
        os.replace(tmp, directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ConfigError(f"cannot write the encoder directory {directory}: {err.strerror or err}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


@contextmanager
def quiet_progress() -> Iterator[None]:
    """No "Writing model shards" progress bar from ``save_pretrained`` (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def plain_attention(config_file: Path) -> None:
    """Drop an attention implementation only relx registers (``encoder.attention=capture``) from the saved
    config, so that plain ``transformers`` loads the encoder with its default."""
    config = json.loads(config_file.read_text(encoding="utf-8"))
    keys = [k for k in ("attn_implementation", "_attn_implementation") if config.get(k) == CAPTURE]
    if keys:
        for key in keys:
            del config[key]
        write_text_atomic(config_file, json.dumps(config, indent=2, sort_keys=True) + "\n")
