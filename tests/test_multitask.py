"""Multi-task runs (several tasks over one encoder): sampling schedules, per-task metrics and outputs,
checkpoints that rebuild each task, resume, DDP, configuration errors and sequential transfer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers import TINY_FAST, compose_config
from relx.build import init_encoder_from, sample_dir
from relx.checkpointing import load_relx_checkpoint
from relx.data import sampler as sampler_module
from relx.data.conll import read_conll
from relx.data.mixing import MixedBatchSampler, schedule_probabilities, steps_per_epoch
from relx.data.sampler import LengthGroupedBatchSampler
from relx.errors import ConfigError
from relx.inference import evaluate, predict_each
from relx.metrics.attachment import attachment_scores
from relx.metrics.relation_scores import semeval_official_scores
from relx.multitask import single_task_checkpoint
from relx.runs import _build_run, train

MULTITASK = ["+experiment=multitask", *TINY_FAST]


class FixedBatches:
    """A source's batch sampler: ``n`` batches of one index each, reshuffled per epoch like the real one."""

    def __init__(self, n: int) -> None:
        self.n, self.epoch = n, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Any:
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.epoch)).tolist()
        return iter([[i] for i in order])

    def __len__(self) -> int:
        return self.n


@pytest.mark.parametrize("schedule", ["proportional", "smoothed", "uniform"])
def test_sampling_proportions_match_the_schedule_formula_over_many_draws(schedule: str) -> None:
    sizes = {"small": 100, "medium": 900, "large": 8100}
    exponent = {"proportional": 1.0, "smoothed": 0.5, "uniform": 0.0}[schedule]
    expected = {k: n**exponent / sum(m**exponent for m in sizes.values()) for k, n in sizes.items()}
    assert schedule_probabilities(sizes, schedule, alpha=0.5) == pytest.approx(expected)
    offsets = {"small": 0, "medium": 100, "large": 1000}
    sampler = MixedBatchSampler(
        {k: FixedBatches(n) for k, n in sizes.items()}, offsets, shuffle=True, probabilities=expected, steps=40_000
    )
    counts = dict.fromkeys(sizes, 0)
    for batch in sampler:
        counts["small" if batch[0] < 100 else "medium" if batch[0] < 1000 else "large"] += 1
    assert {k: c / 40_000 for k, c in counts.items()} == pytest.approx(expected, abs=0.01)


def test_round_robin_takes_the_tasks_in_turn_and_epochs_are_explicit() -> None:
    sampler = MixedBatchSampler(
        {"a": FixedBatches(3), "b": FixedBatches(5)}, {"a": 0, "b": 3}, shuffle=True, steps=8, round_robin=True
    )
    assert ["a" if b[0] < 3 else "b" for b in sampler] == ["a", "b"] * 4
    assert steps_per_epoch({"a": 3, "b": 5}, "sum") == 8 and steps_per_epoch({"a": 3, "b": 5}, "largest") == 5
    assert steps_per_epoch({"a": 3}, 50) == 50


def test_every_rank_trains_the_same_task_each_step_on_its_own_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    lengths = {"a": [(i * 31) % 17 + 1 for i in range(40)], "b": [(i * 7) % 29 + 1 for i in range(90)]}
    steps = {}
    for rank in range(2):
        monkeypatch.setattr(sampler_module, "_rank_and_world", lambda rank=rank: (rank, 2))
        samplers = {k: LengthGroupedBatchSampler(v, 4, shuffle=True, seed=3) for k, v in lengths.items()}
        mixed = MixedBatchSampler(
            samplers, {"a": 0, "b": 40}, shuffle=True, probabilities={"a": 0.5, "b": 0.5}, steps=30, seed=3
        )
        mixed.set_epoch(2)
        steps[rank] = list(mixed)
    tasks = [[("a" if i < 40 else "b") for i in batch] for batch in steps[0]]
    assert all(len(set(t)) == 1 for t in tasks)  # whole batches of one task
    assert [t[0] for t in tasks] == [("a" if b[0] < 40 else "b") for b in steps[1]]  # the same task on each rank
    assert all(set(x).isdisjoint(y) for x, y in zip(steps[0], steps[1], strict=True))  # different shards


# Two epochs of three steps: the module's one uninterrupted multi-task run (the resume test repeats it).
RUN = [
    *MULTITASK,
    "trainer.max_steps=-1",
    "trainer.max_epochs=2",
    "multitask.epoch=3",
    "trainer.early_stopping_patience=0",
]


@pytest.fixture(scope="module")
def multitask_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    run_dir = tmp_path_factory.mktemp("multitask")
    return run_dir, train(compose_config(RUN), run_dir)


def best_checkpoint(run_dir: Path) -> Path:
    return Path(json.loads((run_dir / "data_summary.json").read_text())["best_checkpoint"])


def test_a_multitask_run_scores_each_task_with_its_official_metric(multitask_run: tuple[Path, dict]) -> None:
    run_dir, metrics = multitask_run
    assert json.loads((run_dir / "metrics.json").read_text()) == pytest.approx(metrics)
    plan = json.loads((run_dir / "multitask.json").read_text())
    assert plan["steps_per_epoch"] == 3 and set(plan["tasks"]) == {"ud", "rel"}
    mains = [metrics["val/ud/las"], metrics["val/rel/f1"]]
    assert metrics["val/average"] == pytest.approx(sum(mains) / 2)
    # SemEval: the official scorer's figure recomputed from the written answer key and predictions
    read = lambda name: dict(line.split("\t") for line in (run_dir / "rel" / name).read_text().splitlines())  # noqa: E731
    pred, gold = read("predictions_test.txt"), read("answer_key_test.txt")
    ids = sorted(gold)
    assert metrics["test/rel/f1"] == pytest.approx(
        semeval_official_scores([pred[i] for i in ids], [gold[i] for i in ids])["f1"]
    )
    # UD: LAS recomputed from the written CoNLL-U against the gold file
    predicted = read_conll(run_dir / "ud" / "predictions_test.conllu")
    gold_trees = read_conll(sample_dir("ud_ewt") / "en_ewt-ud-test.conllu")
    scores = attachment_scores(
        [t.heads for t in gold_trees], [t.rels for t in gold_trees], [t.heads for t in predicted],
        [t.rels for t in predicted], universal_relations=True,
    )  # fmt: skip
    assert metrics["test/ud/las"] == pytest.approx(scores["las"], abs=1e-6)
    assert (run_dir / "rel" / "confusion_test.png").is_file() and (run_dir / "curves.png").is_file()


def test_a_multitask_checkpoint_rebuilds_each_task_from_itself_alone(
    multitask_run: tuple[Path, dict], tmp_path: Path
) -> None:
    run_dir, metrics = multitask_run
    ckpt = best_checkpoint(run_dir)
    out, scored = evaluate(ckpt, split="test", output_dir=tmp_path / "eval")
    assert scored == pytest.approx({k: v for k, v in metrics.items() if k.startswith("test/")}, abs=1e-6)
    assert (out / "rel" / "predictions_test.txt").is_file() and (out / "ud" / "predictions_test.conllu").is_file()
    # one task cut out is an ordinary single-task checkpoint: the single-task metric on the same predictions
    single = single_task_checkpoint(load_relx_checkpoint(ckpt), "rel")
    path = tmp_path / "rel.ckpt"
    torch.save(single, path)
    _, alone = evaluate(path, split="test", output_dir=tmp_path / "alone")
    assert alone == pytest.approx(
        {k.replace("/rel/", "/"): v for k, v in metrics.items() if "/rel/" in k and k.startswith("test/")}
    )
    # prediction: every task whose reader takes the input, or the one named
    example = Path(__file__).parents[1] / "src" / "relx" / "resources" / "examples" / "parsing.txt"
    written = predict_each(ckpt, example, output=tmp_path / "out.jsonl")
    assert set(written) == {"ud"} and written["ud"].name == "out.ud.predictions.jsonl"
    with pytest.raises(ConfigError, match="give task_name= one of ud, rel"):
        import relx

        relx.load(ckpt)


def test_sequential_transfer_starts_from_the_source_encoder(multitask_run: tuple[Path, dict]) -> None:
    run_dir, _ = multitask_run
    source = run_dir / "checkpoints" / "last.ckpt"
    state = load_relx_checkpoint(source)["state_dict"]
    for task in ("semeval", "mit_movie"):  # the same added marker tokens, and none (fewer embedding rows)
        cfg = compose_config([f"task={task}", *TINY_FAST, f"encoder.init_from={source}"])
        module, _ = _build_run(cfg)
        init_encoder_from(module, cfg["encoder"]["init_from"])
        for key, value in module.encoder.state_dict().items():
            if f"encoder.{key}" not in state:  # the R-BERT head's pooler: the source's heads used none
                assert ".pooler." in key
                continue
            rows = min(value.shape[0], state[f"encoder.{key}"].shape[0]) if value.ndim else None
            assert torch.equal(value[:rows], state[f"encoder.{key}"][:rows]), key


def test_interrupted_and_resumed_multitask_run_equals_uninterrupted(
    multitask_run: tuple[Path, dict], tmp_path: Path
) -> None:
    from test_train import Interrupt

    straight_dir, straight = multitask_run
    cfg = compose_config(RUN)
    with pytest.raises(RuntimeError, match="simulated interruption"):
        train(cfg, tmp_path / "resumed", extra_callbacks=[Interrupt(epoch=1)])
    resumed = train(cfg, tmp_path / "resumed")
    assert resumed == pytest.approx(straight, abs=1e-6)
    a = torch.load(straight_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_two_tasks_share_one_head_instance_only_where_their_labels_agree() -> None:
    from relx.heads.base import Head

    tasks = "tasks={a: {task: mit_movie, head: token}, b: {task: mit_movie, head: token, share_head: a}}"
    module, _ = _build_run(compose_config([*MULTITASK, tasks]))
    heads_a, heads_b = module.heads["a"], module.heads["b"]
    assert all(isinstance(h, Head) and heads_b[n] is h for n, h in heads_a.items())
    other = "tasks={a: {task: mit_movie, head: token}, b: {task: mit_movie_trivia, head: token, share_head: a}}"
    with pytest.raises(ConfigError, match="share_head=a: their token labels differ"):
        _build_run(compose_config([*MULTITASK, other]))


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ("{ud: {task: ud_ewtt}}", "tasks.ud: no task named 'ud_ewtt'; choose from "),
        ("{a: {task: ud_ewt}, a: {task: semeval}}", "the task name 'a' is given twice"),
        ("{rel: {task: semeval, head: biaffine}}", "tasks.rel: head=biaffine does not fit task=semeval"),
        (
            "{a: {task: semeval}, b: {task: c3, encoder: bert-base-chinese}}",
            "tasks.b: encoder=bert-base-chinese has another tokenizer",
        ),
        ("{a: {task: semeval, batchsize: 8}}", "tasks.a: unknown key 'batchsize'"),
    ],
)
def test_a_bad_multitask_configuration_is_one_clear_error(tasks: str, message: str) -> None:
    from relx.multitask import check_tasks

    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        check_tasks(compose_config([*MULTITASK, f"tasks={tasks}"]))


def test_ddp_on_two_cpu_processes_trains_and_scores_every_task(tmp_path: Path) -> None:
    """Lightning DDP (gloo on CPU): both ranks train the same task each step on their own shards; metrics
    gathered over ranks equal those recomputed from the written files, every test example once. (Also the
    suite's DDP check of ATIS's joint head, formerly a single-task run of its own.)"""
    from seqeval.metrics import f1_score

    from helpers import run_cli
    from relx.tasks.word_outputs import read_conll_columns

    run_dir = tmp_path / "ddp"
    tasks = "tasks={atis: {task: atis, head: joint}, rel: {task: semeval}}"
    args = [*MULTITASK, tasks, "trainer.strategy=ddp", "trainer.devices=2", f"hydra.run.dir={run_dir}"]
    done = run_cli("relx.train", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    read = lambda name: dict(line.split("\t") for line in (run_dir / "rel" / name).read_text().splitlines())  # noqa: E731
    pred, gold = read("predictions_test.txt"), read("answer_key_test.txt")
    assert len(gold) == 100  # the bundled sample's test split, each sentence once
    ids = sorted(gold)
    official = semeval_official_scores([pred[i] for i in ids], [gold[i] for i in ids])
    assert metrics["test/rel/f1"] == pytest.approx(official["f1"], abs=1e-6)
    gold_tags, pred_tags = read_conll_columns(run_dir / "atis" / "predictions_test.conll")
    assert len(gold_tags) == 100
    assert metrics["test/atis/slot_f1"] == pytest.approx(f1_score(gold_tags, pred_tags), abs=1e-6)
    rows = [json.loads(line) for line in (run_dir / "atis" / "predictions_test.jsonl").read_text().splitlines()]
    intent_acc = sum(r["intent_gold"] == r["intent_pred"] for r in rows) / len(rows)
    assert metrics["test/atis/intent_acc"] == pytest.approx(intent_acc)


def test_the_command_line_reports_a_bad_task_in_one_line(tmp_path: Path) -> None:
    from helpers import run_cli

    done = run_cli("relx.train", "+experiment=multitask", "tasks={ud: {task: nope}}", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "relx: error: tasks.ud: no task named 'nope'; choose from atis, c3" in done.stderr


def test_a_three_task_run_is_one_small_experiment_file() -> None:
    from relx.multitask import check_tasks

    cfg = compose_config(["+experiment=multitask_three", "tasks.movie.data_dir=/data/movie", "data.batch_size=4"])
    check_tasks(cfg)
    entries = {
        name: (e["task"]["name"], e["head"]["kind"], e["weight"], e["data"]["batch_size"])
        for name, e in cfg["tasks"].items()
    }
    assert entries == {
        "ud": ("ud_ewt", "pairwise_attention", 1.0, 4),
        "rel": ("semeval", "pairwise_attention", 1.0, 4),
        "movie": ("mit_movie", "crf", 0.5, 4),  # the task's usual head
    }
    assert cfg["tasks"]["movie"]["data_dir"] == "/data/movie" and cfg["multitask"]["schedule"] == "round_robin"
