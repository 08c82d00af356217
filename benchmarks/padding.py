"""How much of each training batch is padding: the most sequence packing could save.

Packing puts several short inputs in one row (block-diagonal attention, positions restarting per input)
so that no compute goes to padding. With relx's length-grouped batches the padding is already small;
this measures it on the real training sets, one epoch of the training loader exactly as ``relx.train``
builds it, with length grouping on (relx's default) and off (a random sampler, as the Trainer's
default), at the task's default batch size, and for the compiled path (``trainer.compile=true``), whose
encoder pads each grouped batch further to the next of its length buckets (the default set, and a finer
one: every 8 tokens up to 64; the number of distinct lengths used is the number of graphs compiled):

    padding share = 1 - real tokens / (rows x padded length), summed over the epoch's batches

Token positions are the encoder's cost to first order (attention adds a term in the padded length
squared, which makes padding costlier, not cheaper), so the share is an upper bound on what packing can
save of the encoder's work per epoch. No model is run: the data is read and batched only.

    python benchmarks/padding.py --data ../shared/data --out benchmarks/results/padding_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from relx.encoders.buckets import DEFAULT_BUCKETS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import compose_config  # noqa: E402  (the config relx.train composes, as encoder_adaptation.py does)

# name -> (task=, data folder under --data, extra overrides)
TASKS: dict[str, tuple[str, str, list[str]]] = {
    "mit_movie": ("mit_movie", "mit_movie", []),
    "mit_movie_trivia": ("mit_movie_trivia", "mit_movie", []),
    "atis": ("atis", "atis", []),
    "snips": ("snips", "snips", []),
    "semeval": ("semeval", "semeval2010_task8", ["head=rbert"]),
    "ud_ewt": ("ud_ewt", "ud_english_ewt", ["head=biaffine"]),
}

BUCKET_SETS = {"default": DEFAULT_BUCKETS, "fine": (8, 16, 24, 32, 40, 48, 56, 64, *DEFAULT_BUCKETS[4:])}


def padding_share(overrides: list[str]) -> dict[str, Any]:
    from relx.build import build_datamodule, build_tokenizer
    from relx.encoders.buckets import bucket_length

    cfg = compose_config(overrides)
    datamodule = build_datamodule(cfg, build_tokenizer(cfg))
    datamodule.setup("fit")
    real = padded = rows = batches = 0
    bucketed = dict.fromkeys(BUCKET_SETS, 0)
    used: dict[str, set[int]] = {name: set() for name in BUCKET_SETS}
    for batch in datamodule.train_dataloader():
        mask = batch.attention_mask
        real += int(mask.sum())
        padded += mask.numel()
        rows += mask.shape[0]
        batches += 1
        for name, buckets in BUCKET_SETS.items():
            length = bucket_length(mask.shape[1], buckets)
            bucketed[name] += mask.shape[0] * length
            used[name].add(length)
    return {
        "batches": batches,
        "rows": rows,
        "real_tokens": real,
        "padded_tokens": padded,
        "padding_share": round(1 - real / padded, 4),
        "mean_real_tokens_per_row": round(real / rows, 1),
        "mean_padded_length": round(padded / rows, 1),
        "bucketed": {
            name: {"buckets": list(BUCKET_SETS[name]), "padding_share": round(1 - real / bucketed[name], 4),
                   "lengths_used": sorted(used[name])}
            for name in BUCKET_SETS
        },
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/padding_cpu.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results: dict[str, Any] = {
        "what": "share of the encoder's token positions that are padding over one training epoch, at the "
        "task's default batch size; length grouping on (relx's default) and off",
        "tasks": {},
    }
    for name in args.tasks:
        task, folder, extra = TASKS[name]
        base = [f"task={task}", f"data_dir={(args.data / folder).resolve()}", *extra]
        started = time.time()
        results["tasks"][name] = {
            "command": f"python -m relx.train {' '.join(base)}",
            "grouped": padding_share(base),
            "random": padding_share([*base, "data.length_grouping=false"]),
            "seconds": round(time.time() - started, 1),
        }
        figures = results["tasks"][name]
        grouped, random = (figures[k]["padding_share"] for k in ("grouped", "random"))
        buckets = ", ".join(
            f"+ {k} buckets {100 * v['padding_share']:4.1f} % ({len(v['lengths_used'])} lengths)"
            for k, v in figures["grouped"]["bucketed"].items()
        )
        print(f"{name:16s} padding: random {100 * random:4.1f} %, grouped {100 * grouped:4.1f} % {buckets}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
