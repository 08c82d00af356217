"""Library API of evaluation and prediction with a checkpoint alone (``relx.evaluate`` and ``relx.predict``
are thin command-line shims over ``evaluate`` and ``predict``).

A checkpoint stores its run configuration and label vocabularies (``runs.restore`` rebuilds task, model and
data from them), so scoring a split or predicting new input needs nothing else.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relx.errors import ConfigError, DataFormatError

if TYPE_CHECKING:
    from relx.tasks.datamodule import TaskDataModule

log = logging.getLogger(__name__)

SPLIT_ALIASES = {"dev": "validation", "val": "validation", "validation": "validation", "test": "test"}
AUTO = "auto"


def set_decoder(module: Any, decoder: str) -> None:
    """Switch every head of ``module`` that decodes with ``decoder``'s family: tree decoders for parsers
    (mst | eisner | greedy), tag decoders for word taggers (argmax | bio_viterbi)."""
    from relx.heads.decoding import TAG_DECODERS
    from relx.heads.switching import switch_decoder

    if not switch_decoder(module.heads.values(), decoder):
        kind = "word taggers (head=token, joint)" if decoder in TAG_DECODERS else "dependency parsers"
        raise ConfigError(f"decoder={decoder} applies to {kind} only; this checkpoint has none")


def requested_split(value: Any) -> str:
    """``split=`` as a DataModule split name, or ``auto``; checked before anything is loaded."""
    if value is None or str(value) == AUTO:
        return AUTO
    split = SPLIT_ALIASES.get(str(value))
    if split is None:
        raise ConfigError(f"split must be {AUTO} or one of {sorted(SPLIT_ALIASES)}, not {value!r}")
    return split


def choose_splits(datamodule: Any, requested: str, ckpt_path: str | Path) -> tuple[list[str], list[str]]:
    """(splits to score, splits only to predict): ``requested``; for ``auto`` every labelled split found
    (dev, and test when labelled), with an unlabelled test split (DocRED's official test file) predicted only,
    into its official submission file.

    A requested split the data lacks, or one without gold labels, is a one-line ``ConfigError`` saying what to
    run instead: scoring it would compare predictions with nothing.
    """
    if requested == AUTO:
        found = [s for s in ("validation", "test") if datamodule.has_split(s)]
        scored = [s for s in found if datamodule.is_labelled(s)]
        if scored:
            return scored, [s for s in found if s not in scored]
        requested = "validation"  # nothing labelled: the error below names dev
    if not datamodule.has_split(requested):
        where = datamodule.describe_split(requested)
        raise ConfigError(f"split '{requested}' not found in {datamodule.data_dir} (expected {where})")
    if not datamodule.is_labelled(requested):
        where = datamodule.describe_split(requested)
        raise ConfigError(
            f"split '{requested}' ({where}) has no gold labels to score: evaluate split=dev, or write its "
            f"predictions without scores with python -m relx.predict ckpt_path={ckpt_path} input={where}"
        )
    return [requested], []


SHORT_NAMES = {"validation": "dev", "test": "test"}


def evaluate(
    ckpt_path: str | Path,
    data_dir: str | Path | None = None,
    split: str = AUTO,
    output_dir: str | Path | None = None,
    decoder: str | None = None,
    batch_size: int | None = None,
    accelerator: str = "auto",
    precision: str = "32-true",
    input_path: str | Path | None = None,
    task_name: str | None = None,
) -> tuple[Path, dict[str, float]]:
    """Score labelled splits with the checkpoint alone; write metrics, data summary and the task's official
    prediction files into ``output_dir`` (default ``<run dir>/eval/<split>-<timestamp>``); return it and the
    metrics (``val/...``, ``test/...``).

    The split is ``input_path`` (a labelled file of the task's format under any name; scored as ``split``,
    ``test`` for ``auto``), or ``split`` of ``data_dir`` (default: the training run's data): ``auto`` scores
    every labelled split found (dev and test), and an unlabelled test split (DocRED's) gets its official
    prediction file only. Only those splits are read (and train only when dev has to be carved from it).
    Labels the checkpoint never saw are scored as errors. ``batch_size``: default, the run's evaluation
    batch size (the task's: 8 documents for DocRE).

    A multi-task checkpoint scores task ``task_name``, or every task the input applies to (each on its own
    training data when neither ``data_dir`` nor ``input_path`` is given; else the tasks that can read them),
    each into ``output_dir/<task>/``; metrics are keyed ``test/<task>/<metric>``.
    """
    requested = requested_split(split)
    if input_path is not None and not Path(input_path).exists():
        raise ConfigError(f"input={input_path}: no such file")

    from relx.checkpointing import load_relx_checkpoint, run_dir_of
    from relx.io import write_json_atomic
    from relx.multitask import is_multitask_checkpoint, single_task_checkpoint

    ckpt_path = Path(ckpt_path)
    checkpoint = load_relx_checkpoint(ckpt_path)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")

    def score(checkpoint: dict[str, Any], out_dir: str | Path | None) -> tuple[Path, dict[str, float]]:
        return _evaluate_checkpoint(
            checkpoint, ckpt_path, out_dir, stamp, data_dir, requested, decoder, batch_size, accelerator, precision,
            input_path,
        )  # fmt: skip

    if not is_multitask_checkpoint(checkpoint):
        if task_name is not None:
            raise ConfigError(f"task_name={task_name}: {ckpt_path} is a single-task checkpoint")
        return score(checkpoint, output_dir)
    names = [task_name] if task_name else list(checkpoint["relx"]["config"]["tasks"])
    base = Path(output_dir or run_dir_of(ckpt_path) / "eval" / f"{SHORT_NAMES.get(requested, requested)}-{stamp}")
    metrics: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for name in names:
        try:
            _, scores = score(single_task_checkpoint(checkpoint, name), base / name)
        except (ConfigError, DataFormatError) as err:
            if task_name or (data_dir is None and input_path is None):
                raise ConfigError(f"task {name}: {err}") from None
            skipped[name] = str(err)  # the input is not this task's data
            continue
        metrics.update({f"{key.split('/', 1)[0]}/{name}/{key.split('/', 1)[1]}": v for key, v in scores.items()})
    if not metrics:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped.items())
        raise ConfigError(f"no task of this checkpoint can score {input_path or data_dir} ({reasons})")
    for name, why in skipped.items():
        log.info("task %s skipped: %s", name, why)
    write_json_atomic(base / "metrics.json", metrics)
    return base, metrics


def _evaluate_checkpoint(
    checkpoint: dict[str, Any],
    ckpt_path: Path,
    output_dir: str | Path | None,
    stamp: str,
    data_dir: str | Path | None,
    requested: str,
    decoder: str | None,
    batch_size: int | None,
    accelerator: str,
    precision: str,
    input_path: str | Path | None,
) -> tuple[Path, dict[str, float]]:
    """``evaluate`` of one single-task checkpoint (or one task cut out of a multi-task one)."""
    from relx.build import build_trainer
    from relx.checkpointing import run_dir_of
    from relx.io import write_json_atomic
    from relx.modules.task import SINGLE_TASK
    from relx.plots import write_plots
    from relx.runs import restore
    from relx.scoring import Predictions, format_summary, predict_split, score_split

    chosen: list[tuple[list[str], list[str]]] = []

    def select(datamodule: TaskDataModule) -> list[str]:  # before anything is encoded
        chosen.append(choose_splits(datamodule, requested, ckpt_path))
        return [*chosen[0][0], *chosen[0][1]]

    split_files = None
    if input_path is not None:
        requested = "test" if requested == AUTO else requested
        split_files = {requested: input_path}
    cfg, module, datamodule = restore(
        checkpoint,
        data_dir=None if split_files else data_dir,
        splits=("validation", "test") if requested == AUTO else (requested,),
        split_files=split_files,
        eval_batch_size=batch_size,
        select_split=select,
    )
    if decoder:
        set_decoder(module, str(decoder))
    scored, predicted_only = chosen[0]
    name = "+".join(SHORT_NAMES[s] for s in scored)
    out_dir = Path(output_dir or run_dir_of(ckpt_path) / "eval" / f"{name}-{stamp}")
    trainer, _ = build_trainer({"trainer": {"accelerator": accelerator, "precision": precision}})
    metrics: dict[str, float] = {}
    kept: dict[str, Predictions] = {}
    for split in scored:  # scored and predicted in one pass where it can (score_split)
        split_metrics, by_task = score_split(trainer, module, datamodule, split, predict=True)
        metrics.update(split_metrics)
        if SINGLE_TASK in by_task:
            kept[split] = by_task[SINGLE_TASK]
    for split in [*scored, *predicted_only]:
        predictions = kept.get(split) or predict_split(module, datamodule, split, accelerator)
        datamodule.write_outputs(out_dir, split, predictions)
        write_plots(datamodule.task, out_dir, split, datamodule.examples[split], predictions)
    write_json_atomic(out_dir / "metrics.json", metrics)
    write_json_atomic(out_dir / "data_summary.json", datamodule.data_summary())
    write_json_atomic(out_dir / "config.json", scored_config(cfg, datamodule))
    source = input_path or datamodule.data_dir
    unscored = f"; {', '.join(predicted_only)} predicted only (no gold labels)" if predicted_only else ""
    print(f"\n{source} [{', '.join(scored)}{unscored}] -> {out_dir}\n{format_summary(metrics)}\n", flush=True)
    return out_dir, metrics


def scored_config(cfg: dict[str, Any], datamodule: TaskDataModule) -> dict[str, Any]:
    """The checkpoint's run configuration with the data it was just scored on (data directory and split files,
    ``input=FILE`` included): an evaluation's ``config.json``, which makes its directory a run that
    ``relx.report --compare`` can test against another (a parser's predictions are scored against the gold
    treebank that file names)."""
    data_dir = str(datamodule.data_dir) if datamodule.data_dir is not None else cfg.get("data_dir")
    return {**cfg, "data_dir": data_dir, "task": {**cfg["task"], "files": dict(datamodule.task.files)}}


def predict(
    ckpt_path: str | Path,
    input_path: str | Path,
    output: str | Path | None = None,
    batch_size: int | None = None,
    accelerator: str = "auto",
    checkpoint: dict[str, Any] | None = None,
    task_name: str | None = None,
) -> Path:
    """Predict every input of ``input_path`` (the checkpoint's task family's input format, ``relx.inputs``)
    and write JSON lines to ``output`` (default ``<input>.predictions.jsonl``); returns that path.

    The input file is checked before the model is built, so a missing one costs a second, not a model load.
    ``checkpoint``: the already loaded ``ckpt_path``, if the caller has it. ``task_name``: the task of a
    multi-task checkpoint (``predict_each`` runs every task the input applies to).
    """
    from relx.checkpointing import load_relx_checkpoint
    from relx.inputs import check_input_file, family_of, read_input, reader_of
    from relx.multitask import checkpoint_of_task

    loaded = checkpoint if checkpoint is not None else load_relx_checkpoint(ckpt_path)
    checkpoint = checkpoint_of_task(loaded, task_name, ckpt_path)
    family, reader = family_of(checkpoint), reader_of(checkpoint)
    input_path = check_input_file(input_path, family, reader)

    from relx.runs import restore
    from relx.scoring import predict_split

    _, module, datamodule = restore(checkpoint, read_data=False, eval_batch_size=batch_size)
    examples = read_input(datamodule.task.read_raw, input_path, family, reader)
    datamodule.set_predict_examples(examples)
    datamodule.setup("predict")
    predictions = predict_split(module, datamodule, "predict", accelerator)
    out = Path(output or f"{input_path}.predictions.jsonl")
    datamodule.task.write_raw_predictions(out, examples, predictions)
    print(f"{len(examples)} inputs -> {out}", flush=True)
    return out


def predict_each(
    ckpt_path: str | Path,
    input_path: str | Path,
    output: str | Path | None = None,
    batch_size: int | None = None,
    accelerator: str = "auto",
    task_name: str | None = None,
) -> dict[str, Path]:
    """``predict`` for a checkpoint of one task or several: a multi-task checkpoint predicts with
    ``task_name``, or with every task whose reader accepts ``input_path`` (the others are skipped, with the
    reason logged), writing ``<output or input>.<task>.predictions.jsonl`` per task. Returns task -> file
    (the single task of a single-task checkpoint is ``""``)."""
    from relx.checkpointing import load_relx_checkpoint
    from relx.multitask import is_multitask_checkpoint

    checkpoint = load_relx_checkpoint(ckpt_path)
    if not is_multitask_checkpoint(checkpoint) or task_name is not None:
        return {task_name or "": predict(ckpt_path, input_path, output, batch_size, accelerator, checkpoint, task_name)}
    base = str(output).removesuffix(".jsonl") if output else str(input_path)
    written: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for name in checkpoint["relx"]["config"]["tasks"]:
        out = Path(f"{base}.{name}.predictions.jsonl")
        try:
            written[name] = predict(ckpt_path, input_path, out, batch_size, accelerator, checkpoint, name)
        except DataFormatError as err:
            skipped[name] = str(err)
    if not written:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped.items())
        raise ConfigError(f"no task of this checkpoint reads {input_path} ({reasons})")
    for name, why in skipped.items():
        log.info("task %s skipped: its reader does not accept the input (%s)", name, why)
    return written
