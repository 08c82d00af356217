"""``python -m relx.report DIR``: collect the ``metrics.json`` of every run under DIR (a multirun sweep
directory, or any tree of run directories) into one table, written as ``report.md`` and
``report.csv`` in DIR and printed.

Rows are runs (named by their Hydra overrides when the sweep stored them); columns are the metrics
(``--metrics val/f1,test/f1`` to choose, default: every metric found). A multi-task run's metrics are
``val/<task>/<metric>`` columns; ``--by-task`` gives one row per (run, task) instead, with the task's
metrics under their single-task names (``val/las``), so multi-task and single-task runs line up.
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


def _task_rows(run: str, run_dir: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per task of a run: ``val/<task>/<metric>`` becomes ``val/<metric>`` in the task's row, with the
    run's own figures (``val/average``) repeated; a single-task run's row names its task from ``config.json``."""
    per_task: dict[str, dict[str, Any]] = {}
    single: dict[str, Any] = {}
    for key, value in values.items():
        parts = key.split("/")
        if len(parts) == 3:
            per_task.setdefault(parts[1], {})[f"{parts[0]}/{parts[2]}"] = value
        else:
            single[key] = value
    if not per_task:
        config = run_dir / "config.json"
        task = json.loads(config.read_text()).get("task", {}).get("name", "") if config.is_file() else ""
        return [{"run": run, "task": task, **single}]
    return [{"run": run, "task": task, **single, **metrics} for task, metrics in per_task.items()]  # + val/average


def collect(
    root: str | Path, metrics: list[str] | None = None, by_task: bool = False
) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) for every ``metrics.json`` under ``root`` (``by_task``: a row per run and task)."""
    root = Path(root)
    files = sorted(root.rglob("metrics.json"))
    if not files:
        raise RelxError(f"no metrics.json found under {root}")
    rows: list[dict[str, Any]] = []
    for path in files:
        values = json.loads(path.read_text())
        run = _run_name(path.parent, root)
        rows += _task_rows(run, path.parent, values) if by_task else [{"run": run, **values}]
    keys = ("run", "task") if by_task else ("run",)
    found = sorted({k for row in rows for k in row if k not in keys})
    columns = [*keys, *(metrics or found)]
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
    parser.add_argument("--by-task", action="store_true", help="one row per run and task (multi-task runs)")
    args = parser.parse_args(argv)
    try:
        columns, rows = collect(args.root, args.metrics.split(",") if args.metrics else None, args.by_task)
    except RelxError as err:
        raise SystemExit(f"relx: error: {err}") from err
    markdown = to_markdown(columns, rows)
    write_text_atomic(Path(args.root) / "report.md", markdown)
    write_text_atomic(Path(args.root) / "report.csv", to_csv(columns, rows))
    print(markdown, end="")


if __name__ == "__main__":
    main()
