"""Dependency-parsing heads on one encoder and the same batches: training throughput and peak memory
of ``pairwise_attention`` (emb+att, attention captured under SDPA or taken from eager attention),
``biaffine``, and a plain token head (tagging each word with its relation), each in its own child
process of this invocation. Writes JSON under ``benchmarks/results/``; the last line is the
pairwise / biaffine throughput ratio and the capture / eager ratio.

    python benchmarks/bench_parsing_heads.py [--device cuda --precision bf16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench_training import (
    ROOT,
    SHARED,
    answer_child,
    fit_timed,
    peak_memory_mb,
    report_head,
    run_variants,
    write_report,
)

VARIANTS = {  # name -> (head, encoder attention)
    "token": ("token", "sdpa"),
    "biaffine": ("biaffine", "sdpa"),
    "pairwise_capture": ("pairwise", "capture"),
    "pairwise_eager": ("pairwise", "eager"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="default: ../shared/data/ud_english_ewt, else the bundled sample")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup-steps", type=int, default=5)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--output", default=None, help="JSON path (default: benchmarks/results/parsing_heads_<...>.json)")
    p.add_argument("--only", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.data_dir is None:
        from relx.build import sample_dir

        shared = SHARED / "ud_english_ewt"
        args.data_dir = str(shared) if shared.is_dir() else str(sample_dir("ud_ewt"))
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch.nn.functional as F
    from torchmetrics import MetricCollection

    from relx.data.settings import DataSettings
    from relx.encoders import EncoderSettings, load_encoder, load_tokenizer
    from relx.heads import BiaffineParserHead, PairwiseAttentionParserHead, TokenClassificationHead
    from relx.modules import TaskModule
    from relx.tasks.datamodule import TaskDataModule
    from relx.tasks.treebanks import DependencyTask

    head_kind, attention = VARIANTS[args.only]
    settings = EncoderSettings(attention=attention)
    tokenizer = load_tokenizer(settings)
    files = {"train": "en_ewt-ud-train.conllu", "validation": "en_ewt-ud-dev.conllu"}
    task = DependencyTask(name="ud_ewt", files=files)
    dm = TaskDataModule(task, args.data_dir, tokenizer, DataSettings(batch_size=args.batch_size, cache_dir=None))
    dm.setup()
    encoder = load_encoder(settings)
    n_rels = dm.vocabs["tree"].num_labels

    class RelationTagger(TokenClassificationHead):
        """The plain token head: each word's relation label from its own state."""

        label_space = "tree"

        def loss(self, output: Any, batch: Any) -> Any:
            return F.cross_entropy(output.flatten(0, 1).float(), batch.rels.flatten(), ignore_index=-100)

    config = encoder.model.config
    head: Any = {
        "token": lambda: RelationTagger(encoder.hidden_size, n_rels),
        "biaffine": lambda: BiaffineParserHead(encoder.hidden_size, n_rels),
        "pairwise": lambda: PairwiseAttentionParserHead(
            encoder.hidden_size, n_rels, config.num_hidden_layers * config.num_attention_heads
        ),
    }[head_kind]()
    module = TaskModule(encoder, {"tree": head}, MetricCollection({}))
    elapsed = fit_timed(module, dm.train_dataloader(), args)
    return {"samples_per_s": args.steps * args.batch_size / elapsed, "peak_memory_mb": peak_memory_mb(args.device)}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if answer_child(args, run):
        return
    results = run_variants(
        __file__, argv, list(VARIANTS),
        lambda name, r: f"{name:>17}: {r['samples_per_s']:7.1f} samples/s  peak {r['peak_memory_mb']:.0f} MB",
    )  # fmt: skip
    report = {
        **report_head("parsing_heads_training", args),
        "results": results,
        "ratio_pairwise_over_biaffine_samples_per_s": results["pairwise_capture"]["samples_per_s"]
        / results["biaffine"]["samples_per_s"],
        "ratio_capture_over_eager_samples_per_s": results["pairwise_capture"]["samples_per_s"]
        / results["pairwise_eager"]["samples_per_s"],
    }
    out = Path(args.output or ROOT / "benchmarks" / "results" / f"parsing_heads_{args.device}_{args.precision}.json")
    write_report(out, report)
    print(
        f"ratio pairwise/biaffine samples/s: {report['ratio_pairwise_over_biaffine_samples_per_s']:.2f}; "
        f"capture/eager: {report['ratio_capture_over_eager_samples_per_s']:.2f}"
    )


if __name__ == "__main__":
    main()
