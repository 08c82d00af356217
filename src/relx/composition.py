"""Expanding a multi-task run's ``tasks`` entries with Hydra's config groups (entry points only).

An entry is as short as MaChAmp's dataset config: ``{task: ud_ewt}``, or with any of ``head`` (a ``head=``
choice; default the task's usual head), ``data_dir`` (default the bundled sample), ``weight`` (its loss
weight, default 1), ``batch_size``, ``data`` (other ``data.*`` options of that task) and ``share_head`` (the
name of another task whose head instance it uses). ``expand_tasks`` composes ``task=<task> head=<head>``
exactly as a single-task run would (so the task's own data defaults and head apply), plus the command line's
``data.*`` overrides, and stores the full ``task``, ``head`` and ``data`` nodes in the entry: the run's
``config.json`` and checkpoints then rebuild every task without Hydra.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from relx.errors import ConfigError

SHORT_KEYS = ("task", "head", "data_dir", "weight", "batch_size", "data", "share_head", "encoder")
TOKENIZER_KEYS = ("name", "tokenizer_kwargs")


def _compose(overrides: list[str]) -> dict[str, Any]:
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    if GlobalHydra.instance().is_initialized():
        cfg = compose(config_name="train", overrides=overrides)
    else:
        with initialize_config_module("relx.conf", version_base="1.3"):
            cfg = compose(config_name="train", overrides=overrides)
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def _choices(group: str) -> list[str]:
    from importlib import resources

    folder = resources.files("relx.conf") / group
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def top_level_keys(text: str) -> list[str]:
    """The keys of a ``{a: {...}, b: {...}}`` override value, in order (duplicates kept: Hydra keeps only the
    last, so a repeated task name would silently drop a task)."""
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return []
    keys: list[str] = []
    depth, token, in_key = 0, "", True
    for char in text[1:-1]:
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        elif depth == 0 and char == ",":
            token, in_key = "", True
        elif depth == 0 and char == ":" and in_key:
            keys.append(token.strip().strip("'\""))
            in_key = False
        elif depth == 0 and in_key:
            token += char
    return keys


def check_no_repeated_names(overrides: Sequence[str]) -> None:
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        if key != "tasks":
            continue
        keys = top_level_keys(value)
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ConfigError(f"tasks: the task name {repeated[0]!r} is given twice; each task needs its own name")


def expand_tasks(cfg: dict[str, Any], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """``cfg`` with every short ``tasks`` entry expanded (entries already expanded are kept); ``tasks: null``
    with a ``multitask`` node takes ``multitask.default_tasks``. ``overrides``: the command line, whose
    ``data.*`` overrides apply to every task and whose ``tasks=`` value is checked for a repeated name. A
    config without ``tasks`` is returned unchanged (a single-task run)."""
    check_no_repeated_names(overrides)
    cfg = expand_source(cfg)
    if "multitask" not in cfg and not cfg.get("tasks"):
        return cfg
    cfg = copy.deepcopy(cfg)
    defaults = (cfg.get("multitask") or {}).pop("default_tasks", None)
    entries = cfg.get("tasks") or defaults
    if not entries or not isinstance(entries, Mapping):
        raise ConfigError("tasks: name at least one task, e.g. tasks='{ud: {task: ud_ewt}, rel: {task: semeval}}'")
    data_overrides = [o for o in overrides if o.lstrip("+").startswith("data.")]
    for per_task in ("data", "data_dir"):  # each task has its own
        cfg.pop(per_task, None)
    cfg["tasks"] = {str(name): _expand_entry(cfg, str(name), entry, data_overrides) for name, entry in entries.items()}
    return cfg


def _expand_entry(cfg: Mapping[str, Any], name: str, entry: Any, data_overrides: list[str]) -> dict[str, Any]:
    if isinstance(entry, str):
        entry = {"task": entry}
    if not isinstance(entry, Mapping) or "task" not in entry:
        raise ConfigError(f"tasks.{name}: give at least the task, e.g. {{task: semeval}}")
    if isinstance(entry["task"], Mapping):
        return dict(entry)  # expanded already (a stored config.json or checkpoint)
    unknown = sorted(set(entry) - set(SHORT_KEYS))
    if unknown:
        raise ConfigError(f"tasks.{name}: unknown key {unknown[0]!r}; an entry takes {', '.join(SHORT_KEYS)}")
    task = str(entry["task"])
    if task not in _choices("task"):
        raise ConfigError(f"tasks.{name}: no task named {task!r}; choose from {', '.join(_choices('task'))}")
    overrides = [f"task={task}"]
    if entry.get("head"):
        head = str(entry["head"])
        if head not in _choices("head"):
            raise ConfigError(f"tasks.{name}: no head named {head!r}; choose from {', '.join(_choices('head'))}")
        overrides.append(f"head={head}")
    if entry.get("encoder"):
        encoder = str(entry["encoder"])
        if encoder not in _choices("encoder"):
            raise ConfigError(f"tasks.{name}: no encoder named {encoder!r}")
        overrides.append(f"encoder={encoder}")
    composed = expand_source(_compose(overrides + data_overrides))
    if entry.get("encoder"):
        _check_same_tokenizer(cfg, name, composed["encoder"])
    data = {**composed["data"], **dict(entry.get("data") or {})}
    if entry.get("batch_size") is not None:
        data["batch_size"] = int(entry["batch_size"])
    unknown_data = sorted(set(data) - set(composed["data"]))
    if unknown_data:
        raise ConfigError(f"tasks.{name}.data: unknown option {unknown_data[0]!r}")
    data_dir = entry.get("data_dir")
    return {
        "task": composed["task"],
        "head": composed["head"],
        "data": data,
        "data_dir": str(Path(str(data_dir)).expanduser().resolve()) if data_dir else None,
        "weight": float(entry.get("weight", 1.0)),
        "share_head": entry.get("share_head"),
    }


def expand_source(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with a ``task.source`` that names another task (``task=mlm mlm.source=ud_ewt``: continued
    pretraining on that task's text) replaced by that task's full node, composed as ``task=<source>`` would
    be, and the task's bundled sample taken from it (the text read without ``data_dir``). Stored so, the run's
    ``config.json`` and checkpoints rebuild the source task without Hydra. Anything else is returned as it is."""
    task = cfg.get("task")
    if not isinstance(task, Mapping) or not isinstance(task.get("source"), str):
        return cfg
    name = task["source"]
    if name not in _choices("task"):
        raise ConfigError(f"mlm.source={name}: no task named {name!r}; choose from {', '.join(_choices('task'))}")
    source = _compose([f"task={name}"])["task"]
    if source.get("_target_") == task.get("_target_"):
        raise ConfigError(f"mlm.source={name}: name the task whose text to read, not a {task.get('name')} task")
    return {**cfg, "task": {**task, "source": source, "sample": source.get("sample")}}


def _check_same_tokenizer(cfg: Mapping[str, Any], name: str, encoder: Mapping[str, Any]) -> None:
    """Every task reads the one shared encoder's tokens: an entry naming an encoder of another tokenizer is
    refused (its inputs would be ids of another vocabulary)."""
    run = cfg["encoder"]
    mine = {k: encoder.get(k) for k in TOKENIZER_KEYS}
    theirs = {k: run.get(k) for k in TOKENIZER_KEYS}
    if mine != theirs:
        raise ConfigError(
            f"tasks.{name}: encoder={encoder.get('alias')} has another tokenizer ({mine['name']}) than the run's "
            f"encoder={run.get('alias')} ({theirs['name']}); every task of a run shares one encoder and tokenizer"
        )
