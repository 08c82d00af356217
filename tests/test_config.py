from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from helpers import compose_config

CONF = Path(str(resources.files("relx.conf")))


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def fitting_heads(task: str) -> list[str]:
    """Heads that fit a task by ``check_head_fits_task``'s rule, as ``relx.train --help`` lists them."""
    from relx.catalog import task_entries

    return list(next(e for e in task_entries() if e.name == task).fitting_heads)


TASK_HEADS = [(task, head) for task in options("task") for head in fitting_heads(task)]


def test_every_task_has_fitting_heads_and_every_head_a_task() -> None:
    assert {t for t, _ in TASK_HEADS} == set(options("task"))
    assert {h for _, h in TASK_HEADS} == set(options("head"))
    assert ("atis", "joint_crf") in TASK_HEADS and ("semeval", "pairwise_attention") in TASK_HEADS
    assert ("mit_movie", "sequence") not in TASK_HEADS and ("docred", "token") not in TASK_HEADS
    assert ("atis", "rbert") not in TASK_HEADS and ("atis", "sequence") in TASK_HEADS  # no entities to read


def test_the_shipped_task_table_is_the_computed_one() -> None:
    """``relx.train --help`` prints the generated table (fast); a config change must regenerate it."""
    from relx.catalog import format_task_table, shipped_task_table

    assert shipped_task_table() == format_task_table(), "task or head configs changed: run python -m relx.catalog"


@pytest.mark.parametrize("task", options("task"))
def test_every_task_has_a_default_head_that_fits(task: str) -> None:
    from relx.build import monitor_of

    cfg = compose_config([f"task={task}"])
    assert (task, cfg["head"]["kind"]) in TASK_HEADS and monitor_of(cfg).startswith("val/")


@pytest.mark.parametrize("encoder", options("encoder"))
@pytest.mark.parametrize("trainer", options("trainer"))
def test_every_encoder_and_trainer_composes(encoder: str, trainer: str) -> None:
    from relx.build import monitor_of

    cfg = compose_config([f"encoder={encoder}", f"trainer={trainer}"])
    assert cfg["encoder"]["alias"] == encoder and cfg["trainer"]["accelerator"] in ("cpu", "gpu")
    assert monitor_of(cfg) == "val/best_f1"  # the default job: DocRED with seed 000's baseline


@pytest.mark.parametrize(("task", "head"), TASK_HEADS)
def test_every_task_and_fitting_head_builds(task: str, head: str) -> None:
    """As lightning-hydra-template's config tests: every composition instantiates (the Task, the heads
    over small vocabularies of the task's spaces) and has a monitor."""
    from relx.build import build_heads, build_task, check_head_fits_task, monitor_of
    from relx.data.vocab import LabelVocab

    cfg = compose_config([f"task={task}", f"head={head}"])
    check_head_fits_task(cfg)
    built = build_task(cfg)
    assert built.name == task and monitor_of(cfg).startswith("val/")
    vocabs = {space: LabelVocab(["O", "B-A", "I-A"]) for space in built.label_spaces}
    heads = build_heads(cfg, 32, vocabs, attention_size=4)
    assert {h.label_space for h in heads.values()} <= set(built.label_spaces)


def test_config_groups_stand_alone() -> None:
    """No group reads another (no oc.select, no ${task.*} in a head, no ${head.*} in a task)."""
    for path in CONF.rglob("*.yaml"):
        text = path.read_text()
        assert "oc.select" not in text, path
        group = path.relative_to(CONF).parts[0]
        if group in ("head", "task"):
            other = "task" if group == "head" else "head"
            assert "${" + other + "." not in text, path


def test_ddp_and_gpu_use_mixed_precision() -> None:
    ddp = compose_config(["trainer=ddp", "trainer.devices=4"])["trainer"]
    assert (ddp["strategy"], ddp["devices"], ddp["precision"]) == ("ddp", 4, "bf16-mixed")
    assert compose_config(["trainer=gpu"])["trainer"]["precision"] == "bf16-mixed"


def test_unknown_keys_are_rejected_with_the_key_named() -> None:
    with pytest.raises(ConfigCompositionException, match="data.batchsize"):
        compose_config(["data.batchsize=8"])
    with pytest.raises(ConfigCompositionException, match="task=nosuchtask|nosuchtask"):
        compose_config(["task=nosuchtask"])


def test_experiments_compose() -> None:
    """Every preset composes, builds its Task, fits its head, and so does every config group choice its sweep
    lists (encoders, R-BERT variants)."""
    from omegaconf import OmegaConf

    from relx.build import build_task, check_head_fits_task, monitor_of

    for name in options("experiment"):
        cfg = compose_config([f"+experiment={name}"])
        assert monitor_of(cfg).startswith("val/")
        if cfg.get("tasks"):
            continue  # multi-task presets: test_multitask
        check_head_fits_task(cfg)
        assert build_task(cfg).name == cfg["task"]["name"]
        sweep = OmegaConf.select(OmegaConf.load(CONF / "experiment" / f"{name}.yaml"), "hydra.sweeper.params") or {}
        for key, values in sweep.items():
            if "." in key:
                continue  # a value, not a config group choice: composes like the preset itself
            for value in str(values).split(","):
                swept = compose_config([f"+experiment={name}", f"{key}={value}"])
                check_head_fits_task(swept)
                assert monitor_of(swept).startswith("val/"), (name, key, value)


def test_head_that_does_not_fit_the_task_is_a_config_error() -> None:
    from relx.build import build_heads, check_head_fits_task
    from relx.data.vocab import LabelVocab
    from relx.errors import ConfigError

    cfg = compose_config(["task=mit_movie", "head=sequence"], resolve=False)
    fits = (
        "head=sequence does not fit task=mit_movie: SequenceClassificationHead predicts 'sentence' labels, "
        "the task provides 'token'"
    )
    with pytest.raises(ConfigError, match=fits):
        check_head_fits_task(cfg)
    check_head_fits_task(compose_config(["task=atis", "head=joint"], resolve=False))
    # ATIS has sentence labels, but no marked entities for a relation head to read
    for head, cls in (("rbert", "RBertHead"), ("pairwise_attention", "PairwiseAttentionRelationHead")):
        with pytest.raises(ConfigError, match=f"head={head} does not fit task=atis: {cls} reads the two marked"):
            check_head_fits_task(compose_config(["task=atis", f"head={head}"], resolve=False))
    cfg = compose_config(["task=atis", "head=sequence"])
    cfg["task"]["name"] = "mit_movie"
    with pytest.raises(ConfigError, match="needs 'sentence' labels, but task 'mit_movie' provides only: token"):
        build_heads(cfg, 32, {"token": LabelVocab(["O"])})


def test_rbert_ablation_variants_change_one_factor_each() -> None:
    base = compose_config(["+experiment=rbert_ablation", "+rbert_variant=baseline"])
    assert base["task"]["name"] == "semeval" and base["data"]["batch_size"] == 16
    # seed 004's hyperparameters
    assert base["encoder"]["alias"] == "xlm-roberta-large" and base["data"]["max_length"] == 347
    assert (base["optim"]["encoder_lr"], base["optim"]["head_lr"], base["optim"]["weight_decay"]) == (2e-5, 2e-5, 0.0)
    assert base["optim"]["warmup_fraction"] == 0.0 and base["trainer"]["gradient_clip_val"] == 1.0
    assert (base["head"]["concat"], base["head"]["entity_fc"], base["head"]["activation"]) == (
        "cls_e1_e2",
        "split",
        "tanh",
    )
    changed = {
        "shared": ("head", "entity_fc", "shared"),
        "gelu": ("head", "activation", "gelu"),
        "smoothing": ("optim", "label_smoothing", 0.05),
        "absdiff": ("head", "concat", "cls_e1_e2_absdiff"),
        "cls_prod": ("head", "concat", "cls_prod"),
        "cls_prod_e1_e2_prod": ("head", "concat", "cls_prod_e1_e2_prod"),
        "maxlen250": ("data", "too_long", "drop"),
        "batch8": ("data", "batch_size", 8),
    }
    for variant, (group, key, value) in changed.items():
        cfg = compose_config(["+experiment=rbert_ablation", f"+rbert_variant={variant}"])
        assert cfg[group][key] == value and cfg[group][key] != base[group][key]
    shared = compose_config(["+experiment=rbert_ablation", "+rbert_variant=shared"])
    assert shared["head"]["heads"]["relation"]["entity_fc"] == "shared"  # reaches the head's constructor


TOKEN, CRF = "TokenClassificationHead", "CRFHead"


@pytest.mark.parametrize(
    ("overrides", "monitor", "target", "decoder"),
    [
        (["task=mit_movie", "head=crf"], "val/f1", CRF, None),
        (["task=conll_ner", "head=token", "head.decoder=bio_viterbi"], "val/f1", TOKEN, "bio_viterbi"),
        (["task=atis", "head=crf"], "val/slot_f1", CRF, None),
        (["task=atis", "head=joint"], "val/frame_acc", TOKEN, "argmax"),
        (["task=atis", "head=joint", "head.heads.token.decoder=bio_viterbi"], "val/frame_acc", TOKEN, "bio_viterbi"),
        (["task=snips", "head=joint", "head.decoder=bio_viterbi"], "val/frame_acc", TOKEN, "bio_viterbi"),
        (["task=snips", "head=joint_crf"], "val/frame_acc", CRF, None),
    ],
)
def test_tag_decoders_and_crf_heads_compose_and_build(
    overrides: list[str], monitor: str, target: str, decoder: str | None
) -> None:
    from relx.build import build_heads, check_head_fits_task, monitor_of
    from relx.data.vocab import LabelVocab

    cfg = compose_config(overrides)
    check_head_fits_task(cfg)
    assert monitor_of(cfg) == monitor
    vocabs = {"token": LabelVocab(["O", "B-A", "I-A"]), "sentence": LabelVocab(["x", "y"])}
    slots = build_heads(cfg, 16, vocabs)["token"]
    assert type(slots).__name__ == target and getattr(slots, "decoder", None) == decoder
    assert slots.allowed.tolist() == [[True, True, False], [True, True, True], [True, True, True]]


def test_crf_and_subword_options_are_checked() -> None:
    from relx.build import check_head_fits_task
    from relx.errors import ConfigError

    with pytest.raises(ConfigError, match="head=crf does not fit task=semeval"):
        check_head_fits_task(compose_config(["task=semeval", "head=crf"], resolve=False))
    cfg = compose_config(["task=mit_movie", "head=crf", "head.constrained=false", "data.subword=mean"])
    assert cfg["head"]["heads"]["token"]["constrained"] is False and cfg["data"]["subword"] == "mean"
    assert compose_config(["data.label_all_subwords=true"])["data"]["label_all_subwords"] is True
