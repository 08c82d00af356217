"""An Optuna search against the task's defaults under the same short budget, on dev.

``python -m relx.train`` commands, all with the budget given as extra overrides: the task's default settings
(one run); ``hparams_search=<preset>`` (``--trials`` trials, the study under ``multirun/optuna/<study>/``);
then, for each ``--check-seed``, the best trial's experiment file (``+experiment=best``) and the defaults
again with that seed (another training subset, dev carve and initialisation: how much of the best trial's lead
was its luck on the searched dev split). Each trial's parameters, value, state and duration, the dev metrics
of every run and the wall times go to ``--out`` as JSON.

Runs already finished are reused (their wall times kept from the previous ``--out``) and the study resumes
itself, so an interrupted benchmark continues where it stopped.

    nice -n 10 python benchmarks/optuna_search.py --task semeval --data-dir ../shared/data/semeval2010_task8 \\
        --trials 12 --check-seed 1 data.train_fraction=0.1 trainer.max_epochs=1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from relx.io import write_json_atomic
from relx.search import trial_run

QUIET = ["trainer.enable_progress_bar=false", "write_predictions=false"]


def relx_train(*args: str) -> float:
    """``python -m relx.train ARGS``; its wall time in seconds."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "relx.train", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:  # a search whose trials partly failed exits 1: its study still says what ran
        print(f"relx.train {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}", file=sys.stderr)
    return time.monotonic() - started


def single_run(run_dir: Path, previous: dict[str, Any] | None, *args: str) -> dict[str, Any]:
    """One run into ``run_dir`` unless it finished before; its dev metrics and wall time."""
    wall = (previous or {}).get("wall_s")
    if not (run_dir / "metrics.json").is_file():
        wall = relx_train(*args, f"hydra.run.dir={run_dir}")
    return {"metrics": json.loads((run_dir / "metrics.json").read_text()), "wall_s": wall, "run_dir": str(run_dir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--preset", default=None, help="hparams_search preset (default: <task>_optuna)")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--check-seed", type=int, action="append", default=[], help="repeatable")
    parser.add_argument("--runs-dir", default="outputs/optuna_search")
    parser.add_argument("--out", default=None, help="JSON file (default: benchmarks/results/optuna_<task>_cpu.json)")
    parser.add_argument("overrides", nargs="*", help="the budget: relx.train overrides for every run")
    args = parser.parse_args()

    import optuna
    from optuna.trial import TrialState

    out = Path(args.out or Path(__file__).parent / "results" / f"optuna_{args.task}_cpu.json")
    previous = json.loads(out.read_text()) if out.is_file() else {}
    preset = args.preset or f"{args.task}_optuna"
    common = [f"task={args.task}", f"data_dir={args.data_dir}", *args.overrides, *QUIET]
    runs = Path(args.runs_dir)
    defaults = single_run(runs / f"{args.task}_defaults", previous.get("defaults"), *common)

    search_wall = relx_train(f"hparams_search={preset}", *common, f"hydra.sweeper.n_trials={args.trials}")
    studies = sorted(Path("multirun/optuna").glob(f"{args.task}-*-{preset}/optuna.db"), key=lambda p: p.stat().st_mtime)
    storage = f"sqlite:///{studies[-1]}"
    name = optuna.get_all_study_summaries(storage=storage)[0].study_name
    study = optuna.load_study(study_name=name, storage=storage)
    trials = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "params": t.params,
            "duration_s": t.duration.total_seconds() if t.duration else None,
        }
        for t in study.trials
    ]
    before = previous.get("search", {})
    if before.get("n_trials") == len(trials):  # nothing ran now: the wall time is the earlier invocations'
        search_wall = before.get("wall_s", search_wall)
    elif before.get("wall_s"):
        search_wall += before["wall_s"]
    best = study.best_trial
    best_run = trial_run(studies[-1].parent, best)
    checks = {}
    for seed in args.check_seed:
        earlier = previous.get("seed_checks", {}).get(str(seed), {})
        experiment = ["--config-dir", str(studies[-1].parent), "+experiment=best", f"seed={seed}"]
        checks[str(seed)] = {
            "best": single_run(runs / f"{args.task}_best_seed{seed}", earlier.get("best"), *experiment),
            "defaults": single_run(
                runs / f"{args.task}_defaults_seed{seed}", earlier.get("defaults"), *common, f"seed={seed}"
            ),
        }
    result: dict[str, Any] = {
        "task": args.task,
        "data_dir": args.data_dir,
        "split": "dev",
        "device": "cpu",
        "budget_overrides": args.overrides,
        "defaults": defaults,
        "search": {
            "preset": preset,
            "study": name,
            "storage": storage,
            "direction": study.direction.name,
            "n_trials": len(trials),
            "complete": sum(t.state == TrialState.COMPLETE for t in study.trials),
            "wall_s": search_wall,
            "trials": trials,
        },
        "best": {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "run_dir": str(best_run) if best_run else None,
            "metrics": json.loads((best_run / "metrics.json").read_text()) if best_run else None,
        },
        "seed_checks": checks,
    }
    write_json_atomic(out, result)
    print(json.dumps({k: result[k] for k in ("defaults", "best", "seed_checks")}, indent=2))


if __name__ == "__main__":
    main()
