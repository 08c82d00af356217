"""The one place where a (plain-dict) configuration becomes objects.

Entry points compose the config with Hydra and hand ``build_*`` a resolved dict; nothing below
imports Hydra's composition machinery, only ``hydra.utils`` to locate ``_target_`` classes. A config
may come from a shared checkpoint, so ``_target_`` names only ever resolve inside ``relx.*``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, cast

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from torchmetrics import Metric, MetricCollection
from transformers import PreTrainedTokenizerBase

from relx.checkpointing import AtomicCheckpointIO
from relx.data.settings import DataSettings
from relx.data.vocab import LabelVocab
from relx.encoders import EncoderSettings, load_encoder, load_tokenizer
from relx.encoders.extension import VocabExtension, initialise_rows
from relx.errors import ConfigError
from relx.heads.base import Head
from relx.loggers import LogRunConfig, build_loggers
from relx.logs import ResumableCSVLogger, TrimLogsOnResume
from relx.metrics import SentenceFrameAccuracy
from relx.modules.task import OptimSettings, TaskModule
from relx.progress import PlainProgress
from relx.targets import relx_class
from relx.tasks.base import Task
from relx.tasks.datamodule import SPLITS, TaskDataModule
from relx.version import __version__

ENCODER_KEYS = (
    "name", "pretrained", "config_overrides", "tokenizer_kwargs", "freeze", "gradient_checkpointing", "attention",
    "max_window",
)  # fmt: skip


def sample_dir(name: str) -> Path:
    """Directory of a bundled sample dataset (shipped inside the package)."""
    path = Path(str(resources.files("relx") / "resources" / "samples" / name))
    if not path.is_dir():
        raise ConfigError(f"no bundled sample named {name!r} (looked in {path})")
    return path


# Keys of a ``task`` config node that configure the run around the Task (``sample``: the bundled data used
# without data_dir; ``monitor``; ``curves``: the metrics plotted), or that relx 0.1 stored there (``data``,
# ``trainer``, ``optim``, ``pairwise_head``): not options of the Task itself.
TASK_CONFIG_ONLY = ("_target_", "sample", "data", "trainer", "optim", "monitor", "pairwise_head", "curves")

# DataModule classes that checkpoints written by relx 0.1 name (``task.datamodule._target_``) ->
# the Task class that replaced each; their options carry over unchanged.
LEGACY_DATAMODULES = {
    "relx.data.word_tasks.BioNerDataModule": "relx.tasks.words.BioNerTask",
    "relx.data.word_tasks.IntentSlotDataModule": "relx.tasks.words.IntentSlotTask",
    "relx.data.parsing.DependencyDataModule": "relx.tasks.treebanks.DependencyTask",
    "relx.data.relation_tasks.SemEvalDataModule": "relx.tasks.relations.SemEvalTask",
    "relx.data.relation_tasks.KlueReDataModule": "relx.tasks.relations.KlueReTask",
    "relx.data.document_tasks.DocumentREDataModule": "relx.tasks.documents.DocumentRETask",
    "relx.data.document_tasks.CdrDataModule": "relx.tasks.documents.CdrTask",
    "relx.data.mrc_tasks.SpanQADataModule": "relx.tasks.mrc.SpanQATask",
    "relx.data.mrc_tasks.C3DataModule": "relx.tasks.mrc.C3Task",
    "relx.data.mrc_tasks.ContextSelectionDataModule": "relx.tasks.mrc.ContextSelectionTask",
}


def upgrade_task_config(task: Mapping[str, Any]) -> dict[str, Any]:
    """A ``task`` node in the current layout (``_target_`` naming the Task); a node written before Tasks
    existed (``datamodule: {_target_: <DataModule>, **options}``) is translated with ``LEGACY_DATAMODULES``."""
    task = dict(task)
    legacy = task.pop("datamodule", None)
    if legacy is None:
        return task
    legacy = dict(legacy)
    old = legacy.pop("_target_", None)
    if old not in LEGACY_DATAMODULES:
        raise ConfigError(f"task.datamodule._target_ {old!r} is not a DataModule this relx can read")
    return {**task, **legacy, "_target_": LEGACY_DATAMODULES[old]}


def task_class(task: Mapping[str, Any]) -> type[Task[Any]]:
    """The Task class a ``task`` config node names."""
    cls = relx_class(upgrade_task_config(task).get("_target_"))
    if not issubclass(cls, Task):
        raise ConfigError(f"task._target_ {cls.__name__} is not a relx Task")
    return cls


def build_task(cfg: Mapping[str, Any]) -> Task[Any]:
    """The Task of ``cfg['task']`` (its ``_target_`` with the node's Task options)."""
    node = upgrade_task_config(cfg["task"])
    options = {k: v for k, v in node.items() if k not in TASK_CONFIG_ONLY}
    if isinstance(options.get("source"), Mapping):  # a task reading another's data (task=mlm mlm.source=NAME)
        options["source"] = build_task({"task": options["source"]})
    return task_class(node)(**options)


def head_specs(cfg: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``head.heads`` with each head's ``_target_`` spec. A head with one form per label space (a mapping of
    label space -> spec, e.g. ``head=pairwise_attention``: a parser for ``tree``, a relation classifier for
    ``sentence``) takes the form of the first space the task provides."""
    spaces = task_class(cfg["task"]).label_spaces
    specs: dict[str, dict[str, Any]] = {}
    for name, spec in cfg["head"]["heads"].items():
        if "_target_" not in spec:
            forms = {space: form for space, form in spec.items() if space in spaces}
            if not forms:
                raise ConfigError(
                    f"head={cfg['head']['kind']} does not fit task={cfg['task']['name']}: its forms predict "
                    f"{', '.join(repr(s) for s in spec)} labels, the task provides {', '.join(repr(s) for s in spaces)}"
                )
            spec = forms[next(space for space in spaces if space in forms)]
        specs[name] = dict(spec)
    return specs


def check_head_fits_task(cfg: Any) -> None:
    """Fail early, with both choices named, when a head does not fit the task: it predicts a label space the
    task does not provide (``head.label_space in task.label_spaces``), or reads entity spans the task does not
    mark (``head.reads_entity_spans`` needs ``task.marks_entities``)."""
    task = task_class(cfg["task"])
    spaces = task.label_spaces
    for spec in head_specs(cfg).values():
        head_cls = relx_class(spec["_target_"])
        space = getattr(head_cls, "label_space", None)
        if space not in spaces:
            raise ConfigError(
                f"head={cfg['head']['kind']} does not fit task={cfg['task']['name']}: {head_cls.__name__} predicts "
                f"{space!r} labels, the task provides {', '.join(repr(s) for s in spaces)}"
            )
        if getattr(head_cls, "reads_entity_spans", False) and not task.marks_entities:
            raise ConfigError(
                f"head={cfg['head']['kind']} does not fit task={cfg['task']['name']}: {head_cls.__name__} reads the "
                "two marked entities of a relation example, the task marks none"
            )


def monitor_of(cfg: Mapping[str, Any]) -> str:
    """The validation metric that selects the best checkpoint: ``monitor`` when set, else the head's
    (``head.monitor``), else the task's for the label space(s) the head predicts (``task.monitor``, keyed
    by the spaces joined with ``+``, e.g. ``sentence+token`` for a joint intent + slot model)."""
    if cfg.get("tasks"):  # a multi-task run: the mean of each task's main metric, unless one is named
        return str(cfg.get("monitor") or "val/average")
    chosen = cfg.get("monitor") or cfg["head"].get("monitor")
    if chosen:
        return str(chosen)
    spaces = sorted({getattr(relx_class(spec["_target_"]), "label_space", "") for spec in head_specs(cfg).values()})
    key = "+".join(spaces)
    table = cfg["task"].get("monitor") or {}
    if key not in table:
        raise ConfigError(
            f"task={cfg['task']['name']} names no metric for head={cfg['head']['kind']} ({key} labels) in "
            f"task.monitor; give monitor=val/<metric>"
        )
    return str(table[key])


def encoder_settings(cfg: dict[str, Any], pretrained: bool | None = None) -> EncoderSettings:
    enc = {k: cfg["encoder"][k] for k in ENCODER_KEYS if k in cfg["encoder"]}
    if pretrained is not None:
        enc["pretrained"] = pretrained
    specs = list(head_specs(cfg).values()) if "head" in cfg else []
    enc["keep_pooler"] = any(spec.get("use_pooler", False) for spec in specs)
    readers = [
        relx_class(spec["_target_"])
        for spec in specs
        if getattr(relx_class(spec["_target_"]), "needs_attention", False) and spec.get("features", "emb+att") != "emb"
    ]
    if readers and enc.get("attention", "sdpa") == "sdpa":
        enc["attention"] = "capture"  # the head reads attention weights
        if all(getattr(cls, "attention_layers", "all") == "last" for cls in readers):
            enc["attention_layers"] = "last"  # only those probabilities are recomputed
    return EncoderSettings(**enc)


def build_tokenizer(cfg: dict[str, Any]) -> PreTrainedTokenizerBase:
    return load_tokenizer(encoder_settings(cfg))


def add_special_tokens(tokenizer: PreTrainedTokenizerBase, task: Task[Any]) -> int:
    """Add the task's special tokens (entity markers) to the tokenizer; the one place relx changes a
    tokenizer. Returns how many were new (the encoder's embeddings are resized to ``len(tokenizer)``)."""
    new = [t for t in task.special_tokens() if t not in tokenizer.get_vocab()]
    return tokenizer.add_tokens(new, special_tokens=True) if new else 0


def build_datamodule(
    cfg: dict[str, Any],
    tokenizer: PreTrainedTokenizerBase,
    vocabs: dict[str, LabelVocab] | None = None,
    data_dir: str | Path | None = None,
    read_data: bool = True,
    splits: Sequence[str] | None = None,
    split_files: Mapping[str, str | Path] | None = None,
) -> TaskDataModule[Any]:
    """The task's DataModule over ``data_dir`` (default: ``cfg['data_dir']``, else the bundled sample),
    with its splits read and its special tokens added to ``tokenizer``; ``read_data=False`` reads no files
    (raw-text prediction with ``vocabs`` from a checkpoint); ``splits``: only these (default: all);
    ``split_files``: split -> a file of the task's format under any name, read instead (``Task.use_file``)."""
    task = build_task(cfg)
    for split, path in (split_files or {}).items():
        data_dir = task.use_file(split, Path(path).expanduser().resolve())
    given = data_dir or cfg.get("data_dir")
    # Absolute, so that a checkpoint's stored config still finds the data from another directory.
    sample = cfg["task"].get("sample")
    directory = (Path(given).expanduser().resolve() if given else sample_dir(sample)) if read_data else None
    data = dict(cfg["data"])
    if data.get("pin_memory") is None:
        data["pin_memory"] = str(cfg.get("trainer", {}).get("accelerator", "cpu")) in ("gpu", "cuda")
    settings = DataSettings(**data, seed=cfg["seed"])
    datamodule: TaskDataModule[Any] = TaskDataModule(
        task, directory, tokenizer, settings, vocabs, splits=SPLITS if splits is None else splits
    )
    datamodule.read()
    add_special_tokens(tokenizer, task)
    return datamodule


def build_heads(
    cfg: dict[str, Any], hidden_size: int, vocabs: dict[str, LabelVocab], attention_size: int = 0
) -> dict[str, Head]:
    """Heads from ``head.heads``; heads that read attention also get ``attention_size`` (layers x heads),
    heads that need the label names (``needs_labels``: the BIO grammar of tag decoders) get ``labels``."""
    heads: dict[str, Head] = {}
    for name, spec in head_specs(cfg).items():
        cls = relx_class(spec.pop("_target_"))
        space = cast(type[Head], cls).label_space
        if space not in vocabs:
            raise ConfigError(
                f"head '{cfg['head']['kind']}' ({cls.__name__}) needs '{space}' labels, but task "
                f"'{cfg['task']['name']}' provides only: {', '.join(sorted(vocabs))}"
            )
        spec.setdefault("label_smoothing", cfg["optim"].get("label_smoothing", 0.0))
        if getattr(cls, "needs_attention", False):
            spec["attention_size"] = attention_size
        if getattr(cls, "needs_labels", False):
            spec["labels"] = list(vocabs[space].labels)
        heads[name] = cls(hidden_size=hidden_size, num_labels=vocabs[space].num_labels, **spec)
    return heads


def build_metrics(task: Task[Any], heads: dict[str, Head]) -> MetricCollection:
    """The task's metrics for the label spaces the heads predict (``Task.metric``), and sentence-frame
    accuracy when a joint model predicts both tags and sentence labels."""
    spaces = sorted({head.label_space for head in heads.values()})
    metrics: dict[str, Metric | MetricCollection] = {space: task.metric(space) for space in spaces}
    if {"token", "sentence"} <= set(spaces):
        metrics["frame"] = SentenceFrameAccuracy()
    return MetricCollection(metrics, compute_groups=False)


def build_module(
    cfg: dict[str, Any],
    task: Task[Any],
    pretrained: bool | None = None,
    vocab_size: int | None = None,
    extension: VocabExtension | None = None,
) -> TaskModule:
    """Encoder + heads + the task's metrics, over the task's label vocabularies. ``pretrained=False`` skips
    loading weights (a checkpoint follows); ``vocab_size``: the tokenizer's size, when the task added
    tokens (entity markers) or ``encoder.extend_vocab`` did (``extension``: their rows start as its rule says,
    and the tokens are stored in checkpoints)."""
    vocabs = task.vocabs
    encoder = load_encoder(encoder_settings(cfg, pretrained), build_tokenizer(cfg))
    rows = int(cast(torch.nn.Embedding, encoder.model.get_input_embeddings()).num_embeddings)
    if vocab_size is not None and vocab_size != rows:
        encoder.model.resize_token_embeddings(vocab_size)
        if extension is not None and extension.pieces:
            initialise_rows(encoder.model, extension.pieces, rows)
    config = encoder.model.config
    heads = build_heads(cfg, encoder.hidden_size, vocabs, config.num_hidden_layers * config.num_attention_heads)
    for head in heads.values():
        head.bind_encoder(encoder)  # heads reading the encoder's weights (the masked-LM decoder)
    optim = {k: v for k, v in cfg["optim"].items() if k != "label_smoothing"}  # the heads take it
    run_config = {
        "config": cfg,
        "vocabs": {k: v.to_dict() for k, v in vocabs.items()},
        "task_state": task.state(),  # what the task learned from training (DocRED's Ign F1 facts)
        "version": __version__,
    }
    if extension is not None:  # the tokens encoder.extend_vocab added: restore adds them again
        run_config["vocab_extension"] = {"tokens": list(extension.tokens)}
    return TaskModule(
        encoder=encoder,
        heads=heads,
        metrics=build_metrics(task, heads),
        optim=OptimSettings(**optim),
        loss_weights=cfg["head"].get("loss_weights"),
        seed=cfg["seed"],
        run_config=run_config,
        calibration=task.calibrate,
    )


def init_encoder_from(module: TaskModule, path: str | Path) -> int:
    """Sequential (intermediate-task) transfer: ``module``'s encoder takes the fine-tuned encoder weights of
    the relx checkpoint at ``path`` (single- or multi-task; its heads are not used, so label spaces may
    differ). Word embeddings of a tokenizer with other added tokens (entity markers) take the rows both
    have; the rest keep their initialisation. Returns how many tensors were copied."""
    from relx.checkpointing import load_relx_checkpoint

    checkpoint = load_relx_checkpoint(path)
    source = {k.removeprefix("encoder."): v for k, v in checkpoint["state_dict"].items() if k.startswith("encoder.")}
    target = module.encoder.state_dict()
    loaded = {}
    for key, value in target.items():
        if key not in source:
            continue
        weights = source[key]
        if weights.shape != value.shape:
            if weights.ndim != value.ndim or weights.shape[1:] != value.shape[1:]:
                raise ConfigError(
                    f"encoder.init_from={path}: its {key} is {tuple(weights.shape)}, this encoder's "
                    f"{tuple(value.shape)}: another encoder architecture"
                )
            rows = min(weights.shape[0], value.shape[0])  # embeddings of another number of added tokens
            weights = torch.cat([weights[:rows], value[rows:]]) if rows < value.shape[0] else weights[:rows]
        loaded[key] = weights
    missing = [k for k in target if k not in loaded and ".pooler." not in f".{k}"]
    if missing:
        raise ConfigError(f"encoder.init_from={path}: it has no {missing[0]}: another encoder architecture")
    module.encoder.load_state_dict(loaded, strict=False)
    return len(loaded)


TRAINER_KEYS = (
    "accelerator",
    "devices",
    "num_nodes",
    "strategy",
    "precision",
    "max_epochs",
    "max_steps",
    "max_time",
    "gradient_clip_val",
    "accumulate_grad_batches",
    "val_check_interval",
    "log_every_n_steps",
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "enable_progress_bar",
    "deterministic",
    "check_val_every_n_epoch",
    "num_sanity_val_steps",
)


def build_trainer(
    cfg: Mapping[str, Any],
    run_dir: Path | None = None,
    extra_callbacks: list[Any] | None = None,
    resuming: bool = False,
) -> tuple[L.Trainer, ModelCheckpoint | None]:
    """The one Trainer factory. With ``run_dir``: the training Trainer of ``cfg['trainer']``, writing
    checkpoints (best by ``cfg['monitor']``, and ``last``) and logs into ``run_dir`` (``logs/metrics.csv``, and
    the loggers of ``cfg['logger']``: ``relx.loggers``); ``resuming``: the run
    continues from ``last.ckpt``, so ``logs/metrics.csv`` is continued rather than started afresh. Without:
    a single-process evaluation / prediction Trainer (``cfg['trainer']`` gives accelerator and precision),
    which writes nothing."""
    tcfg = cfg["trainer"]
    if run_dir is None:
        trainer = L.Trainer(
            accelerator=tcfg.get("accelerator", "auto"),
            devices=1,
            precision=tcfg.get("precision", "32-true"),
            logger=False,
            enable_progress_bar=tcfg.get("enable_progress_bar", True),
            enable_checkpointing=False,
            use_distributed_sampler=False,  # the batch sampler yields every example, unsharded
        )
        return trainer, None
    monitor, mode = monitor_of(cfg), cfg.get("mode", "max")
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        auto_insert_metric_name=False,
        enable_version_counter=False,
        # Written right after the validation that scored it. Lightning's default defers it to the epoch's end
        # whenever `val_check_interval == 1.0`, which an integer 1 (validate every step) also equals: then the
        # best of a mid-epoch validation was never saved, and the epoch table's `*` named a missing checkpoint.
        save_on_train_epoch_end=False,
    )
    # last.ckpt is rewritten at the end of every training epoch (after its validation), the point
    # from which Lightning resumes cleanly into the next epoch.
    last = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="last",
        save_top_k=1,
        monitor=None,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    callbacks: list[Any] = [checkpoint, last, LearningRateMonitor(logging_interval="step")]
    if tcfg.get("early_stopping_patience"):
        callbacks.append(
            EarlyStopping(
                monitor=monitor,
                mode=mode,
                patience=tcfg["early_stopping_patience"],
                strict=False,
                check_on_train_epoch_end=False,
            )
        )
    csv_logger = ResumableCSVLogger(str(run_dir), name="logs", version="", resuming=resuming)
    callbacks += [TrimLogsOnResume(csv_logger), LogRunConfig(cfg, run_dir), *(extra_callbacks or [])]
    options = {k: tcfg[k] for k in TRAINER_KEYS if k in tcfg and tcfg[k] is not None}
    if cfg.get("tasks") and options.get("strategy") == "ddp":
        # a multi-task step trains one task's heads: the other heads get no gradient in that step
        options["strategy"] = "ddp_find_unused_parameters_true"
    if tcfg.get("verbosity") == "quiet":
        options["enable_progress_bar"] = False
    elif options.get("enable_progress_bar", True) and not sys.stdout.isatty():
        # no terminal (nohup, CI, a pipe): plain lines, since a bar shows nothing until the end
        options["enable_progress_bar"] = False
        callbacks.append(PlainProgress(int(tcfg.get("progress_every_n_steps") or 50)))
    trainer = L.Trainer(
        **options,
        enable_model_summary=False,  # relx.runs logs one line instead of a table with "FLOPs: 0"
        default_root_dir=str(run_dir),
        callbacks=callbacks,
        logger=[csv_logger, *build_loggers(cfg, run_dir, resuming)],  # the CSV log always: curves and reports read it
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # the length-grouped batch sampler shards itself
    )
    return trainer, checkpoint
