"""Training throughput and peak memory: relx vs a reference ``transformers.Trainer`` run.

Tasks (``--task``):
- ``ner``: MIT Movie, relx ``TokenClassificationHead`` vs ``AutoModelForTokenClassification`` +
  ``DataCollatorForTokenClassification`` on the same first-subword-labelled features.
- ``relation``: SemEval-2010 Task 8 with R-BERT's ``$``/``#`` entity markers, relx
  ``SequenceClassificationHead`` over the pooler vs ``AutoModelForSequenceClassification`` +
  ``DataCollatorWithPadding`` on the same marked inputs.
- ``parsing``: UD English-EWT with the biaffine parser. transformers has no parsing model, so the reference is
  what a Trainer user would write: relx's encoder and ``BiaffineParserHead`` in one ``nn.Module`` returning
  the loss, trained by ``transformers.Trainer`` on the same features through relx's own collator. Only the
  training loop, sampler and compilation differ.

Both sides train the same encoder with the same batch size, precision and number of optimiser
steps, each in its own child process of this invocation (so peak memory is measured cleanly).

Variants (``--variants``, default all): ``reference`` (the Trainer's defaults: random sampling),
``reference_grouped`` (``train_sampling_strategy="group_by_length"``: the Trainer's own length grouping),
``reference_best`` (grouping and ``torch_compile=True``: the best configuration a Trainer user can pick),
``relx`` (eager) and ``relx_compiled`` (``trainer.compile=true``: the compiled encoder on bucketed lengths).
Compiled variants warm up for ``--compile-warmup-steps`` (compilation of every shape happens there, not in
the timed steps). The headline ratio is relx's best variant over the best reference variant of the same
run. Writes JSON under ``benchmarks/results/`` and prints the ratios last.

    python benchmarks/bench_training.py --task ner                       # CPU, bundled MiniLM
    python benchmarks/bench_training.py --task ner --device cuda --model-size bert-base --precision bf16
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BERT_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}
REFERENCE_MODEL = {
    "ner": "AutoModelForTokenClassification",
    "relation": "AutoModelForSequenceClassification",
    "parsing": "relx's encoder + BiaffineParserHead in one nn.Module, relx's collator",
}
VARIANTS = ("reference", "reference_grouped", "reference_best", "relx", "relx_compiled")
TASKS = {  # task -> (shared data folder, bundled sample, training file)
    "ner": ("mit_movie", "mit_movie", "engtrain.bio"),
    "relation": ("semeval2010_task8", "semeval", "TRAIN_FILE.TXT"),
    "parsing": ("ud_english_ewt", "ud_ewt", "en_ewt-ud-train.conllu"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="ner", choices=sorted(TASKS))
    p.add_argument("--data-dir", default=None, help="default: ../shared/data/<dataset>, else the bundled sample")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--steps", type=int, default=100, help="timed optimiser steps")
    p.add_argument("--warmup-steps", type=int, default=5, help="untimed steps first")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--model-size", default="minilm", choices=["minilm", "bert-base"],
                   help="minilm: the bundled pretrained MiniLM; bert-base: a random bert-base config")  # fmt: skip
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--compile-warmup-steps", type=int, default=30, help="untimed steps of compiled variants")
    p.add_argument("--only", choices=VARIANTS, help=argparse.SUPPRESS)
    p.add_argument("--output", default=None, help="JSON path (default: benchmarks/results/<name>.json)")
    args = p.parse_args(argv)
    if args.data_dir is None:
        shared, sample, _ = TASKS[args.task]
        from relx.build import sample_dir

        args.data_dir = str(SHARED / shared) if (SHARED / shared).is_dir() else str(sample_dir(sample))
    return args


def encoder_settings(args: argparse.Namespace) -> Any:
    from relx.encoders import EncoderSettings

    overrides = BERT_BASE if args.model_size == "bert-base" else {}
    return EncoderSettings(pretrained=args.model_size != "bert-base", config_overrides=overrides)


def build_datamodule(args: argparse.Namespace, tokenizer: Any) -> Any:
    """relx's DataModule over the training file (its features are what both sides train on)."""
    from relx.build import add_special_tokens
    from relx.data.settings import DataSettings
    from relx.tasks import TaskDataModule
    from relx.tasks.relations import SemEvalTask
    from relx.tasks.treebanks import DependencyTask
    from relx.tasks.words import BioNerTask

    settings = DataSettings(batch_size=args.batch_size, max_length=args.max_length, dev_fraction=0.01, cache_dir=None)
    files = {"train": TASKS[args.task][2]}
    kinds = {"ner": BioNerTask, "relation": SemEvalTask, "parsing": DependencyTask}
    task = kinds[args.task](args.task, files)
    dm = TaskDataModule(task, args.data_dir, tokenizer, settings)
    dm.read()
    add_special_tokens(tokenizer, task)
    dm.setup()
    return dm


def report_head(benchmark: str, args: argparse.Namespace, **settings: Any) -> dict[str, Any]:
    """The fields every benchmark's JSON starts with: its name, date, settings (``settings`` added) and machine."""
    return {
        "benchmark": benchmark,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "settings": {k: v for k, v in vars(args).items() if k != "only"} | settings,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }


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
        assert self.start is not None, "fewer steps than warm-up steps"
        return time.perf_counter() - self.start


def run_variants(
    script: str, argv: list[str], names: list[str], show: Callable[[str, dict[str, Any]], str]
) -> dict[str, Any]:
    """``child_result`` of every variant of ``script``, printing ``show(name, result)`` for each."""
    results: dict[str, Any] = {}
    for name in names:
        results[name] = child_result(script, argv, name)
        print(show(name, results[name]), flush=True)
    return results


def fit_timed(module: Any, loader: Any, args: argparse.Namespace, warmup: int | None = None) -> float:
    """Train ``module`` for ``warmup`` (default ``--warmup-steps``) + timed steps with Lightning; seconds of the
    timed steps."""
    import lightning as L
    import torch

    warmup = args.warmup_steps if warmup is None else warmup
    timer = StepTimer(warmup, args.device)

    class Timing(L.Callback):
        def on_train_batch_end(self, *a: Any) -> None:
            timer.step_done()

    trainer = L.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu", devices=1,
        precision="bf16-mixed" if args.precision == "bf16" else "32-true",
        max_steps=warmup + args.steps, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False,
        callbacks=[Timing()], num_sanity_val_steps=0,
    )  # fmt: skip
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(module, train_dataloaders=loader)
    return timer.finish()


def warmup_steps(args: argparse.Namespace, compiled: bool) -> int:
    return max(args.warmup_steps, args.compile_warmup_steps) if compiled else args.warmup_steps


def run_relx(args: argparse.Namespace, compiled: bool = False) -> dict[str, Any]:
    from torchmetrics import MetricCollection

    from relx.encoders import load_encoder, load_tokenizer
    from relx.heads import BiaffineParserHead, SequenceClassificationHead, TokenClassificationHead
    from relx.modules import TaskModule
    from relx.modules.compiling import CompileSettings, compile_encoder

    settings = encoder_settings(args)
    tokenizer = load_tokenizer(settings)
    dm = build_datamodule(args, tokenizer)
    if args.task == "relation":
        settings.keep_pooler = True  # as AutoModelForSequenceClassification classifies the pooler output
    encoder = load_encoder(settings)
    encoder.model.resize_token_embeddings(len(tokenizer))
    if args.task == "ner":
        head: Any = TokenClassificationHead(encoder.hidden_size, dm.vocabs["token"].num_labels)
    elif args.task == "parsing":
        head = BiaffineParserHead(encoder.hidden_size, dm.vocabs["tree"].num_labels)
    else:
        head = SequenceClassificationHead(encoder.hidden_size, dm.vocabs["sentence"].num_labels, use_pooler=True)
    module = TaskModule(encoder, {head.label_space: head}, MetricCollection({}))
    compile_encoder(encoder, CompileSettings(enabled=compiled))
    elapsed = fit_timed(module, dm.train_dataloader(), args, warmup_steps(args, compiled))
    return {"elapsed_s": elapsed, "steps": args.steps, "peak_memory_mb": peak_memory_mb(args.device)}


def reference_dataset(args: argparse.Namespace, dm: Any) -> tuple[Any, int]:
    """The same training features in the layout the Hugging Face heads expect."""
    import datasets

    features = dm.features["train"]
    if args.task == "ner":
        labels = []
        for ids, index, tags in zip(features["input_ids"], features["word_index"], features["tag_ids"], strict=True):
            row = [-100] * len(ids)
            for pos, tag in zip(index, tags, strict=True):
                if pos >= 0:
                    row[pos] = tag
            labels.append(row)
        return datasets.Dataset.from_dict({"input_ids": features["input_ids"], "labels": labels}), dm.vocabs[
            "token"
        ].num_labels
    data = {"input_ids": features["input_ids"], "labels": features["label_id"]}
    return datasets.Dataset.from_dict(data), dm.vocabs["sentence"].num_labels


def run_reference(args: argparse.Namespace, grouped: bool = False, compiled: bool = False) -> dict[str, Any]:
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
    )  # fmt: skip

    from relx.encoders import load_tokenizer, resolve_model_name

    settings = encoder_settings(args)
    tokenizer = load_tokenizer(settings)
    dm = build_datamodule(args, tokenizer)
    if args.task == "parsing":
        model, collator, train = parser_reference(settings, tokenizer, dm)
        return train_reference(args, model, train, collator, grouped, compiled, keep_columns=True)
    train, num_labels = reference_dataset(args, dm)
    path = resolve_model_name(settings.name)
    config = AutoConfig.from_pretrained(path, num_labels=num_labels, **settings.config_overrides)
    auto = AutoModelForTokenClassification if args.task == "ner" else AutoModelForSequenceClassification
    model = auto.from_pretrained(path, config=config) if settings.pretrained else auto.from_config(config)
    model.resize_token_embeddings(len(tokenizer))
    collator = (
        DataCollatorForTokenClassification(tokenizer) if args.task == "ner" else DataCollatorWithPadding(tokenizer)
    )
    return train_reference(args, model, train, collator, grouped, compiled)


def parser_reference(settings: Any, tokenizer: Any, dm: Any) -> tuple[Any, Any, Any]:
    """(model, collator, dataset) of the parsing reference: relx's encoder and biaffine head in one module
    whose ``forward`` returns the loss (as a Trainer expects), fed by relx's collator as a dict."""
    from dataclasses import fields

    import datasets
    from torch import nn

    from relx.encoders import load_encoder
    from relx.heads import BiaffineParserHead
    from relx.tasks.treebanks import TreeBatch

    class Parser(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = load_encoder(settings, tokenizer)
            self.head = BiaffineParserHead(self.encoder.hidden_size, dm.vocabs["tree"].num_labels)

        def forward(
            self, input_ids: Any, attention_mask: Any, example_ids: Any, word_index: Any, word_mask: Any,
            score_mask: Any, heads: Any, rels: Any,
        ) -> dict[str, Any]:  # fmt: skip
            batch = TreeBatch(
                input_ids=input_ids, attention_mask=attention_mask, example_ids=example_ids, word_index=word_index,
                word_mask=word_mask, score_mask=score_mask, heads=heads, rels=rels,
            )  # fmt: skip
            encoded = self.encoder(input_ids, attention_mask)
            return {"loss": self.head.loss(self.head(encoded, batch), batch)}

    relx_collate = dm.task.collator()

    def collate(features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = relx_collate(features)
        return {f.name: getattr(batch, f.name) for f in fields(batch) if getattr(batch, f.name) is not None}

    train = dm.features["train"]
    dataset = train if isinstance(train, datasets.Dataset) else datasets.Dataset.from_dict(dict(train))
    return Parser(), collate, dataset


def train_reference(
    args: argparse.Namespace, model: Any, train: Any, collator: Any, grouped: bool, compiled: bool,
    keep_columns: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """``model`` trained by ``transformers.Trainer`` for the warm-up and timed steps; seconds and peak memory."""
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    warmup = warmup_steps(args, compiled)
    timer = StepTimer(warmup, args.device)

    class Timing(TrainerCallback):
        def on_step_end(self, *a: Any, **k: Any) -> None:
            timer.step_done()

    targs = TrainingArguments(
        output_dir=str(ROOT / "benchmarks" / ".trainer-tmp"), per_device_train_batch_size=args.batch_size,
        max_steps=warmup + args.steps, learning_rate=5e-5, weight_decay=0.01,
        warmup_steps=0.1,  # a float < 1: a fraction of all steps
        bf16=args.precision == "bf16", use_cpu=args.device == "cpu", report_to=[], save_strategy="no",
        logging_strategy="no", eval_strategy="no", disable_tqdm=True, dataloader_num_workers=0, seed=42,
        train_sampling_strategy="group_by_length" if grouped else "random", torch_compile=compiled,
        remove_unused_columns=not keep_columns,
    )  # fmt: skip
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    Trainer(model=model, args=targs, train_dataset=train, data_collator=collator, callbacks=[Timing()]).train()
    elapsed = timer.finish()
    return {"elapsed_s": elapsed, "steps": args.steps, "peak_memory_mb": peak_memory_mb(args.device)}


def answer_child(args: argparse.Namespace, run: Callable[[argparse.Namespace], dict[str, Any]]) -> bool:
    """In a ``--only`` child process (``child_result``), run the one variant and print its ``RESULT {json}``
    line; true when this process was such a child (its ``main`` is then done)."""
    if not args.only:
        return False
    print("RESULT " + json.dumps(run(args)), flush=True)
    return True


def write_report(out: Path, report: dict[str, Any]) -> None:
    """The benchmark's JSON at ``out`` (folders made), and where it went."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


def child_result(script: str, argv: list[str], which: str) -> dict[str, Any]:
    """Run ``script argv --only WHICH`` in a child process (a fresh memory peak) and return the
    ``RESULT {json}`` line it prints."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, script, *argv, "--only", which], capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{which} run failed (exit {done.returncode})")
    return json.loads(lines[-1][len("RESULT ") :])


def measure(which: str, argv: list[str]) -> dict[str, Any]:
    return child_result(__file__, argv, which)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    runs: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
        "reference": run_reference,
        "reference_grouped": lambda a: run_reference(a, grouped=True),
        "reference_best": lambda a: run_reference(a, grouped=True, compiled=True),
        "relx": run_relx,
        "relx_compiled": lambda a: run_relx(a, compiled=True),
    }
    if answer_child(args, lambda a: runs[a.only](a)):
        return
    from relx.encoders import load_tokenizer

    lengths = [
        len(ids)
        for ids in build_datamodule(args, load_tokenizer(encoder_settings(args))).features["train"]["input_ids"]
    ]
    mean_tokens = sum(lengths) / len(lengths)
    results: dict[str, Any] = {}
    for which in args.variants:
        r = measure(which, argv)
        r["samples_per_s"] = r["steps"] * args.batch_size / r["elapsed_s"]
        r["real_tokens_per_s"] = r["samples_per_s"] * mean_tokens  # every sampler covers the data: same mean length
        results[which] = r
        print(f"{which:>17}: {r['samples_per_s']:8.1f} samples/s  peak {r['peak_memory_mb']:.0f} MB", flush=True)

    def best(prefix: str) -> str | None:
        found = [v for v in results if v.split("_")[0] == prefix]
        return max(found, key=lambda v: results[v]["samples_per_s"]) if found else None

    best_relx, best_reference = best("relx"), best("reference")
    ratios = {
        f"{r}/{ref}": results[r]["samples_per_s"] / results[ref]["samples_per_s"]
        for r in results
        if r.startswith("relx")
        for ref in results
        if ref.startswith("reference")
    }
    ratio = ratios.get(f"{best_relx}/{best_reference}")
    report = {
        **report_head(f"{args.task}_training", args, examples=len(lengths), mean_tokens_per_sample=mean_tokens),
        "reference": "transformers.Trainer + " + REFERENCE_MODEL[args.task],
        "results": results,
        "ratios_samples_per_s": ratios,
        "best_relx": best_relx,
        "best_reference": best_reference,
        "ratio_best_relx_over_best_reference_samples_per_s": ratio,
    }
    name = f"{args.task}_{args.device}_{args.model_size}_{args.precision}.json"
    out = Path(args.output) if args.output else ROOT / "benchmarks" / "results" / name
    write_report(out, report)
    for name, value in ratios.items():
        print(f"ratio {name} samples/s: {value:.2f}")
    if ratio is not None:
        print(f"ratio best relx ({best_relx}) / best reference ({best_reference}) samples/s: {ratio:.2f}")


if __name__ == "__main__":
    main()
