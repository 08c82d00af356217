from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers import bio_ner_data, intent_slot_data
from relx.data.settings import DataSettings
from relx.data.splits import carve_dev, take_fraction
from relx.data.subwords import encode_words
from relx.data.vocab import LabelVocab
from relx.errors import DataFormatError

FILES = {"train": "train.bio", "validation": None, "test": "test.bio"}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_first_subword_alignment(tokenizer: Any) -> None:
    words = [["show", "me", "barrymore", "films"]]
    out = encode_words(words, tokenizer, max_length=32)
    ids, index = out["input_ids"][0], out["word_index"][0]
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert pieces[0] == tokenizer.cls_token and pieces[-1] == tokenizer.sep_token
    # "barrymore" splits into several subwords; its word starts at the first of them.
    assert [pieces[i] for i in index] == ["show", "me", tokenizer.tokenize("barrymore")[0], "films"]
    assert len(tokenizer.tokenize("barrymore")) > 1
    assert index == sorted(index)


def test_truncation_marks_lost_words(tokenizer: Any) -> None:
    out = encode_words([["word"] * 20], tokenizer, max_length=10)
    assert len(out["input_ids"][0]) == 10
    assert out["word_index"][0][:8] == list(range(1, 9)) and out["word_index"][0][8:] == [-1] * 12


def test_carve_dev_and_fraction_are_deterministic() -> None:
    items = list(range(100))
    train, dev = carve_dev(items, 0.1, seed=3)
    assert len(dev) == 10 and sorted(train + dev) == items and (train, dev) == carve_dev(items, 0.1, seed=3)
    assert carve_dev(items, 0.1, seed=4)[1] != dev
    assert len(take_fraction(items, 0.1, 0)) == 10 and take_fraction(items, 1.0, 0) == items
    assert take_fraction(items, 0.5, 0) == take_fraction(items, 0.5, 0)


def ner_dir(tmp_path: Path, test_text: str = "B-NEW\tx\nO\ty\n") -> Path:
    train = "".join(f"O\tw{i}\nB-ACTOR\tbob\nI-ACTOR\tsmith\n\n" for i in range(20))
    write(tmp_path / "train.bio", train)
    write(tmp_path / "test.bio", test_text)
    return tmp_path


def test_ner_datamodule_vocab_carved_dev_and_unseen_labels(tmp_path: Path, tokenizer: Any) -> None:
    dm = bio_ner_data(ner_dir(tmp_path), tokenizer, FILES, settings=DataSettings(dev_fraction=0.25))
    assert dm.vocabs["token"].labels == ["O", "B-ACTOR", "I-ACTOR"]
    assert len(dm.examples["train"]) == 15 and len(dm.examples["validation"]) == 5 and dm.dev_carved
    dm.setup()
    # A test tag never seen in training is kept (scored as missed), registered as unseen.
    assert dm.features["test"][0]["tag_ids"] == [3, 0]
    assert dm.vocabs["token"].unseen == ["B-NEW"] and dm.vocabs["token"].label(3) == "B-NEW"
    assert dm.data_summary()["unseen_labels"] == {"token": ["B-NEW"]}
    batch = next(iter(dm.test_dataloader()))
    assert batch.word_labels.tolist() == [[3, 0]] and batch.word_mask.all()


def test_train_fraction_subsets_training_only(tmp_path: Path, tokenizer: Any) -> None:
    dm = bio_ner_data(ner_dir(tmp_path), tokenizer, FILES, settings=DataSettings(train_fraction=0.5))
    assert len(dm.examples["train"]) == 9 and len(dm.examples["validation"]) == 2


def test_truncated_words_are_counted(tmp_path: Path, tokenizer: Any) -> None:
    long = "".join(f"O\tw{i}\n" for i in range(30))
    dm = bio_ner_data(ner_dir(tmp_path, long), tokenizer, FILES, settings=DataSettings(max_length=12))
    dm.setup()
    assert dm.encoding_stats["test"]["lost_words"] > 0
    assert dm.data_summary()["test"]["sentences_with_lost_words"] == 1


def test_missing_training_split_is_a_clear_error(tmp_path: Path, tokenizer: Any) -> None:
    with pytest.raises(DataFormatError, match="no training split found"):
        bio_ner_data(tmp_path, tokenizer, FILES)
    with pytest.raises(DataFormatError, match="data directory not found"):
        bio_ner_data(tmp_path / "nope", tokenizer, FILES)


def intent_dir(tmp_path: Path, train_intents: str = "flight\nflight\n", dev_intent: str = "hotel\n") -> Path:
    write(tmp_path / "intent_label.txt", "UNK\nflight\n")
    write(tmp_path / "slot_label.txt", "PAD\nUNK\nO\nB-city\n")
    for split, intents in (("train", train_intents), ("dev", dev_intent)):
        n = intents.count("\n")
        write(tmp_path / split / "seq.in", "fly to boston\n" * n)
        write(tmp_path / split / "seq.out", "O O B-city\n" * n)
        write(tmp_path / split / "label", intents)
    return tmp_path


def test_intent_slot_unseen_dev_intent_is_scored_not_dropped(tmp_path: Path, tokenizer: Any) -> None:
    dm = intent_slot_data(intent_dir(tmp_path), tokenizer)
    assert dm.vocabs["sentence"].labels == ["flight"] and dm.vocabs["token"].labels == ["O", "B-city"]
    dm.setup()
    assert dm.features["validation"][0]["label_id"] == 1  # beyond the trainable ids
    assert dm.data_summary()["unseen_labels"] == {"sentence": ["hotel"]}
    assert not dm.has_split("test")


def test_label_file_that_does_not_match_training_data(tmp_path: Path, tokenizer: Any) -> None:
    with pytest.raises(DataFormatError, match=r"seq\.in:2: label 'hotel' is not in the label vocabulary"):
        intent_slot_data(intent_dir(tmp_path, train_intents="flight\nhotel\n"), tokenizer)


def test_vocab_round_trip() -> None:
    vocab = LabelVocab.from_labels(["B-A", "O", "I-A"], first="O")
    assert vocab.labels == ["O", "B-A", "I-A"]
    assert vocab.index_for_eval("B-Z") == 3 and "B-Z" not in vocab
    assert LabelVocab.from_dict(vocab.to_dict()).label(3) == "B-Z"
    with pytest.raises(KeyError):
        vocab.index("B-Z")


def test_last_subword_alignment(tokenizer: Any) -> None:
    out = encode_words([["barrymore", "films"]], tokenizer, max_length=32, subword="last")
    pieces = tokenizer.convert_ids_to_tokens(out["input_ids"][0])
    assert [pieces[i] for i in out["word_index"][0]] == [tokenizer.tokenize("barrymore")[-1], "films"]
    with pytest.raises(ValueError, match="data.subword"):
        DataSettings(subword="middle")


def test_one_training_sentence_and_no_dev_split_names_the_training_file(tmp_path: Path, tokenizer: Any) -> None:
    write(tmp_path / "train.bio", "O\tw\nB-ACTOR\tbob\n")
    write(tmp_path / "test.bio", "O\ty\n")
    with pytest.raises(DataFormatError, match=r"train\.bio: 1 training example\(s\) and no dev split"):
        bio_ner_data(tmp_path, tokenizer, FILES)


def test_mean_max_subwords_record_each_positions_word(tokenizer: Any) -> None:
    out = encode_words([["show", "barrymore", "films"]], tokenizer, max_length=32, subword="mean")
    owners, pieces = out["subword_word"][0], len(tokenizer.tokenize("barrymore"))
    assert owners == [-1, 0, *[1] * pieces, 2, -1] and out["word_index"][0] == [1, 2, 2 + pieces]
    assert "subword_word" not in encode_words([["show"]], tokenizer, max_length=32)  # first: nothing to pool


def test_label_all_subwords_gives_continuation_tags_to_training_subwords(tmp_path: Path, tokenizer: Any) -> None:
    write(
        tmp_path / "train.bio",
        "".join("B-ACTOR\tbarrymore\nI-ACTOR\tdrew\nO\tfilms\n\nB-YEAR\t1999\n\n" for _ in range(5)),
    )
    write(tmp_path / "test.bio", "B-ACTOR\tbarrymore\nO\tfilms\n")
    settings = DataSettings(label_all_subwords=True, dev_fraction=0.2)
    dm = bio_ner_data(tmp_path, tokenizer, FILES, settings=settings)
    dm.setup()
    vocab, pieces = dm.vocabs["token"], len(tokenizer.tokenize("barrymore"))
    row = next(r for r in dm.features["train"] if len(r["word_index"]) == 3)
    assert [vocab.label(i) for i in row["unit_tag_ids"]] == ["B-ACTOR"] + ["I-ACTOR"] * pieces + ["O"]
    assert row["unit_index"] == list(range(1, pieces + 3)) and row["word_index"] == [1, 1 + pieces, 2 + pieces]
    batch = next(iter(dm.loader("test")))  # evaluation: one entry per word
    assert batch.word_index.tolist() == [[1, 1 + pieces]] and "unit_index" not in dm.features["test"].column_names
    plain = bio_ner_data(tmp_path, tokenizer, FILES, settings=DataSettings(dev_fraction=0.2))
    assert plain._fingerprint("train", dm.examples["train"]) != dm._fingerprint("train", dm.examples["train"])


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["task=mit_movie", "head=crf", "data.subword=mean"], "test/f1"),
        (["task=atis", "head=joint", "head.decoder=bio_viterbi", "data.label_all_subwords=true"], "test/slot_f1"),
    ],
)
def test_subword_options_train_end_to_end_and_score_each_word_once(
    tmp_path: Path, overrides: list[str], key: str
) -> None:
    import json

    from seqeval.metrics import f1_score

    from helpers import TINY_FAST, compose_config
    from relx.runs import train
    from relx.tasks.word_outputs import read_conll_columns

    metrics = train(compose_config([*overrides, *TINY_FAST]), tmp_path)
    gold, pred = read_conll_columns(tmp_path / "predictions_test.conll")
    summary = json.loads((tmp_path / "data_summary.json").read_text())
    assert len(gold) == summary["test"]["examples"] and [len(g) for g in gold] == [len(p) for p in pred]
    assert metrics[key] == pytest.approx(f1_score(gold, pred), abs=1e-6)
