"""Multi-task vs single-task vs sequential transfer, on dev, mean ± sd over seeds (issue: multi-task runs).

Three settings, each a set of ``python -m relx.train`` runs with the same optimisation budget:

* ``parse_rel``: UD English-EWT + SemEval-2010 Task 8, the pairwise-attention head on both (Meng et al.'s
  proposed joint training), vs each alone; the joint run has as many steps as the two alone runs together.
* ``tag_intent``: MIT Movie (eng) NER + ATIS intent and slots (joint head), vs each alone, the same way.
* ``transfer``: UD -> SemEval sequential transfer (the ``parse_rel`` UD-alone run's encoder starts a
  SemEval run, ``encoder.init_from``) vs SemEval alone.

Dev figures only (SemEval and MIT Movie have no official dev split: relx carves 10% of train, the same
carve in every setting of a seed). Raw per-run metrics and the summary go to ``--out`` (JSON); the
markdown table to stdout.

    python benchmarks/multitask_experiments.py --steps 400 --seeds 1 2 3 --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# a task of a setting: (task=, head=, data directory under --data, dev metrics)
Spec = tuple[str, str, str, list[str]]
SETTINGS: dict[str, dict[str, Spec]] = {
    "parse_rel": {
        "ud": ("ud_ewt", "pairwise_attention", "ud_english_ewt", ["las", "uas"]),
        "rel": ("semeval", "pairwise_attention", "semeval2010_task8", ["f1"]),
    },
    "tag_intent": {
        "movie": ("mit_movie", "token", "mit_movie", ["f1"]),
        "atis": ("atis", "joint", "atis", ["slot_f1", "intent_acc"]),
    },
}


def run_train(run_dir: Path, args: list[str]) -> dict[str, float]:
    """One training run (skipped when its metrics exist: the script resumes where it stopped)."""
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "relx.train", *args, f"hydra.run.dir={run_dir}"]
        started = time.time()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
        print(f"  {run_dir.name}: {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    return json.loads(metrics.read_text())


def common(seed: int, steps: int, batch_size: int) -> list[str]:
    return [
        f"seed={seed}",
        f"data.batch_size={batch_size}",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "trainer.early_stopping_patience=0",
        "write_predictions=false",
    ]


def alone(task: str, head: str, data_dir: Path, seed: int, steps: int, batch_size: int) -> list[str]:
    # one epoch of `steps` batches: validation (and the schedule's decay) at its end
    return [f"task={task}", f"head={head}", f"data_dir={data_dir}", f"trainer.limit_train_batches={steps}",
            *common(seed, steps, batch_size)]  # fmt: skip


def together(tasks: dict[str, Spec], data: Path, seed: int, steps: int, batch: int) -> list[str]:
    entries = ", ".join(f"{n}: {{task: {t}, head: {h}, data_dir: {data / d}}}" for n, (t, h, d, _) in tasks.items())
    return ["+experiment=multitask", f"tasks={{{entries}}}", f"multitask.epoch={steps * len(tasks)}",
            *common(seed, steps, batch)]  # fmt: skip


def cell_text(summary: dict[str, Any], cell: str, metric: str) -> str:
    found = summary.get(cell, {}).get(metric)
    if found is None:
        return "-"
    return f"{100 * found['mean']:.2f} ± {100 * found['sd']:.2f}"


def comparison_table(summary: dict[str, Any]) -> list[str]:
    """Each task's dev figure alone, in the multi-task run, and (SemEval) after UD: mean ± sd over seeds."""
    lines = ["| setting | task (dev metric) | alone | multi-task | UD -> SemEval transfer |", "|---|---|---|---|---|"]
    for setting, tasks in SETTINGS.items():
        for name, (task, head, _, keys) in tasks.items():
            for key in keys:
                alone_cell = cell_text(summary, f"{setting}/{name}/alone", key)
                multi = cell_text(summary, f"{setting}/{name}/multitask", key)
                transfer = (
                    cell_text(summary, "transfer/rel/ud->semeval", key)
                    if (setting, name) == ("parse_rel", "rel")
                    else ""
                )
                lines.append(f"| {setting} | {task} {head} ({key}) | {alone_cell} | {multi} | {transfer} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--steps", type=int, default=400, help="optimiser steps of each single-task run")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--settings", nargs="+", default=["parse_rel", "tag_intent", "transfer"])
    parser.add_argument("--runs", type=Path, default=Path("outputs/multitask_experiments"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/multitask_cpu_minilm.json"))
    args = parser.parse_args()
    data = args.data.resolve()
    raw: dict[str, dict[str, list[float]]] = {}

    def record(cell: str, metric: str, value: float) -> None:
        raw.setdefault(cell, {}).setdefault(metric, []).append(value)

    for seed in args.seeds:
        for setting in [s for s in args.settings if s in SETTINGS]:
            tasks = SETTINGS[setting]
            for name, (task, head, folder, keys) in tasks.items():
                run_dir = args.runs / f"{setting}-{name}-alone-s{seed}"
                metrics = run_train(run_dir, alone(task, head, data / folder, seed, args.steps, args.batch_size))
                for key in keys:
                    record(f"{setting}/{name}/alone", key, metrics[f"val/{key}"])
            run_dir = args.runs / f"{setting}-multitask-s{seed}"
            metrics = run_train(run_dir, together(tasks, data, seed, args.steps, args.batch_size))
            for name, (*_, keys) in tasks.items():
                for key in keys:
                    record(f"{setting}/{name}/multitask", key, metrics[f"val/{name}/{key}"])
        if "transfer" in args.settings:
            task, head, folder, keys = SETTINGS["parse_rel"]["rel"]
            ud_dir = args.runs / f"parse_rel-ud-alone-s{seed}"
            run_train(ud_dir, alone("ud_ewt", head, data / "ud_english_ewt", seed, args.steps, args.batch_size))
            rel_alone = alone(task, head, data / folder, seed, args.steps, args.batch_size)
            scratch = run_train(args.runs / f"parse_rel-rel-alone-s{seed}", rel_alone)
            source = ud_dir / "checkpoints" / "last.ckpt"
            transfer = run_train(
                args.runs / f"transfer-rel-from-ud-s{seed}", [*rel_alone, f"encoder.init_from={source}"]
            )
            for key in keys:
                record("transfer/rel/ud->semeval", key, transfer[f"val/{key}"])
                if "parse_rel" not in args.settings:
                    record("parse_rel/rel/alone", key, scratch[f"val/{key}"])

    summary: dict[str, Any] = {}
    lines = ["| cell | metric | mean (dev) | sd | seeds |", "|---|---|---|---|---|"]
    for cell, metrics in raw.items():
        for metric, values in metrics.items():
            mean = statistics.mean(values)
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            summary.setdefault(cell, {})[metric] = {"mean": mean, "sd": sd, "values": values}
            lines.append(f"| {cell} | {metric} | {100 * mean:.2f} | {100 * sd:.2f} | {len(values)} |")
    lines += ["", *comparison_table(summary)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "command": " ".join(sys.argv),
        "steps_alone": args.steps,
        "batch_size": args.batch_size,
        "seeds": args.seeds,
        "device": "cpu",
        "encoder": "minilm",
        "split": "dev",
        "summary": summary,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
