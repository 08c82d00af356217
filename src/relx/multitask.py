"""Multi-task runs: several tasks, each with its own data, head, batch size and loss weight, over one encoder.

A multi-task config has ``tasks: {<name>: <entry>}`` (``relx.composition`` expands each entry from its
``task=`` / ``head=`` choices into full ``task``/``head``/``data`` nodes before the run starts) and
``multitask: {schedule, alpha, epoch}``. ``task_view(cfg, name)`` is the single-task config of one entry:
everything that builds one task's DataModule, heads, metrics and monitor (``relx.build``) is reused through
it unchanged, and ``single_task_checkpoint`` cuts one task's model out of a multi-task checkpoint, so that
``relx.evaluate``, ``relx.predict`` and ``relx.load`` serve each task as if it had been trained alone.

Shared heads: an entry with ``share_head: <other task>`` uses the other task's head modules (one instance,
trained by both tasks' batches). Their label spaces must agree: both tasks have the same heads' label spaces,
and the same label set in each, so one vocabulary (the other task's) indexes both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from transformers import PreTrainedTokenizerBase

from relx.build import (
    build_datamodule,
    build_heads,
    build_metrics,
    check_head_fits_task,
    encoder_settings,
    head_specs,
    monitor_of,
)
from relx.data.mixing import SCHEDULES
from relx.data.vocab import LabelVocab
from relx.encoders import EncoderSettings, load_encoder
from relx.errors import ConfigError
from relx.heads.base import Head
from relx.modules.multitask import MultiTaskModule
from relx.modules.task import OptimSettings
from relx.targets import relx_class
from relx.tasks.mixture import MixtureSettings, MultiTaskDataModule
from relx.version import __version__

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
RUN_ONLY = ("tasks", "multitask")


def is_multitask(cfg: Mapping[str, Any]) -> bool:
    return bool(cfg.get("tasks"))


def task_names(cfg: Mapping[str, Any]) -> list[str]:
    return list(cfg["tasks"])


def task_view(cfg: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The single-task config of task ``name``: the run's encoder, optimiser, trainer and seed with the
    entry's task, head, data and data_dir."""
    if name not in cfg["tasks"]:
        raise ConfigError(f"task_name={name}: the run has the tasks {', '.join(cfg['tasks'])}")
    entry = cfg["tasks"][name]
    if not isinstance(entry.get("task"), Mapping):
        raise ConfigError(f"tasks.{name} is not expanded (relx.composition.expand_tasks composes it)")
    view = {k: v for k, v in cfg.items() if k not in RUN_ONLY}
    view.update(task=entry["task"], head=entry["head"], data=entry["data"], data_dir=entry.get("data_dir"))
    view["monitor"] = None
    return view


def check_tasks(cfg: Mapping[str, Any]) -> None:
    """One clear line for a configuration that cannot run: a bad task name, a head that does not fit its
    task, a shared head whose tasks differ in label spaces, a bad schedule."""
    for name, entry in cfg["tasks"].items():
        if not NAME.match(str(name)):
            raise ConfigError(f"tasks.{name}: a task name is a letter then letters, digits, '_' or '-'")
        try:
            check_head_fits_task(task_view(cfg, name))
        except ConfigError as err:
            raise ConfigError(f"tasks.{name}: {err}") from None
        other = entry.get("share_head")
        if other is not None:
            if other not in cfg["tasks"] or other == name:
                raise ConfigError(f"tasks.{name}.share_head={other}: not another task of this run")
            if cfg["tasks"][other].get("share_head") is not None:
                raise ConfigError(f"tasks.{name}.share_head={other}: {other} itself shares another task's head")
            mine, theirs = _head_spaces(cfg, name), _head_spaces(cfg, other)
            if mine != theirs:
                raise ConfigError(
                    f"tasks.{name}.share_head={other}: the heads predict {mine} labels for {name} but {theirs} "
                    f"for {other}; a head is shared only by tasks of the same label spaces"
                )
    mixture = mixture_settings(cfg)
    if mixture.schedule not in SCHEDULES:
        raise ConfigError(f"multitask.schedule must be one of {', '.join(SCHEDULES)}, not {mixture.schedule!r}")


def _head_spaces(cfg: Mapping[str, Any], name: str) -> list[str]:
    view = task_view(cfg, name)
    return sorted(getattr(relx_class(spec["_target_"]), "label_space", "") for spec in head_specs(view).values())


def mixture_settings(cfg: Mapping[str, Any]) -> MixtureSettings:
    options = {k: v for k, v in (cfg.get("multitask") or {}).items() if k in ("schedule", "alpha", "epoch")}
    return MixtureSettings(**options)


def build_multitask_datamodule(
    cfg: dict[str, Any],
    tokenizer: PreTrainedTokenizerBase,
    vocabs: Mapping[str, dict[str, LabelVocab]] | None = None,
    read_data: bool = True,
) -> MultiTaskDataModule:
    """Each task's DataModule over its own data_dir (read, special tokens added to the one shared tokenizer),
    with a task that shares another's head indexing its labels by the other's vocabulary."""
    datamodules = {}
    for name in task_names(cfg):
        view = task_view(cfg, name)
        given = None if vocabs is None else vocabs[name]
        try:
            datamodules[name] = build_datamodule(view, tokenizer, vocabs=given, read_data=read_data)
        except ConfigError as err:
            raise ConfigError(f"tasks.{name}: {err}") from None
    if vocabs is None:
        for name, entry in cfg["tasks"].items():
            other = entry.get("share_head")
            if other is not None:
                _share_vocabs(name, datamodules[name].task, other, datamodules[other].task)
    return MultiTaskDataModule(datamodules, mixture_settings(cfg), seed=int(cfg["seed"]))


def _share_vocabs(name: str, task: Any, other: str, source: Any) -> None:
    """``task`` indexes its labels by ``source``'s vocabularies (a shared head predicts one label set)."""
    shared = {}
    for space, vocab in task.vocabs.items():
        theirs = source.vocabs.get(space)
        if theirs is None:
            shared[space] = vocab
            continue
        if set(vocab.labels) != set(theirs.labels):
            only = sorted(set(vocab.labels) ^ set(theirs.labels))[:5]
            raise ConfigError(
                f"tasks.{name}.share_head={other}: their {space} labels differ (e.g. {', '.join(only)}); a shared "
                "head predicts one label set"
            )
        shared[space] = LabelVocab(list(theirs.labels))
    task.use_vocabs(shared)


def multitask_encoder_settings(cfg: dict[str, Any], pretrained: bool | None = None) -> EncoderSettings:
    """The encoder every task reads: it keeps its pooler, or captures attention, if any task's head needs it."""
    settings = [encoder_settings(task_view(cfg, name), pretrained) for name in task_names(cfg)]
    merged = settings[0]
    merged.keep_pooler = any(s.keep_pooler for s in settings)
    if any(s.attention == "capture" for s in settings):
        merged.attention = "capture"
        readers = [s for s in settings if s.attention == "capture"]
        merged.attention_layers = "last" if all(s.attention_layers == "last" for s in readers) else "all"
    return merged


def build_multitask_module(
    cfg: dict[str, Any],
    datamodule: MultiTaskDataModule,
    tokenizer: PreTrainedTokenizerBase,
    pretrained: bool | None = None,
) -> MultiTaskModule:
    """One encoder (resized to the shared tokenizer), each task's heads (a sharing task gets the other's
    instances), each task's metrics and main metric."""
    encoder = load_encoder(multitask_encoder_settings(cfg, pretrained), tokenizer)
    if len(tokenizer) != encoder.model.get_input_embeddings().num_embeddings:
        encoder.model.resize_token_embeddings(len(tokenizer))
    config = encoder.model.config
    attention_size = config.num_hidden_layers * config.num_attention_heads
    heads: dict[str, dict[str, Head]] = {}
    names = task_names(cfg)
    for name in sorted(names, key=lambda n: cfg["tasks"][n].get("share_head") is not None):  # owners first
        other = cfg["tasks"][name].get("share_head")
        if other is not None:
            heads[name] = dict(heads[other])
            continue
        view = task_view(cfg, name)
        heads[name] = build_heads(view, encoder.hidden_size, datamodule.datamodules[name].vocabs, attention_size)
        for head in heads[name].values():
            head.bind_encoder(encoder)  # heads reading the encoder's weights (the masked-LM decoder)
    heads = {name: heads[name] for name in names}
    tasks = {name: datamodule.datamodules[name].task for name in names}
    optim = {k: v for k, v in cfg["optim"].items() if k != "label_smoothing"}
    run_config = {
        "config": cfg,
        "vocabs": {name: {k: v.to_dict() for k, v in task.vocabs.items()} for name, task in tasks.items()},
        "task_state": {name: task.state() for name, task in tasks.items()},
        "version": __version__,
    }
    return MultiTaskModule(
        encoder=encoder,
        task_heads=heads,
        task_metrics={name: build_metrics(tasks[name], heads[name]) for name in names},
        main_metrics={name: monitor_of(task_view(cfg, name)).removeprefix("val/") for name in names},
        optim=OptimSettings(**optim),
        loss_weights={name: cfg["tasks"][name]["head"].get("loss_weights") for name in names},
        task_weights={name: float(cfg["tasks"][name].get("weight", 1.0)) for name in names},
        seed=int(cfg["seed"]),
        run_config=run_config,
        calibrations={name: task.calibrate for name, task in tasks.items()},
    )


def single_task_checkpoint(checkpoint: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Task ``name``'s model cut out of a multi-task checkpoint: its single-task config, vocabularies and
    learned state, the encoder's weights and its own heads' (``heads.<name>.<head>`` -> ``heads.<head>``).
    Every single-task tool reads the result as a checkpoint of that task alone."""
    stored = checkpoint["relx"]
    cfg = stored["config"]
    view = task_view(cfg, name)
    keep_pooler = encoder_settings(view, pretrained=False).keep_pooler
    prefix = f"heads.{name}."
    state: dict[str, Any] = {}
    for key, value in checkpoint["state_dict"].items():
        if key.startswith("encoder."):
            if not keep_pooler and ".pooler." in key:
                continue
            state[key] = value
        elif key.startswith(prefix):
            state["heads." + key[len(prefix) :]] = value
    return {
        **{k: v for k, v in checkpoint.items() if k not in ("state_dict", "relx")},
        "state_dict": state,
        "relx": {
            "config": view,
            "vocabs": stored["vocabs"][name],
            "task_state": (stored.get("task_state") or {}).get(name) or {},
            "version": stored.get("version"),
            "from_multitask": {"task_name": name, "tasks": list(cfg["tasks"])},
        },
    }


def is_multitask_checkpoint(checkpoint: Mapping[str, Any]) -> bool:
    return is_multitask(checkpoint.get("relx", {}).get("config", {}))


def checkpoint_of_task(checkpoint: dict[str, Any], task_name: str | None, source: object) -> dict[str, Any]:
    """The single-task checkpoint to use: task ``task_name`` of a multi-task checkpoint (required there; a
    checkpoint of one task is used as it is), the checkpoint itself for a single-task one (which refuses a
    ``task_name``). ``source`` names the checkpoint in errors."""
    if is_multitask_checkpoint(checkpoint):
        names = list(checkpoint["relx"]["config"]["tasks"])
        if not task_name and len(names) > 1:
            raise ConfigError(f"{source} is a multi-task checkpoint: give task_name= one of {', '.join(names)}")
        name = task_name or names[0]
        if name not in names:
            raise ConfigError(f"task_name={name}: {source} has the tasks {', '.join(names)}")
        return single_task_checkpoint(checkpoint, name)
    if task_name:
        raise ConfigError(f"task_name={task_name}: {source} is a single-task checkpoint")
    return checkpoint
