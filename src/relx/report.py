"""``python -m relx.report DIR``: collect the ``metrics.json`` of every run under DIR (a multirun sweep
directory, or any tree of run directories) into one table, written as ``report.md`` and
``report.csv`` in DIR and printed.

Rows are runs (named by their Hydra overrides when the sweep stored them); columns are the metrics
(``--metrics val/f1,test/f1`` to choose, default: every metric found).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import Any

from relx.errors import RelxError
from relx.io import write_text_atomic


def _run_name(run_dir: Path, root: Path) -> str:
    overrides = run_dir / ".hydra" / "overrides.yaml"
    if overrides.is_file():
        lines = [line.strip()[2:] for line in overrides.read_text().splitlines() if line.strip().startswith("- ")]
        if lines:
            return " ".join(lines)
    return str(run_dir.relative_to(root)) if run_dir != root else run_dir.name


def collect(root: str | Path, metrics: list[str] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) for every ``metrics.json`` under ``root``."""
    root = Path(root)
    files = sorted(root.rglob("metrics.json"))
    if not files:
        raise RelxError(f"no metrics.json found under {root}")
    rows = []
    for path in files:
        values = json.loads(path.read_text())
        rows.append({"run": _run_name(path.parent, root), **values})
    found = sorted({k for row in rows for k in row if k != "run"})
    columns = ["run", *(metrics or found)]
    return columns, rows


def to_markdown(columns: list[str], rows: list[dict[str, Any]]) -> str:
    def cell(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value if value is not None else "")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="a multirun directory (or any directory holding run directories)")
    parser.add_argument("--metrics", default=None, help="comma-separated metric names (default: all)")
    args = parser.parse_args(argv)
    try:
        columns, rows = collect(args.root, args.metrics.split(",") if args.metrics else None)
    except RelxError as err:
        raise SystemExit(f"relx: error: {err}") from err
    markdown = to_markdown(columns, rows)
    write_text_atomic(Path(args.root) / "report.md", markdown)
    write_text_atomic(Path(args.root) / "report.csv", to_csv(columns, rows))
    print(markdown, end="")


if __name__ == "__main__":
    main()
