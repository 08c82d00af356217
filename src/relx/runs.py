"""Running a configured job end to end (used by the Hydra entry points, tests and notebooks)."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from relx.build import (
    build_datamodule,
    build_module,
    build_tokenizer,
    build_trainer,
    init_encoder_from,
    monitor_of,
    upgrade_task_config,
)
from relx.curves import curve_callbacks
from relx.data.vocab import LabelVocab
from relx.encoders import load_tokenizer
from relx.encoders.files import save_encoder_dir
from relx.errors import ConfigError
from relx.heads.mlm import MaskedLMHead
from relx.heads.switching import check_decoder
from relx.interrupts import SignalGuard
from relx.io import remove_orphan_temp_files, write_json_atomic, write_text_atomic
from relx.last_validation import LastValidation
from relx.loggers import finish_runs
from relx.modules.compiling import compile_encoder, compile_settings
from relx.modules.multitask import MultiTaskModule
from relx.modules.task import SINGLE_TASK, TaskModule
from relx.multitask import (
    build_multitask_datamodule,
    build_multitask_module,
    check_tasks,
    is_multitask,
    multitask_encoder_settings,
)
from relx.plots import write_plots
from relx.progress import EpochTable
from relx.rundir import make_run_dir, resume_checkpoint, start_over, with_absolute_data_dir
from relx.scoring import (
    TaskPredictions,
    best_epoch_summary,
    dev_metrics,
    format_summary,
    predict_loader,
    predict_split,
    score_split,
    score_with_decoders,
)
from relx.stopping import StopOnSignal
from relx.tasks.datamodule import TaskDataModule
from relx.tasks.mixture import MultiTaskDataModule
from relx.tasks.resumable import RestoreLoaderPosition
from relx.tasks.vocabulary import extend_vocabulary, restore_vocabulary
from relx.version import __version__

log = logging.getLogger(__name__)


def _is_first_process() -> bool:
    """Rank 0 of a distributed run (or the only process), from the launchers' environment variables: the
    process that may clean the run directory before training. Read before any process group exists."""
    ranks = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID")
    return all(os.environ.get(name, "0") == "0" for name in ranks)


def train(cfg: dict[str, Any], run_dir: str | Path, extra_callbacks: list[Any] | None = None) -> dict[str, float]:
    """Fit, evaluate the best checkpoint on dev (and test when present), write the run directory.

    ``run_dir`` receives ``config.yaml``-equivalent ``config.json``, ``checkpoints/{best,last}.ckpt``,
    ``metrics.json`` (flat: ``val/<metric>``, ``test/<metric>``), ``data_summary.json`` and the
    prediction files.

    A directory that already holds a run is resumed from its ``checkpoints/last.ckpt`` (when
    ``cfg['resume']``) only if its ``config.json`` matches ``cfg`` (``relx.rundir``); another configuration
    is a ``ConfigError`` raised before anything is written. ``resume=false`` starts over in it.

    SIGTERM or SIGINT during training saves ``last.ckpt`` at the end of the current batch and raises
    ``RunInterrupted`` (a ``SystemExit`` with status 128+signum; ``relx.interrupts``).
    """
    run_dir = make_run_dir(run_dir)
    with SignalGuard(run_dir / "checkpoints" / "last.ckpt") as guard:
        guard.raise_if_signalled()  # a signal while the command line was starting
        cfg = with_absolute_data_dir(cfg)  # stored absolute in config.json and checkpoints
        resume_from = resume_checkpoint(run_dir, cfg)
        if _is_first_process():
            for path in remove_orphan_temp_files(run_dir):
                log.info("removed %s, left by an interrupted write", path)
            if resume_from is None:
                start_over(run_dir)
        try:
            callbacks = [StopOnSignal(guard), RestoreLoaderPosition(), *(extra_callbacks or [])]
            return _fit_and_evaluate(cfg, run_dir, resume_from, callbacks, guard)
        except SIGTERMException:  # Lightning's graceful stop (a SystemExit with status 0)
            raise guard.interrupted(signal.SIGTERM) from None
        finally:
            finish_runs()  # the W&B run this run logged to (a sweep's next job starts its own)


def _build_run(cfg: dict[str, Any]) -> tuple[TaskModule, Any]:
    """Model and data of a run: one task's, or (``tasks``) a multi-task run's over one shared encoder."""
    if is_multitask(cfg):
        check_tasks(cfg)
        tokenizer = load_tokenizer(multitask_encoder_settings(cfg))
        if cfg["encoder"].get("extend_vocab"):
            raise ConfigError("encoder.extend_vocab applies to single-task runs (each task would add its own tokens)")
        mixture = build_multitask_datamodule(cfg, tokenizer)
        mixture.setup("fit")
        return build_multitask_module(cfg, mixture, tokenizer), mixture
    tokenizer = build_tokenizer(cfg)
    datamodule = build_datamodule(cfg, tokenizer)
    extension = extend_vocabulary(datamodule, cfg["encoder"])  # encoder.extend_vocab, before anything is encoded
    datamodule.setup("fit")
    return build_module(cfg, datamodule.task, vocab_size=len(tokenizer), extension=extension), datamodule


def evaluation_decoders(cfg: Mapping[str, Any]) -> list[str]:
    """``evaluation.decoders``, checked before training (a typo must not cost a training run)."""
    decoders = [str(d) for d in ((cfg.get("evaluation") or {}).get("decoders") or [])]
    for decoder in decoders:
        check_decoder(decoder, "evaluation.decoders")
    if decoders and is_multitask(cfg):
        raise ConfigError(
            "evaluation.decoders applies to single-task runs; score a multi-task checkpoint with "
            "python -m relx.evaluate ckpt_path=CKPT task_name=TASK decoder=DECODER"
        )
    return decoders


def _fit_and_evaluate(
    cfg: dict[str, Any], run_dir: Path, resume_from: Path | None, callbacks: list[Any], guard: SignalGuard
) -> dict[str, float]:
    decoders = evaluation_decoders(cfg)
    L.seed_everything(cfg["seed"], workers=True)
    module, datamodule = _build_run(cfg)
    init_from = cfg["encoder"].get("init_from")
    if init_from and resume_from is None:
        copied = init_encoder_from(module, init_from)
        log.info("encoder: %d tensors from %s (encoder.init_from)", copied, init_from)
    log.info("model: %s", describe_model(module))
    speed = compile_settings(cfg["trainer"])
    if compile_encoder(module.encoder, speed):
        log.info("encoder compiled (%s, mode %s); input lengths padded to %s", speed.backend, speed.mode, speed.buckets)
    resuming = resume_from is not None
    # A split scored after fit is predicted in the same pass (score_split), and fit's validations keep their dev
    # predictions for when the best checkpoint is the final state; the rest are predicted on their own.
    predict = bool(cfg.get("write_predictions", True))
    last_validation = LastValidation(keep_predictions=predict)
    callbacks = [
        *callbacks,
        last_validation,
        *curve_callbacks(cfg, run_dir, resuming, default_metrics=[monitor_of(cfg)]),
    ]
    if cfg["trainer"].get("verbosity") != "quiet":
        callbacks.append(EpochTable(table_metrics(cfg, module), cfg.get("mode", "max")))
    trainer, checkpoint = build_trainer(cfg, run_dir, callbacks, resuming=resuming)
    assert checkpoint is not None
    if _is_first_process():
        write_json_atomic(run_dir / "config.json", cfg)
        if isinstance(datamodule, MultiTaskDataModule):
            write_json_atomic(run_dir / "multitask.json", datamodule.plan())

    last = run_dir / "checkpoints" / "last.ckpt"
    if resume_from:
        log.info("resuming from %s", resume_from)
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
    guard.raise_if_signalled()  # a signal just as fit ended: training is complete, stop before evaluating
    if not last.is_file():
        trainer.save_checkpoint(last)
    best = checkpoint.best_model_path or str(last)
    if isinstance(datamodule, MultiTaskDataModule):
        assert isinstance(module, MultiTaskModule)
        return _evaluate_multitask(cfg, run_dir, trainer, module, datamodule, best, last_validation)

    metrics, dev_predictions = dev_metrics(trainer, module, datamodule, best, last_validation, predict)
    predictions: dict[str, TaskPredictions] = {"validation": dev_predictions}
    has_test = datamodule.has_split("test")
    scored_test = has_test and datamodule.is_labelled("test")
    if scored_test:
        test_metrics, predictions["test"] = score_split(trainer, module, datamodule, "test", best, predict)
        metrics.update(test_metrics)
    scored = ["validation", "test"] if scored_test else ["validation"]
    metrics.update(score_with_decoders(decoders, trainer, module, datamodule, scored, best))
    summary = datamodule.data_summary()
    summary["best_checkpoint"] = best
    summary.update(best_epoch_summary(best))
    if trainer.is_global_zero:
        if predict:
            for split in ("validation", "test") if has_test else ("validation",):
                written = predictions.get(split, {}).get(SINGLE_TASK) or predict_split(
                    module, datamodule, split, cfg["trainer"]["accelerator"]
                )
                datamodule.write_outputs(run_dir, split, written)
                write_plots(datamodule.task, run_dir, split, datamodule.examples[split], written)
        if cfg.get("save_encoder"):  # the best checkpoint's encoder (evaluation loaded it) and the run's tokenizer
            lm_head = next((h.pretrained_weights() for h in module.heads.values() if isinstance(h, MaskedLMHead)), None)
            encoder_dir = save_encoder_dir(module.encoder, datamodule.tokenizer, run_dir / "encoder", lm_head)
            summary["encoder_dir"] = str(encoder_dir)
        note = "" if scored_test else "  (no labelled test split in the data: dev metrics only)"
        _write_results(cfg, run_dir, metrics, summary, note)
    return metrics


def _evaluate_multitask(
    cfg: dict[str, Any],
    run_dir: Path,
    trainer: L.Trainer,
    module: MultiTaskModule,
    mixture: MultiTaskDataModule,
    best: str,
    last_validation: LastValidation,
) -> dict[str, float]:
    """Every task's dev (and labelled test) metrics with the best checkpoint, ``val/<task>/<metric>``, and
    each task's official output files in ``run_dir/<task>/``."""
    predict = bool(cfg.get("write_predictions", True))
    metrics, dev_predictions = dev_metrics(trainer, module, mixture, best, last_validation, predict)
    predictions: dict[str, TaskPredictions] = {"validation": dev_predictions}
    tested = mixture.labelled("test")
    if tested:
        module.scored_tasks = tested
        test_metrics, predictions["test"] = score_split(trainer, module, mixture, "test", best, predict)
        metrics.update(test_metrics)
        module.scored_tasks = list(module.tasks)
    summary: dict[str, Any] = {"tasks": mixture.data_summary(), "best_checkpoint": best, **best_epoch_summary(best)}
    if trainer.is_global_zero:
        if predict:
            for name, datamodule in mixture.datamodules.items():
                for split in ("validation", "test") if datamodule.has_split("test") else ("validation",):
                    written = predictions.get(split, {}).get(name)
                    if written is None:  # not from a scoring pass: unlabelled, or that pass could not give them
                        loader = mixture.loader(split, [name], shard=False)
                        examples, accelerator = len(datamodule.examples[split]), cfg["trainer"]["accelerator"]
                        written = predict_loader(module, loader, datamodule.vocabs, examples, accelerator)
                    datamodule.write_outputs(run_dir / name, split, written)
                    write_plots(datamodule.task, run_dir / name, split, datamodule.examples[split], written)
        untested = [name for name in mixture.datamodules if name not in tested]
        note = f"  (no labelled test split for {', '.join(untested)}: dev metrics only)" if untested else ""
        _write_results(cfg, run_dir, metrics, summary, note)
    return metrics


def _write_results(
    cfg: Mapping[str, Any], run_dir: Path, metrics: dict[str, float], summary: dict[str, Any], note: str
) -> None:
    write_json_atomic(run_dir / "metrics.json", metrics)
    write_json_atomic(run_dir / "data_summary.json", summary)
    table = format_summary(metrics)
    write_text_atomic(run_dir / "summary.txt", table + "\n")
    print(f"\nrun directory: {run_dir}{note}\n{table}\n{smoke_run_note(cfg, summary)}", flush=True)


def table_metrics(cfg: dict[str, Any], module: TaskModule) -> list[str]:
    """The columns of the per-validation table: the checkpoint-selecting metric first, then each task's main
    metric (a multi-task run) or the dev loss."""
    monitor = monitor_of(cfg)
    if isinstance(module, MultiTaskModule):
        mains = [f"val/{task}/{metric}" for task, metric in module.main_metrics.items()]
        return [monitor, *[m for m in mains if m != monitor]]
    return [monitor, "val/loss"] if monitor != "val/loss" else [monitor]


def describe_model(module: TaskModule) -> str:
    """``encoder 22.7 M + heads 0.1 M parameters (22.8 M trainable)``."""

    def millions(params: Any) -> str:
        return f"{sum(p.numel() for p in params) / 1e6:.1f} M"

    trainable = (p for p in module.parameters() if p.requires_grad)
    return (
        f"encoder {millions(module.encoder.parameters())} + heads {millions(module.heads.parameters())} "
        f"parameters ({millions(trainable)} trainable)"
    )


def smoke_run_note(cfg: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    """For a run on a bundled sample (no ``data_dir``): say that its figures are a smoke test, not a result,
    and how to run on the full data; else nothing."""
    if is_multitask(cfg):
        on_samples = [
            f"{name} ({entry['task']['name']})" for name, entry in cfg["tasks"].items() if not entry.get("data_dir")
        ]
        if not on_samples:
            return ""
        return (
            f"Tasks {', '.join(on_samples)} ran on bundled samples: their figures only show that everything runs.\n"
            "On the full data: tasks.<name>.data_dir=DIR for each (README: Multi-task runs)\n"
        )
    if cfg.get("data_dir"):
        return ""
    sizes = ", ".join(f"{summary[s]['examples']} {s}" for s in ("train", "validation", "test") if s in summary)
    name = cfg["task"]["name"]
    sample = cfg["task"].get("sample") or name  # a task reading another's data (mlm.source) uses that one's
    return (
        f"This was a smoke run on the bundled {sample} sample ({sizes} examples): its figures only show that "
        f"everything runs.\nOn the full data: python -m relx.train task={name} data_dir=DIR "
        "(trainer=gpu on a GPU; README: Results)\n"
    )


def restore(
    checkpoint: dict[str, Any],
    data_dir: str | Path | None = None,
    read_data: bool = True,
    splits: Sequence[str] | None = None,
    split_files: Mapping[str, str | Path] | None = None,
    eval_batch_size: int | None = None,
    select_split: Callable[[TaskDataModule], Sequence[str]] | None = None,
) -> tuple[dict[str, Any], TaskModule, TaskDataModule]:
    """Rebuild config, module (with the checkpoint's weights) and DataModule from a checkpoint alone.

    ``splits``: read only these of ``data_dir`` (evaluation: the split it scores; ``split_files`` may give
    a split as a file under any name); ``select_split``: called once they are read, names the splits to
    keep (it may refuse with a ``ConfigError`` before anything is encoded). The data is encoded before the
    model is built, so labels the checkpoint never saw are added after its vocabularies (scored as errors,
    never predicted) before the metrics copy them. What the task learned from training (stored
    ``task_state``: DocRED's Ign F1 facts) comes from the checkpoint, not from the data.

    The stored config is data from a file someone may have sent: ``build`` resolves its ``_target_``
    names only inside ``relx.*`` and ``EncoderSettings`` refuses remote-code options; a config this
    relx cannot build is one ``ConfigError`` naming the relx version that wrote the checkpoint.
    """
    stored = checkpoint["relx"]
    written_by = stored.get("version", "0.1.0 or earlier")
    try:
        cfg = dict(stored["config"])
        cfg["task"] = upgrade_task_config(cfg["task"])  # a checkpoint written before Tasks existed
        if eval_batch_size is not None:  # else the run's (the task's)
            cfg["data"] = {**cfg["data"], "eval_batch_size": int(eval_batch_size)}
        vocabs = {k: LabelVocab.from_dict(v) for k, v in stored["vocabs"].items()}
    except ConfigError as err:
        raise ConfigError(f"checkpoint written by relx {written_by}: {err}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ConfigError(
            f"checkpoint written by relx {written_by} has an unreadable run configuration: {err!r}"
        ) from None
    tokenizer = build_tokenizer(cfg)
    try:
        datamodule = build_datamodule(
            cfg,
            tokenizer,
            vocabs=vocabs,
            data_dir=data_dir,
            read_data=read_data,
            splits=splits,
            split_files=split_files,
        )
        extension = restore_vocabulary(tokenizer, stored.get("vocab_extension"))  # encoder.extend_vocab's tokens
        datamodule.task.load_state(stored.get("task_state") or {})
        missing = datamodule.task.check_learned()
        if read_data and missing:
            log.warning("checkpoint written by relx %s: %s", written_by, missing)
        if select_split is not None:
            datamodule.keep_only(*select_split(datamodule))
        datamodule.setup()  # unseen labels of the data join the vocabularies before the metrics copy them
        module = build_module(cfg, datamodule.task, pretrained=False, vocab_size=len(tokenizer), extension=extension)
        module.load_state_dict(checkpoint["state_dict"])
    except (KeyError, TypeError) as err:  # a stored config or weights of another relx version
        raise ConfigError(f"checkpoint written by relx {written_by} does not fit relx {__version__}: {err!r}") from None
    except RuntimeError as err:  # load_state_dict: missing/unexpected keys or shape mismatches
        reason = str(err).splitlines()[0]
        raise ConfigError(
            f"checkpoint written by relx {written_by}: its weights do not fit the model: {reason}"
        ) from None
    module.eval()
    return cfg, module, datamodule
