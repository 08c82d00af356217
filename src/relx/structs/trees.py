"""Dependency-tree decoders over one sentence's arc scores.

Convention: ``scores[d, h]`` is the score of word ``h`` being the head of word ``d``; index 0 is the
artificial ROOT, words are ``1..n``; the result is ``heads`` of length ``n + 1`` with ``heads[0] = -1``.

- ``chu_liu_edmonds``: maximum spanning arborescence rooted at 0 (several words may hang off ROOT).
- ``mst``: the same with exactly one word attached to ROOT (well-formed dependency trees), by trying
  each possible root word when the unconstrained tree has several.
- ``eisner``: the best *projective* tree with a single root word, O(n^3).
- ``greedy_heads``: each word's best head on its own (may not be a tree).

Tree checks (``is_tree``, ``tree_defect``) and ``repair_tree`` serve the decoders, the tests and the
treebank readers alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NEG_INF = -np.inf


def tree_score(scores: np.ndarray, heads: np.ndarray | list[int]) -> float:
    return float(sum(scores[d, heads[d]] for d in range(1, len(heads))))


def tree_defect(heads: np.ndarray | Sequence[int], single_root: bool = True) -> str | None:
    """Why ``heads`` is not a dependency tree, in one line naming the words involved; ``None`` when it is.

    Checked in this order: every head in ``0..n`` (ROOT or a word), no cycle (a word that is its own head
    included), and with ``single_root`` exactly one word attached to ROOT. Treebank readers report the
    message; ``is_tree`` is the yes/no form.
    """
    n = len(heads) - 1
    for d in range(1, n + 1):
        if not 0 <= heads[d] <= n:
            return f"head {heads[d]} of word {d} is not 0 (ROOT) or a word id 1..{n}"
    cycle = _find_cycle(heads)
    if cycle is not None:
        if len(cycle) == 1:
            return f"word {cycle[0]} is its own head"
        return f"words {', '.join(map(str, sorted(cycle)))} form a cycle (none of them reaches ROOT)"
    roots = [d for d in range(1, n + 1) if heads[d] == 0]
    if single_root and len(roots) != 1:
        if not roots:
            return "no word is attached to ROOT (head 0)"
        return f"{len(roots)} words are attached to ROOT (head 0): words {', '.join(map(str, roots))}"
    return None


def is_tree(heads: np.ndarray | Sequence[int], single_root: bool = True) -> bool:
    """Every word reaches ROOT without a cycle (and, with ``single_root``, exactly one word has head 0)."""
    return tree_defect(heads, single_root) is None


def repair_tree(heads: Sequence[int]) -> list[int]:
    """A single-rooted tree from ``heads`` (all in ``0..n``) that has several root words or cycles.

    As treebank-cleaning scripts do: every root word after the first is attached to the first one, and
    each cycle is broken by attaching its smallest word to the first root word (or, when the sentence
    has no root word at all, by making that word the root). Neither step can create a new cycle, since
    the first root word hangs off ROOT. A well-formed tree comes back unchanged.
    """
    fixed = list(heads)
    n = len(fixed) - 1
    if any(not 0 <= fixed[d] <= n for d in range(1, n + 1)):
        raise ValueError(f"heads out of range 0..{n} cannot be repaired: {fixed[1:]}")
    roots = [d for d in range(1, n + 1) if fixed[d] == 0]
    first = roots[0] if roots else None
    for d in roots[1:]:
        fixed[d] = roots[0]
    while (cycle := _find_cycle(fixed)) is not None:
        d = min(cycle)
        if first is None:
            fixed[d], first = 0, d
        else:
            fixed[d] = first
    return fixed


def is_projective(heads: np.ndarray | list[int]) -> bool:
    """No two arcs cross (ROOT arcs included)."""
    arcs = [(min(d, h), max(d, h)) for d, h in enumerate(heads) if d > 0]
    return not any(a < c < b < e for a, b in arcs for c, e in arcs)


def greedy_heads(scores: np.ndarray) -> np.ndarray:
    s = np.array(scores, dtype=float)
    np.fill_diagonal(s, NEG_INF)
    heads = s.argmax(axis=1)
    heads[0] = -1
    return heads


def _find_cycle(heads: np.ndarray | Sequence[int]) -> list[int] | None:
    """The words of one cycle of ``heads`` (index 0 = ROOT, ignored), or ``None``; heads must be in range."""
    n = len(heads)
    color = [0] * n  # 0 unvisited, 1 on the current path, 2 done
    for start in range(1, n):
        path, node = [], start
        while node > 0 and color[node] == 0:
            color[node] = 1
            path.append(node)
            node = int(heads[node])
        if node > 0 and color[node] == 1:
            return path[path.index(node) :]
        for p in path:
            color[p] = 2
    return None


def chu_liu_edmonds(scores: np.ndarray) -> np.ndarray:
    """Maximum spanning arborescence rooted at node 0 (Chu-Liu/Edmonds, recursive contraction)."""
    s = np.array(scores, dtype=float)
    n = len(s)
    np.fill_diagonal(s, NEG_INF)
    s[0, :] = NEG_INF  # ROOT has no head
    heads = s.argmax(axis=1)
    heads[0] = -1
    cycle = _find_cycle(heads)
    if cycle is None:
        return heads
    in_cycle = np.zeros(n, dtype=bool)
    in_cycle[cycle] = True
    outside = [i for i in range(n) if not in_cycle[i]]  # includes ROOT (index 0 stays first)
    c = len(outside)  # index of the contracted node in the smaller problem
    cycle_heads = heads.copy()
    small = np.full((c + 1, c + 1), NEG_INF)
    small[:c, :c] = s[np.ix_(outside, outside)]
    # arcs leaving the cycle: the cycle node that is the best head for each outside word
    leaving = s[np.ix_(outside, cycle)]  # [outside, cycle]
    best_head_in_cycle = np.array(cycle)[leaving.argmax(axis=1)]
    small[:c, c] = leaving.max(axis=1)
    # arcs entering the cycle: gain of replacing a cycle arc d <- heads[d] by d <- h
    entering = s[np.ix_(cycle, outside)] - s[cycle, heads[cycle]][:, None]  # [cycle, outside]
    best_dep_in_cycle = np.array(cycle)[entering.argmax(axis=0)]
    small[c, :c] = entering.max(axis=0)
    small_heads = chu_liu_edmonds(small)
    result = cycle_heads
    for i, node in enumerate(outside[1:], start=1):
        h = small_heads[i]
        result[node] = best_head_in_cycle[i] if h == c else outside[h]
    h = small_heads[c]  # the outside head of the cycle: it takes over one cycle word
    dep = best_dep_in_cycle[h]
    result[dep] = outside[h]
    result[0] = -1
    return result


def mst(scores: np.ndarray) -> np.ndarray:
    """Best tree with exactly one word attached to ROOT."""
    heads = chu_liu_edmonds(scores)
    roots = [d for d in range(1, len(heads)) if heads[d] == 0]
    if len(roots) <= 1:
        return heads
    best, best_score = heads, NEG_INF
    for root in range(1, len(heads)):
        s = np.array(scores, dtype=float)
        s[1:, 0] = NEG_INF
        s[root, 0] = scores[root, 0]
        candidate = chu_liu_edmonds(s)
        score = tree_score(scores, candidate)
        if score > best_score:
            best, best_score = candidate, score
    return best


def eisner(scores: np.ndarray) -> np.ndarray:
    """Best projective tree with a single root word (Eisner 1996), by dynamic programming over spans."""
    s = np.array(scores, dtype=float)
    n = len(s) - 1
    if n == 0:
        return np.array([-1])
    # complete[i][j][dir] / incomplete[i][j][dir] over words 1..n; dir 1: head at i (right arcs), 0: head at j
    size = n + 2
    complete = np.full((size, size, 2), NEG_INF)
    incomplete = np.full((size, size, 2), NEG_INF)
    comp_split = np.zeros((size, size, 2), dtype=int)
    inc_split = np.zeros((size, size, 2), dtype=int)
    for i in range(1, n + 1):
        complete[i, i] = 0.0
    for length in range(1, n):
        for i in range(1, n - length + 1):
            j = i + length
            ks = np.arange(i, j)
            joined = complete[i, ks, 1] + complete[ks + 1, j, 0]
            k = int(ks[joined.argmax()])
            incomplete[i, j, 0] = joined.max() + s[i, j]  # j heads i
            incomplete[i, j, 1] = joined.max() + s[j, i]  # i heads j
            inc_split[i, j] = k
            left = complete[i, ks, 0] + incomplete[ks, j, 0]  # head j, reaching down to i
            complete[i, j, 0], comp_split[i, j, 0] = left.max(), int(ks[left.argmax()])
            ks2 = np.arange(i + 1, j + 1)
            right = incomplete[i, ks2, 1] + complete[ks2, j, 1]  # head i, reaching j
            complete[i, j, 1], comp_split[i, j, 1] = right.max(), int(ks2[right.argmax()])
    roots = np.array([complete[1, r, 0] + complete[r, n, 1] + s[r, 0] for r in range(1, n + 1)])
    root = int(roots.argmax()) + 1
    heads = np.full(n + 1, -1)
    heads[root] = 0

    def fill_complete(i: int, j: int, d: int) -> None:
        if i == j:
            return
        k = comp_split[i, j, d]
        if d == 0:
            fill_complete(i, k, 0)
            fill_incomplete(k, j, 0)
        else:
            fill_incomplete(i, k, 1)
            fill_complete(k, j, 1)

    def fill_incomplete(i: int, j: int, d: int) -> None:
        if d == 0:
            heads[i] = j
        else:
            heads[j] = i
        k = inc_split[i, j, 0]
        fill_complete(i, k, 1)
        fill_complete(k + 1, j, 0)

    fill_complete(1, root, 0)
    fill_complete(root, n, 1)
    return heads
