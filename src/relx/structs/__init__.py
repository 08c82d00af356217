"""Pure tree algorithms for dependency parsing: decoders over arc-score matrices and tree checks."""

from relx.structs.trees import chu_liu_edmonds, eisner, greedy_heads, is_projective, is_tree, mst, tree_score

__all__ = ["chu_liu_edmonds", "eisner", "greedy_heads", "is_projective", "is_tree", "mst", "tree_score"]
