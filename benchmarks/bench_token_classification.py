"""Training throughput and peak memory: relx vs a reference ``transformers.Trainer`` run.

Both train the same encoder on the same MIT Movie features (first-subword labels), batch size and
precision, for the same number of optimiser steps; each runs in its own child process of this one
invocation so that peak memory is measured cleanly. Writes JSON under ``benchmarks/results/`` and
prints the relx / Trainer samples-per-second ratio last.

    python benchmarks/bench_token_classification.py                       # CPU, bundled MiniLM
    python benchmarks/bench_token_classification.py --device cuda --model-size bert-base --precision bf16
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_MIT = ROOT.parent / "shared" / "data" / "mit_movie"
BERT_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--data-dir",
        default=str(SHARED_MIT) if SHARED_MIT.is_dir() else None,
        help="directory with engtrain.bio (default: ../shared/data/mit_movie, else the bundled sample)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=40, help="timed optimiser steps")
    p.add_argument("--warmup-steps", type=int, default=5, help="untimed steps first")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument(
        "--model-size",
        default="minilm",
        choices=["minilm", "bert-base"],
        help="minilm: the bundled pretrained MiniLM; bert-base: a random bert-base config",
    )
    p.add_argument("--only", choices=["relx", "reference"], help=argparse.SUPPRESS)
    p.add_argument("--output", default=None, help="JSON path (default: benchmarks/results/<name>.json)")
    return p.parse_args(argv)


def load_examples(data_dir: str | None) -> list[Any]:
    from relx.build import sample_dir
    from relx.data.readers import read_bio_file

    directory = Path(data_dir) if data_dir else sample_dir("mit_movie")
    return read_bio_file(directory / "engtrain.bio")[0]


def encoder_settings(args: argparse.Namespace) -> Any:
    from relx.encoders import EncoderSettings

    if args.model_size == "bert-base":
        return EncoderSettings(pretrained=False, config_overrides=BERT_BASE)
    return EncoderSettings()


def peak_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class StepTimer:
    """Wall time from the end of the warm-up steps to the end of the last step (one sync at each end)."""

    def __init__(self, warmup: int, device: str) -> None:
        self.warmup, self.device = warmup, device
        self.start: float | None = None
        self.end: float | None = None
        self.steps = 0

    def _sync(self) -> None:
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()

    def step_done(self) -> None:
        self.steps += 1
        if self.steps == self.warmup:
            self._sync()
            self.start = time.perf_counter()

    def finish(self) -> float:
        self._sync()
        self.end = time.perf_counter()
        assert self.start is not None, "fewer steps than warm-up steps"
        return self.end - self.start


def run_relx(args: argparse.Namespace, examples: list[Any]) -> dict[str, Any]:
    import lightning as L
    import torch
    from torchmetrics import MetricCollection

    from relx.data.settings import DataSettings
    from relx.data.word_tasks import BioNerDataModule
    from relx.encoders import load_encoder, load_tokenizer
    from relx.heads import TokenClassificationHead
    from relx.modules import TaskModule

    settings = encoder_settings(args)
    tokenizer = load_tokenizer(settings)
    data_dir = args.data_dir or str(__import__("relx.build", fromlist=["sample_dir"]).sample_dir("mit_movie"))
    dm = BioNerDataModule(
        data_dir,
        tokenizer,
        files={"train": "engtrain.bio"},
        settings=DataSettings(batch_size=args.batch_size, dev_fraction=0.01),
    )
    dm.examples["train"] = examples  # same examples as the reference
    dm.setup()
    encoder = load_encoder(settings)
    module = TaskModule(
        encoder,
        {"token": TokenClassificationHead(encoder.hidden_size, dm.vocabs["token"].num_labels)},
        MetricCollection({}),
    )
    timer = StepTimer(args.warmup_steps, args.device)

    class Timing(L.Callback):
        def on_train_batch_end(self, *a: Any) -> None:
            timer.step_done()

    trainer = L.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        precision="bf16-mixed" if args.precision == "bf16" else "32-true",
        max_steps=args.warmup_steps + args.steps,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=[Timing()],
        num_sanity_val_steps=0,
    )
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(module, train_dataloaders=dm.train_dataloader())
    elapsed = timer.finish()
    return {"elapsed_s": elapsed, "steps": args.steps, "peak_memory_mb": peak_memory_mb(args.device)}


def run_reference(args: argparse.Namespace, examples: list[Any]) -> dict[str, Any]:
    import datasets
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForTokenClassification,
        DataCollatorForTokenClassification,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from relx.data.vocab import LabelVocab
    from relx.data.word_tasks import encode_words
    from relx.encoders import load_tokenizer, resolve_model_name

    settings = encoder_settings(args)
    tokenizer = load_tokenizer(settings)
    vocab = LabelVocab.from_labels((t for ex in examples for t in ex.tags), first="O")
    enc = encode_words([ex.words for ex in examples], tokenizer, 128)
    labels = []
    for ids, index, ex in zip(enc["input_ids"], enc["word_index"], examples, strict=True):
        row = [-100] * len(ids)
        for pos, tag in zip(index, ex.tags, strict=True):
            if pos >= 0:
                row[pos] = vocab.index(tag)
        labels.append(row)
    train = datasets.Dataset.from_dict({"input_ids": enc["input_ids"], "labels": labels})
    path = resolve_model_name(settings.name)
    config = AutoConfig.from_pretrained(path, num_labels=vocab.num_labels, **settings.config_overrides)
    model = (
        AutoModelForTokenClassification.from_pretrained(path, config=config)
        if settings.pretrained
        else AutoModelForTokenClassification.from_config(config)
    )
    timer = StepTimer(args.warmup_steps, args.device)

    class Timing(TrainerCallback):
        def on_step_end(self, *a: Any, **k: Any) -> None:
            timer.step_done()

    targs = TrainingArguments(
        output_dir=str(ROOT / "benchmarks" / ".trainer-tmp"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.warmup_steps + args.steps,
        learning_rate=5e-5,
        warmup_steps=0.1,  # a float < 1: a fraction of all steps
        weight_decay=0.01,
        bf16=args.precision == "bf16",
        use_cpu=args.device == "cpu",
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        eval_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=42,
    )
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer = Trainer(
        model=model,
        args=targs,
        train_dataset=train,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        callbacks=[Timing()],
    )
    trainer.train()
    elapsed = timer.finish()
    return {"elapsed_s": elapsed, "steps": args.steps, "peak_memory_mb": peak_memory_mb(args.device)}


def child(args: argparse.Namespace) -> None:
    examples = load_examples(args.data_dir)
    result = (run_relx if args.only == "relx" else run_reference)(args, examples)
    print("RESULT " + json.dumps(result), flush=True)


def measure(which: str, argv: list[str]) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, __file__, *argv, "--only", which], capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{which} run failed (exit {done.returncode})")
    return json.loads(lines[-1][len("RESULT ") :])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.only:
        child(args)
        return
    examples = load_examples(args.data_dir)
    from relx.data.word_tasks import encode_words
    from relx.encoders import load_tokenizer

    lengths = [
        len(ids)
        for ids in encode_words([e.words for e in examples], load_tokenizer(encoder_settings(args)), 128)["input_ids"]
    ]
    mean_tokens = sum(lengths) / len(lengths)
    results: dict[str, Any] = {}
    for which in ("reference", "relx"):
        r = measure(which, argv)
        r["samples_per_s"] = r["steps"] * args.batch_size / r["elapsed_s"]
        r["real_tokens_per_s"] = r["samples_per_s"] * mean_tokens  # uniform sampling: same mean length
        results[which] = r
    ratio = results["relx"]["samples_per_s"] / results["reference"]["samples_per_s"]
    report = {
        "benchmark": "token_classification_training",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "settings": {k: v for k, v in vars(args).items() if k != "only"}
        | {"examples": len(examples), "mean_tokens_per_sample": mean_tokens},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "reference": "transformers.Trainer + AutoModelForTokenClassification + DataCollatorForTokenClassification",
        "results": results,
        "ratio_relx_over_reference_samples_per_s": ratio,
    }
    out = (
        Path(args.output)
        if args.output
        else ROOT
        / "benchmarks"
        / "results"
        / (f"token_classification_{args.device}_{args.model_size}_{args.precision}.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for which in ("reference", "relx"):
        r = results[which]
        print(
            f"{which:>9}: {r['samples_per_s']:8.1f} samples/s  {r['real_tokens_per_s']:9.0f} tokens/s  "
            f"peak {r['peak_memory_mb']:.0f} MB"
        )
    print(f"wrote {out}")
    print(f"ratio relx/reference samples/s: {ratio:.2f}")


if __name__ == "__main__":
    main()
