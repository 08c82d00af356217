"""The seeds' tables as presets: R-BERT's concatenations and dropped long sentences, decoders scored from one
checkpoint (the pairwise-attention Table 1), the best epoch in reports, the DocRE and Chinese MRC presets, and
the two-stage MRC pipeline's choice of an answer across its top-k paragraphs."""

from __future__ import annotations

import copy
import csv
import json
import math
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from helpers import TINY_FAST, compose_config, run_cli
from relx.build import add_special_tokens
from relx.data.settings import DataSettings
from relx.errors import ConfigError
from relx.tasks.datamodule import TaskDataModule
from relx.tasks.relations import SemEvalTask

CONF = Path(str(resources.files("relx.conf")))


# ---- R-BERT concatenations ----------------------------------------------------------------------------------
def test_rbert_concatenations_are_the_reports_definitions() -> None:
    from relx.heads.rbert import Concat

    cls, e1, e2 = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -4.0]]), torch.tensor([[5.0, 6.0]])
    expected = {
        "cls_e1_e2": [1, 2, 3, -4, 5, 6],
        "cls_e1_e2_absdiff": [1, 2, 3, -4, 5, 6, 2, 10],
        "cls_e1_e2_prod": [1, 2, 3, -4, 5, 6, 15, -24],
        "cls_e1_e2_absdiff_prod": [1, 2, 3, -4, 5, 6, 2, 10, 15, -24],
        "cls_prod": [3, -8, 5, 12],  # (CLS*e1, CLS*e2)
        "cls_prod_e1_e2_prod": [3, -8, 5, 12, 15, -24],  # (CLS*e1, CLS*e2, e1*e2)
        "e1_e2": [3, -4, 5, 6],
    }
    assert sorted(expected) == sorted(c.value for c in Concat)
    for name, values in expected.items():
        concat = Concat(name)
        assert concat.features(cls, e1, e2).tolist() == [[float(v) for v in values]], name
        assert concat.parts * 2 == len(values)


@pytest.mark.parametrize("concat", ["cls_prod", "cls_prod_e1_e2_prod", "cls_e1_e2_absdiff"])
def test_rbert_concat_variants_train_with_their_feature_size(concat: str) -> None:
    from relx.encoders import Encoded
    from relx.heads import RBertHead

    hidden = torch.randn(2, 7, 8, requires_grad=True)
    pooled = torch.randn(2, 8, requires_grad=True)
    batch = SimpleNamespace(
        e1_span=torch.tensor([[1, 2], [3, 3]]),
        e2_span=torch.tensor([[4, 5], [1, 1]]),
        sentence_labels=torch.tensor([1, 2]),
        fits=torch.tensor([True, True]),
        fallback_id=0,
    )
    head = RBertHead(8, num_labels=3, concat=concat)
    parts = {"cls_prod": 2, "cls_prod_e1_e2_prod": 3, "cls_e1_e2_absdiff": 4}[concat]
    assert head.classifier.linear.in_features == parts * 8
    logits = head(Encoded(hidden=hidden, pooled=pooled), batch)
    assert logits.shape == (2, 3)
    head.loss(logits, batch).backward()
    # the gradient reaches [CLS] (the pooler) and both entities' subwords
    assert pooled.grad is not None and pooled.grad.abs().sum() > 0
    assert hidden.grad is not None and hidden.grad[0, 1:3].abs().sum() > 0 and hidden.grad[0, 4:6].abs().sum() > 0
    with pytest.raises(ConfigError, match="head.concat must be one of"):
        RBertHead(8, num_labels=3, concat="cls_times_e1")


# ---- data.too_long -------------------------------------------------------------------------------------------
def _semeval(path: Path, long_ids: set[int], lead: int = 0) -> None:
    """Ten examples; those in ``long_ids`` have 40 filler words after the second entity (``lead``: before the
    first entity, in every example)."""
    first = " ".join(["a"] * lead)
    blocks = ""
    for i in range(1, 11):
        tail = " ".join(["word"] * 40) if i in long_ids else ""
        sentence = f"{first} The <e1>child</e1> was put in the <e2>cradle</e2> {tail}.".strip()
        blocks += f'{i}\t"{sentence}"\nContent-Container(e1,e2)\nComment:\n\n'
    path.mkdir(parents=True, exist_ok=True)
    (path / "TRAIN_FILE.TXT").write_text(blocks, encoding="utf-8")
    (path / "TEST_FILE_FULL.TXT").write_text(blocks.replace("Content-Container(e1,e2)", "Other"), encoding="utf-8")


def _relations(data_dir: Path, tokenizer: Any, too_long: str) -> TaskDataModule[Any]:
    task = SemEvalTask("semeval", {"train": "TRAIN_FILE.TXT", "test": "TEST_FILE_FULL.TXT"})
    dm: TaskDataModule[Any] = TaskDataModule(
        task, data_dir, copy.deepcopy(tokenizer), DataSettings(max_length=24, dev_fraction=0.2, too_long=too_long)
    )
    dm.read()
    add_special_tokens(dm.tokenizer, task)
    dm.setup()
    return dm


def test_too_long_drop_leaves_long_examples_out_of_training_only(tmp_path: Path, tokenizer: Any) -> None:
    _semeval(tmp_path, long_ids={2, 5, 7, 9})
    window = _relations(tmp_path, tokenizer, "window")
    dropped = _relations(tmp_path, tokenizer, "drop")
    assert window.examples["train"] == dropped.examples["train"]  # the same 8 examples, 2 carved as dev
    long_in_train = sum(int(ex.id) in {2, 5, 7, 9} for ex in dropped.examples["train"])
    assert long_in_train > 0
    # window keeps every training example (the entities fit at the front); drop leaves the long ones out
    assert len(window.features["train"]) == 8 and window.data_summary()["train"]["dropped_from_training"] == 0
    summary = dropped.data_summary()
    assert len(dropped.features["train"]) == 8 - long_in_train
    assert summary["train"]["dropped_from_training"] == long_in_train == summary["train"]["windowed_examples"]
    assert summary["too_long"] == "drop"
    # dev and test keep every example (windowed), so the scorer's denominators do not change
    for split in ("validation", "test"):
        assert len(dropped.features[split]) == len(dropped.examples[split]) == len(window.features[split])
        assert "dropped_from_training" not in summary[split]
    assert len(dropped.features["test"]) == 10 and summary["test"]["windowed_examples"] == 4


def test_too_long_truncate_cuts_the_end_and_counts_entities_cut_off(tmp_path: Path, tokenizer: Any) -> None:
    _semeval(tmp_path / "front", long_ids={1, 2})
    truncated = _relations(tmp_path / "front", tokenizer, "truncate")
    f = next(f for f, ex in zip(truncated.features["test"], truncated.examples["test"], strict=True) if ex.id == "1")
    pieces = truncated.tokenizer.convert_ids_to_tokens(f["input_ids"])
    assert len(pieces) == 24 and pieces[1] == "the" and f["fits"]  # the first tokens kept, entities inside
    _semeval(tmp_path / "back", long_ids=set(), lead=30)  # every entity past the cut
    cut = _relations(tmp_path / "back", tokenizer, "truncate")
    assert cut.encoding_stats["test"]["unfit_examples"] == 10 and len(cut.features["train"]) == 0
    windowed = _relations(tmp_path / "back", tokenizer, "window")  # a window around the entities instead
    assert windowed.encoding_stats["test"]["unfit_examples"] == 0 and len(windowed.features["train"]) == 8


def test_too_long_is_refused_where_a_task_handles_long_inputs_its_own_way(tokenizer: Any) -> None:
    from relx.tasks.words import BioNerTask

    with pytest.raises(ConfigError, match="data.too_long=drop does not apply to task 'ner'"):
        BioNerTask("ner", {"train": "x.bio"}).attach(tokenizer, DataSettings(too_long="drop"))
    with pytest.raises(ValueError, match="data.too_long must be one of window, truncate, drop"):
        DataSettings(too_long="cut")
    assert DataSettings(too_long=None).too_long == "window"  # a config written before the option


# ---- presets -------------------------------------------------------------------------------------------------
def test_docred_presets_train_the_seeds_long_schedule_without_early_stopping() -> None:
    for name, swept in (("docred_batch_size", "data.batch_size"), ("docred_train_fraction", "data.train_fraction"),
                        ("docred_encoders", "encoder")):  # fmt: skip
        cfg = compose_config([f"+experiment={name}"], resolve=False)
        assert cfg.trainer.max_epochs == 200 and cfg.trainer.early_stopping_patience == 0, name
        assert cfg.optim.encoder_lr == 4e-5 and cfg.head.kind == "docre_baseline", name
        assert {"val/best_f1", "val/auc"} <= set(cfg.task.curves), name
        assert swept in OmegaConf.load(CONF / "experiment" / f"{name}.yaml").hydra.sweeper.params, name


def test_chinese_mrc_presets_have_the_seeds_hyperparameters() -> None:
    select = compose_config(["+experiment=chinese_mrc_select"])
    assert (select["task"]["name"], select["head"]["kind"], select["data"]["batch_size"]) == (
        "drcd_select",
        "choice",
        3,
    )
    assert select["optim"]["encoder_lr"] == select["optim"]["head_lr"] == 1e-5 and select["trainer"]["max_epochs"] == 1
    qa = compose_config(["+experiment=chinese_mrc_qa"])
    assert (qa["task"]["name"], qa["head"]["kind"], qa["data"]["batch_size"]) == ("drcd", "span_qa", 5)
    assert qa["optim"]["encoder_lr"] == qa["optim"]["head_lr"] == 3e-5 and qa["trainer"]["max_epochs"] == 3
    for cfg in (select, qa):
        assert cfg["encoder"]["alias"] == "bert-base-chinese"


def test_switching_decoders_touches_only_heads_that_decode_with_them() -> None:
    from relx.heads import BiaffineParserHead, RBertHead, TokenClassificationHead
    from relx.heads.switching import restore_decoders, switch_decoder

    parser = BiaffineParserHead(8, num_labels=3, decoder="greedy")
    tagger = TokenClassificationHead(8, num_labels=3, labels=["O", "B-A", "I-A"])
    relation = RBertHead(8, num_labels=3)
    previous = switch_decoder([parser, tagger, relation], "mst")
    assert previous == {parser: "greedy"} and parser.decoder == "mst" and tagger.decoder == "argmax"
    restore_decoders(previous)
    assert parser.decoder == "greedy"
    assert switch_decoder([relation], "mst") == {}  # SemEval's relation head: nothing to switch, skipped
    with pytest.raises(ConfigError, match="evaluation.decoders must be one of"):
        from relx.runs import evaluation_decoders

        evaluation_decoders({"evaluation": {"decoders": ["mts"]}})


def test_pairwise_table1_scores_greedy_and_mst_from_one_checkpoint_in_one_table(tmp_path: Path) -> None:
    """One job of the preset's sweep (fine-tuned, emb+att), two epochs of one step each: scored greedily (as
    trained) and with MST from its best checkpoint; the report has a row per decoder."""
    sweep = tmp_path / "sweep"
    args = ["-m", "+experiment=pairwise_table1", *TINY_FAST, "encoder.freeze=false", "head.features=emb+att",
            "trainer.max_steps=-1", "trainer.max_epochs=2", "trainer.limit_train_batches=1",
            "write_predictions=false", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    done = run_cli("relx.train", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = [p.parent for p in sweep.glob("*/metrics.json")]
    metrics = json.loads((run / "metrics.json").read_text())
    # trained (and its checkpoint chosen) with greedy trees: the plain figures are the greedy ones
    assert metrics["val/uas"] == metrics["val/uas@greedy"] and metrics["val/las"] == metrics["val/las@greedy"]
    assert {"val/uas@mst", "val/las@mst"} <= set(metrics)
    # the best epoch is the one whose validation scored best (the first of equals), counted from 1
    points = json.loads((run / "curves.json").read_text())
    assert len(points) == 2
    best = max(points, key=lambda p: (p["val/las"], -p["epoch"]))
    assert json.loads((run / "data_summary.json").read_text())["best_epoch"] == best["epoch"] + 1
    # the MST row is the best checkpoint decoded with MST, as relx.evaluate scores it
    from relx.inference import evaluate

    _, scored = evaluate(run / "checkpoints" / "best.ckpt", split="dev", decoder="mst", accelerator="cpu",
                         output_dir=tmp_path / "eval")  # fmt: skip
    assert (scored["val/uas"], scored["val/las"]) == pytest.approx((metrics["val/uas@mst"], metrics["val/las@mst"]))
    report = run_cli("relx.report", str(sweep), "--metrics", "val/uas,val/las,best_epoch", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    lines = report.stdout.strip().splitlines()
    assert lines[0] == "| run | decoder | val/uas | val/las | best_epoch |"
    assert [line.split(" | ")[1] for line in lines[2:]] == ["greedy", "mst"]
    table = list(csv.DictReader((sweep / "report.csv").open()))
    assert [float(row["val/uas"]) for row in table] == [metrics["val/uas@greedy"], metrics["val/uas@mst"]]


# ---- two-stage MRC: top-k paragraphs --------------------------------------------------------------------------
def test_span_log_prob_is_the_softmax_of_the_spans_window() -> None:
    from relx.postprocess import best_span_candidate, span_log_prob

    # two windows; context tokens 1..3 in each; the best span is tokens 2..3 of window 1
    offsets = torch.tensor([[(-1, -1), (0, 2), (2, 4), (4, 6)], [(-1, -1), (4, 6), (6, 8), (8, 9)]])
    start = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0]])
    end = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 2.0]])
    best = best_span_candidate(start, end, offsets, n_best_size=4, max_answer_length=5)
    assert best is not None and (best.start, best.end, best.window, best.start_token, best.end_token) == (6, 9, 1, 2, 3)
    expected = (3.0 - math.log(3 + math.exp(3.0))) + (2.0 - math.log(3 + math.exp(2.0)))
    assert span_log_prob(start, end, best) == pytest.approx(expected)


def test_best_paragraph_maximises_the_joint_probability() -> None:
    from relx.postprocess import best_paragraph

    # the selection's favourite (0.6) holds a weak span (log p = -5); the runner-up (0.4) a confident one (-0.5)
    assert best_paragraph([0.6, 0.4], [-5.0, -0.5]) == 1
    assert best_paragraph([0.6, 0.4], [-0.5, -0.5]) == 0  # equal spans: the selection decides
    assert best_paragraph([0.5, 0.5], [-1.0, -1.0]) == 0  # ties: the higher-ranked paragraph
    assert best_paragraph([0.6, 0.4], [-math.inf, -3.0]) == 1  # no valid span in the first
    assert best_paragraph([0.6, 0.4], [-math.inf, -math.inf]) is None


def test_pipeline_answers_from_the_best_of_its_top_k_paragraphs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-made case: the selection model ranks paragraph 0 first, but the QA model reads a far likelier
    answer in paragraph 1; top_k=1 answers from paragraph 0, top_k=2 from paragraph 1."""
    from relx import mrc_pipeline
    from relx.data.mrc import ChoiceExample

    paragraphs = ("甲乙丙丁", "北京大学在北京", "戊己庚")
    questions = [ChoiceExample("q1", "哪所大学?", paragraphs, label=1, answers=("北京大学",))]
    qa_task = SimpleNamespace(metric_specs={"span": {"language": "zh"}})
    spans = {"甲乙丙丁": ((0, 2), -4.0), "北京大学在北京": ((0, 4), -0.2), "戊己庚": ((0, 1), -0.1)}

    def fake_predict(checkpoint: dict[str, Any], examples: list[Any], *_: Any) -> tuple[Any, dict[str, list[Any]]]:
        if checkpoint["relx"]["vocabs"].get("choice"):
            return None, {"choice": ["0"], "choice_probs": [[0.5, 0.3, 0.2, 0.0]]}  # padded to 4 candidates
        return qa_task, {"span": [spans[ex.context][0] for ex in examples],
                         "span_score": [spans[ex.context][1] for ex in examples]}  # fmt: skip

    monkeypatch.setattr(mrc_pipeline, "_predict", fake_predict)
    qa, select = {"relx": {"vocabs": {"span": {}}}}, {"relx": {"vocabs": {"choice": {"x": 1}}}}
    one = mrc_pipeline.run_pipeline(qa, select, questions, top_k=1)
    assert (one.answers, one.chosen, one.kept) == (["甲乙"], [0], [[0]])
    assert one.metrics["select_acc"] == 0.0 and one.metrics["em"] == 0.0 and "select_recall_at_k" not in one.metrics
    two = mrc_pipeline.run_pipeline(qa, select, questions, top_k=2)
    # log 0.5 - 4 < log 0.3 - 0.2; paragraph 2 (the likeliest span) is not among the kept two
    assert (two.answers, two.chosen, two.kept) == (["北京大学"], [1], [[0, 1]])
    assert two.metrics["em"] == 1.0 and two.metrics["select_recall_at_k"] == 1.0
    assert two.metrics["answer_paragraph_acc"] == 1.0 and two.metrics["select_acc"] == 0.0
    with pytest.raises(ConfigError, match="top_k must be at least 1"):
        mrc_pipeline.run_pipeline(qa, select, questions, top_k=0)
