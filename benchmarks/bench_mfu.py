"""Model FLOPs utilisation of a long-input training step: bert-base (random weights from its config) on
512-token inputs, relx's encoder and a per-token classifier trained by Lightning exactly as ``relx.train``
trains (fused AdamW, bf16 autocast on a GPU), eager and with ``trainer.compile=true``.

FLOPs per trained token follow the usual count (Kaplan et al. 2020; PaLM's MFU, Chowdhery et al. 2022):
``6 N + 12 L H S`` — ``N`` the encoder's matrix parameters (embeddings left out: a lookup), ``L`` layers,
``H`` hidden size, ``S`` the sequence length (the attention scores and their product with the values); the
classifier's own FLOPs are counted in ``N``. MFU = achieved FLOPs per second / the device's peak dense
FLOPs for the precision (``--peak-tflops``, else a table of data-centre GPUs' bf16 figures; none on CPU,
where the achieved TFLOP/s are reported alone). The inputs are random token ids with no padding, so every
position is real work.

    python benchmarks/bench_mfu.py --device cuda --precision bf16            # bert-base, 512 tokens, batch 16
    python benchmarks/bench_mfu.py --model-size minilm --seq-len 128 --batch-size 8 --steps 4   # CPU smoke run
"""

from __future__ import annotations

import argparse
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_training import (
    BERT_BASE,
    ROOT,
    answer_child,
    fit_timed,
    peak_memory_mb,
    report_head,
    run_variants,
    write_report,
)

VARIANTS = ("eager", "compiled")
# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, by a substring of torch.cuda.get_device_name(); the first
# match wins (H100 PCIe before the SXM figure). Other GPUs: --peak-tflops.
PEAK_BF16_TFLOPS = {"H100 PCIe": 756.0, "H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-size", default="bert-base", choices=["bert-base", "minilm"])
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=30, help="timed optimiser steps")
    p.add_argument("--warmup-steps", type=int, default=5)
    p.add_argument("--compile-warmup-steps", type=int, default=10, help="untimed steps of the compiled variant")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--peak-tflops", type=float, default=None, help="the device's peak for the precision")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--output", default=None, help="JSON path (default: benchmarks/results/mfu_<device>_<model>.json)")
    p.add_argument("--only", choices=VARIANTS, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def flops_per_token(model: Any, head_params: int, seq_len: int) -> tuple[float, int]:
    """(training FLOPs per token, matrix parameters N) of a BERT-style encoder plus a head."""
    config = model.config
    matrices = sum(p.numel() for name, p in model.named_parameters() if p.dim() == 2 and "embeddings" not in name)
    n = matrices + head_params
    return 6.0 * n + 12.0 * config.num_hidden_layers * config.hidden_size * seq_len, n


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader
    from torchmetrics import MetricCollection

    from relx.data.batch import EncodedBatch
    from relx.encoders import EncoderSettings, load_encoder
    from relx.heads.base import Head
    from relx.modules import TaskModule
    from relx.modules.compiling import CompileSettings, compile_encoder

    bert_base = args.model_size == "bert-base"
    settings = EncoderSettings(pretrained=not bert_base, config_overrides=BERT_BASE if bert_base else {})
    encoder = load_encoder(settings)

    @dataclass(kw_only=True)
    class Labelled(EncodedBatch):
        labels: torch.Tensor

    class PerToken(Head):
        """A linear classifier over every position (as a token-tagging head, without word pooling)."""

        label_space = "token"
        gold_field = "labels"

        def __init__(self, hidden: int, labels: int = 16) -> None:
            super().__init__()
            self.out = nn.Linear(hidden, labels)

        def forward(self, encoded: Any, batch: Labelled) -> torch.Tensor:
            return self.out(encoded.hidden)

        def loss(self, output: torch.Tensor, batch: Labelled) -> torch.Tensor:
            return nn.functional.cross_entropy(output.flatten(0, 1).float(), batch.labels.flatten())

    head = PerToken(encoder.hidden_size)
    module = TaskModule(encoder, {"token": head}, MetricCollection({}))
    compiled = args.only == "compiled"
    compile_encoder(encoder, CompileSettings(enabled=compiled))
    generator = torch.Generator().manual_seed(0)
    vocab = encoder.model.config.vocab_size
    shape = (args.batch_size, args.seq_len)
    batches = [
        Labelled(
            input_ids=torch.randint(1000, vocab, shape, generator=generator),
            attention_mask=torch.ones(shape, dtype=torch.long),
            example_ids=torch.arange(args.batch_size),
            labels=torch.randint(0, 16, shape, generator=generator),
        )
        for _ in range(4)
    ]
    warmup = max(args.warmup_steps, args.compile_warmup_steps) if compiled else args.warmup_steps
    # batch_size=None: the DataLoader hands each prepared batch over as it is
    loader = DataLoader([batches[i % len(batches)] for i in range(warmup + args.steps)], batch_size=None)
    elapsed = fit_timed(module, loader, args, warmup)
    per_token, n = flops_per_token(
        encoder.model, sum(p.numel() for p in head.parameters() if p.dim() == 2), args.seq_len
    )
    achieved = per_token * args.batch_size * args.seq_len * args.steps / elapsed
    peak = args.peak_tflops
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    if peak is None and args.device == "cuda" and args.precision == "bf16":
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in device_name), None)
    return {
        "device_name": device_name,
        "elapsed_s": elapsed,
        "samples_per_s": args.batch_size * args.steps / elapsed,
        "tokens_per_s": args.batch_size * args.seq_len * args.steps / elapsed,
        "matrix_parameters": n,
        "train_flops_per_token": per_token,
        "achieved_tflops": achieved / 1e12,
        "peak_tflops": peak,
        "mfu": achieved / (peak * 1e12) if peak else None,
        "peak_memory_mb": peak_memory_mb(args.device),
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if answer_child(args, run):
        return

    def show(name: str, r: dict[str, Any]) -> str:
        mfu = f"  MFU {100 * r['mfu']:.1f} %" if r["mfu"] is not None else ""
        speed = f"{r['samples_per_s']:8.2f} samples/s  {r['achieved_tflops']:7.2f} TFLOP/s{mfu}"
        return f"{name:>9}: {speed}  peak {r['peak_memory_mb']:.0f} MB"

    results = run_variants(__file__, argv, args.variants, show)
    report = {
        **report_head("mfu_training_step", args),
        "results": results,
    }
    out = Path(
        args.output or ROOT / "benchmarks" / "results" / f"mfu_{args.device}_{args.model_size}_{args.precision}.json"
    )
    write_report(out, report)


if __name__ == "__main__":
    main()
