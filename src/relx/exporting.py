"""Portable models: a relx checkpoint as a directory that plain ``transformers`` and relx both read.

``export(ckpt_path, output)`` (``python -m relx.export``) writes ``output/``:

* ``encoder/``: the fine-tuned encoder as a Hugging Face model directory (``save_pretrained``: config.json,
  model.safetensors) with its tokenizer, including the tokens the task added (entity markers):
  ``transformers.AutoModel.from_pretrained(output / "encoder")`` loads it, and so does a relx run with
  ``encoder.name=output/encoder``;
* ``heads.safetensors``: every other weight of the model (the task's heads);
* ``relx.json``: what the checkpoint's ``relx`` entry holds (run configuration, label vocabularies, what the
  task learned from training, relx version), its ``encoder.name`` the relative ``encoder`` directory, and
  ``export``: how the files map back onto the module and where the model came from;
* ``README.md``: a model card;
* with ``onnx=True``, also ``model.onnx``: the encoder and the heads' logits as an ONNX graph, decoding left to
  Python (``relx.onnx_export``; described under ``export.onnx`` in ``relx.json``).

Nothing in it is a pickle. ``relx.checkpointing.load_relx_checkpoint`` reads the directory back into the
checkpoint's dict, so ``relx.load(output)``, ``python -m relx.predict ckpt_path=output`` and
``python -m relx.evaluate ckpt_path=output`` take it unchanged. Before the directory is renamed into place,
it is read back and its weights and tokenizer compared with the checkpoint's.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from relx.checkpointing import (
    EXPORT_CONFIG,
    EXPORT_ENCODER,
    EXPORT_FORMAT,
    EXPORT_HEADS,
    encoder_weight_files,
    is_exported_model,
    load_exported_model,
    load_relx_checkpoint,
)
from relx.encoders.files import plain_attention, quiet_progress
from relx.errors import ConfigError
from relx.io import UMASK, write_text_atomic
from relx.multitask import checkpoint_of_task
from relx.onnx_export import ONNX_FILE, check_onnx_export, write_onnx
from relx.version import __version__

log = logging.getLogger(__name__)

# Keys of ``config.encoder`` that describe how the run built its encoder; in the export, the encoder
# directory itself holds the result (its config.json has the overrides; its weights are fine-tuned).
SOURCE_ENCODER_KEYS = ("name", "pretrained", "config_overrides", "init_from")


def export(
    ckpt_path: str | Path,
    output: str | Path,
    task_name: str | None = None,
    overwrite: bool = False,
    onnx: bool = False,
) -> Path:
    """Write the model of ``ckpt_path`` (a ``relx.train`` checkpoint, or an exported directory) into the
    directory ``output`` (see the module docstring); return its absolute path.

    A multi-task checkpoint exports the model of task ``task_name`` (required). ``output`` must be new or
    empty; ``overwrite=True`` replaces an earlier export there (never a directory that is not one). The
    directory is written beside ``output`` under a temporary name and renamed into place when complete.
    ``onnx=True`` adds ``model.onnx`` (heads whose logits are no function of fixed tensors are refused before
    anything is written). Errors are one-line ``ConfigError``s.
    """
    ckpt_path = Path(ckpt_path).expanduser()
    checkpoint = load_relx_checkpoint(ckpt_path)
    checkpoint = checkpoint_of_task(checkpoint, task_name, ckpt_path)
    output = Path(output).expanduser().absolute()
    _check_output(output, ckpt_path, overwrite)

    from relx.runs import restore

    cfg, module, datamodule = restore(checkpoint, read_data=False)
    tokenizer = datamodule.tokenizer
    pooling = str(cfg["data"].get("subword") or "first")
    if onnx:
        check_onnx_export(module.heads, str(cfg["head"].get("kind") or ""), pooling)
    model = module.encoder.model
    prefix = next(name for name, sub in module.named_modules() if sub is model) + "."

    try:
        tmp = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp"))
    except OSError as err:
        raise ConfigError(f"output={output}: cannot write into {output.parent}: {err.strerror or err}") from None
    try:
        os.chmod(tmp, 0o777 & ~UMASK)  # mkdtemp's 0700 would make a shared model directory private
        encoder_dir = tmp / EXPORT_ENCODER
        with quiet_progress():
            model.save_pretrained(encoder_dir)
        tokenizer.save_pretrained(encoder_dir)
        plain_attention(encoder_dir / "config.json")
        state = checkpoint["state_dict"]
        in_encoder = _encoder_keys(encoder_dir, prefix)
        heads = {k: v.detach().contiguous().clone() for k, v in state.items() if k not in in_encoder}
        save_file(heads, tmp / EXPORT_HEADS, metadata={"format": "pt"})
        stored = _stored(checkpoint, ckpt_path, task_name, prefix)
        if onnx:
            kind = str(cfg["head"].get("kind") or "")
            stored["export"]["onnx"] = write_onnx(
                module.encoder, module.heads, tokenizer, tmp / ONNX_FILE, pooling, kind
            )
        write_text_atomic(tmp / EXPORT_CONFIG, json.dumps(stored, indent=2, ensure_ascii=False) + "\n")
        write_text_atomic(tmp / "README.md", model_card(stored, cfg, module, datamodule, ckpt_path, output))
        _check_round_trip(tmp, state, tokenizer)
        for path in tmp.rglob("*"):  # safetensors writes 0600: a model directory is shared like any other file
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~UMASK)
        _move_into_place(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output


def _check_output(output: Path, ckpt_path: Path, overwrite: bool) -> None:
    """Refuse (one line) an ``output`` that is a file, holds the checkpoint, or holds anything but an earlier
    export (that one only with ``overwrite``); create its parent."""
    if output.exists() and not output.is_dir():
        raise ConfigError(f"output={output} is a file; give a directory to write the model into")
    if ckpt_path.resolve().is_relative_to(output.resolve()):
        raise ConfigError(f"output={output} holds the checkpoint {ckpt_path}; give another directory")
    if output.is_dir() and any(output.iterdir()):
        if not is_exported_model(output):
            raise ConfigError(
                f"output={output} is not empty (and holds no earlier export): give a new or empty directory"
            )
        if not overwrite:
            raise ConfigError(f"output={output} already holds an exported model: give overwrite=true to replace it")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"output={output}: cannot create {output.parent}: {err.strerror or err}") from None
    if not os.access(output.parent, os.W_OK | os.X_OK) or (output.is_dir() and not os.access(output, os.W_OK)):
        raise ConfigError(f"output={output}: not writable")


def _encoder_keys(encoder_dir: Path, prefix: str) -> set[str]:
    """The module's state_dict keys of the tensors that ``save_pretrained`` wrote into ``encoder_dir``."""
    from safetensors import safe_open

    keys: set[str] = set()
    for file in encoder_weight_files(encoder_dir):
        with safe_open(file, framework="pt") as fh:
            keys.update(prefix + key for key in fh.keys())  # noqa: SIM118 (a safetensors handle, not a dict)
    return keys


def _stored(checkpoint: dict[str, Any], ckpt_path: Path, task_name: str | None, prefix: str) -> dict[str, Any]:
    """``relx.json``: the checkpoint's ``relx`` entry, its encoder the exported directory, and ``export``."""
    stored = copy.deepcopy(checkpoint["relx"])
    earlier = stored.pop("export", None) or {}  # re-exporting an export: keep where the model came from
    config = stored["config"]
    encoder = dict(config["encoder"])
    source_encoder = earlier.get("source", {}).get("encoder") or {k: encoder.get(k) for k in SOURCE_ENCODER_KEYS}
    encoder.update(name=EXPORT_ENCODER, pretrained=True, config_overrides={}, init_from=None)
    config["encoder"] = encoder
    metrics = earlier.get("metrics") if earlier else run_metrics(ckpt_path, task_name)
    stored["export"] = {
        "format": EXPORT_FORMAT,
        "encoder": EXPORT_ENCODER,
        "encoder_prefix": prefix,
        "heads": EXPORT_HEADS,
        "exported_by": __version__,
        "source": earlier.get("source")
        or {"checkpoint": str(ckpt_path.resolve()), "task_name": task_name, "encoder": source_encoder},
        "metrics": metrics,
    }
    return stored


def run_metrics(ckpt_path: Path, task_name: str | None = None) -> dict[str, Any]:
    """The official metrics of the checkpoint's run (``<run dir>/metrics.json``, ``{}`` when absent), a
    multi-task run's narrowed to task ``task_name`` (``val/<task>/f1`` -> ``val/f1``), with the checkpoint
    that scored them (``best_checkpoint`` of ``data_summary.json``)."""
    run_dir = ckpt_path.parent.parent
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(metrics, dict):
        return {}
    if task_name:
        metrics = {
            f"{key.split('/')[0]}/{key.split('/', 2)[2]}": value
            for key, value in metrics.items()
            if key.count("/") >= 2 and key.split("/")[1] == task_name
        }
    scores = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    try:
        best = json.loads((run_dir / "data_summary.json").read_text(encoding="utf-8")).get("best_checkpoint")
    except (OSError, ValueError, AttributeError):
        best = None
    return {"file": str((run_dir / "metrics.json").resolve()), "scores": scores, "checkpoint": best}


def _check_round_trip(directory: Path, state: Mapping[str, torch.Tensor], tokenizer: Any) -> None:
    """Read the written directory back as relx will, and refuse an export whose weights or tokenizer differ."""
    from transformers import AutoTokenizer

    loaded = load_exported_model(directory)["state_dict"]
    missing, extra = sorted(set(state) - set(loaded)), sorted(set(loaded) - set(state))
    if missing or extra:
        which = f"lacks {missing[0]}" if missing else f"has an extra {extra[0]}"
        raise ConfigError(f"the exported model {which}: this encoder's save_pretrained does not round-trip")
    for key, value in state.items():
        if loaded[key].dtype != value.dtype or not torch.equal(loaded[key], value):
            raise ConfigError(f"the exported model's {key} differs from the checkpoint's")
    reloaded = AutoTokenizer.from_pretrained(directory / EXPORT_ENCODER, local_files_only=True, trust_remote_code=False)
    if reloaded.get_vocab() != tokenizer.get_vocab():
        raise ConfigError("the exported tokenizer's vocabulary differs from the checkpoint's (added tokens?)")


def _move_into_place(tmp: Path, output: Path) -> None:
    """Rename ``tmp`` to ``output``; an existing ``output`` (empty, or an earlier export) is moved aside first
    and deleted once the new directory is in place (put back if the rename fails)."""
    if not output.exists():
        os.replace(tmp, output)
        return
    aside = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.old.", suffix=".tmp"))
    os.replace(output, aside / output.name)
    try:
        os.replace(tmp, output)
    except BaseException:
        os.replace(aside / output.name, output)
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


# ---- the model card ----------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def _encoder_line(source: Mapping[str, Any]) -> str:
    name = source.get("name")
    overrides = source.get("config_overrides") or {}
    changed = f" with config overrides {', '.join(f'{k}={_fmt(v)}' for k, v in overrides.items())}" if overrides else ""
    if source.get("pretrained", True):
        line = f"fine-tuned from the pretrained `{name}`{changed}"
    else:
        line = f"trained from random weights of the `{name}` architecture{changed} (encoder.pretrained=false)"
    if source.get("init_from"):
        line += f", its weights first taken from the relx checkpoint `{source['init_from']}` (encoder.init_from)"
    return line


def _metric_table(scores: Mapping[str, float]) -> list[str]:
    """``| metric | dev | test |`` rows from ``val/<metric>`` and ``test/<metric>`` keys."""
    columns = [("val", "dev"), ("test", "test")]
    names: dict[str, None] = {}
    for key in sorted(scores):
        split, _, metric = key.partition("/")
        if split in ("val", "test") and metric:
            names.setdefault(metric)
    present = [(prefix, title) for prefix, title in columns if any(k.startswith(prefix + "/") for k in scores)]
    rows = [f"| metric | {' | '.join(title for _, title in present)} |", f"|---|{'---|' * len(present)}"]
    for metric in names:
        cells = [f"{scores[f'{p}/{metric}']:.4f}" if f"{p}/{metric}" in scores else "" for p, _ in present]
        rows.append(f"| {metric} | {' | '.join(cells)} |")
    return rows


def _usage_example(family: str | None, output: Path) -> list[str]:
    from relx.inputs import INPUT_FORMATS, examples_dir

    lines = ["```python", "import relx", "", f'model = relx.load("{output}")']
    if family in ("words", "parsing", "relations"):
        example = (examples_dir() / INPUT_FORMATS[family].examples[0]).read_text(encoding="utf-8").splitlines()[0]
        lines.append(f"model.predict([{json.dumps(example, ensure_ascii=False)}])  # one record per text")
    else:
        lines.append('model.predict("input_file")  # a file in the input format below; one record per input')
    lines.append("```")
    if family in INPUT_FORMATS:
        fmt = INPUT_FORMATS[family]
        lines += ["", f"Input ({family}): {fmt.summary}.", f"Output: {fmt.output}."]
    return lines


def _onnx_lines(onnx: Mapping[str, Any] | None, output: Path) -> list[str]:
    """The model card's entry for ``model.onnx`` (nothing without one): its inputs and outputs, and how to run it."""
    if not onnx:
        return []

    def shapes(values: Mapping[str, list[str | int]]) -> str:
        return ", ".join(f"`{name}` [{', '.join(str(d) for d in dims)}]" for name, dims in values.items())

    return [
        f"- `{onnx['file']}`: the encoder and the heads' logits as an ONNX graph (opset {onnx['opset']}, dynamic batch "
        f"and length axes); inputs {shapes(onnx['inputs'])}; outputs {shapes(onnx['outputs'])}. Decoding "
        "(argmax, Viterbi, trees, answer spans) stays in Python; the label names are in relx.json's `vocabs`:",
        "",
        "  ```python",
        "  import onnxruntime",
        "  from transformers import AutoTokenizer",
        "",
        f'  session = onnxruntime.InferenceSession("{output / onnx["file"]}")',
        f'  tokenizer = AutoTokenizer.from_pretrained("{output / EXPORT_ENCODER}")',
        '  inputs = dict(tokenizer(["a text"], return_tensors="np"))  # and the heads\' inputs, if any (above)',
        "  logits = session.run(None, inputs)",
        "  ```",
    ]


def model_card(
    stored: Mapping[str, Any], cfg: Mapping[str, Any], module: Any, datamodule: Any, ckpt_path: Path, output: Path
) -> str:
    """``README.md`` of an exported model: task and head, encoder, data, metrics, labels, files, usage."""
    from relx.inputs import family_of

    export = stored["export"]
    source = export["source"]
    task = cfg["task"]
    name = task["name"]
    heads = ", ".join(f"{key} = `{type(head).__name__}`" for key, head in module.heads.items())
    from_multitask = stored.get("from_multitask") or (
        {"task_name": source["task_name"]} if source.get("task_name") else None
    )
    config = module.encoder.model.config
    added = list(datamodule.task.special_tokens())
    data = (
        f"`{cfg['data_dir']}`"
        if cfg.get("data_dir")
        else f"the bundled `{task.get('sample')}` sample (a smoke run: its figures only show that everything runs)"
    )
    labels = "; ".join(f"{space}: {len(vocab['labels'])}" for space, vocab in stored["vocabs"].items())
    command = f"python -m relx.export ckpt_path={source['checkpoint']} output={output}"
    if source.get("task_name"):
        command += f" task_name={source['task_name']}"
    if export.get("onnx"):
        command += " onnx=true"
    tags = ", ".join(dict.fromkeys(tag for tag in ("relx", name, str(cfg["head"].get("kind") or "")) if tag))
    lines = [
        "---",
        f"tags: [{tags}]",
        "---",
        "",
        f"# relx model: {name} ({cfg['head'].get('kind', 'head')})",
        "",
        f"A model for the relx task `{name}` exported from a relx checkpoint by `python -m relx.export` "
        f"(relx {export['exported_by']}, {datetime.date.today().isoformat()}).",
        "",
        "| | |",
        "|---|---|",
        f"| Task | `{name}` (`{task.get('_target_', '?')}`) |",
    ]
    if from_multitask:
        lines.append(f"| Multi-task run | the `{from_multitask['task_name']}` task's heads over the shared encoder |")
    lines += [
        f"| Head | `{cfg['head'].get('kind', '?')}`: {heads} |",
        f"| Encoder | {_encoder_line(source['encoder'])} |",
        f"| Architecture | {config.model_type}, {config.num_hidden_layers} layers, hidden size {config.hidden_size}, "
        f"{module.encoder.model.get_input_embeddings().num_embeddings} token embeddings |",
        f"| Tokens the task added | {', '.join(f'`{t}`' for t in added) if added else 'none'} |",
        f"| Data | {data} |",
        f"| Label sets | {labels} |",
        f"| Checkpoint | `{source['checkpoint']}` |",
        "",
        "## Metrics",
        "",
    ]
    metrics = export.get("metrics") or {}
    scores = metrics.get("scores") or {}
    if scores:
        lines += [f"The run's official scores on its data (`{metrics.get('file')}`):", ""]
        lines += _metric_table(scores)
        best = metrics.get("checkpoint")
        if best and Path(best).resolve() != Path(source["checkpoint"]).resolve():
            lines += ["", f"These are the scores of `{best}`; this model was exported from `{source['checkpoint']}`."]
    else:
        lines.append("No metrics.json beside the checkpoint's run: score it with `python -m relx.evaluate` (below).")
    lines += [
        "",
        "## Use",
        "",
        *_usage_example(family_of({"relx": stored}), output),
        "",
        "```",
        f"python -m relx.predict ckpt_path={output} input=FILE     # JSON lines, one per input",
        f"python -m relx.evaluate ckpt_path={output} [data_dir=DIR]  # writes {output}/eval/<split>-<time>/",
        "```",
        "",
        "The encoder alone (without the heads), with plain transformers, or to start a new relx run:",
        "",
        "```python",
        "from transformers import AutoModel, AutoTokenizer",
        "",
        f'encoder = AutoModel.from_pretrained("{output / EXPORT_ENCODER}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{output / EXPORT_ENCODER}")',
        "```",
        "",
        "```",
        f"python -m relx.train task=... encoder=minilm encoder.name={output / EXPORT_ENCODER}",
        "```",
        "",
        "## Files",
        "",
        f"- `{EXPORT_ENCODER}/`: the fine-tuned encoder (Hugging Face `save_pretrained`: config.json, "
        "model.safetensors) and its tokenizer, with the tokens the task added.",
        f"- `{EXPORT_HEADS}`: the task's heads, keyed as in the relx module.",
        f"- `{EXPORT_CONFIG}`: the run configuration, label vocabularies, what the task learned from training and "
        "the relx version; `relx.load` rebuilds the model from it.",
        *_onnx_lines(export.get("onnx"), output),
        "",
        "No file here is a pickle: relx reads the weights with safetensors and never runs code from the model.",
        "",
        "## Produced by",
        "",
        "```",
        command,
        "```",
        "",
    ]
    return "\n".join(lines)
