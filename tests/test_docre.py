"""Document-level RE: long-document windows, the Task's batch contract, both heads, end-to-end runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from behaviour import check_behaviour
from helpers import TINY_FAST, compose_config
from relx.build import sample_dir
from relx.checkpointing import load_relx_checkpoint
from relx.data.documents import read_rel_info
from relx.data.settings import DataSettings
from relx.data.vocab import LabelVocab
from relx.encoders import EncoderSettings, load_encoder
from relx.encoders.windows import WindowSpec, cut_windows, window_positions
from relx.errors import ConfigError, DataFormatError
from relx.heads.docre import (
    AtlopHead,
    DocREBaselineHead,
    PairOutput,
    distance_bucket,
    entity_states,
    segment_logsumexp,
)
from relx.metrics.docred_scores import official_evaluate
from relx.runs import restore, train
from relx.tasks.datamodule import TaskDataModule
from relx.tasks.documents import BUNDLED_REL_INFO, NA, CdrTask, DocumentRETask

TINY = EncoderSettings(pretrained=False, config_overrides={
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64})  # fmt: skip
DOCRED_FILES = {"train": "train_annotated.json", "validation": "dev.json", "test": "test.json"}


def document_data(
    task: DocumentRETask,
    data_dir: Path | None,
    tokenizer: Any,
    settings: DataSettings | None = None,
    vocabs: dict[str, LabelVocab] | None = None,
) -> TaskDataModule[Any]:
    """The DataModule of ``task`` over ``data_dir`` (``None``: no files, ``vocabs`` from a checkpoint), read."""
    dm: TaskDataModule[Any] = TaskDataModule(task, data_dir, tokenizer, settings, vocabs)
    dm.read()
    return dm


def docred_data(tokenizer: Any, settings: DataSettings, files: dict[str, str] = DOCRED_FILES) -> TaskDataModule[Any]:
    return document_data(DocumentRETask(name="docred", files=files), sample_dir("docred"), tokenizer, settings)


@pytest.fixture(scope="module")
def docred(tokenizer: Any) -> TaskDataModule[Any]:
    dm = docred_data(tokenizer, DataSettings(max_length=512, batch_size=2))
    dm.setup()
    return dm


# ---- windows ---------------------------------------------------------------------------------------
def test_window_positions_cover_every_token_with_the_tokenizer_specials(tokenizer: Any) -> None:
    spec = WindowSpec.from_tokenizer(tokenizer, max_length=10)
    assert spec.start_ids == (tokenizer.cls_token_id,) and spec.end_ids == (tokenizer.sep_token_id,)
    for length in (5, 10, 11, 23, 40):
        windows = window_positions(length, spec)
        assert all(len(w) <= 10 and w[0] == 0 and w[-1] == length - 1 for w in windows)
        assert set().union(*map(set, windows)) == set(range(length))  # nothing truncated
        if length > 10:  # consecutive windows overlap by at least half a window's content
            contents = [set(w[1:-1]) for w in windows]
            assert all(len(a & b) >= spec.room // 2 for a, b in zip(contents, contents[1:], strict=False))


def test_long_inputs_are_encoded_as_merged_windows(tokenizer: Any) -> None:
    torch.manual_seed(0)
    encoder = load_encoder(EncoderSettings(**{**TINY.__dict__, "attention": "capture", "max_window": 12}), tokenizer)
    encoder.eval()
    spec = encoder.windows
    assert spec is not None and spec.max_length == 12
    ids = torch.randint(1000, 2000, (2, 30))
    ids[:, 0], ids[0, 29], ids[1, 9] = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.sep_token_id
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    ids[1, 10:] = 0
    with torch.no_grad():
        merged = encoder(ids, mask)
        assert merged.hidden.shape == (2, 30, 32)  # the whole document, no truncation
        # the short row (10 tokens) fits one window: exactly its ordinary encoding
        plain = encoder.model(input_ids=ids[1:, :10], attention_mask=mask[1:, :10]).last_hidden_state
        assert torch.allclose(merged.hidden[1, :10], plain[0], atol=1e-5)
        # a token seen by one window only has that window's state; the average where windows overlap
        windows = cut_windows(ids, mask, spec)
        states = encoder.model(input_ids=windows.input_ids, attention_mask=windows.attention_mask).last_hidden_state
        doc0 = (windows.document == 0).nonzero().squeeze(1).tolist()
        seen = {
            p: [(w, j) for w in doc0 for j, q in enumerate(windows.positions[w].tolist()) if q == p] for p in range(30)
        }
        for position, where in seen.items():
            expected = torch.stack([states[w, j] for w, j in where]).mean(0)
            assert torch.allclose(merged.hidden[0, position], expected, atol=1e-5)
    for attention in merged.attentions or ():
        rows = attention.sum(-1)
        assert torch.allclose(rows[0], torch.ones_like(rows[0]), atol=1e-5)  # renormalised rows
        assert torch.allclose(rows[1, :, :10], torch.ones(2, 10), atol=1e-5) and (rows[1, :, 10:] == 0).all()


# ---- data ------------------------------------------------------------------------------------------
def test_mentions_are_marked_and_mapped_to_their_subwords(docred: TaskDataModule[Any], tokenizer: Any) -> None:
    features = docred.features["train"][0]
    doc = docred.examples["train"][0]
    star = tokenizer.convert_tokens_to_ids("*")
    mentions = [m for entity in doc.entities for m in entity.mentions]
    for m, anchor, start, end in zip(
        mentions, features["mention_anchor"], features["mention_start"], features["mention_end"], strict=True
    ):
        assert features["input_ids"][anchor] == star and features["input_ids"][end] == star
        words = list(doc.words[m.start : m.end])
        assert (
            features["input_ids"][start:end]
            == tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]
        )


def test_batch_holds_every_ordered_pair_with_multi_hot_labels(docred: TaskDataModule[Any]) -> None:
    batch = next(iter(docred.loader("validation")))
    vocab = docred.vocabs["pair"]
    assert vocab.labels[0] == "NA" and vocab.num_labels == 97
    offset = 0
    for b, example_id in enumerate(batch.example_ids.tolist()):
        doc = docred.examples["validation"][example_id]
        n = len(doc.entities)
        rows = (batch.pair_doc == b).nonzero().squeeze(1)
        assert rows.numel() == n * (n - 1)
        heads = batch.entity_local[batch.pair_head[rows]].tolist()
        tails = batch.entity_local[batch.pair_tail[rows]].tolist()
        labels = batch.pair_labels[rows]
        facts = {(heads[i], tails[i], vocab.label(r)) for i, r in labels[:, 1:].nonzero().tolist() for r in [r + 1]}
        assert facts == set(doc.facts)
        assert (labels[:, 0] == (labels[:, 1:].sum(-1) == 0)).all()
        offset += n
    assert batch.entity_doc.shape[0] == offset


def _flags(dm: TaskDataModule[Any]) -> tuple[int, int]:
    flagged = gold = 0
    for batch in dm.loader("validation"):
        assert (batch.pair_in_train & batch.pair_labels.bool() == batch.pair_in_train).all()  # only gold facts
        flagged += int(batch.pair_in_train.sum())
        gold += int(batch.pair_labels[:, 1:].sum())
    return flagged, gold


def test_ign_flags_mark_facts_whose_names_occur_in_train(docred: TaskDataModule[Any], tokenizer: Any) -> None:
    flagged, gold = _flags(docred)
    expected = sum(
        docred.task.seen_in_train(doc, h, t, r) for doc in docred.examples["validation"] for h, t, r in doc.facts
    )
    assert flagged == expected and gold == sum(len(doc.facts) for doc in docred.examples["validation"])
    # scoring the training documents themselves: every fact is "in train"
    files = {"train": "train_annotated.json", "validation": "train_annotated.json"}
    same = docred_data(tokenizer, DataSettings(max_length=512), files)
    flagged, gold = _flags(same)
    assert flagged == gold > 0
    # a dev split carved from the training file: its documents are not training documents
    carved = docred_data(tokenizer, DataSettings(max_length=512, dev_fraction=0.3), {"train": "train_annotated.json"})
    assert carved.dev_carved
    flagged, gold = _flags(carved)
    assert flagged < gold


def test_training_pairs_sample_negatives_and_cap_pairs(docred: TaskDataModule[Any]) -> None:
    batch = next(iter(docred.loader("train")))
    batch.neg_multiple, batch.h_t_limit = 2, None
    chosen = batch.training_pairs()
    positive = batch.pair_labels[:, 1:].sum(-1) > 0
    for b in range(len(batch)):
        in_doc = batch.pair_doc[chosen] == b
        n_pos = int(positive[batch.pair_doc == b].sum())
        assert int(positive[chosen][in_doc].sum()) == n_pos  # every positive pair
        assert int((~positive[chosen][in_doc]).sum()) == min(2 * n_pos, int((~positive[batch.pair_doc == b]).sum()))
    batch.h_t_limit = 5
    capped = batch.training_pairs()
    for b in range(len(batch)):
        n_pos, n_neg = int(positive[batch.pair_doc == b].sum()), int((~positive[batch.pair_doc == b]).sum())
        in_doc = batch.pair_doc[capped] == b
        assert int(in_doc.sum()) == min(5, n_pos + min(n_neg, 2 * max(1, n_pos)))
        assert int(positive[capped][in_doc].sum()) == min(5, n_pos)  # positives first
    batch.neg_multiple = None  # every negative may be drawn; still at most 5 a document, positives first
    uncapped = batch.training_pairs()
    assert len(set(uncapped.tolist())) == len(uncapped)  # no pair twice
    for b in range(len(batch)):
        n_pos, n_all = int(positive[batch.pair_doc == b].sum()), int((batch.pair_doc == b).sum())
        in_doc = batch.pair_doc[uncapped] == b
        assert (int(in_doc.sum()), int(positive[uncapped][in_doc].sum())) == (min(5, n_all), min(5, n_pos))


def test_long_documents_are_counted_not_truncated(tokenizer: Any) -> None:
    dm = docred_data(tokenizer, DataSettings(max_length=64))
    dm.setup()
    assert dm.encoding_stats["train"]["documents_windowed"] == len(dm.examples["train"])
    longest = max(len(ids) for ids in dm.features["train"]["input_ids"])
    assert longest > 64 and dm.data_summary()["train"]["documents_windowed"] == 20


def test_cdr_pairs_are_the_listed_chemical_disease_pairs(tokenizer: Any) -> None:
    dm = document_data(CdrTask(name="cdr"), sample_dir("cdr"), tokenizer, DataSettings(max_length=512))
    dm.setup()
    assert dm.vocabs["pair"].labels == ["NA", "CID"]
    batch = next(iter(dm.loader("validation")))
    for b, example_id in enumerate(batch.example_ids.tolist()):
        doc = dm.examples["validation"][example_id]
        rows = (batch.pair_doc == b).nonzero().squeeze(1)
        pairs = list(zip(batch.entity_local[batch.pair_head[rows]].tolist(),
                         batch.entity_local[batch.pair_tail[rows]].tolist(), strict=True))  # fmt: skip
        assert pairs == list(doc.candidate_pairs or ())
        assert all(doc.entities[h].type == "Chemical" and doc.entities[t].type == "Disease" for h, t in pairs)


def predict_reader(tokenizer: Any, relations: list[str] | None = None) -> DocumentRETask:
    """The task ``relx.predict`` builds from a DocRED checkpoint: no data directory, the checkpoint's vocab."""
    relations = relations or list(read_rel_info(BUNDLED_REL_INFO))
    task = DocumentRETask(name="docred")
    document_data(task, None, tokenizer, vocabs={"pair": LabelVocab([NA, *relations])})
    return task


def test_raw_text_input_says_which_documents_are_expected(tmp_path: Path, tokenizer: Any) -> None:
    """Reported: raw text given to a DocRED model's relx.predict said only 'malformed JSON'."""
    path = tmp_path / "input.txt"
    path.write_text("Bill Gates founded Microsoft.\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        predict_reader(tokenizer).read_raw(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert "expected DocRED-style JSON: a list of documents {title, sents, vertexSet" in message
    assert "or one such document a line (JSON lines)" in message
    # what the message offers is read: JSON lines of documents
    documents = json.loads((sample_dir("docred") / "test.json").read_text())
    path.write_text("".join(json.dumps(d) + "\n" for d in documents), encoding="utf-8")
    assert [d.title for d in predict_reader(tokenizer).read_raw(path)] == [d["title"] for d in documents]


def test_raw_predictions_name_entities_and_relations(tmp_path: Path, tokenizer: Any) -> None:
    """Reported: DocRE predictions carried only indices. Each fact keeps h_idx/t_idx/r/score and gains names."""
    dm = predict_reader(tokenizer)
    doc = {
        "title": "Bill",
        "sents": [["Bill", "Gates", "lives", "in", "the", "United", "States", "."], ["Gates", "is", "rich", "."]],
        "vertexSet": [
            [{"name": "Gates", "pos": [0, 1], "sent_id": 1, "type": "PER"},
             {"name": "Bill Gates", "pos": [0, 2], "sent_id": 0, "type": "PER"}],
            [{"name": "United States", "pos": [5, 7], "sent_id": 0, "type": "LOC"}],
        ],
    }  # fmt: skip
    path = tmp_path / "docs.json"
    path.write_text(json.dumps([doc]), encoding="utf-8")
    examples = dm.read_raw(path)
    p17 = dm.vocabs["pair"].index("P17")
    out = tmp_path / "facts.jsonl"
    dm.write_raw_predictions(out, examples, {"pair": [{"facts": [(0, 1, p17, 0.91234567)]}]})
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["title"] == "Bill"
    assert row["entities"] == [{"name": "Bill Gates", "type": "PER"}, {"name": "United States", "type": "LOC"}]
    assert row["facts"] == [{
        "h_idx": 0, "t_idx": 1, "r": "P17", "score": 0.912346, "h_name": "Bill Gates", "h_type": "PER",
        "t_name": "United States", "t_type": "LOC", "r_name": "country",
    }]  # fmt: skip
    # a relation inventory the bundled table does not hold: ids kept, no made-up names
    custom = predict_reader(tokenizer, ["P17", "X1"])
    custom.write_raw_predictions(out, examples, {"pair": [{"facts": [(1, 0, 2, 0.5)]}]})
    fact = json.loads(out.read_text(encoding="utf-8"))["facts"][0]
    assert (fact["r"], fact["r_name"], fact["h_name"], fact["t_name"]) == ("X1", None, "United States", "Bill Gates")


def test_a_marker_without_tokens_is_refused(tokenizer: Any) -> None:
    with pytest.raises(ConfigError, match=r"task\.marker=' ' has no tokens under this tokenizer"):
        TaskDataModule(DocumentRETask(name="docred", marker=" "), None, tokenizer)


def test_relation_names_come_from_the_data_directory_read(tmp_path: Path, tokenizer: Any) -> None:
    """The relation table of the data directory names relations (the bundled one only when none was read)."""
    for name in ("train_annotated.json", "dev.json"):
        (tmp_path / name).write_bytes((sample_dir("docred") / name).read_bytes())
    table = {**read_rel_info(BUNDLED_REL_INFO), "P17": "country (local table)"}
    (tmp_path / "rel_info.json").write_text(json.dumps(table), encoding="utf-8")
    task = DocumentRETask(name="docred")
    document_data(task, tmp_path, tokenizer)
    assert task.relation_names()["P17"] == "country (local table)"
    assert predict_reader(tokenizer).relation_names()["P17"] == "country"


@pytest.mark.parametrize("n_entities", [0, 1])
def test_raw_documents_without_a_pair_are_named(tmp_path: Path, tokenizer: Any, n_entities: int) -> None:
    """A document with no entity pair has nothing to predict (and a batch of them would fail in the head)."""
    mention = {"name": "x", "pos": [0, 1], "sent_id": 0, "type": "PER"}
    doc = {"title": "lonely", "sents": [["x", "y"]], "vertexSet": [[mention]] * n_entities}
    path = tmp_path / "docs.json"
    path.write_text(json.dumps([doc]), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"docs\.json: document 0 \(title 'lonely'\): no entity pair to predict"):
        predict_reader(tokenizer).read_raw(path)


def test_cdr_raw_predictions_name_chemical_and_disease(tmp_path: Path, tokenizer: Any) -> None:
    dm = CdrTask(name="cdr")
    document_data(dm, None, tokenizer, vocabs={"pair": LabelVocab([NA, "CID"])})
    path = tmp_path / "test_filter.data"
    path.write_text((sample_dir("cdr") / "dev_filter.data").read_text(encoding="utf-8").splitlines()[0] + "\n")
    (doc,) = dm.read_raw(path)
    h, t = (doc.candidate_pairs or ())[0]
    out = tmp_path / "facts.jsonl"
    dm.write_raw_predictions(out, [doc], {"pair": [{"facts": [(h, t, 1, 0.7)]}]})
    fact = json.loads(out.read_text(encoding="utf-8"))["facts"][0]
    assert (fact["r"], fact["r_name"], fact["h_type"], fact["t_type"]) == ("CID", "chemical-induced disease",
                                                                            "Chemical", "Disease")  # fmt: skip
    assert fact["h_name"] == doc.entities[h].mentions[0].name


# ---- heads -----------------------------------------------------------------------------------------
def test_baseline_entity_is_mean_over_mentions_of_mean_over_subwords(docred: TaskDataModule[Any]) -> None:
    batch = next(iter(docred.loader("validation")))
    states = torch.randn(*batch.input_ids.shape, 3)
    entities = entity_states(states, batch)
    starts, ends = [], []
    for f in (docred.features["validation"][i] for i in batch.example_ids.tolist()):
        starts += f["mention_start"]
        ends += f["mention_end"]
    for e in range(batch.entity_doc.shape[0]):
        mentions = (batch.mention_entity == e).nonzero().squeeze(1).tolist()
        means = [states[batch.mention_doc[m], starts[m] : ends[m]].mean(0) for m in mentions]
        assert torch.allclose(entities[e], torch.stack(means).mean(0), atol=1e-5)


def test_distance_buckets_are_the_seed_dis2idx() -> None:
    d = torch.tensor([0, 1, 2, 3, 4, 7, 8, 255, 256, 1000, -1, -3, -300])
    assert distance_bucket(d).tolist() == [10, 11, 12, 12, 13, 13, 14, 18, 19, 19, 9, 8, 1]


def test_entity_logsumexp_pooling() -> None:
    values = torch.randn(5, 4)
    segment = torch.tensor([0, 2, 0, 2, 2])
    pooled = segment_logsumexp(values, segment, 3)
    assert torch.allclose(pooled[0], torch.logsumexp(values[[0, 2]], 0))
    assert torch.allclose(pooled[2], torch.logsumexp(values[[1, 3, 4]], 0))


def test_atlop_context_pooling_equals_the_per_pair_definition(docred: TaskDataModule[Any], tokenizer: Any) -> None:
    torch.manual_seed(0)
    encoder = load_encoder(EncoderSettings(**{**TINY.__dict__, "attention": "capture"}), tokenizer).eval()
    head = AtlopHead(32, 97, emb_size=64, block_size=16).eval()
    batch = next(iter(docred.loader("validation")))
    encoded = encoder(batch.input_ids, batch.attention_mask)
    attention = encoded.attentions[-1]
    n = batch.entity_doc.shape[0]
    entity_att = torch.stack([
        attention[batch.mention_doc[m], :, batch.mention_anchor[m]].mean(0)
        for m in [(batch.mention_entity == e).nonzero().squeeze(1) for e in range(n)]
    ])  # fmt: skip
    weights = (entity_att[batch.pair_head] * entity_att[batch.pair_tail]).mean(1)
    weights = weights / (weights.sum(1, keepdim=True) + 1e-5)
    expected = torch.stack([weights[p] @ encoded.hidden[batch.pair_doc[p]] for p in range(0, weights.shape[0], 37)])
    pooled = head._pooled_context(weights, encoded.hidden, batch.pair_doc)
    assert torch.allclose(pooled[::37], expected, atol=1e-5)
    output = head(encoded, batch)
    assert output.logits.shape == (batch.pair_head.shape[0], 97)


def test_adaptive_threshold_loss_and_top_k_decoding() -> None:
    head = AtlopHead(8, 4, emb_size=8, block_size=4, max_labels=1)
    logits = torch.tensor([[0.0, 2.0, 1.0, -1.0], [1.0, 0.5, 0.2, -3.0]])
    labels = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    output = PairOutput(logits, torch.arange(2))
    batch = type("B", (), {"pair_labels": labels})()
    # row 0: positives {1, 2} vs threshold: -log softmax([0,2,1])[1] - log softmax([0,2,1])[2];
    #        threshold vs negatives {0(th), 3}: -log softmax([0,-1])[0]. row 1: only the threshold part
    #        -log softmax([1, .5, .2, -3])[0]
    lsm = torch.log_softmax
    expected = (
        -(lsm(torch.tensor([0.0, 2.0, 1.0]), 0)[1] + lsm(torch.tensor([0.0, 2.0, 1.0]), 0)[2])
        - lsm(torch.tensor([0.0, -1.0]), 0)[0]
        - lsm(torch.tensor([1.0, 0.5, 0.2, -3.0]), 0)[0]
    ) / 2
    assert torch.isclose(head.loss(output, batch), expected)
    decoded = head.decode(output, batch)  # top-1 above the threshold logit; row 1: none -> NA
    assert decoded.tolist() == [[False, True, False, False], [True, False, False, False]]


def test_baseline_threshold_is_tuned_on_dev() -> None:
    head = DocREBaselineHead(8, 3)
    task = DocumentRETask(name="docred")
    assert task.calibrate("pair", {"f1": 0.5}) == {} and task.calibrate("sentence", {"theta": 0.3}) == {}
    assert head.calibrate(**task.calibrate("pair", {"theta": 0.3, "f1": 0.5}))
    # the same threshold again changes no decision: the validation that tuned it scored the checkpoint's rule
    assert not head.calibrate(**task.calibrate("pair", {"theta": 0.3, "f1": 0.5}))
    # ATLOP's threshold is a learned class, not tuned on dev
    assert not AtlopHead(32, 97, emb_size=64, block_size=16).calibrate(threshold=0.3)
    probs = torch.tensor([[0.9, 0.31, 0.29]])
    decoded = head.decode(PairOutput(torch.logit(probs), torch.arange(1)), None)
    assert decoded.tolist() == [[False, True, False]]


# ---- end to end ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("task", "head"), [("redocred", "atlop"), ("redocred", "docre_baseline"), ("cdr", "atlop")])
def test_document_re_trains_and_writes_official_outputs(tmp_path: Path, task: str, head: str) -> None:
    # 3 steps = one epoch of the 12-document sample: one validation while fitting (the baseline tunes theta)
    cfg = compose_config([f"task={task}", f"head={head}", *TINY_FAST, "data.batch_size=4", "trainer.max_steps=3"])
    metrics = train(cfg, tmp_path)
    check_behaviour(f"{task}-{head}", tmp_path, metrics)
    for key in ("val/f1", "val/ign_f1", "val/auc", "val/ign_auc", "val/best_f1", "val/theta", "val/na_acc"):
        assert key in metrics
    rows = json.loads((tmp_path / "result_validation.json").read_text())
    assert all(set(r) >= {"title", "h_idx", "t_idx", "r"} for r in rows)
    # relx's F1 / Ign F1 equal the official scorer's on the written result.json
    official = json.loads((tmp_path / "official_validation.json").read_text())
    assert metrics["val/f1"] == pytest.approx(official["f1"], abs=1e-6)
    assert metrics["val/ign_f1"] == pytest.approx(official["ign_f1"], abs=1e-4)
    assert (tmp_path / "pr_curve_validation.png").stat().st_size > 1000
    if head == "docre_baseline":  # the dev-tuned threshold travels in the checkpoint
        state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        assert float(state["heads.pair.theta"]) == pytest.approx(metrics["val/threshold"], abs=1e-6)


def test_default_job_is_docred_and_writes_a_test_submission(tmp_path: Path) -> None:
    cfg = compose_config([*TINY_FAST])
    assert (cfg["task"]["name"], cfg["head"]["kind"], cfg["data"]["max_length"]) == ("docred", "docre_baseline", 512)
    metrics = train(cfg, tmp_path)
    check_behaviour("docred-docre_baseline", tmp_path, metrics)
    assert "val/ign_f1" in metrics and not any(k.startswith("test/") for k in metrics)  # unlabelled test
    titles = {r["title"] for r in json.loads((tmp_path / "result_test.json").read_text())}
    test_titles = {d["title"] for d in json.loads((sample_dir("docred") / "test.json").read_text())}
    assert titles <= test_titles
    truth = json.loads((sample_dir("docred") / "dev.json").read_text())
    train_docs = json.loads((sample_dir("docred") / "train_annotated.json").read_text())
    rows = json.loads((tmp_path / "result_validation.json").read_text())
    assert official_evaluate(rows, truth, train_docs)["f1"] == pytest.approx(metrics["val/f1"], abs=1e-6)


def test_cli_evaluates_and_predicts_from_a_docre_checkpoint(tmp_path: Path) -> None:
    from helpers import run_cli

    run_dir = tmp_path / "run"
    train(compose_config(["task=redocred", *TINY_FAST, "data.batch_size=4", "trainer.max_steps=3"]), run_dir)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    # evaluate without output_dir: results go beside the checkpoint's run, equal to training's
    done = run_cli("relx.evaluate", f"ckpt_path={ckpt}", "split=validation", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (evaluated,) = run_dir.glob("eval/dev-*/metrics.json")
    trained = json.loads((run_dir / "metrics.json").read_text())
    assert json.loads(evaluated.read_text())["val/f1"] == pytest.approx(trained["val/f1"], abs=1e-6)

    # Ign F1 needs the training facts: they travel in the checkpoint. Scored as a file under another name in a
    # directory without the training file, the training documents themselves have every fact "in train".
    held_out = tmp_path / "later"
    held_out.mkdir()
    shutil.copy(sample_dir("redocred") / "train_revised.json", held_out / "arrived.json")
    _, _, later = restore(load_relx_checkpoint(ckpt), splits=("test",), split_files={"test": held_out / "arrived.json"})
    assert sorted(later.examples) == ["test"]  # nothing else is read
    flags = later.features["test"]["fact_in_train"]
    assert sum(map(sum, flags)) == sum(map(len, flags)) > 0

    documents = sample_dir("docred") / "test.json"  # DocRED's unlabelled test documents
    output = tmp_path / "facts.jsonl"
    done = run_cli("relx.predict", f"ckpt_path={ckpt}", f"input={documents}", f"output={output}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    inputs = json.loads(documents.read_text())
    assert [r["title"] for r in rows] == [d["title"] for d in inputs]
    assert [len(r["entities"]) for r in rows] == [len(d["vertexSet"]) for d in inputs]
    assert all(
        {"h_idx", "t_idx", "r", "score", "h_name", "t_name", "r_name"} <= set(f) for r in rows for f in r["facts"]
    )


def test_cli_names_the_document_and_field_of_bad_docred_input(tmp_path: Path) -> None:
    from helpers import run_cli

    data = tmp_path / "data"
    data.mkdir()
    docs = json.loads((sample_dir("redocred") / "dev_revised.json").read_text())
    docs[1]["vertexSet"][0][0]["pos"] = [0, 999]
    (data / "train_revised.json").write_text(json.dumps(docs))
    done = run_cli(
        "relx.train",
        "task=redocred",
        "encoder=tiny",
        f"data_dir={data}",
        f"hydra.run.dir={tmp_path / 'r'}",
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    title = docs[1]["title"]
    assert f"train_revised.json: document 1 (title '{title}'): field vertexSet[0][0].pos" in done.stderr
    assert "mention position outside its sentence" in done.stderr


def test_ddp_docre_metrics_equal_the_official_scorer_on_the_written_file(tmp_path: Path) -> None:
    """Two CPU processes (gloo), 4 dev documents: each rank scores its share, the gathered F1 equals the
    official scorer's on result.json, and the dev-tuned threshold survives another batching."""
    from helpers import run_cli

    run_dir = tmp_path / "ddp"
    args = ["task=redocred", "encoder=tiny", "trainer.strategy=ddp", "trainer.devices=2", "trainer.max_epochs=2"]
    done = run_cli("relx.train", *args, "data.batch_size=2", "trainer.enable_progress_bar=false",
                   f"hydra.run.dir={run_dir}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    official = json.loads((run_dir / "official_validation.json").read_text())
    assert metrics["val/f1"] == pytest.approx(official["f1"], abs=1e-6)
    assert metrics["val/ign_f1"] == pytest.approx(official["ign_f1"], abs=1e-4)
