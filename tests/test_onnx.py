"""``relx.export onnx=true``: ``model.onnx`` holds the encoder and the heads' logits; ONNX Runtime gives what the
PyTorch model gives, on bundled sample batches of different lengths, for every supported head family."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers import sample_batch, tiny_model
from relx.errors import ConfigError

ATOL = 1e-4


# (task, head, overrides) -> what each output of the graph must equal in the PyTorch model's own forward
FAMILIES = [
    ("mit_movie", "token", ("data.subword=mean",)),  # pooled words: the subword_word input
    ("mit_movie", "crf", ("data.subword=mean",)),
    ("atis", "sequence", ()),
    ("atis", "joint", ()),
    ("semeval", "rbert", ()),
    ("ud_ewt", "biaffine", ()),
    ("cmrc2018", "span_qa", ()),
]


def expected_outputs(module: Any, batch: Any) -> dict[str, torch.Tensor]:
    """The model's head outputs for ``batch`` under the graph's output names, from ``TaskModule.forward``."""
    with torch.no_grad():
        outputs = module(batch)
    expected = {}
    for name, output in outputs.items():
        head = module.heads[name]
        if isinstance(output, tuple):  # span QA
            expected[f"{name}_start_logits"], expected[f"{name}_end_logits"] = output
        elif hasattr(output, "arcs"):  # a parser: arcs, and relations on the gold heads (the graph gives all)
            expected[f"{name}_arc_scores"] = output.arcs
            expected[f"{name}_rel_scores@gold"] = head.relation_scores(output, batch.heads)
        else:
            expected[f"{name}_logits"] = output
    return expected


@pytest.mark.parametrize(("task", "head", "overrides"), FAMILIES, ids=[f"{t}-{h}" for t, h, _ in FAMILIES])
def test_onnx_runtime_gives_the_pytorch_logits(
    tmp_path: Path, task: str, head: str, overrides: tuple[str, ...]
) -> None:
    import onnx

    from relx.onnx_export import batch_inputs, run_onnx, write_onnx

    cfg, module, datamodule = tiny_model(task, head, *overrides)
    path = tmp_path / "model.onnx"
    described = write_onnx(module.encoder, module.heads, datamodule.tokenizer, path, cfg["data"]["subword"], head)
    onnx.checker.check_model(str(path), full_check=True)
    batch = sample_batch(datamodule)
    got = run_onnx(path, batch_inputs(batch, list(described["inputs"])))
    assert list(described["inputs"])[:3] == ["input_ids", "attention_mask", "token_type_ids"]
    assert described["inputs"]["input_ids"] == ["batch", "sequence"] and sorted(got) == sorted(described["outputs"])
    for name, value in expected_outputs(module, batch).items():
        if name.endswith("@gold"):  # [batch, words, words + 1, labels] at each word's gold head
            scores = got[name.removesuffix("@gold")]
            heads = batch.heads.clamp(min=0)[:, :, None, None].expand(-1, -1, 1, scores.shape[-1])
            found = scores.gather(2, heads).squeeze(2)
            real = batch.word_mask
            torch.testing.assert_close(found[real], value[real], atol=ATOL, rtol=ATOL)
        else:
            torch.testing.assert_close(got[name], value, atol=ATOL, rtol=ATOL)


def test_heads_without_a_fixed_tensor_forward_are_refused_in_one_line(tmp_path: Path) -> None:
    from relx.onnx_export import write_onnx

    _, module, datamodule = tiny_model("semeval", "pairwise_attention")
    with pytest.raises(
        ConfigError, match=r"head=pairwise_attention \(pairwise: PairwiseAttentionRelationHead\) cannot"
    ):
        write_onnx(module.encoder, module.heads, datamodule.tokenizer, tmp_path / "m.onnx", kind="pairwise_attention")
    _, module, datamodule = tiny_model("mit_movie", "token", "data.subword=mean")
    with pytest.raises(ConfigError, match="data.subword=max"):
        write_onnx(module.encoder, module.heads, datamodule.tokenizer, tmp_path / "m.onnx", pooling="max")
    assert not list(tmp_path.iterdir())


def test_export_with_onnx_writes_the_graph_beside_the_portable_directory(tmp_path: Path) -> None:
    """``relx.exporting.export(..., onnx=True)`` from a checkpoint file: model.onnx, described in relx.json and
    the model card; ONNX Runtime on it gives the loaded model's logits."""
    import relx
    from relx.exporting import export
    from relx.onnx_export import batch_inputs, run_onnx

    _, module, datamodule = tiny_model("semeval", "rbert")
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"state_dict": module.state_dict(), "relx": module.run_config}, ckpt)
    out = export(ckpt, tmp_path / "model", onnx=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "encoder",
        "heads.safetensors",
        "model.onnx",
        "relx.json",
    ]
    described = json.loads((out / "relx.json").read_text())["export"]["onnx"]
    assert described["file"] == "model.onnx" and list(described["inputs"])[-2:] == ["e1_span", "e2_span"]
    assert described["inputs"]["e1_span"] == ["batch", 2] and described["outputs"] == {"relation_logits": ["batch", 19]}
    card = (out / "README.md").read_text()
    assert "`model.onnx`" in card and "`relation_logits` [batch, 19]" in card and "onnx=true" in card
    loaded = relx.load(out, accelerator="cpu").module
    batch = sample_batch(datamodule)
    with torch.no_grad():
        expected = loaded(batch)["relation"]
    got = run_onnx(out / "model.onnx", batch_inputs(batch, list(described["inputs"])))["relation_logits"]
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=ATOL)
    _, pairwise, _ = tiny_model("semeval", "pairwise_attention")
    torch.save({"state_dict": pairwise.state_dict(), "relx": pairwise.run_config}, ckpt)
    with pytest.raises(ConfigError, match="cannot be exported to ONNX"):  # refused before anything is written
        export(ckpt, tmp_path / "other", onnx=True)
    assert not (tmp_path / "other").exists() and not list(tmp_path.glob(".other.*"))
