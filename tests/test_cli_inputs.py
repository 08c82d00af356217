"""relx.evaluate and relx.predict on good and bad input: every bundled example input predicts with a
checkpoint of its family, --help documents every format, and each bad input (a missing ckpt_path= or
input=, an unlabelled split, a file in another family's format) is one ``relx: error:`` line, exit 2,
with nothing written to the current directory (Hydra would open its <job>.log there before the job runs,
so the failing commands show that too)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

import relx
from helpers import TINY_FAST, compose_config, run_cli
from relx.errors import ConfigError, DataFormatError
from relx.evaluate import evaluate
from relx.inference import choose_splits, requested_split
from relx.inputs import INPUT_FORMATS, examples_dir, family_of
from relx.predict import predict, predict_pipeline

ROOT = Path(__file__).resolve().parents[1]
CHOICES = [["晴天", "下雨", "下雪"], ["公园", "学校", "商店"]]  # choice.json's candidates
EXAMPLES = examples_dir()
# task -> the family of its checkpoints; one tiny checkpoint of each is trained once for the module
TASKS = {
    "mit_movie": "words",
    "atis": "words",
    "ud_ewt": "parsing",
    "semeval": "relations",
    "docred": "documents",
    "cdr": "cdr",
    "drcd": "span_qa",
    "c3": "choice",
    "drcd_select": "selection",
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny checkpoint per task of ``TASKS`` (one training step, no prediction files)."""
    from relx.runs import train

    root = tmp_path_factory.mktemp("cli-inputs")
    for task in TASKS:
        head = ["head=biaffine"] if task == "ud_ewt" else []  # quicker to train than the default pairwise attention
        overrides = [f"task={task}", *head, *TINY_FAST, "trainer.max_steps=1", "write_predictions=false"]
        train(compose_config([*overrides, "data.cache_dir=null"]), root / task)
    return {task: root / task / "checkpoints" / "last.ckpt" for task in TASKS}


def predict_config(**values: Any) -> Any:
    """The composed ``predict`` config with ``values`` set (``None``: left at its default)."""
    overrides = [f"{k}={v}" for k, v in values.items() if v is not None]
    return compose_config([*overrides, "accelerator=cpu"], config_name="predict", resolve=False)


def assert_one_error_line(done: subprocess.CompletedProcess[str], *parts: str) -> str:
    """Exit status 2 and exactly one stderr line, ``relx: error: ...``, holding every one of ``parts``."""
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relx: error: "), done.stderr[-3000:]
    for part in parts:
        assert part in lines[0]
    return lines[0]


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---- the formats: one per task, documented, with its example -----------------------------------------
def test_every_task_config_has_an_input_family_with_a_shipped_example() -> None:
    families = set()
    for task_file in sorted((ROOT / "conf" / "task").glob("*.yaml")):
        target = OmegaConf.load(task_file).task._target_
        checkpoint = {"relx": {"config": {"task": {"name": task_file.stem, "_target_": target}}}}
        assert family_of(checkpoint) in INPUT_FORMATS, f"{task_file.name}: set {target}.input_format"
        families.add(family_of(checkpoint))
    assert families | {"pipeline"} == set(INPUT_FORMATS)
    package_data = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"resources/examples/*"' in package_data  # the examples ship in the wheel
    for fmt in INPUT_FORMATS.values():
        for name in fmt.examples:
            assert (EXAMPLES / name).is_file() and (EXAMPLES / name).read_text(encoding="utf-8").strip()


def test_help_documents_every_input_format_and_writes_nothing(tmp_path: Path) -> None:
    done = run_cli("relx.predict", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for family, fmt in INPUT_FORMATS.items():
        assert f"{family} ({fmt.tasks}): {fmt.summary}" in done.stdout
        assert f"output: {fmt.output}" in done.stdout
        for name in fmt.examples:
            first_line = (EXAMPLES / name).read_text(encoding="utf-8").splitlines()[0]
            assert first_line in done.stdout, name
    assert str(EXAMPLES) in done.stdout and "ckpt_path: ???" in done.stdout  # Hydra's part follows
    done = run_cli("relx.evaluate", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for part in ("split=auto|test|dev", "without gold labels", "relx.predict ckpt_path=CKPT input=", "output_dir"):
        assert part in done.stdout
    done = run_cli("relx.train", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    parts = [
        "data_dir",
        "+experiment=multitask",
        "encoder.init_from",
        "task=ud_ewt  (head: biaffine; fits: biaffine, pairwise_attention)",
        "task=semeval  (head: rbert; fits: pairwise_attention, rbert, sequence)",
    ]
    for part in parts:
        assert part in done.stdout
    assert list(tmp_path.iterdir()) == []


# ---- every bundled example predicts with a checkpoint of its family ----------------------------------
@pytest.mark.parametrize("task", list(TASKS))
def test_predict_reads_the_example_of_its_family(tmp_path: Path, checkpoints: dict[str, Path], task: str) -> None:
    family = TASKS[task]
    example = EXAMPLES / INPUT_FORMATS[family].examples[0]
    output = predict(predict_config(ckpt_path=checkpoints[task], input=example, output=tmp_path / "out.jsonl"))
    rows = read_rows(output)
    model = relx.load(checkpoints[task], accelerator="cpu")  # the one-line API gives the same records
    assert json.loads(json.dumps(model.predict(example))) == rows
    if family in ("words", "parsing", "relations"):  # one input a line
        lines = [line for line in example.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert [r["source"] for r in rows] == [f"{example}:{i}" for i in range(1, len(lines) + 1)]
        from_texts = json.loads(json.dumps(model.predict(lines)))
        assert [r.pop("source") for r in from_texts] == [f"text {i}" for i in range(len(lines))]
        assert from_texts == [{k: v for k, v in r.items() if k != "source"} for r in rows]
    if family == "words":
        assert all(len(r["tags"]) == len(r["words"]) and isinstance(r["entities"], list) for r in rows)
        assert all(isinstance(r.get("intent"), str) for r in rows) == (task == "atis")
    elif family == "parsing":
        assert all(len(r["heads"]) == len(r["rels"]) == len(r["words"]) for r in rows)
        assert all(0 <= h <= len(r["words"]) for r in rows for h in r["heads"])
    elif family == "relations":
        assert [(r["e1"], r["e2"]) for r in rows] == [("factory", "chairs"), ("flood", "rain")]
        assert all(r["relation"] in r["probs"] for r in rows)
    elif family in ("documents", "cdr"):
        titles = [d["title"] for d in json.loads(example.read_text())] if family == "documents" else ["example-1"]
        assert [r["title"] for r in rows] == titles and all(isinstance(r["facts"], list) for r in rows)
    elif family == "span_qa":
        assert [r["id"] for r in rows] == ["q1", "q2"]
        context = json.loads(example.read_text())["data"][0]["paragraphs"][0]["context"]
        assert all(context[r["answer_start"] :].startswith(r["answer"]) for r in rows)
    elif family == "choice":
        assert [r["id"] for r in rows] == ["example-1-0", "example-1-1"]  # document id - question index
        chosen = [choices[r["pred"]] for r, choices in zip(rows, CHOICES, strict=True)]
        assert [r["pred_answer"] for r in rows] == chosen
    elif family == "selection":
        assert [r["id"] for r in rows] == ["q1", "q2"] and all(len(r["probs"]) == 3 for r in rows)


def test_two_stage_pipeline_reads_its_example(tmp_path: Path, checkpoints: dict[str, Path]) -> None:
    example = EXAMPLES / INPUT_FORMATS["pipeline"].examples[0]  # context.json beside it: the default contexts=
    cfg = predict_config(
        ckpt_path=checkpoints["drcd"], select_ckpt_path=checkpoints["drcd_select"], input=example,
        output=tmp_path / "answers",
    )  # fmt: skip
    paths = predict_pipeline(cfg)
    assert paths == [tmp_path / "answers.json", tmp_path / "answers.csv"]  # unlabelled: no metrics file
    assert list(json.loads(paths[0].read_text(encoding="utf-8"))) == ["q1", "q2"]


# ---- bad input: one line that says what was expected -------------------------------------------------
def test_predict_without_input_names_the_format_of_the_checkpoint(tmp_path: Path, checkpoints: dict[str, Path]) -> None:
    done = run_cli("relx.predict", f"ckpt_path={checkpoints['mit_movie']}", cwd=tmp_path)
    assert_one_error_line(
        done, "input= is required", "task=mit_movie", INPUT_FORMATS["words"].summary, str(EXAMPLES / "words.txt")
    )
    assert list(tmp_path.iterdir()) == []  # no predict.log
    for task, family in (("semeval", "relations"), ("docred", "documents"), ("c3", "choice")):
        with pytest.raises(ConfigError, match="input= is required") as err:
            predict(predict_config(ckpt_path=checkpoints[task]))
        assert INPUT_FORMATS[family].summary in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="input= is required") as err:
        predict_pipeline(predict_config(ckpt_path=checkpoints["drcd"], select_ckpt_path=checkpoints["drcd_select"]))
    assert INPUT_FORMATS["pipeline"].summary in str(err.value)


def test_missing_ckpt_path_is_one_line(tmp_path: Path) -> None:
    done = run_cli("relx.evaluate", "split=dev", cwd=tmp_path)
    assert_one_error_line(done, "ckpt_path= is required", "checkpoints/best.ckpt")
    with pytest.raises(ConfigError, match=r"ckpt_path= is required: .*relx.predict --help"):
        predict(predict_config(input=EXAMPLES / "words.txt"))
    with pytest.raises(ConfigError, match="checkpoint not found"):
        predict(predict_config(ckpt_path=tmp_path / "none.ckpt", input=EXAMPLES / "words.txt"))
    assert list(tmp_path.iterdir()) == []


def test_input_in_another_format_points_at_the_example(tmp_path: Path, checkpoints: dict[str, Path]) -> None:
    with pytest.raises(DataFormatError, match="found none") as err:  # no <e1>..</e1> markers
        predict(predict_config(ckpt_path=checkpoints["semeval"], input=EXAMPLES / "words.txt"))
    assert str(err.value).startswith(f"{EXAMPLES / 'words.txt'}:1: ")
    assert f"expected the input of a task=semeval checkpoint, like {EXAMPLES / 'relations.txt'}" in str(err.value)
    with pytest.raises(DataFormatError, match="input file not found") as err:
        predict(predict_config(ckpt_path=checkpoints["docred"], input=tmp_path / "missing.json"))
    assert INPUT_FORMATS["documents"].summary in str(err.value)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="blank.txt") as err:
        predict(predict_config(ckpt_path=checkpoints["mit_movie"], input=blank, output=tmp_path / "out.jsonl"))
    assert "words.txt" in str(err.value) and not (tmp_path / "out.jsonl").exists()


# ---- evaluate: an unlabelled split is refused; auto scores dev instead ---------------------------------
def test_evaluate_refuses_an_unlabelled_split(tmp_path: Path, checkpoints: dict[str, Path]) -> None:
    done = run_cli("relx.evaluate", f"ckpt_path={checkpoints['docred']}", "split=test", cwd=tmp_path)
    line = assert_one_error_line(done, "split 'test'", "test.json", "has no gold labels", "split=dev", "relx.predict")
    assert "Traceback" not in done.stderr and "detach" not in line
    assert list(tmp_path.iterdir()) == []  # no evaluate.log


class SplitsStub:
    """The part of a DataModule ``choose_split`` reads: which splits exist and which have labels."""

    data_dir = Path("DIR")

    def __init__(self, **labelled: bool) -> None:
        self.labelled = labelled

    def has_split(self, split: str) -> bool:
        return split in self.labelled

    def is_labelled(self, split: str) -> bool:
        return self.labelled[split]

    def describe_split(self, split: str) -> str:
        return f"DIR/{split}.json"


def test_split_auto_scores_every_labelled_split_and_predicts_an_unlabelled_test() -> None:
    ckpt = Path("run/checkpoints/best.ckpt")
    auto = requested_split("auto")
    assert choose_splits(SplitsStub(validation=True, test=True), auto, ckpt) == (["validation", "test"], [])
    assert choose_splits(SplitsStub(validation=True, test=False), requested_split(None), ckpt) == (
        ["validation"],
        ["test"],
    )
    assert choose_splits(SplitsStub(validation=True), auto, ckpt) == (["validation"], [])
    assert choose_splits(SplitsStub(validation=True, test=True), requested_split("dev"), ckpt) == (["validation"], [])
    with pytest.raises(ConfigError, match=r"split 'test' \(DIR/test.json\) has no gold labels") as err:
        choose_splits(SplitsStub(validation=True, test=False), requested_split("test"), ckpt)
    assert f"relx.predict ckpt_path={ckpt} input=DIR/test.json" in str(err.value)
    with pytest.raises(ConfigError, match="split 'test' not found in DIR"):
        choose_splits(SplitsStub(validation=True), requested_split("test"), ckpt)
    with pytest.raises(ConfigError, match="split must be auto or one of"):
        requested_split("tset")


def test_evaluate_by_default_scores_dev_of_docred(tmp_path: Path, checkpoints: dict[str, Path]) -> None:
    """The bundled DocRED test.json is unlabelled: the default split=auto scores dev and writes the test split's
    official submission file (result_test.json) without scores."""
    overrides = [f"ckpt_path={checkpoints['docred']}", f"output_dir={tmp_path}", "accelerator=cpu"]
    out_dir, metrics = evaluate(compose_config(overrides, config_name="evaluate", resolve=False))
    assert out_dir == tmp_path and "val/f1" in metrics and not any(k.startswith("test/") for k in metrics)
    assert json.loads((tmp_path / "metrics.json").read_text()) == pytest.approx(metrics)
    assert (tmp_path / "result_validation.json").is_file() and (tmp_path / "result_test.json").is_file()


def test_two_evaluations_of_a_parser_compare_against_the_gold_treebank(
    tmp_path: Path, checkpoints: dict[str, Path]
) -> None:
    """An evaluation's directory names the data it scored (config.json), so ``relx.report --compare`` tests two
    evaluations of a parser against the gold treebank, also when one scored a file given by ``input=``."""
    from relx.build import sample_dir
    from relx.comparison import compare

    renamed = tmp_path / "held_out.conllu"
    renamed.write_text((sample_dir("ud_ewt") / "en_ewt-ud-test.conllu").read_text())
    common = [f"ckpt_path={checkpoints['ud_ewt']}", "accelerator=cpu"]
    mst, _ = evaluate(compose_config([*common, "split=test", f"output_dir={tmp_path / 'mst'}"], "evaluate", False))
    greedy, _ = evaluate(
        compose_config(
            [*common, f"input={renamed}", "decoder=greedy", f"output_dir={tmp_path / 'greedy'}"], "evaluate", False
        )
    )
    stored = json.loads((greedy / "config.json").read_text())
    assert (stored["data_dir"], stored["task"]["files"]["test"]) == (str(tmp_path), "held_out.conllu")
    result = compare(mst, greedy, split="test", resamples=50)
    assert result.metric == "LAS" and result.items == len(renamed.read_text().strip().split("\n\n"))
    assert result.score_a == pytest.approx(json.loads((mst / "metrics.json").read_text())["test/las"], abs=1e-6)
