"""Encoder adaptation: masked-LM continued pretraining (``task=mlm``) and vocabulary extension
(``encoder.extend_vocab``): the masking statistics, whole-word and CJK masking, the extended tokenizer and its
embedding rows, and tiny runs end to end."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from helpers import TINY_FAST, compose_config
from relx.data.batch import IGNORE_INDEX
from relx.data.masking import MaskingPlan
from relx.data.text import pack_passage, split_cjk, text_words
from relx.errors import ConfigError, DataFormatError

TINY_MODEL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def draws(plan: MaskingPlan, ids: np.ndarray, words: np.ndarray, n: int, epoch: int = 0) -> list[tuple[Any, Any]]:
    return [plan.mask_row(ids, words, plan.rng(0, epoch, example)) for example in range(n)]


# ---- masking (pure) --------------------------------------------------------------------------------------
def test_masking_follows_the_80_10_10_rule_over_many_draws() -> None:
    """Of the chosen tokens, 80 % show the mask, 10 % a random token, 10 % themselves: each share within 4
    binomial standard deviations; the rate is met exactly when every word is one token."""
    plan = MaskingPlan(mask_id=3, replacement_ids=list(range(5000, 6000)), rate=0.15, seed=7)
    ids = np.arange(1000, 1400)  # 400 one-token words; replacements never equal an original
    words = np.arange(400)
    masked = randomised = kept = 0
    for shown, labels in draws(plan, ids, words, 100):
        chosen = labels != IGNORE_INDEX
        assert chosen.sum() == round(400 * 0.15) and (labels[chosen] == ids[chosen]).all()
        assert (shown[~chosen] == ids[~chosen]).all()  # nothing else changes
        masked += int((shown[chosen] == 3).sum())
        randomised += int((shown[chosen] >= 5000).sum())
        kept += int((shown[chosen] == ids[chosen]).sum())
    total = 100 * 60
    assert masked + randomised + kept == total
    for count, share in ((masked, 0.8), (randomised, 0.1), (kept, 0.1)):
        sd = math.sqrt(share * (1 - share) / total)
        assert abs(count / total - share) < 4 * sd, (count, share)


def test_whole_word_masking_never_splits_a_word_and_skips_special_tokens() -> None:
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 5, size=60)  # words of 1-4 subwords
    words = np.concatenate([[-1], np.repeat(np.arange(60), sizes), [-1]])  # [CLS] ... [SEP]
    ids = np.arange(len(words)) + 1000
    plan = MaskingPlan(mask_id=3, replacement_ids=[7, 8], rate=0.15)
    budget = round((len(words) - 2) * 0.15)
    for _, labels in draws(plan, ids, words, 200):
        chosen = labels != IGNORE_INDEX
        assert not chosen[0] and not chosen[-1]
        assert 0 < chosen.sum() <= budget
        for word in range(60):
            where = chosen[words == word]
            assert where.all() or not where.any(), f"word {word} split: {where}"


def test_cjk_characters_are_words_of_their_own(tokenizer: Any) -> None:
    """Raw Chinese text becomes one word a character, so each character is masked on its own (Latin words and
    punctuation stay whole)."""
    assert text_words("我喜欢NLP模型, really.") == ["我", "喜", "欢", "NLP", "模", "型", ",", "really", "."]
    assert split_cjk(["BERT模型", "ok"]) == ["BERT", "模", "型", "ok"]
    from relx.data.settings import DataSettings
    from relx.tasks.mlm import MaskedLMTask

    task = MaskedLMTask("mlm")
    task.attach(tokenizer, DataSettings())
    words = text_words("我们在天文台看到星团和行星")
    row = task.encode({"words": [words]})
    assert len(set(row["word_ids"][0]) - {-1}) == sum(1 for t in row["input_ids"][0] if t != tokenizer.unk_token_id) - 2
    plan = MaskingPlan(mask_id=tokenizer.mask_token_id, replacement_ids=[1000], rate=0.5)
    ids, word_ids = np.asarray(row["input_ids"][0]), np.asarray(row["word_ids"][0])
    for _, labels in draws(plan, ids, word_ids, 50):
        chosen = np.flatnonzero(labels != IGNORE_INDEX)
        assert len(set(word_ids[chosen])) == len(chosen)  # one token per chosen word: characters one by one


def test_masks_are_reproducible_redrawn_each_epoch_and_fixed_for_evaluation(tokenizer: Any) -> None:
    """A row's masks depend on (seed, epoch, example) only: not on the batch it is in; training redraws them
    each epoch, evaluation draws the same each time."""
    from relx.data.settings import DataSettings
    from relx.tasks.mlm import MaskedLMBatch, MaskedLMTask

    task = MaskedLMTask("mlm", mask_rate=0.3)
    task.attach(tokenizer, DataSettings(seed=5))
    texts = ["the quick brown fox jumps over the lazy dog again and again", "a b c d e f g h i j k l m n o p"]
    features = task.encode({"words": [t.split() for t in texts]})
    rows = [
        {"input_ids": ids, "word_ids": words, "example_id": n}
        for n, (ids, words) in enumerate(zip(features["input_ids"], features["word_ids"], strict=True))
    ]
    collate = task.collator()
    batch = collate(rows)
    swapped = collate(rows[::-1])
    assert isinstance(batch, MaskedLMBatch) and batch.mlm_labels is None
    first, again = batch.for_step(0), batch.for_step(0)
    assert torch.equal(first.input_ids, again.input_ids) and torch.equal(first.mlm_labels, again.mlm_labels)
    assert torch.equal(swapped.for_step(0).mlm_labels[1], first.mlm_labels[0])  # the batch does not matter
    assert not torch.equal(batch.for_step(1).mlm_labels, first.mlm_labels)  # a new epoch, new masks
    evaluation = batch.for_step(None)
    assert torch.equal(evaluation.mlm_labels, batch.for_step(None).mlm_labels)
    assert evaluation.plan is None and evaluation.for_step(None) is evaluation  # drawn once


def test_passages_are_packed_into_pieces_of_whole_words() -> None:
    assert pack_passage([2, 3, 1, 4, 1], 5) == [(0, 2), (2, 4), (4, 5)]
    assert pack_passage([7, 1], 5) == [(0, 1), (1, 2)]  # an overlong word is a piece of its own
    assert pack_passage([], 5) == []


def test_masking_plan_and_task_refuse_impossible_shares() -> None:
    with pytest.raises(ValueError, match="sum to <= 1"):
        MaskingPlan(mask_id=1, replacement_ids=[2], mask_share=0.95, random_share=0.1)
    from relx.tasks.mlm import MaskedLMTask

    with pytest.raises(ConfigError, match="mlm.mask_rate must be in"):
        MaskedLMTask("mlm", mask_rate=0.0)


# ---- vocabulary extension -----------------------------------------------------------------------------
def fresh_tokenizer() -> Any:
    from relx.encoders import EncoderSettings, load_tokenizer

    return load_tokenizer(EncoderSettings())


def test_unknown_characters_are_counted_as_the_tokenizer_reads_them() -> None:
    from relx.data.vocab_extension import frequent_tokens, unk_rate, unknown_token_counts

    tokenizer = fresh_tokenizer()
    passages = [text_words("們們 abc☃def ☃ hello"), text_words("們 world")]
    counts = unknown_token_counts(passages, tokenizer)
    assert counts == {"們": 3, "☃": 2}  # the unknown character of an unknown word, not the word
    assert frequent_tokens(counts, 3) == ["們"] and frequent_tokens(counts, 2) == ["們", "☃"]
    before = unk_rate(passages, tokenizer)
    assert before["unk"] == 5 and 0 < before["rate"] < 1  # 們 three times, the word abc☃def, the lone ☃
    tokenizer.add_tokens(["們", "☃"])
    assert unk_rate(passages, tokenizer)["unk"] == 0


def test_extended_tokenizer_and_embedding_rows_follow_the_rule() -> None:
    """Added characters map to new ids; old rows stay bit-identical; a new token's row is the mean of its
    known pieces' rows, or of all old rows when it has none."""
    from relx.encoders import EncoderSettings, load_encoder
    from relx.encoders.extension import add_tokens, initialise_rows

    tokenizer = fresh_tokenizer()
    pieces = tokenizer("lungfishes", add_special_tokens=False)["input_ids"]
    assert len(pieces) > 1 and tokenizer.unk_token_id not in pieces
    encoder = load_encoder(EncoderSettings(pretrained=False, config_overrides=TINY_MODEL))
    old = encoder.model.get_input_embeddings().weight.detach().clone()
    extension = add_tokens(tokenizer, ["們", "lungfishes", "the"])  # "the" is one token already: not added
    assert extension.tokens == ["們", "lungfishes"] and len(tokenizer) == old.shape[0] + 2
    new_ids = [tokenizer("們", add_special_tokens=False)["input_ids"], tokenizer("lungfishes")["input_ids"][1:-1]]
    assert new_ids == [[old.shape[0]], [old.shape[0] + 1]]
    assert extension.pieces == {old.shape[0]: [], old.shape[0] + 1: pieces}
    encoder.model.resize_token_embeddings(len(tokenizer))
    initialise_rows(encoder.model, extension.pieces, old.shape[0])
    weight = encoder.model.get_input_embeddings().weight.detach()
    assert torch.equal(weight[: old.shape[0]], old)  # bit-identical
    assert torch.allclose(weight[old.shape[0]], old.mean(dim=0), atol=1e-6)
    assert torch.allclose(weight[old.shape[0] + 1], old[pieces].mean(dim=0), atol=1e-6)


def test_token_file_errors_name_the_line(tmp_path: Path) -> None:
    from relx.data.vocab_extension import read_token_file

    good = tmp_path / "tokens.txt"
    good.write_text("# added\n們\n\n中文\n們\n", encoding="utf-8")
    assert read_token_file(good, fresh_tokenizer()) == ["們", "中", "文"]  # as the tokenizer splits CJK
    bad = tmp_path / "bad.txt"
    bad.write_text("們\ntwo words\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad.txt:2: 'two words': one token a line"):
        read_token_file(bad, fresh_tokenizer())


# ---- reading another task's text -------------------------------------------------------------------------
def test_mlm_reads_another_tasks_text_through_its_reader() -> None:
    """``mlm.source=ud_ewt``: the treebank's sentences, as its own reader gives them (nothing UD-specific in
    the MLM task); the expanded source node is what config.json stores."""
    from relx.build import build_datamodule, build_tokenizer
    from relx.data.conll import read_conll

    cfg = compose_config(["task=mlm", "mlm.source=ud_ewt", "encoder=tiny"])
    assert cfg["task"]["source"]["_target_"] == "relx.tasks.treebanks.DependencyTask"
    assert cfg["task"]["sample"] == "ud_ewt"
    datamodule = build_datamodule(cfg, build_tokenizer(cfg))
    sentences = read_conll(datamodule.data_dir / "en_ewt-ud-dev.conllu")
    assert {tuple(ex.words) for ex in datamodule.examples["validation"]} == {tuple(s.words) for s in sentences}
    with pytest.raises(ConfigError, match="no task named 'nosuch'"):
        compose_config(["task=mlm", "mlm.source=nosuch"])


# ---- tiny runs ---------------------------------------------------------------------------------------------
def test_mlm_run_with_extend_vocab_writes_a_loadable_encoder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``task=mlm encoder.extend_vocab=task`` on the bundled text (English and Chinese): perplexity on dev,
    the [UNK] rate of the training text before and after, the adapted encoder and extended tokenizer in
    ``<run dir>/encoder/``; a checkpoint restores the same tokenizer (same dev perplexity), and a second run
    trains from the directory with ``encoder.name=DIR``."""
    from relx.encoders import EncoderSettings, load_encoder, load_tokenizer
    from relx.inference import evaluate
    from relx.runs import train

    cfg = compose_config(["task=mlm", "encoder.extend_vocab=task", *TINY_FAST])
    metrics = train(cfg, tmp_path / "mlm")
    assert math.isfinite(metrics["val/perplexity"]) and metrics["val/perplexity"] > 1
    assert 0 <= metrics["val/masked_acc"] <= 1 and metrics["val/masked_tokens"] > 0
    summary = json.loads((tmp_path / "mlm" / "data_summary.json").read_text(encoding="utf-8"))
    extension = summary["vocab_extension"]
    assert extension["added"] > 0 and extension["from"] == "task" and extension["init_from_mean"] == extension["added"]
    assert extension["train_unk_after"]["rate"] < extension["train_unk_before"]["rate"]

    encoder_dir = tmp_path / "mlm" / "encoder"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in encoder_dir.iterdir()}
    tokenizer = load_tokenizer(EncoderSettings(name=str(encoder_dir)))
    assert tokenizer(extension["tokens"][0], add_special_tokens=False)["input_ids"] == [
        len(tokenizer) - extension["added"]
    ]
    saved = load_encoder(EncoderSettings(name=str(encoder_dir)))
    assert saved.model.get_input_embeddings().num_embeddings == len(tokenizer)
    best = torch.load(summary["best_checkpoint"], weights_only=True)["state_dict"]  # what the run evaluated
    for key, value in saved.model.state_dict().items():
        assert torch.equal(value, best[f"encoder.model.{key}"]), key

    # the trained masked-LM head is in the directory: Hugging Face's masked-LM class and a later task=mlm read it
    from transformers import AutoModelForMaskedLM

    from relx.encoders.files import pretrained_lm_head

    head = {k.rpartition("heads.mlm.")[2]: v for k, v in best.items() if k.startswith("heads.mlm.")}
    assert set(head) == {"dense.weight", "dense.bias", "norm.weight", "norm.bias", "bias"}
    reread = pretrained_lm_head(str(encoder_dir))
    assert reread.keys() == head.keys() and all(torch.equal(reread[k], head[k]) for k in head)
    hf_mlm = AutoModelForMaskedLM.from_pretrained(encoder_dir)
    assert torch.equal(hf_mlm.cls.predictions.transform.dense.weight, head["dense.weight"])
    assert torch.equal(hf_mlm.cls.predictions.bias, head["bias"])
    assert torch.equal(
        hf_mlm.bert.embeddings.word_embeddings.weight, best["encoder.model.embeddings.word_embeddings.weight"]
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_encoder(EncoderSettings(name=str(encoder_dir)))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # nothing to say: no LOAD REPORT either

    _, restored = evaluate(summary["best_checkpoint"], split="dev", output_dir=tmp_path / "eval")
    assert restored["val/perplexity"] == pytest.approx(metrics["val/perplexity"], rel=1e-5)

    from_dir = ["encoder.pretrained=true", f"encoder.name={encoder_dir}", "encoder.config_overrides={}"]
    second = compose_config(["task=mlm", *TINY_FAST, *from_dir, "save_encoder=false", "write_predictions=false"])
    again = train(second, tmp_path / "second")
    assert math.isfinite(again["val/perplexity"]) and not (tmp_path / "second" / "encoder").exists()
