"""Tree decoders against brute-force enumeration of every tree on small random score matrices."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from relx.structs import chu_liu_edmonds, eisner, greedy_heads, is_projective, is_tree, mst, tree_score
from relx.structs.trees import repair_tree, tree_defect


def all_trees(n: int, single_root: bool, projective: bool = False) -> list[list[int]]:
    trees = []
    for choice in itertools.product(range(n + 1), repeat=n):
        heads = [-1, *choice]
        if is_tree(heads, single_root) and (not projective or is_projective(heads)):
            trees.append(heads)
    return trees


def best_by_enumeration(scores: np.ndarray, single_root: bool, projective: bool = False) -> float:
    return max(tree_score(scores, heads) for heads in all_trees(len(scores) - 1, single_root, projective))


CASES = [(n, seed) for n in (1, 2, 3, 4, 5) for seed in range(8)]


@pytest.mark.parametrize(("n", "seed"), CASES)
def test_decoders_find_the_best_tree(n: int, seed: int) -> None:
    scores = np.random.default_rng(seed).normal(size=(n + 1, n + 1))
    heads = chu_liu_edmonds(scores)
    assert is_tree(heads, single_root=False)
    assert tree_score(scores, heads) == pytest.approx(best_by_enumeration(scores, single_root=False))
    heads = mst(scores)
    assert is_tree(heads, single_root=True)
    assert tree_score(scores, heads) == pytest.approx(best_by_enumeration(scores, single_root=True))
    heads = eisner(scores)
    assert is_tree(heads, single_root=True) and is_projective(heads)
    assert tree_score(scores, heads) == pytest.approx(best_by_enumeration(scores, True, projective=True))


def test_enumeration_counts_are_the_known_ones() -> None:
    # rooted labelled trees on n words with a ROOT: (n+1)^(n-1); single-root ones: n^(n-1)
    assert [len(all_trees(n, single_root=False)) for n in (1, 2, 3, 4)] == [1, 3, 16, 125]
    assert [len(all_trees(n, single_root=True)) for n in (1, 2, 3, 4)] == [1, 2, 9, 64]


def test_greedy_can_make_cycles_and_mst_repairs_them() -> None:
    scores = np.full((4, 4), -5.0)
    scores[1, 2] = scores[2, 1] = 3.0  # words 1 and 2 prefer each other
    scores[3, 2] = 2.0
    scores[1, 0], scores[2, 0] = 0.0, 1.0
    greedy = greedy_heads(scores)
    assert not is_tree(greedy)
    assert list(mst(scores)) == [-1, 2, 0, 2]


def test_crossing_arcs_are_not_projective() -> None:
    assert not is_projective([-1, 3, 0, 2, 1]) and is_projective([-1, 2, 0, 2])


@pytest.mark.parametrize(
    ("heads", "defect"),
    [
        ([-1, 2, 0, 2], None),
        ([-1, 0, 0], "2 words are attached to ROOT (head 0): words 1, 2"),
        ([-1, 2, 1], "words 1, 2 form a cycle (none of them reaches ROOT)"),
        ([-1, 0, 2], "word 2 is its own head"),
        ([-1, 0, 3], "head 3 of word 2 is not 0 (ROOT) or a word id 1..2"),
        ([-1], "no word is attached to ROOT (head 0)"),
    ],
)
def test_tree_defect_says_what_is_wrong(heads: list[int], defect: str | None) -> None:
    assert tree_defect(heads) == defect and is_tree(heads) == (defect is None)


def test_repair_tree_against_every_head_assignment() -> None:
    """Every in-range head assignment of up to 4 words repairs to a single-rooted tree; trees stay as they are."""
    for n in range(1, 5):
        for choice in itertools.product(range(n + 1), repeat=n):
            heads = [-1, *choice]
            fixed = repair_tree(heads)
            assert is_tree(fixed), (heads, fixed)
            assert fixed == heads if is_tree(heads) else fixed != heads
            roots = [d for d in range(1, n + 1) if heads[d] == 0]
            if roots:
                assert fixed.index(0, 1) == roots[0]  # the first root word stays the root
    with pytest.raises(ValueError, match="out of range"):
        repair_tree([-1, 0, 5])
