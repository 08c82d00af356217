"""Document-level RE heads on one encoder and the same batches: training throughput (documents/s) and
peak memory of ``docre_baseline`` (plain text) and ``atlop`` (marked mentions, attention captured), each
against an encoder-only forward/backward on the same input (the heads' overhead), and ATLOP with long
documents cut into windows (``--window``, default 256 tokens: most DocRED documents need two or three).
Each variant runs in its own child process. Writes JSON under ``benchmarks/results/``; the last line
gives each head's throughput relative to the encoder alone.

    python benchmarks/bench_docre.py [--device cuda --precision bf16] [--data-dir ../shared/data/redocred]
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

VARIANTS = {  # name -> (head, mention markers, windowed); each head is compared with the encoder on the same input
    "encoder_only": ("encoder", True, False),
    "atlop": ("atlop", True, False),  # as relx.train builds it: the last layer's attention recomputed alone
    "atlop_all_layers": ("atlop_all_layers", True, False),  # every layer's attention recomputed (relx before)
    "encoder_only_plain": ("encoder", False, False),
    "docre_baseline": ("baseline", False, False),
    "encoder_only_windowed": ("encoder", True, True),
    "atlop_windowed": ("atlop", True, True),
}
BASELINE_OF = {
    "atlop": "encoder_only",
    "atlop_all_layers": "encoder_only",
    "docre_baseline": "encoder_only_plain",
    "atlop_windowed": "encoder_only_windowed",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="default: ../shared/data/redocred, else the bundled sample")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--window", type=int, default=256, help="window length of the *_windowed variants")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument(
        "--output", default=None, help="JSON path (default: benchmarks/results/docre_heads_<device>_<precision>.json)"
    )
    p.add_argument("--only", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.data_dir is None:
        from relx.build import sample_dir

        shared = SHARED / "redocred"
        args.data_dir = str(shared) if shared.is_dir() else str(sample_dir("redocred"))
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    from torchmetrics import MetricCollection

    from relx.data.settings import DataSettings
    from relx.encoders import EncoderSettings, load_encoder, load_tokenizer
    from relx.heads import AtlopHead, DocREBaselineHead
    from relx.heads.docre import PairHead
    from relx.modules import TaskModule
    from relx.tasks.datamodule import TaskDataModule
    from relx.tasks.documents import DocumentRETask

    head_kind, markers, windowed = VARIANTS[args.only]
    settings = EncoderSettings(attention="capture" if head_kind.startswith("atlop") else "sdpa")
    if head_kind == "atlop":
        settings.attention_layers = "last"  # what relx.build derives from the head (AtlopHead.attention_layers)
    if windowed:
        settings.max_window = args.window
    tokenizer = load_tokenizer(settings)
    has_train = (Path(args.data_dir) / "train_revised.json").is_file()  # ../shared/data/redocred has dev only
    files = {"train": "train_revised.json" if has_train else "dev_revised.json", "validation": None}
    data = DataSettings(batch_size=args.batch_size, max_length=512, cache_dir=None)
    task = DocumentRETask(name="redocred", files=files, marker="*" if markers else None)
    dm: TaskDataModule[Any] = TaskDataModule(task, args.data_dir, tokenizer, data)
    dm.setup()
    encoder = load_encoder(settings, tokenizer)
    n_labels = dm.vocabs["pair"].num_labels

    class EncoderOnly(PairHead):
        """No head: the loss is a function of every encoder state, so the backward pass is the encoder's."""

        def forward(self, encoded: Any, batch: Any) -> Any:
            return encoded.hidden

        def loss(self, output: Any, batch: Any) -> Any:
            return output.float().pow(2).mean()

    head: Any = {
        "encoder": lambda: EncoderOnly(),
        "baseline": lambda: DocREBaselineHead(encoder.hidden_size, n_labels),
        "atlop": lambda: AtlopHead(encoder.hidden_size, n_labels),
        "atlop_all_layers": lambda: AtlopHead(encoder.hidden_size, n_labels),
    }[head_kind]()
    module = TaskModule(encoder, {"pair": head}, MetricCollection({}))
    loader = dm.train_dataloader()
    lengths = [len(ids) for ids in dm.features["train"]["input_ids"]]
    elapsed = fit_timed(module, loader, args)
    return {
        "documents_per_s": args.steps * args.batch_size / elapsed,
        "peak_memory_mb": peak_memory_mb(args.device),
        "documents_needing_windows": sum(n > (args.window if windowed else 512) for n in lengths),
        "documents": len(lengths),
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if answer_child(args, run):
        return
    results = run_variants(
        __file__, argv, args.variants,
        lambda name, r: f"{name:>24}: {r['documents_per_s']:7.2f} documents/s  peak {r['peak_memory_mb']:.0f} MB",
    )  # fmt: skip
    ratios = {
        name: results[name]["documents_per_s"] / results[ref]["documents_per_s"]
        for name, ref in BASELINE_OF.items()
        if name in results and ref in results
    }
    report = {
        **report_head("docre_heads_training", args),
        "results": results,
        "ratio_head_over_encoder_only_documents_per_s": ratios,
    }
    out = (
        Path(args.output)
        if args.output
        else ROOT / "benchmarks" / "results" / f"docre_heads_{args.device}_{args.precision}.json"
    )
    write_report(out, report)
    print("documents/s relative to the encoder alone: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
