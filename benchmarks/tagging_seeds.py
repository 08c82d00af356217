"""Word-tagging decoders over several seeds: token head argmax vs ``bio_viterbi`` vs ``head=crf`` (and
first- vs mean-subword pooling), on a dev split, mean ± sd per variant.

Each (variant, seed) is one ``python -m relx.train`` run; the ``bio_viterbi`` figure re-scores the
argmax run's best checkpoint with ``relx.evaluate decoder=bio_viterbi`` (the decoder does not change
training). For every seed, each variant is then tested against argmax on the seed's dev split (paired
bootstrap CI and approximate-randomisation p-value of the entity-F1 difference, ``relx.comparison``, on
the best checkpoints' prediction files). Raw per-seed figures, the comparisons and the summary go to
``--out`` as JSON.

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

from relx.comparison import compare

RESAMPLES = 10_000

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


def rescore(run_dir: Path, decoder: str | None) -> dict[str, float]:
    """The best checkpoint scored on dev by ``relx.evaluate`` (with ``decoder``, else the head's own), which
    also writes the official prediction file the comparisons read; ``run_dir/eval_<decoder>``."""
    out = eval_dir(run_dir, decoder)
    if not (out / "metrics.json").is_file():
        best = json.loads((run_dir / "data_summary.json").read_text())["best_checkpoint"]
        chosen = [f"decoder={decoder}"] if decoder else []
        run("relx.evaluate", f"ckpt_path={best}", "split=dev", *chosen, f"output_dir={out}")
    return json.loads((out / "metrics.json").read_text())


def eval_dir(run_dir: Path, decoder: str | None) -> Path:
    return run_dir / f"eval_{decoder or 'head'}"


def significance(baseline: Path, other: Path) -> dict[str, float]:
    """``other`` against ``baseline`` on the same dev sentences: B - A in points, its 95 % CI, the p-value."""
    c = compare(baseline, other, split="validation", resamples=RESAMPLES, seed=0)
    return {"diff": 100 * c.diff, "low": 100 * c.low, "high": 100 * c.high, "p": c.p_value, "items": c.items}


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
    tests: dict[str, list[dict[str, float]]] = {}
    started = time.monotonic()
    for seed in args.seeds:
        scored: dict[str, Path] = {}  # variant -> the eval directory holding its dev predictions
        if {"argmax", "bio_viterbi"} & set(args.variants):
            run_dir = runs / "token" / f"seed{seed}"
            argmax = train(args.task, args.data_dir, token, seed, run_dir, args.overrides)
            rescore(run_dir, "argmax")
            scored["argmax"] = eval_dir(run_dir, "argmax")
            if "argmax" in figures:
                figures["argmax"].append(100 * argmax[metric])
            if "bio_viterbi" in figures:
                figures["bio_viterbi"].append(100 * rescore(run_dir, "bio_viterbi")[metric])
                scored["bio_viterbi"] = eval_dir(run_dir, "bio_viterbi")
        if "crf" in figures:
            crf_run = runs / "crf" / f"seed{seed}"
            figures["crf"].append(100 * train(args.task, args.data_dir, crf, seed, crf_run, args.overrides)[metric])
            rescore(crf_run, None)
            scored["crf"] = eval_dir(crf_run, None)
        if "mean" in figures:
            mean_run = runs / "mean" / f"seed{seed}"
            mean_overrides = ["data.subword=mean", *args.overrides]
            figures["mean"].append(100 * train(args.task, args.data_dir, token, seed, mean_run, mean_overrides)[metric])
            rescore(mean_run, "argmax")
            scored["mean"] = eval_dir(mean_run, "argmax")
        if "argmax" in scored:
            for variant, directory in scored.items():
                if variant != "argmax":
                    tests.setdefault(f"{variant} - argmax", []).append(significance(scored["argmax"], directory))
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
        "paired_tests": {
            "what": f"per seed, on that seed's dev split: B - A in {metric} points, 95 % paired-bootstrap CI, "
            f"approximate-randomisation p ({RESAMPLES} resamples/shuffles), from the best checkpoints' predictions",
            **{name: dict(zip(map(str, args.seeds), per_seed, strict=True)) for name, per_seed in tests.items()},
        },
    }
    out = Path(args.out or f"benchmarks/results/tagging_{args.task}_cpu.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, s in result["variants"].items():
        print(f"{args.task} {name:12s} {metric} {s['mean']:.2f} ± {s['sd']:.2f} (n={s['n']})")
    for name, per_seed in tests.items():
        pairs = zip(args.seeds, per_seed, strict=True)
        ps = ", ".join(f"seed {seed}: {t['diff']:+.2f} (p={t['p']:.4f})" for seed, t in pairs)
        print(f"{args.task} {name}: {ps}")


if __name__ == "__main__":
    main()
