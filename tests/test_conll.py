"""Dependency treebank readers (CoNLL-U, CoNLL-X) and attachment scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED_DATA
from relx.data.conll import PTB_PUNCTUATION_TAGS, read_conll
from relx.errors import DataFormatError
from relx.metrics.attachment import attachment_scores

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
