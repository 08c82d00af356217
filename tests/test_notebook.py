"""The quickstart notebook runs top to bottom, so it never rots."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def execute(name: str, cwd: Path) -> str:
    """Run the notebook top to bottom in ``cwd``; return everything its cells printed."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_quickstart_notebook_executes(tmp_path: Path) -> None:
    outputs = execute("quickstart.ipynb", tmp_path)
    assert "['show', 'me', 'films', 'with', 'tom', 'hanks']" in outputs  # relx.load(...).predict(...) first
    assert "test/f1" in outputs and "dev sentences" in outputs
    assert "('drew'," in outputs  # predictions printed per word


def test_attention_probing_notebook_ranks_features_and_draws_a_map(tmp_path: Path) -> None:
    outputs = execute("attention_probing.ipynb", tmp_path)
    assert "gold arcs" in outputs and "of the 20 most important features are attention weights" in outputs
    png = tmp_path / "attention_map.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
