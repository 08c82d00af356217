"""End-to-end runs with the tiny encoder: every task, the CLI entry points, resume, prediction files."""

from __future__ import annotations

import json
import os
import signal
import warnings
from importlib import resources
from pathlib import Path

import lightning as L
import pytest
import torch
from seqeval.metrics import f1_score

from behaviour import check_behaviour
from helpers import TINY_FAST, compose_config, run_cli
from relx.build import sample_dir
from relx.inference import evaluate
from relx.runs import train
from relx.tasks.word_outputs import read_conll_columns

RUNS = [
    ("mit_movie", "token", "val/f1"),
    ("mit_movie", "crf", "val/f1"),
    ("mit_movie_trivia", "token", "val/f1"),
    ("conll_ner", "token", "val/f1"),
    ("atis", "token", "val/slot_f1"),
    ("atis", "sequence", "val/intent_acc"),
    ("atis", "joint", "val/frame_acc"),
    ("atis", "joint_crf", "val/frame_acc"),
    ("snips", "joint", "val/frame_acc"),
    ("semeval", "rbert", "val/f1"),
    ("semeval", "sequence", "val/f1"),
    ("klue_re", "rbert", "val/micro_f1"),
    ("ud_ewt", "biaffine", "val/las"),
    ("ptb_sd", "biaffine", "val/las"),
    ("ud_ewt", "pairwise_attention", "val/las"),
    ("semeval", "pairwise_attention", "val/f1"),
]


@pytest.mark.parametrize(("task", "head", "monitor"), RUNS)
def test_every_task_trains_and_writes_its_run_directory(tmp_path: Path, task: str, head: str, monitor: str) -> None:
    cfg = compose_config([f"task={task}", f"head={head}", *TINY_FAST])
    metrics = train(cfg, tmp_path)
    check_behaviour(f"{task}-{head}", tmp_path, metrics)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == pytest.approx(metrics)
    summary = json.loads((tmp_path / "data_summary.json").read_text())
    assert monitor in saved and (monitor.replace("val/", "test/") in saved) == ("test" in summary)
    assert all(k.startswith(("val/", "test/")) for k in saved)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    if task in ("semeval", "klue_re", "snips") or (task == "atis" and head != "token"):  # sentence labels
        assert (tmp_path / "confusion_test.png").is_file() or (tmp_path / "confusion_validation.png").is_file()
    if head in ("token", "crf", "joint", "joint_crf") or task in ("semeval", "klue_re"):  # per-type F1
        assert (tmp_path / "f1_by_type_validation.png").is_file()
    assert json.loads((tmp_path / "config.json").read_text())["task"]["name"] == task
    assert summary["validation"]["examples"] > 0
    if task == "semeval":  # the official scorer's answer-key format, and its score recomputed from the files
        from relx.metrics.relation_scores import semeval_official_scores

        def read(name: str) -> dict[str, str]:
            return dict(line.split("\t") for line in (tmp_path / name).read_text().splitlines())

        pred, gold = read("predictions_test.txt"), read("answer_key_test.txt")
        assert pred.keys() == gold.keys() and len(pred) == summary["test"]["examples"]
        ids = sorted(gold)
        official = semeval_official_scores([pred[i] for i in ids], [gold[i] for i in ids])
        assert saved["test/f1"] == pytest.approx(official["f1"], abs=1e-6)
    if task == "klue_re":
        rows = (tmp_path / "predictions_validation.csv").read_text().splitlines()
        assert rows[0] == "id,pred_label,probs" and len(rows) == 1 + summary["validation"]["examples"]
    if head == "biaffine" or (
        head == "pairwise_attention" and task == "ud_ewt"
    ):  # predicted trees in CoNLL columns, one per test sentence
        from relx.data.conll import read_conll
        from relx.structs import is_tree

        trees = read_conll(tmp_path / "predictions_test.conllu")
        assert len(trees) == summary["test"]["examples"] and all(is_tree([-1, *t.heads]) for t in trees)
    if head in ("token", "joint"):
        gold, pred = read_conll_columns(tmp_path / "predictions_test.conll")
        assert len(gold) == summary["test"]["examples"]
        key = "test/f1" if task.startswith(("mit", "conll")) else "test/slot_f1"
        # relx's F1 equals seqeval's on the written prediction file
        assert saved[key] == pytest.approx(f1_score(gold, pred), abs=1e-6)
        assert (tmp_path / "entity_report_test.json").is_file()
    if head == "joint" or (head == "sequence" and task in ("atis", "snips")):
        rows = [json.loads(line) for line in (tmp_path / "predictions_test.jsonl").read_text().splitlines()]
        acc = sum(r["intent_gold"] == r["intent_pred"] for r in rows) / len(rows)
        assert saved["test/intent_acc"] == pytest.approx(acc, abs=1e-6)


class Interrupt(L.Callback):
    """Simulates a crash at the start of the given epoch (after the previous epoch's checkpoint)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated interruption")


def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path: Path) -> None:
    overrides = [
        "task=mit_movie",
        "head=token",
        "encoder=tiny",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=4",
        "trainer.enable_progress_bar=false",
        "trainer.early_stopping_patience=0",
        "data.batch_size=8",
    ]
    cfg = compose_config(overrides)
    straight = train(cfg, tmp_path / "straight")
    with pytest.raises(RuntimeError, match="simulated interruption"):
        train(cfg, tmp_path / "resumed", extra_callbacks=[Interrupt(epoch=2)])
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    resumed = train(cfg, tmp_path / "resumed")
    assert resumed == pytest.approx(straight, abs=1e-6)
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


class SignalAfter(L.Callback):
    """Sends this process SIGTERM after the batch that makes global step ``step``; relx's signal stop then
    saves ``last.ckpt`` at that batch boundary, in the middle of an epoch."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.parametrize("task", ["mit_movie", "multitask"])
def test_a_run_stopped_mid_epoch_resumes_exactly(tmp_path: Path, task: str) -> None:
    """The resumed epoch trains on exactly the batches the stopped one had left (not on its first ones
    again): the final weights and metrics equal an uninterrupted run's, and Lightning has no reason to warn."""
    common = [
        "encoder=tiny", "trainer.max_epochs=2", "trainer.enable_progress_bar=false",
        "trainer.early_stopping_patience=0", "data.batch_size=4", "write_predictions=false",
    ]  # fmt: skip
    if task == "multitask":  # five steps an epoch, drawn from two tasks
        cfg = compose_config(["+experiment=multitask", "multitask.epoch=5", *common])
    else:
        cfg = compose_config(["task=mit_movie", "head=token", "trainer.limit_train_batches=5", *common])
    straight = train(cfg, tmp_path / "straight")
    with pytest.raises(SystemExit) as stopped:
        train(cfg, tmp_path / "resumed", extra_callbacks=[SignalAfter(step=7)])  # epoch 1, batch 2 of 5
    assert stopped.value.code == 128 + signal.SIGTERM
    saved = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] in (7, 8) and saved["epoch"] == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = train(cfg, tmp_path / "resumed")
    assert not [w for w in caught if "not resumable" in str(w.message)]
    assert resumed == pytest.approx(straight, abs=1e-6)
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def new_atis_split(tmp_path: Path) -> Path:
    """A test split in the JointBERT layout, under another name, whose first utterance has an intent and a
    slot tag the model never saw."""
    split = tmp_path / "arrived_later"
    split.mkdir()
    sample = sample_dir("atis") / "test"
    for name in ("seq.in", "seq.out", "label"):
        (split / name).write_text((sample / name).read_text())
    words = (split / "seq.in").read_text().splitlines()
    tags = (split / "seq.out").read_text().splitlines()
    tags[0] = " ".join(["B-never_seen_slot", *tags[0].split()[1:]])
    labels = (split / "label").read_text().splitlines()
    labels[0] = "atis_never_seen_intent"
    for name, lines in (("seq.in", words), ("seq.out", tags), ("label", labels)):
        (split / name).write_text("\n".join(lines) + "\n")
    return split


def test_cli_train_evaluate_predict(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    quiet = [o for o in TINY_FAST if "progress_bar" not in o]
    progress = ["trainer.enable_progress_bar=true", "trainer.progress_every_n_steps=1", "trainer.val_check_interval=1"]
    done = run_cli("relx.train", "task=atis", "head=joint", *quiet, *progress, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test/frame_acc" in done.stdout and (run_dir / "metrics.json").is_file()
    assert "step 1/2" in done.stdout and "step 2/2" in done.stdout
    # a spaCy-style table: a row per validation, the best so far marked
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:4] == ["epoch", "step", "train", "loss"])
    assert lines[header].split()[4:] == ["val/frame_acc", "val/loss"]
    rows = [line for line in lines[header + 1 :] if line.split() and line.split()[0] == "0"]
    assert len(rows) == 2 and rows[0].endswith(" *") and len(rows[0].split()) == 6
    # the best checkpoint is the one the last `*` names, written right after that validation (mid-epoch here)
    best_step = int([row for row in rows if row.endswith(" *")][-1].split()[1])
    best_ckpt = run_dir / "checkpoints" / "best.ckpt"
    assert torch.load(best_ckpt, map_location="cpu", weights_only=True)["global_step"] == best_step
    assert "Warning" not in done.stdout and "deprecated" not in done.stdout.lower()
    assert "smoke run on the bundled atis sample" in done.stdout and "LeafSpec" not in done.stderr
    assert "FLOPs" not in done.stdout and "model: encoder" in done.stdout
    trained = json.loads((run_dir / "metrics.json").read_text())
    ckpt = run_dir / "checkpoints" / "last.ckpt"

    out = tmp_path / "eval"
    evaluate(ckpt, split="test", output_dir=out, accelerator="cpu")  # the library API of relx.evaluate
    evaluated = json.loads((out / "metrics.json").read_text())
    best = json.loads((run_dir / "data_summary.json").read_text())["best_checkpoint"]
    if Path(best) == ckpt:  # same weights -> same scores
        assert evaluated["test/frame_acc"] == pytest.approx(trained["test/frame_acc"])
    assert (out / "predictions_test.jsonl").is_file()

    # a labelled file under any name, with an intent and a slot tag the checkpoint never saw: scored as errors
    new = new_atis_split(tmp_path)
    done = run_cli("relx.evaluate", f"ckpt_path={ckpt}", f"input={new}", f"output_dir={tmp_path / 'new'}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "new" / "data_summary.json").read_text())
    unseen = summary["unseen_labels"]
    assert "atis_never_seen_intent" in unseen["sentence"] and "B-never_seen_slot" in unseen["token"]
    assert set(summary) >= {"test"} and "train" not in summary and "validation" not in summary  # only what it scores
    rows = [json.loads(line) for line in (tmp_path / "new" / "predictions_test.jsonl").read_text().splitlines()]
    assert rows[0]["intent_gold"] == "atis_never_seen_intent" and rows[0]["intent_pred"] != "atis_never_seen_intent"

    text = tmp_path / "in.txt"
    text.write_text("show me flights from boston to denver\n\nwhat is the cheapest fare to dallas\n")
    done = run_cli("relx.predict", f"ckpt_path={ckpt}", f"input={text}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in Path(f"{text}.predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and rows[0]["words"][:2] == ["show", "me"]
    assert len(rows[0]["tags"]) == len(rows[0]["words"]) and isinstance(rows[1]["intent"], str)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data_dir=/nonexistent/dir"], "/nonexistent/dir: data directory not found"),
        (["data.batchsize=3"], "data.batchsize"),
    ],
)
def test_cli_reports_bad_input_clearly(tmp_path: Path, args: list[str], message: str) -> None:
    # Heads that do not fit their task are checked in process (tests/test_config.py).
    done = run_cli("relx.train", "encoder=tiny", *args, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_names_the_bad_line_of_a_data_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "engtrain.bio").write_text("O\twhat\nB-ACTOR bruce\n", encoding="utf-8")
    done = run_cli(
        "relx.train", "task=mit_movie", "head=token", "encoder=tiny", f"data_dir={data}",
        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"{data / 'engtrain.bio'}:2: expected 'TAG<TAB>word'" in done.stderr


def test_unloadable_encoder_gives_one_clear_error(tmp_path: Path) -> None:
    done = run_cli(
        "relx.train",
        "encoder=roberta-base",
        "encoder.name=/no/such/model",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "could not load the tokenizer of encoder '/no/such/model'" in done.stderr
    assert "encoder.name=DIR" in done.stderr and "Traceback" not in done.stderr


def test_multirun_sweep_runs_every_combination(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    done = run_cli(
        "relx.train",
        "-m",
        "task=snips",
        "head=sequence,joint",
        *TINY_FAST,
        "write_predictions=false",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = {p.parent.name.split("_", 1)[0]: p for p in sweep.glob("*/metrics.json")}
    assert sorted(runs) == ["0", "1"] and "head=sequence" in runs["0"].parent.name
    assert "val/intent_acc" in json.loads(runs["0"].read_text())
    assert "val/frame_acc" in json.loads(runs["1"].read_text())


def test_rbert_ablation_multirun_and_its_report(tmp_path: Path) -> None:
    """The preset's sweep lists every variant; four of them (the baseline, the two CLS-product concatenations and
    the dropped long sentences) run as one multirun and report as one table, rows in job order."""
    from omegaconf import OmegaConf

    preset = OmegaConf.load(Path(str(resources.files("relx.conf"))) / "experiment" / "rbert_ablation.yaml")
    listed = str(preset.hydra.sweeper.params["+rbert_variant"]).split(",")
    assert sorted(listed) == sorted(
        p.stem for p in (Path(str(resources.files("relx.conf"))) / "rbert_variant").glob("*.yaml")
    )
    sweep = tmp_path / "sweep"
    variants = ["baseline", "cls_prod", "cls_prod_e1_e2_prod", "maxlen250"]
    args = ["-m", "+experiment=rbert_ablation", f"+rbert_variant={','.join(variants)}", *TINY_FAST,
            "write_predictions=false", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    done = run_cli("relx.train", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = run_cli("relx.report", str(sweep), "--metrics", "val/f1,val/acc", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    rows = report.stdout.strip().splitlines()[2:]
    assert len(rows) == len(variants) and all(f"+rbert_variant={v} " in rows[i] for i, v in enumerate(variants))
    assert (sweep / "report.csv").is_file()
    # every combination ran, each in a job directory named by its overrides
    jobs = sorted(p.parent.name for p in sweep.glob("*/metrics.json"))
    assert len(jobs) == len(variants) and any("+rbert_variant=maxlen250," in name for name in jobs), jobs
