"""Dependency parsing: the task's batch contract, the biaffine head and attachment scores."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers import SHARED_DATA
from relx.build import sample_dir
from relx.encoders import EncoderSettings, load_encoder
from relx.heads import BiaffineParserHead
from relx.metrics import AttachmentScores
from relx.structs import is_tree
from relx.tasks.datamodule import TaskDataModule
from relx.tasks.treebanks import DependencyTask

FILES = {"train": "train.conll", "validation": "dev.conll", "test": "test.conll"}
UD_SAMPLE = sample_dir("ud_ewt")
TINY = EncoderSettings(pretrained=False, config_overrides={
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64})  # fmt: skip


def ptb_datamodule(directory: Path, tokenizer: Any) -> TaskDataModule:
    """The PTB-SD task (punctuation not scored) over ``directory``, read."""
    dm = TaskDataModule(DependencyTask(name="ptb_sd", files=FILES, punctuation="ptb"), directory, tokenizer)
    dm.read()
    return dm


@pytest.fixture(scope="module")
def ptb(tokenizer: Any) -> TaskDataModule:
    dm = ptb_datamodule(sample_dir("ptb_sd"), tokenizer)
    dm.setup()
    return dm


def test_batch_contract_and_ptb_punctuation(ptb: TaskDataModule) -> None:
    batch = next(iter(ptb.test_dataloader()))
    ex = ptb.examples["test"][int(batch.example_ids[0])]
    n = len(ex.words)
    assert batch.heads[0, :n].tolist() == list(ex.heads) and (batch.heads[0, n:] == -100).all()
    assert batch.score_mask[0, :n].tolist() == [tag not in {",", ".", ":", "``", "''", "-LRB-", "-RRB-", "#", "$"}
                                                for tag in ex.xpos]  # fmt: skip
    assert "punct" in ptb.vocabs["tree"]


@pytest.mark.parametrize("decoder", ["mst", "eisner", "greedy"])
def test_biaffine_head_trains_and_decodes_trees(ptb: TaskDataModule, decoder: str) -> None:
    torch.manual_seed(0)
    encoder = load_encoder(TINY)
    head = BiaffineParserHead(
        encoder.hidden_size, ptb.vocabs["tree"].num_labels, arc_size=16, rel_size=8, decoder=decoder
    )
    batch = next(iter(ptb.train_dataloader()))
    output = head(encoder(batch.input_ids, batch.attention_mask), batch)
    w = batch.word_mask.shape[1]
    assert output.arcs.shape == (len(batch), w + 1, w + 1)
    loss = head.loss(output, batch)
    loss.backward()
    # the biaffine weight starts at zero (as in Dozat & Manning), so the first gradients reach it and the
    # head MLP (through the head-prior bias), not yet the dependent MLP
    assert (
        torch.isfinite(loss) and head.arc_weight.grad.abs().sum() > 0 and head.arc_head[0].weight.grad.abs().sum() > 0
    )
    decoded = head.decode(output, batch)
    assert decoded.shape == (len(batch), w, 2)
    for b in range(len(batch)):
        n = int(batch.word_mask[b].sum())
        heads = [-1, *decoded[b, :n, 0].tolist()]
        assert is_tree(heads, single_root=decoder != "greedy") or decoder == "greedy"
        assert (decoded[b, n:] == -100).all()


def test_repair_trees_setting_is_counted_in_the_data_summary(tmp_path: Path, tokenizer: Any) -> None:
    from relx.data.settings import DataSettings
    from relx.errors import DataFormatError

    def sentence(*heads: int) -> str:
        return "".join(f"{i}\tw\t_\tX\tX\t_\t{h}\tdep\t_\t_\n" for i, h in enumerate(heads, 1)) + "\n"

    (tmp_path / "train.conll").write_text(sentence(0, 1) + sentence(0, 0, 2) + sentence(2, 1, 0), encoding="utf-8")

    def task() -> DependencyTask:
        return DependencyTask(name="trees", files={"train": "train.conll"})

    with pytest.raises(DataFormatError, match=r"train\.conll:4: the sentence is not a tree: 2 words"):
        TaskDataModule(task(), tmp_path, tokenizer).read()
    dm = TaskDataModule(task(), tmp_path, tokenizer, settings=DataSettings(repair_trees=True, dev_fraction=0.3))
    dm.read()
    assert dm.data_summary()["train"]["trees_repaired"] == 2
    assert ptb_summary_has_no_repairs(sample_dir("ptb_sd"), tokenizer)


def ptb_summary_has_no_repairs(directory: Path, tokenizer: Any) -> bool:
    """The bundled sample is clean: every sentence is a tree as it stands."""
    dm = ptb_datamodule(directory, tokenizer)
    return all(dm.data_summary()[split]["trees_repaired"] == 0 for split in ("train", "validation", "test"))


def test_attachment_metric_over_scored_words(ptb: TaskDataModule) -> None:
    batch = next(iter(ptb.test_dataloader()))
    metric = AttachmentScores(ptb.vocabs["tree"])
    gold = torch.stack([batch.heads, batch.rels], dim=-1)
    metric.update({"tree": gold}, batch)
    assert {k: float(v) for k, v in metric.compute().items()} == {"uas": 1.0, "las": 1.0}
    wrong = gold.clone()
    scored = batch.score_mask & batch.word_mask
    wrong[..., 1] = torch.where(scored, (gold[..., 1] + 1) % ptb.vocabs["tree"].num_labels, gold[..., 1])
    metric.reset()
    metric.update({"tree": wrong}, batch)
    assert {k: float(v) for k, v in metric.compute().items()} == {"uas": 1.0, "las": 0.0}


def test_pairwise_head_equals_a_linear_layer_over_the_explicit_feature_vector() -> None:
    """W [T_i; T_j; a_ij; a_ji] computed from per-part projections == the explicit concatenation."""
    from types import SimpleNamespace

    from relx.encoders import Encoded
    from relx.heads import PairwiseAttentionParserHead

    torch.manual_seed(0)
    b, seq, hidden, layers, heads_per_layer = 2, 6, 8, 2, 3
    attentions = tuple(torch.rand(b, heads_per_layer, seq, seq).softmax(-1) for _ in range(layers))
    encoded = Encoded(hidden=torch.randn(b, seq, hidden), attentions=attentions)
    batch = SimpleNamespace(
        word_index=torch.tensor([[1, 2, 4], [1, 3, -1]]), word_mask=torch.tensor([[1, 1, 1], [1, 1, 0]]).bool()
    )
    head = PairwiseAttentionParserHead(hidden, num_labels=4, attention_size=layers * heads_per_layer).eval()
    arcs = head(encoded, batch)["arcs"]
    parts = head.arc
    weight = torch.cat([parts.dep.weight, parts.head.weight, parts.att_ij.weight, parts.att_ji.weight], dim=1)[0]
    att = torch.cat(attentions, dim=1)  # [b, L*H, seq, seq]
    positions = [[0, 1, 2, 4], [0, 1, 3, 0]]
    for s in range(b):
        n = int(batch.word_mask[s].sum()) + 1
        for i in range(n):
            for j in range(n):
                if i == j:
                    continue
                pi, pj = positions[s][i], positions[s][j]
                c = torch.cat([encoded.hidden[s, pi], encoded.hidden[s, pj], att[s, :, pi, pj], att[s, :, pj, pi]])
                assert torch.allclose(arcs[s, i, j], weight @ c + parts.dep.bias[0], atol=1e-5)


def test_attention_features_need_captured_attention() -> None:
    from types import SimpleNamespace

    from relx.encoders import Encoded
    from relx.errors import ConfigError
    from relx.heads import PairwiseAttentionParserHead

    batch = SimpleNamespace(word_index=torch.tensor([[1, 2]]), word_mask=torch.tensor([[True, True]]))
    head = PairwiseAttentionParserHead(8, num_labels=2, attention_size=4)
    with pytest.raises(ConfigError, match="encoder.attention=capture"):
        head(Encoded(hidden=torch.randn(1, 4, 8)), batch)
    emb_only = PairwiseAttentionParserHead(8, num_labels=2, attention_size=4, features="emb")
    assert emb_only(Encoded(hidden=torch.randn(1, 4, 8)), batch)["arcs"].shape == (1, 3, 3)


def test_evaluate_can_switch_the_tree_decoder() -> None:
    from types import SimpleNamespace

    from relx.errors import ConfigError
    from relx.inference import set_decoder

    parser = BiaffineParserHead(8, num_labels=2)
    module = SimpleNamespace(heads={"tree": parser})
    set_decoder(module, "greedy")
    assert parser.decoder == "greedy"
    with pytest.raises(ConfigError, match="decoder must be one of"):
        set_decoder(module, "cky")
    with pytest.raises(ConfigError, match="parsers only"):
        set_decoder(SimpleNamespace(heads={}), "mst")


@pytest.mark.parametrize(
    ("options", "message"),
    [({"punctuation": "all"}, "task.punctuation must be one of"), ({"punct_column": "feats"}, "task.punct_column")],
)
def test_dependency_task_refuses_unknown_punctuation_options(options: dict[str, str], message: str) -> None:
    from relx.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        DependencyTask(name="ptb_sd", files=FILES, **options)


@pytest.mark.parametrize(
    "path",
    [
        *sorted(UD_SAMPLE.glob("*.conllu")),  # with comments, multiword tokens and (test, train) empty nodes
        SHARED_DATA / "ud_english_ewt" / "en_ewt-ud-dev.conllu",  # all of UD EWT dev, when present
        sample_dir("ptb_sd") / "test.conll",  # CoNLL-X
    ],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_gold_trees_written_as_predictions_give_back_the_treebank_byte_for_byte(tmp_path: Path, path: Path) -> None:
    """Issue 17: a prediction file keeps everything of its input it does not predict, so that with the gold
    trees inserted it *is* the input (the official CoNLL 2018 script then scores 100 on every metric: relx
    has no copy of that script, so identity stands in for it), also for examples whose labels were dropped
    for prediction."""
    if not path.exists():
        pytest.skip("shared data not present")
    task = DependencyTask(name="treebank", files={"test": path.name})
    read = task.read_split(path.parent, "test")
    assert read is not None
    examples = read[0]
    gold = {"tree": [list(zip(ex.heads, ex.rels, strict=True)) for ex in examples]}
    unlabelled = [task.without_labels(ex) for ex in examples]
    (written,) = task.write_outputs(tmp_path, "test", unlabelled, gold)
    assert written.read_bytes() == path.read_bytes().replace(b"\r\n", b"\n")
    if path.suffix == ".conllu":
        assert re.search(rb"^\d+-\d+\t", written.read_bytes(), re.MULTILINE)  # multiword tokens survived
