"""Where an ATLOP training step spends its time: the torch profiler over a few steps on Re-DocRED documents,
printed as the operators with the most self time (CPU, and CUDA on a GPU) and written as a Chrome trace.

    python benchmarks/profile_docre.py [--device cuda --precision bf16] [--steps 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_training import ROOT, SHARED  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(SHARED / "redocred"))
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--trace", default=str(ROOT / "benchmarks" / "results" / "atlop_trace.json"))
    args = p.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from relx.data.settings import DataSettings
    from relx.encoders import EncoderSettings, load_encoder, load_tokenizer
    from relx.heads import AtlopHead
    from relx.tasks.datamodule import TaskDataModule
    from relx.tasks.documents import DocumentRETask

    settings = EncoderSettings(attention="capture", attention_layers="last")
    tokenizer = load_tokenizer(settings)
    has_train = (Path(args.data_dir) / "train_revised.json").is_file()
    files = {"train": "train_revised.json" if has_train else "dev_revised.json", "validation": None}
    task = DocumentRETask(name="redocred", files=files, marker="*")
    dm: TaskDataModule[Any] = TaskDataModule(
        task, args.data_dir, tokenizer, DataSettings(batch_size=args.batch_size, max_length=512, cache_dir=None)
    )
    dm.setup()
    device = torch.device(args.device)
    encoder = load_encoder(settings, tokenizer).to(device)
    head = AtlopHead(encoder.hidden_size, dm.vocabs["pair"].num_labels).to(device)
    params = [*encoder.parameters(), *head.parameters()]
    optimiser = torch.optim.AdamW(params, lr=1e-5, fused=True)
    dtype = torch.bfloat16 if args.precision == "bf16" else None
    batches = iter(dm.train_dataloader())

    def step() -> None:
        batch = next(batches)
        batch = type(batch)(**{k: v.to(device) if torch.is_tensor(v) else v for k, v in vars(batch).items()})
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            with record_function("encoder"):
                encoded = encoder(batch.input_ids, batch.attention_mask)
            with record_function("atlop_head"):
                loss = head.loss(head(encoded, batch), batch)
        with record_function("backward"):
            loss.backward()
        with record_function("optimiser"):
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)

    step()  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, record_shapes=False) as prof:
        for _ in range(args.steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    sort = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=25))
    scopes = {e.key: e for e in prof.key_averages() if e.key in ("encoder", "atlop_head", "backward", "optimiser")}
    for name, event in scopes.items():
        device_ms = f", {event.device_time_total / 1e3 / args.steps:9.1f} ms GPU" if device.type == "cuda" else ""
        print(f"{name:>12}: {event.cpu_time_total / 1e3 / args.steps:9.1f} ms CPU{device_ms} per step")
    prof.export_chrome_trace(args.trace)
    print(f"trace: {args.trace}")


if __name__ == "__main__":
    main()
