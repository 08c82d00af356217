"""Dependency treebank readers (CoNLL-U, CoNLL-X) and attachment scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import SHARED_DATA
from relx.data.conll import PTB_PUNCTUATION_TAGS, DependencyExample, read_conll, read_treebank, sentence_text
from relx.errors import DataFormatError
from relx.metrics.attachment import attachment_scores
from relx.structs.trees import is_tree

CONLLU = """# sent_id = 1
# text = Don't go.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t3:aux\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t3:advmod\t_
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t0:root\t_
3.1\tgo\t_\t_\t_\t_\t_\t_\t3:conj\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t3:punct\tSpaceAfter=No

1\tHi\thi\tINTJ\tUH\t_\t0\troot\t0:root\t_
"""

CONLLX = (
    "1\tPierre\t_\tNNP\tNNP\t_\t2\tnn\t_\t_\n"
    "2\tVinken\t_\tNNP\tNNP\t_\t0\troot\t_\t_\n"
    "3\t.\t_\t.\t.\t_\t2\tpunct\t_\t_\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_conllu_skips_ranges_empty_nodes_and_comments(tmp_path: Path) -> None:
    first, second = read_conll(write(tmp_path / "a.conllu", CONLLU))
    assert first.words == ("Do", "n't", "go", ".") and first.heads == (3, 3, 0, 3)
    assert first.rels == ("aux", "advmod", "root", "punct") and first.upos[3] == "PUNCT"
    assert second.words == ("Hi",) and second.source.endswith(":10")


def test_conllu_keeps_every_line_it_does_not_predict(tmp_path: Path) -> None:
    """Comments, the range and the empty node stay in the example, in place, with every column of each word."""
    first, second = read_conll(write(tmp_path / "a.conllu", CONLLU))
    assert "\n".join(first.lines) + "\n" == CONLLU.split("\n\n")[0] + "\n"
    assert first.word_lines == (3, 4, 5, 7) and first.lines[first.word_lines[1]].startswith("2\tn't\tnot\t")
    assert second.lines == ("1\tHi\thi\tINTJ\tUH\t_\t0\troot\t0:root\t_",) and second.word_lines == (0,)


def test_written_predictions_change_only_head_and_deprel(tmp_path: Path) -> None:
    first, second = read_conll(write(tmp_path / "a.conllu", CONLLU))
    text = sentence_text(first, [2, 0, 2, 2], ["nsubj", "root", "obj", "punct"]) + sentence_text(second, [0], ["root"])
    written, given = text.split("\n"), CONLLU.split("\n")
    assert text.endswith("\n\n") and len(written) == len(given) + 1  # a blank line after the last sentence too
    changed = {
        i: (w.split("\t"), g.split("\t")) for i, (w, g) in enumerate(zip(written[:-1], given, strict=True)) if w != g
    }
    assert sorted(changed) == [3, 4, 5, 7]  # the word lines of sentence 1, not its range or empty node
    for w, g in changed.values():
        assert w[:6] == g[:6] and w[8:] == g[8:]  # DEPS ("3:aux") and MISC as read
    assert [w[6:8] for w, _ in changed.values()] == [["2", "nsubj"], ["0", "root"], ["2", "obj"], ["2", "punct"]]
    assert read_conll(write(tmp_path / "b.conllu", text))[0].heads == (2, 0, 2, 2)


def test_conllx_predictions_keep_the_input_columns(tmp_path: Path) -> None:
    (ex,) = read_conll(write(tmp_path / "a.conll", CONLLX.replace("\t_\t_\n", "\t2\tnn\n", 1)))
    lines = sentence_text(ex, [0, 1, 1], ["root", "dep", "punct"]).split("\n")
    assert lines[0] == "1\tPierre\t_\tNNP\tNNP\t_\t0\troot\t2\tnn"  # PHEAD/PDEPREL as read
    assert lines[2] == "3\t.\t_\t.\t.\t_\t1\tpunct\t_\t_" and lines[3:] == ["", ""]


def test_examples_not_read_from_a_treebank_get_fresh_columns() -> None:
    ex = DependencyExample(("Hi", "!"), (), (), (), ())  # raw text to predict: words only
    assert (
        sentence_text(ex, [0, 1], ["root", "punct"])
        == "1\tHi\t_\t_\t_\t_\t0\troot\t_\t_\n2\t!\t_\t_\t_\t_\t1\tpunct\t_\t_\n\n"
    )
    with pytest.raises(ValueError, match="1 heads and 1 relations for 2 words"):
        sentence_text(ex, [0], ["root"])


def test_crlf_treebank_is_written_back_with_newlines(tmp_path: Path) -> None:
    (ex,) = read_conll(write(tmp_path / "a.conll", CONLLX.replace("\n", "\r\n")))
    assert sentence_text(ex, ex.heads, ex.rels) == CONLLX + "\n"


def test_conllx(tmp_path: Path) -> None:
    (ex,) = read_conll(write(tmp_path / "a.conll", CONLLX))
    assert ex.words == ("Pierre", "Vinken", ".") and ex.heads == (2, 0, 2) and ex.xpos[2] == "."


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1\tA\t_\tX\tX\t_\t0\troot\t_\n", 1, "expected 10 tab-separated columns, got 9"),
        ("1\tA\t_\tX\tX\t_\t0\troot\t_\t_\n3\tB\t_\tX\tX\t_\t1\tdep\t_\t_\n", 2, "word id '3' where 2 was expected"),
        ("1\tA\t_\tX\tX\t_\t5\troot\t_\t_\n", 1, "head 5 is beyond the sentence's 1 words"),
        ("1\tA\t_\tX\tX\t_\t_\troot\t_\t_\n", 1, "head '_' is not a word id"),
    ],
)
def test_bad_treebank_lines_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    f = write(tmp_path / "bad.conllu", text)
    with pytest.raises(DataFormatError, match=message) as info:
        read_conll(f)
    assert info.value.line == line


def rows(*heads: int, rels: tuple[str, ...] = ()) -> str:
    """A CoNLL-U sentence whose word ``i`` has head ``heads[i - 1]`` (relation ``root`` for head 0)."""
    rels = rels or tuple("root" if h == 0 else "dep" for h in heads)
    return "".join(
        f"{i}\tw{i}\t_\tX\tX\t_\t{h}\t{r}\t_\t_\n" for i, (h, r) in enumerate(zip(heads, rels, strict=True), 1)
    )


GOOD = rows(0, 1)  # lines 1-2, a blank line 3, the next sentence's comment line 4 and first word line 5


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (rows(2, 0, 2, 0), r"2 words are attached to ROOT \(head 0\): words 2, 4"),
        (rows(0, 3, 2), r"words 2, 3 form a cycle"),
        (rows(2, 3, 1), r"words 1, 2, 3 form a cycle"),
        (rows(0, 2), r"word 2 is its own head"),
    ],
)
def test_a_sentence_that_is_not_a_tree_names_file_and_sentence_line(tmp_path: Path, bad: str, message: str) -> None:
    f = write(tmp_path / "bad.conllu", f"{GOOD}\n# sent_id = 2\n{bad}")
    with pytest.raises(DataFormatError, match=f"not a tree: {message}.*data.repair_trees=true") as info:
        read_conll(f)
    assert info.value.path == str(f) and info.value.line == 5  # the sentence's first word
    assert str(info.value).startswith(f"{f}:5: ") and "\n" not in str(info.value)


def test_head_out_of_range_names_the_word_line_even_after_multiword_tokens(tmp_path: Path) -> None:
    text = "1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_\n" + rows(0, 1).replace("\t1\tdep", "\t3\tdep")
    with pytest.raises(DataFormatError, match="head 3 is beyond the sentence's 2 words") as info:
        read_conll(write(tmp_path / "bad.conllu", text))
    assert info.value.line == 3


def test_repair_mode_fixes_roots_and_cycles_and_counts_the_sentences(tmp_path: Path) -> None:
    f = write(tmp_path / "t.conllu", "\n".join([rows(0, 1), rows(2, 0, 2, 0), rows(0, 3, 2), rows(2, 3, 1), ""]))
    examples, stats = read_treebank(f, repair_trees=True)
    assert stats.trees_repaired == 3 and stats.examples == 4
    good, two_roots, cycle, rootless = (ex.heads for ex in examples)
    assert good == (0, 1)
    assert two_roots == (2, 0, 2, 2) and examples[1].rels == ("dep", "root", "dep", "dep")  # root 4 -> first root
    assert cycle == (0, 1, 2)  # the cycle's smallest word, 2, hangs off the first root word
    assert rootless == (0, 3, 1) and examples[3].rels[0] == "root"  # no root word: word 1 becomes the root
    assert all(is_tree([-1, *ex.heads]) for ex in examples)
    assert read_conll(f, repair_trees=True)[1].heads == two_roots


def test_repair_mode_still_refuses_heads_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="head 7 is beyond"):
        read_conll(write(tmp_path / "bad.conllu", rows(0, 7)), repair_trees=True)


@pytest.mark.parametrize(
    ("data", "line"),
    [(b"# text = caf\xe9\n1\tcaf\xe9\t_\tX\tX\t_\t0\troot\t_\t_\n", 1), (CONLLX.encode("utf-16"), 1)],
)
def test_non_utf8_treebank_is_a_data_format_error(tmp_path: Path, data: bytes, line: int) -> None:
    f = tmp_path / "latin1.conllu"
    f.write_bytes(data)
    with pytest.raises(DataFormatError, match="not UTF-8 text") as info:
        read_conll(f)
    assert info.value.path == str(f) and info.value.line == line


def test_non_utf8_error_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    f = tmp_path / "late.conll"
    f.write_bytes(CONLLX.encode() + b"\n1\tna\xefve\t_\tX\tX\t_\t0\troot\t_\t_\n")
    with pytest.raises(DataFormatError, match=r"byte ef") as info:
        read_conll(f)
    assert info.value.line == 5


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1\tA\t_\tX\tX\t_\t\u00b2\troot\t_\t_\n", 1, "is not a word id"),  # a digit to isdigit(), not to int()
        ("1\t\t_\tX\tX\t_\t0\troot\t_\t_\n", 1, r"column 2 \(FORM\) is empty"),
        ("1\tA\t_\tX\tX\t_\t0\t\t_\t_\n", 1, r"column 8 \(DEPREL\) is empty"),
        ("1-x\tA\t_\tX\tX\t_\t0\troot\t_\t_\n", 1, "word id '1-x' where 1 was expected"),
        # a form feed is not a line break: the line numbers are the editor's
        ("1\tA\t_\tX\tX\t_\t0\troot\t_\t_\n\x0c\n2\tB\t_\tX\tX\t_\t1\tdep\t_\t_\n", 3, "word id '2' where 1"),
        ("1\tA\x0cB\t_\tX\tX\t_\t0\troot\t_\t_\n2\tB\t_\tX\tX\t_\t_\tdep\t_\t_\n", 2, "head '_'"),
    ],
)
def test_more_bad_lines_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    with pytest.raises(DataFormatError, match=message) as info:
        read_conll(write(tmp_path / "bad.conllu", text))
    assert info.value.line == line


def test_attachment_scores_by_hand() -> None:
    gold_heads, gold_rels = [[2, 0, 2, 2]], [["nsubj", "root", "obl:tmod", "punct"]]
    pred_heads, pred_rels = [[2, 0, 1, 3]], [["nsubj", "root", "obl", "punct"]]
    tags = [["NNP", "VBD", "NN", "."]]
    # all words: heads right for 2 of 4; labels also right for those 2
    assert attachment_scores(gold_heads, gold_rels, pred_heads, pred_rels) == {"uas": 0.5, "las": 0.5}
    # PTB: the '.' is not scored -> 2 of 3
    ptb = attachment_scores(gold_heads, gold_rels, pred_heads, pred_rels, tags, PTB_PUNCTUATION_TAGS)
    assert ptb == pytest.approx({"uas": 2 / 3, "las": 2 / 3})
    # UD: 'obl' vs 'obl:tmod' is right on the universal relation (head right needed too)
    pred_heads[0][2] = 2
    assert attachment_scores(gold_heads, gold_rels, pred_heads, pred_rels, universal_relations=True) == {
        "uas": 0.75, "las": 0.75,
    }  # fmt: skip
    assert attachment_scores(gold_heads, gold_rels, pred_heads, pred_rels)["las"] == 0.5


def test_real_ud_english_ewt_dev_reads_completely() -> None:
    path = SHARED_DATA / "ud_english_ewt" / "en_ewt-ud-dev.conllu"
    if not path.exists():
        pytest.skip("shared data not present")
    examples = read_conll(path)
    assert len(examples) == 2001  # the dataset README's count
    assert all(sum(h == 0 for h in ex.heads) == 1 for ex in examples)
