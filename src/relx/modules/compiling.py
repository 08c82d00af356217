"""``trainer.compile=true``: the encoder runs under ``torch.compile`` on a bounded set of static shapes.

Short-sentence fine-tuning is launch- and host-bound on a GPU: a MiniLM or BERT-base step over 32 x 16
tokens is well under a millisecond of GPU work but tens of milliseconds of Python and kernel launches.
Compiling the encoder fuses its kernels (and ``trainer.compile_mode=reduce-overhead`` replays them as CUDA
graphs). Compiled graphs are specialised to their input shapes, so the encoder pads each batch to the next
of ``trainer.compile_buckets`` lengths (``relx.encoders.buckets``; outputs are sliced back, so heads,
losses and metrics see exactly the eager shapes) and marks the row count dynamic: one graph per bucket
used, not one per batch length. Heads stay eager: they are small, and several decode with Python loops.
The module is compiled in place (``nn.Module.compile``), so checkpoints keep their parameter names and a
run may switch between compiled and eager when it resumes.

Numbers: the compiled, bucketed path gives the eager loss, gradients and predictions within float tolerance
for every head family (tests/test_compile.py). Dropout masks are drawn over the padded length, so with
dropout on, a compiled run matches an eager one in distribution, not sample by sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relx.encoders import Encoder
from relx.encoders.buckets import DEFAULT_BUCKETS
from relx.errors import ConfigError

# torch.compile's modes; ``reduce-overhead`` adds CUDA graphs (GPU only; on a CPU it compiles as ``default``).
MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# inductor generates kernels (the speed path); aot_eager and eager capture the graphs without generating
# code (quick to compile: the suite checks the compiled path's numbers with them).
BACKENDS = ("inductor", "aot_eager", "eager")


@dataclass(frozen=True)
class CompileSettings:
    enabled: bool = False
    mode: str = "default"
    backend: str = "inductor"
    buckets: tuple[int, ...] = DEFAULT_BUCKETS


def compile_settings(trainer: Mapping[str, Any]) -> CompileSettings:
    """``trainer.compile``, ``compile_mode``, ``compile_backend``, ``compile_buckets`` (null: the defaults),
    checked."""
    mode = str(trainer.get("compile_mode") or "default")
    backend = str(trainer.get("compile_backend") or "inductor")
    if mode not in MODES:
        raise ConfigError(f"trainer.compile_mode must be one of {list(MODES)}, not {mode!r}")
    if backend not in BACKENDS:
        raise ConfigError(f"trainer.compile_backend must be one of {list(BACKENDS)}, not {backend!r}")
    given = trainer.get("compile_buckets")
    buckets = tuple(sorted({int(b) for b in given})) if given else DEFAULT_BUCKETS
    if not buckets or buckets[0] < 1:
        raise ConfigError(f"trainer.compile_buckets must be positive token counts, not {given!r}")
    return CompileSettings(bool(trainer.get("compile", False)), mode, backend, buckets)


def compile_encoder(encoder: Encoder, settings: CompileSettings) -> bool:
    """Compile ``encoder``'s model in place with bucketed input lengths; returns whether it did."""
    if not settings.enabled:
        return False
    encoder.length_buckets = settings.buckets
    encoder.cuda_graphs = settings.mode in ("reduce-overhead", "max-autotune")  # the modes that replay graphs
    mode = None if settings.mode == "default" else settings.mode
    encoder.model.compile(mode=mode, backend=settings.backend, dynamic=None)
    return True
