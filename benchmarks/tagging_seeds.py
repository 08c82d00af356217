"""Word-tagging decoders over several seeds: token head argmax vs ``bio_viterbi`` vs ``head=crf`` (and
first- vs mean-subword pooling), on a dev split, mean ± sd per variant.

Each (variant, seed) is one ``python -m relx.train`` run; the ``bio_viterbi`` figure re-scores the
argmax run's best checkpoint with ``relx.evaluate decoder=bio_viterbi`` (the decoder does not change
training). Raw per-seed figures and the summary go to ``--out`` as JSON.

    python benchmarks/tagging_seeds.py --task atis --data-dir ../shared/data/atis --seeds 1 2 3
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

# task -> (token-head name, CRF head name, metric key on dev)
TASKS = {
    "mit_movie": ("token", "crf", "val/f1"),
    "mit_movie_trivia": ("token", "crf", "val/f1"),
    "atis": ("joint", "joint_crf", "val/slot_f1"),
    "snips": ("joint", "joint_crf", "val/slot_f1"),
}


def run(module: str, *args: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", module, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{module} {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def train(task: str, data_dir: str, head: str, seed: int, run_dir: Path, extra: list[str]) -> dict[str, float]:
    if not (run_dir / "metrics.json").is_file():
        run(
            "relx.train", f"task={task}", f"head={head}", f"data_dir={data_dir}", f"seed={seed}",
            "trainer.enable_progress_bar=false", "write_predictions=false", f"hydra.run.dir={run_dir}", *extra,
        )  # fmt: skip
    return json.loads((run_dir / "metrics.json").read_text())


def rescore(run_dir: Path, decoder: str) -> dict[str, float]:
    out = run_dir / f"eval_{decoder}"
    if not (out / "metrics.json").is_file():
        best = json.loads((run_dir / "data_summary.json").read_text())["best_checkpoint"]
        run("relx.evaluate", f"ckpt_path={best}", "split=dev", f"decoder={decoder}", f"output_dir={out}")
    return json.loads((out / "metrics.json").read_text())


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "values": values,
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASKS), required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variants", nargs="+", default=["argmax", "bio_viterbi", "crf", "mean"])
    parser.add_argument("--runs-dir", default="outputs/tagging_seeds")
    parser.add_argument("--out", default=None, help="JSON file (default: benchmarks/results/tagging_<task>_cpu.json)")
    parser.add_argument("overrides", nargs="*", help="extra relx.train overrides for every run")
    args = parser.parse_args()

    token, crf, metric = TASKS[args.task]
    runs = Path(args.runs_dir) / args.task
    figures: dict[str, list[float]] = {v: [] for v in args.variants}
    started = time.monotonic()
    for seed in args.seeds:
        if {"argmax", "bio_viterbi"} & set(args.variants):
            run_dir = runs / "token" / f"seed{seed}"
            argmax = train(args.task, args.data_dir, token, seed, run_dir, args.overrides)
            if "argmax" in figures:
                figures["argmax"].append(100 * argmax[metric])
            if "bio_viterbi" in figures:
                figures["bio_viterbi"].append(100 * rescore(run_dir, "bio_viterbi")[metric])
        if "crf" in figures:
            figures["crf"].append(100 * train(args.task, args.data_dir, crf, seed, runs / "crf" / f"seed{seed}",
                                              args.overrides)[metric])  # fmt: skip
        if "mean" in figures:
            mean_run = runs / "mean" / f"seed{seed}"
            figures["mean"].append(
                100
                * train(args.task, args.data_dir, token, seed, mean_run, ["data.subword=mean", *args.overrides])[metric]
            )
    result = {
        "task": args.task,
        "data_dir": args.data_dir,
        "metric": metric,
        "split": "dev",
        "seeds": args.seeds,
        "overrides": args.overrides,
        "device": "cpu",
        "wall_s": round(time.monotonic() - started, 1),
        "variants": {k: summary(v) for k, v in figures.items() if v},
    }
    out = Path(args.out or f"benchmarks/results/tagging_{args.task}_cpu.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, s in result["variants"].items():
        print(f"{args.task} {name:12s} {metric} {s['mean']:.2f} ± {s['sd']:.2f} (n={s['n']})")


if __name__ == "__main__":
    main()
