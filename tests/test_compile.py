"""The speed path (``trainer.compile=true``, ``relx.modules.compiling``) computes what the eager path does.

Every head family runs its forward, loss, backward and decoding on the same batch twice, eager and with the
encoder compiled on bucketed input lengths, and the two must agree within float tolerance. The graphs are
captured with the ``eager`` backend (dynamo's graph capture, no code generation: seconds on a CPU);
``aot_eager`` (AOT autograd's forward/backward split) runs in the end-to-end tests below. The GPU speed
that the path is for is measured by ``make bench``, not here.
"""

from __future__ import annotations

import copy
import csv
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers import TINY_FAST, compose_config, sample_batch, tiny_model
from relx.encoders.buckets import bucket_length
from relx.errors import ConfigError
from relx.modules.compiling import CompileSettings, compile_encoder, compile_settings

# Buckets that no sample batch length falls on exactly, so the compiled side really pads.
BUCKETS = (10, 20, 40, 70, 130, 260, 509)
TOL = {"atol": 2e-5, "rtol": 1e-4}

FAMILIES = [
    ("mit_movie", "token", ()),
    ("mit_movie", "crf", ("data.subword=mean",)),
    ("atis", "joint_crf", ()),
    ("semeval", "rbert", ()),
    ("semeval", "pairwise_attention", ()),  # reads every layer's captured attention
    ("ud_ewt", "biaffine", ()),
    ("ud_ewt", "pairwise_attention", ()),
    ("docred", "atlop", ()),  # localised context pooling over captured attention
    ("cmrc2018", "span_qa", ()),  # question/context segment ids
    ("c3", "choice", ()),
]


def loss_grads_and_predictions(module: Any, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor], Any]:
    module.zero_grad(set_to_none=True)
    outputs = module(batch)
    loss = module.loss(outputs, batch)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in module.named_parameters() if p.grad is not None}
    with torch.no_grad():
        decoded = module.decode(module(batch), batch)
    return loss.detach(), grads, decoded


@pytest.mark.parametrize(("task", "head", "overrides"), FAMILIES, ids=[f"{t}-{h}" for t, h, _ in FAMILIES])
def test_the_compiled_bucketed_encoder_gives_the_eager_loss_gradients_and_predictions(
    task: str, head: str, overrides: tuple[str, ...]
) -> None:
    _, module, datamodule = tiny_model(task, head, *overrides)  # eval mode: no dropout on either side
    batch = sample_batch(datamodule)
    length = batch.input_ids.shape[1]
    assert bucket_length(length, BUCKETS) > length or length > module.encoder.windows.max_length

    eager = loss_grads_and_predictions(module, batch)
    compiled_module = copy.deepcopy(module)
    assert compile_encoder(compiled_module.encoder, CompileSettings(True, "default", "eager", BUCKETS))
    compiled = loss_grads_and_predictions(compiled_module, batch)

    torch.testing.assert_close(compiled[0], eager[0], **TOL)
    assert compiled[1].keys() == eager[1].keys()
    for name, grad in eager[1].items():
        torch.testing.assert_close(compiled[1][name], grad, **TOL, msg=lambda m, name=name: f"{name}: {m}")
    assert compiled[2].keys() == eager[2].keys()
    for key, value in eager[2].items():
        if value.is_floating_point():
            torch.testing.assert_close(compiled[2][key], value, **TOL)
        else:
            assert torch.equal(compiled[2][key], value), key


def test_padding_to_a_bucket_changes_no_state_of_a_real_token() -> None:
    """Bucketing alone (no compilation): states and captured attention of the real positions are the
    unpadded ones, for plain and windowed (longer than the model) inputs."""
    _, module, datamodule = tiny_model("docred", "atlop")
    encoder = copy.deepcopy(module.encoder)
    batch = sample_batch(datamodule)
    plain = encoder(batch.input_ids, batch.attention_mask)
    encoder.length_buckets = BUCKETS
    padded = encoder(batch.input_ids, batch.attention_mask)
    assert padded.hidden.shape == plain.hidden.shape and padded.attentions is not None
    torch.testing.assert_close(padded.hidden, plain.hidden, **TOL)
    for a, b in zip(padded.attentions, plain.attentions or (), strict=True):
        torch.testing.assert_close(a, b, **TOL)
    spec = encoder.windows
    assert spec is not None
    long_ids = batch.input_ids[:2].repeat(1, -(-spec.max_length * 2 // batch.input_ids.shape[1]))
    long_mask = torch.ones_like(long_ids)
    encoder.length_buckets = ()
    windowed = encoder(long_ids, long_mask)
    encoder.length_buckets = BUCKETS
    torch.testing.assert_close(encoder(long_ids, long_mask).hidden, windowed.hidden, **TOL)


def test_compile_settings_are_checked_in_one_line() -> None:
    assert compile_settings({}) == CompileSettings()
    assert compile_settings({"compile": True, "compile_buckets": [64, 16]}).buckets == (16, 64)
    with pytest.raises(ConfigError, match="trainer.compile_mode must be one of"):
        compile_settings({"compile_mode": "fastest"})
    with pytest.raises(ConfigError, match="trainer.compile_backend must be one of"):
        compile_settings({"compile_backend": "tensorrt"})
    with pytest.raises(ConfigError, match="positive token counts"):
        compile_settings({"compile_buckets": [0, 8]})


def train_losses(run_dir: Path) -> list[float]:
    with (run_dir / "logs" / "metrics.csv").open() as fh:
        return [float(row["train/loss"]) for row in csv.DictReader(fh) if row.get("train/loss")]


def test_a_compiled_run_trains_and_scores_as_the_eager_run(tmp_path: Path) -> None:
    """End to end with AOT autograd (the forward/backward graphs inductor would generate code for): the
    same losses along training and the same dev metrics; the checkpoint keeps the eager parameter names,
    so ``relx.evaluate`` and an eager resume read it. Dropout is off: padding to a bucket draws dropout
    masks over more positions, so with dropout the two runs agree in distribution, not sample by sample."""
    from relx.runs import train

    no_dropout = [
        "+encoder.config_overrides.hidden_dropout_prob=0.0",
        "+encoder.config_overrides.attention_probs_dropout_prob=0.0",
        "head.heads.token.dropout=0.0",
    ]
    common = ["task=mit_movie", "head=token", *TINY_FAST, "trainer.max_steps=4", "write_predictions=false",
              "trainer.log_every_n_steps=1", *no_dropout]  # fmt: skip
    eager = train(compose_config(common), tmp_path / "eager")
    compiled_cfg = compose_config([*common, "trainer.compile=true", "trainer.compile_backend=aot_eager"])
    compiled = train(compiled_cfg, tmp_path / "compiled")
    eager_losses, compiled_losses = (train_losses(tmp_path / name) for name in ("eager", "compiled"))
    assert len(eager_losses) == 4 and compiled_losses == pytest.approx(eager_losses, rel=1e-4)
    for key, value in eager.items():
        assert compiled[key] == pytest.approx(value, rel=1e-3, abs=1e-3), key
    state = torch.load(tmp_path / "compiled" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert not [k for k in state if "_orig_mod" in k]


def test_gpu_runs_pin_their_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """``data.pin_memory=null`` pins for GPU runs only; a pinned batch keeps its class and pins every tensor
    (page-locking needs a GPU, so it is stood in for here)."""
    from relx.build import build_datamodule, build_tokenizer

    def settings(*overrides: str) -> Any:
        cfg = compose_config(["task=mit_movie", *TINY_FAST, *overrides])
        return build_datamodule(cfg, build_tokenizer(cfg), splits=("train",)).settings

    assert not settings().pin_memory and settings("trainer=gpu").pin_memory
    assert not settings("trainer=gpu", "data.pin_memory=false").pin_memory
    _, _, datamodule = tiny_model("mit_movie", "token")
    batch = sample_batch(datamodule)
    pinned: list[torch.Tensor] = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda t: pinned.append(t) or t.clone())
    copy_ = batch.pin_memory()
    assert type(copy_) is type(batch) and torch.equal(copy_.input_ids, batch.input_ids)
    assert len(pinned) == sum(isinstance(v, torch.Tensor) for v in vars(batch).values())


def test_cuda_graph_modes_mark_each_batch_as_a_new_graph_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``reduce-overhead`` a replay reuses the previous outputs' memory: every batch hook marks a new
    step (each task encodes a batch in one call); the default mode never does."""
    _, module, _ = tiny_model("mit_movie", "token")
    compiled = copy.deepcopy(module)
    marks: list[int] = []
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: marks.append(1))
    compile_encoder(compiled.encoder, CompileSettings(True, "default", "eager", BUCKETS))
    compiled.on_validation_batch_start(None, 0)
    assert not compiled.encoder.cuda_graphs and not marks
    compile_encoder(compiled.encoder, CompileSettings(True, "reduce-overhead", "eager", BUCKETS))
    compiled.on_validation_batch_start(None, 0)
    compiled.on_predict_batch_start(None, 0)
    assert compiled.encoder.cuda_graphs and len(marks) == 2
