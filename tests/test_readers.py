from __future__ import annotations

from pathlib import Path

import pytest

from relx.data.bio import repair_bio
from relx.data.readers import (
    read_bio_file,
    read_jointbert_split,
    read_label_file,
    read_raw_lines,
    split_words,
)
from relx.errors import DataFormatError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_mit_movie_bio_reads_sentences_and_tags(tmp_path: Path) -> None:
    f = write(tmp_path / "a.bio", "O\twhat\nO\tmovies\nB-ACTOR\tbruce\nI-ACTOR\twillis\n\nB-YEAR\t1980s\n")
    examples, stats = read_bio_file(f)
    assert [ex.words for ex in examples] == [("what", "movies", "bruce", "willis"), ("1980s",)]
    assert examples[0].tags == ("O", "O", "B-ACTOR", "I-ACTOR")
    assert examples[1].source == f"{f}:6"
    assert (stats.examples, stats.words, stats.repaired_tags) == (2, 5, 0)


def test_conll_columns_word_first_tag_last(tmp_path: Path) -> None:
    f = write(tmp_path / "t.txt", "-DOCSTART- -X- O\n\nEU NNP B-ORG\nrejects VBZ O\n\n")
    examples, _ = read_bio_file(f, "conll")
    assert examples[0].words == ("EU", "rejects") and examples[0].tags == ("B-ORG", "O")


def test_ill_formed_i_tags_are_repaired_as_conlleval_reads_them(tmp_path: Path) -> None:
    f = write(tmp_path / "a.bio", "O\ta\nI-X\tb\nI-Y\tc\nI-Y\td\n")
    examples, stats = read_bio_file(f)
    assert examples[0].tags == ("O", "B-X", "B-Y", "I-Y")
    assert stats.repaired_tags == 2
    assert repair_bio(["B-X", "I-X"]) == (["B-X", "I-X"], 0)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("O\tok\nB-ACTOR bruce\n", 2, "2 columns"),
        ("O\tok\nX-ACTOR\tbruce\n", 2, "BIO grammar"),
        ("O\tok\n\nB-\tx\n", 3, "BIO grammar"),
        ("O\tok\nO\ta\tb\n", 2, "2 columns"),
    ],
)
def test_bad_bio_lines_name_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    f = write(tmp_path / "bad.bio", text)
    with pytest.raises(DataFormatError, match=fragment) as info:
        read_bio_file(f)
    assert info.value.path == str(f) and info.value.line == line
    assert f"{f}:{line}" in str(info.value)


def test_stray_i_tag_of_a_type_with_no_b_is_an_error_in_training_data(tmp_path: Path) -> None:
    f = write(tmp_path / "train.bio", "B-ACTOR\tbruce\nI-ACTOR\twillis\n\nO\ta\nI-ACOTR\tb\nO\tc\nI-ACOTR\td\n")
    with pytest.raises(DataFormatError, match="tag 'I-ACOTR' but no 'B-ACOTR' anywhere in the training file") as info:
        read_bio_file(f, training=True)
    assert info.value.path == str(f) and info.value.line == 5  # its first occurrence
    examples, stats = read_bio_file(f)  # dev/test: repaired as conlleval reads it (scored, never a class)
    assert examples[1].tags == ("O", "B-ACOTR", "O", "B-ACOTR") and stats.repaired_tags == 2


def test_ill_formed_i_of_a_known_type_is_still_repaired_in_training_data(tmp_path: Path) -> None:
    """IOB1-style chunk starts (``I-X`` after ``O``) stay readable as long as ``X`` is a type of the file."""
    f = write(tmp_path / "t.txt", "EU NNP I-ORG\nrejects VBZ O\n\nthe DT O\nUN NNP B-ORG\n")
    examples, stats = read_bio_file(f, "conll", training=True)
    assert examples[0].tags == ("B-ORG", "O") and stats.repaired_tags == 1


def test_stray_i_slot_is_an_error_in_a_training_split(tmp_path: Path) -> None:
    d = jointbert(tmp_path, "fly to boston\nto new york\n", "O O B-city\nO I-town I-town\n", "flight\nflight\n")
    with pytest.raises(DataFormatError, match=r"seq\.out:2: tag 'I-town' but no 'B-town'"):
        read_jointbert_split(d, training=True)
    examples, _ = read_jointbert_split(d)
    assert examples[1].tags == ("O", "B-town", "I-town")


def test_stray_i_tag_stops_a_training_datamodule(tmp_path: Path) -> None:
    from helpers import bio_ner_data

    write(tmp_path / "train.bio", "O\ta\nI-X\tb\n\nB-Y\tc\n")
    write(tmp_path / "test.bio", "O\ta\nI-Z\tb\n")
    with pytest.raises(DataFormatError, match=r"train\.bio:2: tag 'I-X' but no 'B-X'"):
        bio_ner_data(tmp_path, None, {"train": "train.bio"})
    write(tmp_path / "train.bio", "O\ta\nB-X\tb\n\nI-X\tc\n")
    dm = bio_ner_data(tmp_path, None, {"train": "train.bio", "test": "test.bio"})
    assert dm.vocabs["token"].labels == ["O", "B-X"] and dm.examples["test"][0].tags == ("O", "B-Z")


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="file not found"):
        read_bio_file(tmp_path / "nope.bio")
    with pytest.raises(DataFormatError, match="empty"):
        read_bio_file(write(tmp_path / "empty.bio", "\n\n"))
    (tmp_path / "latin.bio").write_bytes(b"O\tok\n\nO\tcaf\xe9\n")
    with pytest.raises(DataFormatError, match=r"latin\.bio:3: not UTF-8 text \(byte e9 at offset 11"):
        read_bio_file(tmp_path / "latin.bio")


def jointbert(tmp_path: Path, seq_in: str, seq_out: str, label: str) -> Path:
    d = tmp_path / "train"
    write(d / "seq.in", seq_in)
    write(d / "seq.out", seq_out)
    write(d / "label", label)
    return d


def test_jointbert_split(tmp_path: Path) -> None:
    d = jointbert(tmp_path, "fly to boston \nhi there\n", "O O B-city \nO O\n", "flight\ngreet\n")
    examples, _ = read_jointbert_split(d)
    assert examples[0].words == ("fly", "to", "boston") and examples[0].tags == ("O", "O", "B-city")
    assert [ex.label for ex in examples] == ["flight", "greet"]


def test_jointbert_errors_name_the_file_and_line(tmp_path: Path) -> None:
    d = jointbert(tmp_path, "fly to boston\nhi\n", "O O B-city\nO O\n", "flight\ngreet\n")
    with pytest.raises(DataFormatError, match=r"seq\.out:2: 2 slot tags for 1 words"):
        read_jointbert_split(d)
    d = jointbert(tmp_path, "fly\nhi\n", "O\nO\n", "flight\n")
    with pytest.raises(DataFormatError, match=r"label:2: line counts differ: this file has 1, seq.in 2, seq.out 2"):
        read_jointbert_split(d)
    d = jointbert(tmp_path, "fly\nhi\nthere\n", "O\nO\n", "flight\ngreet\n")
    with pytest.raises(DataFormatError, match=r"seq\.in:3: line counts differ: this file has 3"):
        read_jointbert_split(d)


def test_label_file_drops_bookkeeping_entries_and_rejects_duplicates(tmp_path: Path) -> None:
    assert read_label_file(write(tmp_path / "l.txt", "PAD\nUNK\nO\nB-x\n")) == ["O", "B-x"]
    with pytest.raises(DataFormatError, match="duplicate label 'O'"):
        read_label_file(write(tmp_path / "d.txt", "O\nO\n"))
    with pytest.raises(DataFormatError, match="no labels besides"):
        read_label_file(write(tmp_path / "u.txt", "UNK\n"))


def test_raw_text_is_split_into_words_and_punctuation(tmp_path: Path) -> None:
    assert split_words("Show me films with Drew Barrymore, from the 1980s!") == [
        "Show",
        "me",
        "films",
        "with",
        "Drew",
        "Barrymore",
        ",",
        "from",
        "the",
        "1980s",
        "!",
    ]
    examples = read_raw_lines(write(tmp_path / "in.txt", "what movies star bruce willis\n\nhi\n"))
    assert [ex.words for ex in examples] == [("what", "movies", "star", "bruce", "willis"), ("hi",)]
    assert examples[1].source.endswith(":3")


def test_real_mit_movie_file_reads_completely() -> None:
    from helpers import SHARED_DATA

    path = SHARED_DATA / "mit_movie" / "engtrain.bio"
    if not path.exists():
        pytest.skip("shared data not present")
    examples, stats = read_bio_file(path)
    assert stats.examples == 9775 and stats.words == 99491  # the dataset README's counts
