"""Span QA training throughput and peak memory: relx vs a reference ``transformers.Trainer`` run.

relx: ``SpanQATask`` in a ``TaskDataModule`` (question + context windows, ``doc_stride`` overlap) + ``SpanQAHead``, one
batch = ``--batch-size`` questions with all their windows. Reference: ``AutoModelForQuestionAnswering``
+ ``DataCollatorWithPadding`` trained by ``transformers.Trainer`` on the *same* windows (relx's
features flattened: one row per window with its start/end positions), batch size = questions x the
mean windows per question, so both sides see about the same windows per optimiser step. Throughput is
reported in windows per second (the unit of compute) and questions per second. Both sides train the
same encoder with the same precision and number of steps, each in its own child process.

    python benchmarks/bench_qa.py                                   # CPU, bundled MiniLM, CMRC 2018
    python benchmarks/bench_qa.py --device cuda --precision bf16 --steps 100 --batch-size 32
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import StepTimer, answer_child, child_result, fit_timed, peak_memory_mb, report_head, write_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "cmrc2018"
TRAIN_FILE = "cmrc2018_train.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="default: ../shared/data/cmrc2018, else the bundled sample")
    p.add_argument("--fraction", type=float, default=0.02, help="share of the training questions encoded")
    p.add_argument("--batch-size", type=int, default=4, help="questions per relx batch")
    p.add_argument("--max-length", type=int, default=384)
    p.add_argument("--doc-stride", type=int, default=128)
    p.add_argument("--steps", type=int, default=10, help="timed optimiser steps")
    p.add_argument("--warmup-steps", type=int, default=2, help="untimed steps first")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--only", choices=["relx", "reference"], help=argparse.SUPPRESS)
    p.add_argument("--output", default=None, help="JSON path (default: benchmarks/results/<name>.json)")
    args = p.parse_args(argv)
    if args.data_dir is None:
        from relx.build import sample_dir

        args.data_dir = str(SHARED) if (SHARED / TRAIN_FILE).is_file() else str(sample_dir("cmrc2018"))
    return args


def build_datamodule(args: argparse.Namespace, tokenizer: Any) -> Any:
    from relx.data.settings import DataSettings
    from relx.tasks.datamodule import TaskDataModule
    from relx.tasks.mrc import SpanQATask

    settings = DataSettings(
        batch_size=args.batch_size, max_length=args.max_length, doc_stride=args.doc_stride,
        train_fraction=args.fraction, dev_fraction=0.01, cache_dir=None,
    )  # fmt: skip
    task = SpanQATask(name="cmrc2018", files={"train": TRAIN_FILE})
    dm = TaskDataModule(task, args.data_dir, tokenizer, settings=settings)
    dm.setup()
    return dm


def windows_per_question(dm: Any) -> float:
    counts = [len(w) for w in dm.features["train"]["input_ids"]]
    return sum(counts) / len(counts)


def run_relx(args: argparse.Namespace) -> dict[str, Any]:
    from torchmetrics import MetricCollection

    from relx.encoders import EncoderSettings, load_encoder, load_tokenizer
    from relx.heads import SpanQAHead
    from relx.modules import TaskModule

    settings = EncoderSettings()
    tokenizer = load_tokenizer(settings)
    dm = build_datamodule(args, tokenizer)
    encoder = load_encoder(settings)
    module = TaskModule(encoder, {"span": SpanQAHead(encoder.hidden_size)}, MetricCollection({}))
    seen = {"windows": 0, "steps": 0}

    def count_windows(outputs: Any, batch: Any, batch_idx: int) -> None:  # windows of each timed step
        seen["steps"] += 1
        if seen["steps"] > args.warmup_steps:
            seen["windows"] += int(batch.input_ids.shape[0])

    module.on_train_batch_end = count_windows  # type: ignore[method-assign]
    elapsed = fit_timed(module, dm.train_dataloader(), args)
    return {
        "elapsed_s": elapsed, "steps": args.steps, "windows": seen["windows"],
        "questions": args.steps * args.batch_size, "peak_memory_mb": peak_memory_mb(args.device),
    }  # fmt: skip


def reference_dataset(dm: Any) -> Any:
    """relx's training windows, one row each, with the positions Hugging Face's QA head reads."""
    import datasets

    f = dm.features["train"]
    rows: dict[str, list[Any]] = {"input_ids": [], "token_type_ids": [], "start_positions": [], "end_positions": []}
    columns = (f["input_ids"], f["token_type_ids"], f["start_positions"], f["end_positions"])
    for windows, segments, starts, ends in zip(*columns, strict=True):
        rows["input_ids"] += windows
        rows["token_type_ids"] += segments
        rows["start_positions"] += starts
        rows["end_positions"] += ends
    return datasets.Dataset.from_dict(rows)


def run_reference(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from transformers import (
        AutoModelForQuestionAnswering,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from relx.encoders import EncoderSettings, load_tokenizer, resolve_model_name

    settings = EncoderSettings()
    tokenizer = load_tokenizer(settings)
    dm = build_datamodule(args, tokenizer)
    train = reference_dataset(dm)
    batch = max(1, round(args.batch_size * windows_per_question(dm)))
    model = AutoModelForQuestionAnswering.from_pretrained(resolve_model_name(settings.name))
    timer = StepTimer(args.warmup_steps, args.device)

    class Timing(TrainerCallback):
        def on_step_end(self, *a: Any, **k: Any) -> None:
            timer.step_done()

    targs = TrainingArguments(
        output_dir=str(ROOT / "benchmarks" / ".trainer-tmp"), per_device_train_batch_size=batch,
        max_steps=args.warmup_steps + args.steps, learning_rate=5e-5, weight_decay=0.01, warmup_steps=0.1,
        bf16=args.precision == "bf16", use_cpu=args.device == "cpu", report_to=[], save_strategy="no",
        logging_strategy="no", eval_strategy="no", disable_tqdm=True, dataloader_num_workers=0, seed=42,
    )  # fmt: skip
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    collator = DataCollatorWithPadding(tokenizer)
    Trainer(model=model, args=targs, train_dataset=train, data_collator=collator, callbacks=[Timing()]).train()
    elapsed = timer.finish()
    return {
        "elapsed_s": elapsed, "steps": args.steps, "windows": args.steps * batch,
        "questions": args.steps * batch / windows_per_question(dm), "batch_windows": batch,
        "peak_memory_mb": peak_memory_mb(args.device),
    }  # fmt: skip


def measure(which: str, argv: list[str]) -> dict[str, Any]:
    return child_result(__file__, argv, which)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if answer_child(args, lambda a: run_relx(a) if a.only == "relx" else run_reference(a)):
        return
    from relx.encoders import EncoderSettings, load_tokenizer

    dm = build_datamodule(args, load_tokenizer(EncoderSettings()))
    results: dict[str, Any] = {}
    for which in ("reference", "relx"):
        r = measure(which, argv)
        r["windows_per_s"] = r["windows"] / r["elapsed_s"]
        r["questions_per_s"] = r["questions"] / r["elapsed_s"]
        results[which] = r
    ratio = results["relx"]["windows_per_s"] / results["reference"]["windows_per_s"]
    report = {
        **report_head(
            "span_qa_training",
            args,
            questions=len(dm.features["train"]),
            mean_windows_per_question=windows_per_question(dm),
        ),  # fmt: skip
        "reference": "transformers.Trainer + AutoModelForQuestionAnswering + DataCollatorWithPadding",
        "results": results,
        "ratio_relx_over_reference_windows_per_s": ratio,
    }
    out = (
        Path(args.output)
        if args.output
        else ROOT / "benchmarks" / "results" / f"qa_{args.device}_minilm_{args.precision}.json"
    )
    write_report(out, report)
    for which in ("reference", "relx"):
        r = results[which]
        print(f"{which:>9}: {r['windows_per_s']:7.2f} windows/s  {r['questions_per_s']:7.2f} questions/s  "
              f"peak {r['peak_memory_mb']:.0f} MB")  # fmt: skip
    print(f"ratio relx/reference windows/s: {ratio:.2f}")


if __name__ == "__main__":
    main()
