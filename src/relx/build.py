"""The one place where a (plain-dict) configuration becomes objects.

Entry points compose the config with Hydra and hand ``build_*`` a resolved dict; nothing below
imports Hydra's composition machinery, only ``hydra.utils`` to locate ``_target_`` classes. A config
may come from a shared checkpoint, so ``_target_`` names only ever resolve inside ``relx.*``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, cast

import lightning as L
from hydra.utils import get_class
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from torchmetrics import Metric, MetricCollection
from transformers import PreTrainedTokenizerBase

from relx import __version__
from relx.checkpointing import AtomicCheckpointIO
from relx.data.base import TaskDataModule
from relx.data.settings import DataSettings
from relx.data.vocab import LabelVocab
from relx.encoders import EncoderSettings, load_encoder, load_tokenizer
from relx.errors import ConfigError
from relx.heads.base import Head
from relx.logs import ResumableCSVLogger, TrimLogsOnResume
from relx.metrics import SentenceFrameAccuracy
from relx.modules.task import OptimSettings, TaskModule

ENCODER_KEYS = (
    "name", "pretrained", "config_overrides", "tokenizer_kwargs", "freeze", "gradient_checkpointing", "attention",
    "max_window",
)  # fmt: skip


def relx_class(target: Any) -> type:
    """The class a ``_target_`` names, which must live in ``relx.*``: a config (possibly stored in a
    checkpoint someone sent) never makes relx import and construct arbitrary classes."""
    if not isinstance(target, str) or not target.startswith("relx.") or not target.replace(".", "").isidentifier():
        raise ConfigError(f"_target_ {target!r} is not a relx class (only relx.* classes are built from configs)")
    try:
        cls = get_class(target)
    except Exception as err:  # Hydra wraps import errors in its own types
        raise ConfigError(f"_target_ {target!r} cannot be imported: {str(err).splitlines()[0]}") from None
    if not str(getattr(cls, "__module__", "")).startswith("relx."):  # e.g. relx.build.L.Trainer
        raise ConfigError(f"_target_ {target!r} is not a relx class (only relx.* classes are built from configs)")
    return cast(type, cls)


def sample_dir(name: str) -> Path:
    """Directory of a bundled sample dataset (shipped inside the package)."""
    path = Path(str(resources.files("relx") / "resources" / "samples" / name))
    if not path.is_dir():
        raise ConfigError(f"no bundled sample named {name!r} (looked in {path})")
    return path


def check_head_fits_task(cfg: Any) -> None:
    """Fail early, with both choices named, when a head's labels are not provided by the task."""
    kind, task = cfg["head"]["kind"], cfg["task"]
    if kind not in task["monitor"]:
        raise ConfigError(
            f"head={kind} does not fit task={task['name']}: its labels suit "
            f"{', '.join('head=' + k for k in task['monitor'])}"
        )


def encoder_settings(cfg: dict[str, Any], pretrained: bool | None = None) -> EncoderSettings:
    enc = {k: cfg["encoder"][k] for k in ENCODER_KEYS if k in cfg["encoder"]}
    if pretrained is not None:
        enc["pretrained"] = pretrained
    head_specs = list(cfg.get("head", {}).get("heads", {}).values())
    enc["keep_pooler"] = any(spec.get("use_pooler", False) for spec in head_specs)
    reads_attention = any(
        getattr(relx_class(spec["_target_"]), "needs_attention", False) and spec.get("features", "emb+att") != "emb"
        for spec in head_specs
    )
    if reads_attention and enc.get("attention", "sdpa") == "sdpa":
        enc["attention"] = "capture"  # the head reads attention weights
    return EncoderSettings(**enc)


def build_tokenizer(cfg: dict[str, Any]) -> PreTrainedTokenizerBase:
    return load_tokenizer(encoder_settings(cfg))


def build_datamodule(
    cfg: dict[str, Any],
    tokenizer: PreTrainedTokenizerBase,
    vocabs: dict[str, LabelVocab] | None = None,
    data_dir: str | Path | None = None,
    read_data: bool = True,
) -> TaskDataModule[Any]:
    """The task's DataModule over ``data_dir`` (default: ``cfg['data_dir']``, else the bundled sample);
    ``read_data=False`` reads no files (raw-text prediction with ``vocabs`` from a checkpoint)."""
    task = cfg["task"]
    spec = dict(task["datamodule"])
    cls = relx_class(spec.pop("_target_"))
    given = data_dir or cfg.get("data_dir")
    # Absolute, so that a checkpoint's stored config still finds the data from another directory.
    directory = (Path(given).expanduser().resolve() if given else sample_dir(task["sample"])) if read_data else None
    settings = DataSettings(**cfg["data"], seed=cfg["seed"])
    return cls(data_dir=directory, tokenizer=tokenizer, settings=settings, vocabs=vocabs, **spec)


def build_heads(
    cfg: dict[str, Any], hidden_size: int, vocabs: dict[str, LabelVocab], attention_size: int = 0
) -> dict[str, Head]:
    """Heads from ``head.heads``; heads that read attention also get ``attention_size`` (layers x heads),
    heads that need the label names (``needs_labels``: the BIO grammar of tag decoders) get ``labels``."""
    heads: dict[str, Head] = {}
    for name, spec in cfg["head"]["heads"].items():
        spec = dict(spec)
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


DEFAULT_METRICS = {"token": "relx.metrics.SeqevalScores", "sentence": "relx.metrics.LabelAccuracy"}


def build_metrics(cfg: dict[str, Any], heads: dict[str, Head], vocabs: dict[str, LabelVocab]) -> MetricCollection:
    """The field's metrics for the label spaces the heads predict: ``task.metrics.<space>`` where the
    task names them (e.g. the SemEval scorer), else entity F1 for tags and accuracy for sentence labels;
    sentence-frame accuracy when a joint model predicts both."""
    task = cfg["task"]
    prefixes, chosen = task.get("metric_prefix", {}), task.get("metrics", {})
    spaces = sorted({head.label_space for head in heads.values()})
    metrics: dict[str, Metric | MetricCollection] = {}
    for space in spaces:
        spec = dict(chosen.get(space) or {"_target_": DEFAULT_METRICS[space]})
        cls = relx_class(spec.pop("_target_"))
        metrics[space] = cls(vocab=vocabs[space], prefix=prefixes.get(space, ""), **spec)
    if {"token", "sentence"} <= set(spaces):
        metrics["frame"] = SentenceFrameAccuracy()
    return MetricCollection(metrics, compute_groups=False)


def build_module(
    cfg: dict[str, Any], vocabs: dict[str, LabelVocab], pretrained: bool | None = None, vocab_size: int | None = None
) -> TaskModule:
    """Encoder + heads + metrics. ``pretrained=False`` skips loading weights (a checkpoint follows);
    ``vocab_size``: the tokenizer's size, when a DataModule added tokens (entity markers)."""
    encoder = load_encoder(encoder_settings(cfg, pretrained), build_tokenizer(cfg))
    if vocab_size is not None and vocab_size != encoder.model.get_input_embeddings().num_embeddings:
        encoder.model.resize_token_embeddings(vocab_size)
    config = encoder.model.config
    heads = build_heads(cfg, encoder.hidden_size, vocabs, config.num_hidden_layers * config.num_attention_heads)
    optim = {k: v for k, v in cfg["optim"].items() if k != "label_smoothing"}  # the heads take it
    run_config = {"config": cfg, "vocabs": {k: v.to_dict() for k, v in vocabs.items()}, "version": __version__}
    return TaskModule(
        encoder=encoder,
        heads=heads,
        metrics=build_metrics(cfg, heads, vocabs),
        optim=OptimSettings(**optim),
        loss_weights=cfg["head"].get("loss_weights"),
        seed=cfg["seed"],
        run_config=run_config,
    )


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
    cfg: dict[str, Any], run_dir: Path, extra_callbacks: list[Any] | None = None, resuming: bool = False
) -> tuple[L.Trainer, ModelCheckpoint]:
    """A Lightning Trainer writing checkpoints and logs into ``run_dir``; ``resuming``: the run continues
    from ``last.ckpt``, so ``logs/metrics.csv`` is continued rather than started afresh."""
    tcfg = cfg["trainer"]
    monitor, mode = cfg["monitor"], cfg.get("mode", "max")
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        auto_insert_metric_name=False,
        enable_version_counter=False,
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
    callbacks += [TrimLogsOnResume(csv_logger), *(extra_callbacks or [])]
    trainer = L.Trainer(
        **{k: tcfg[k] for k in TRAINER_KEYS if k in tcfg and tcfg[k] is not None},
        default_root_dir=str(run_dir),
        callbacks=callbacks,
        logger=[
            csv_logger,
            TensorBoardLogger(str(run_dir), name="tensorboard", version=""),
        ],
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # the length-grouped batch sampler shards itself
    )
    return trainer, checkpoint
