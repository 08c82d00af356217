"""``python -m relx.report DIR``: collect the ``metrics.json`` of every run under DIR (a multirun sweep
directory, or any tree of run directories) into one table, written as ``report.md``, ``report.csv`` and
``report.tex`` (a LaTeX ``tabular``) in DIR and printed.

Rows are runs (named by their Hydra overrides when the sweep stored them); columns are the metrics
(``--metrics val/f1,test/f1`` to choose, default: every metric found). A multi-task run's metrics are
``val/<task>/<metric>`` columns; ``--by-task`` gives one row per (run, task) instead, with the task's
metrics under their single-task names (``val/las``), so multi-task and single-task runs line up.

``--seeds``: one row per group of runs that differ only in their seed, each cell the mean, the sample
standard deviation and the number of runs of one metric (``0.8123 ± 0.0042 (n=3)``; a single run has no
deviation: ``0.8123 (n=1)``). Runs are grouped by their Hydra overrides (``.hydra/overrides.yaml``) with
``seed=...`` left out; a run without overrides is grouped by its directory name with a trailing ``-s<N>``,
``_s<N>``, ``-seed<N>`` or ``_seed<N>`` left out. The grouping is asked for, never automatic: without
``--seeds`` every run keeps its own row. The CSV gives ``<metric> mean``, ``<metric> sd`` and
``<metric> n`` columns.

``--plot METRIC`` also draws the metric across the runs (mean ± sd bars with ``--seeds``) as
``report_<METRIC>.png``.

A run scored with several decoders after training (``evaluation.decoders=[mst,greedy]``: metrics
``val/uas@mst``, ``val/uas@greedy``) gives one row per decoder, with a ``decoder`` column and the metrics under
their plain names, so one training fills a row per decoder. A run's ``best_epoch`` (from its
``data_summary.json``: the epoch, counted from 1, whose validation gave the best checkpoint) is a column too.

``--seeds --baseline "OVERRIDES"``: also test every other group against the baseline group (the one group
whose overrides include every one of OVERRIDES, e.g. ``"head=rbert head.entity_fc=split"``), seed by seed:
the two runs of a seed are compared on their official prediction files of ``--split`` as ``--compare``
does (B - A, its 95 % paired-bootstrap interval, the approximate-randomisation p-value). The table is
printed after the seed table and written as ``significance.md``, ``.csv`` and ``.tex``. Pairs are made per
seed because a carved dev split depends on the seed: both runs of a pair scored the same sentences.

``python -m relx.report --compare RUN_A RUN_B``: the significance of two runs' difference (``relx.comparison``).
``--split auto`` (the default) compares the test predictions when a run wrote some, else the dev ones;
``--test-metric em`` tests span QA runs on exact match instead of F1.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import statistics
from pathlib import Path
from typing import Any, NamedTuple

from relx.comparison import compare, format_comparison
from relx.errors import RelxError
from relx.io import write_text_atomic

# A seed among a run's Hydra overrides, and one at the end of a run directory's name.
_SEED_OVERRIDE = re.compile(r"\+{0,2}seed=(.*)")
_SEED_SUFFIX = re.compile(r"[-_](?:s|seed)(\d+)$")


def _overrides(run_dir: Path) -> list[str] | None:
    """The run's Hydra overrides (``.hydra/overrides.yaml``), or ``None`` when it stored none."""
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return None
    lines = [line.strip()[2:] for line in path.read_text().splitlines() if line.strip().startswith("- ")]
    return lines or None


def _run_name(run_dir: Path, root: Path) -> str:
    overrides = _overrides(run_dir)
    if overrides:
        return " ".join(overrides)
    return _relative_name(run_dir, root)


def _relative_name(run_dir: Path, root: Path) -> str:
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


def _decoder_rows(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A row whose metrics include ``<metric>@<decoder>`` keys -> one row per decoder, each holding those
    metrics under their plain names and the run's metrics that no decoder changes (the plain figures of
    the decoder the model was trained with are left out: each decoder's are in its own row)."""
    decoders = list(dict.fromkeys(key.rpartition("@")[2] for key in row if "@" in key))
    if not decoders:
        return [row]
    decoded = {key.rpartition("@")[0] for key in row if "@" in key}
    common = {key: value for key, value in row.items() if "@" not in key and key not in decoded}
    return [
        {**common, "decoder": d, **{k.rpartition("@")[0]: v for k, v in row.items() if k.endswith(f"@{d}")}}
        for d in decoders
    ]


def _run_facts(run_dir: Path) -> dict[str, Any]:
    """What a run's ``data_summary.json`` says of its training: ``best_epoch`` (none when absent)."""
    path = run_dir / "data_summary.json"
    try:
        summary = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}
    best = summary.get("best_epoch") if isinstance(summary, dict) else None
    return {"best_epoch": best} if isinstance(best, int) else {}


def _rows(run: str, run_dir: Path, values: dict[str, Any], by_task: bool) -> list[dict[str, Any]]:
    """The table rows of one run: by task (``by_task``), then by decoder."""
    values = {**values, **_run_facts(run_dir)}
    rows = _task_rows(run, run_dir, values) if by_task else [{"run": run, **values}]
    return [split for row in rows for split in _decoder_rows(row)]


def _keys(rows: list[dict[str, Any]], by_task: bool) -> tuple[str, ...]:
    """The text columns: ``run``, ``task`` (``by_task``) and ``decoder`` when a row has one."""
    decoder = ("decoder",) if any("decoder" in row for row in rows) else ()
    return ("run", "task", *decoder) if by_task else ("run", *decoder)


def _natural(path: Path) -> list[int | str]:
    """Sort key putting numbered directories in number order (a sweep's job ``10_...`` after ``9_...``):
    ``re.split`` with a group alternates text and digits, so equal positions compare equal types."""
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", str(path)))]


def _metric_files(root: Path) -> list[Path]:
    files = sorted(root.rglob("metrics.json"), key=_natural)
    if not files:
        raise RelxError(f"no metrics.json found under {root}")
    return files


def _columns(rows: list[dict[str, Any]], keys: tuple[str, ...], metrics: list[str] | None) -> list[str]:
    found = sorted({k for row in rows for k in row if k not in keys})
    return [*keys, *(metrics or found)]


def collect(
    root: str | Path, metrics: list[str] | None = None, by_task: bool = False
) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) for every ``metrics.json`` under ``root`` (``by_task``: a row per run and task)."""
    root = Path(root)
    rows: list[dict[str, Any]] = []
    for path in _metric_files(root):
        values = json.loads(path.read_text())
        rows += _rows(_run_name(path.parent, root), path.parent, values, by_task)
    return _columns(rows, _keys(rows, by_task), metrics), rows


# ---- seed groups ---------------------------------------------------------------------------------------------
class SeedStat(NamedTuple):
    """One metric over the runs of a seed group: mean, sample standard deviation (``None`` for one run), n."""

    mean: float
    sd: float | None
    n: int

    def __str__(self) -> str:
        spread = f" ± {self.sd:.4f}" if self.sd is not None else ""
        return f"{self.mean:.4f}{spread} (n={self.n})"


def _seed_group(run_dir: Path, root: Path) -> tuple[str, str | None]:
    """(the name of the run's seed group, its seed or ``None``)."""
    overrides = _overrides(run_dir)
    if overrides is None:
        name = _relative_name(run_dir, root)
        match = _SEED_SUFFIX.search(name)
        return (name[: match.start()], match.group(1)) if match else (name, None)
    seeds = [m.group(1) for o in overrides if (m := _SEED_OVERRIDE.fullmatch(o))]
    rest = [o for o in overrides if not _SEED_OVERRIDE.fullmatch(o)]
    return " ".join(rest) or "(defaults)", seeds[-1] if seeds else None


def _stat(values: list[Any]) -> SeedStat | None:
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not numbers:
        return None
    sd = statistics.stdev(numbers) if len(numbers) > 1 else None
    return SeedStat(statistics.fmean(numbers), sd, len(numbers))


def seed_groups(
    root: str | Path, metrics: list[str] | None = None, by_task: bool = False
) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) with one row per seed group (and task, ``by_task``): ``run`` names the group (its
    overrides but the seed), ``seeds`` lists its seeds, and each metric is a ``SeedStat``."""
    root = Path(root)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    seeds: dict[tuple[str, str, str], list[str]] = {}
    for path in _metric_files(root):
        values = json.loads(path.read_text())
        group, seed = _seed_group(path.parent, root)
        for row in _rows(group, path.parent, values, by_task):
            key = (group, row.get("task", ""), row.get("decoder", ""))
            groups.setdefault(key, []).append(row)
            if seed is not None:
                seeds.setdefault(key, []).append(seed)
    every = [row for rows in groups.values() for row in rows]
    keys = _keys(every, by_task)
    columns = _columns(every, keys, metrics)
    out: list[dict[str, Any]] = []
    for key, rows in groups.items():
        summary: dict[str, Any] = {"run": key[0], **({"task": key[1]} if by_task else {})}
        if "decoder" in keys:
            summary["decoder"] = key[2]
        summary["seeds"] = ",".join(seeds.get(key, []))
        for column in columns[len(keys) :]:
            stat = _stat([row[column] for row in rows if column in row])
            if stat is not None:
                summary[column] = stat
        out.append(summary)
    return [*keys, "seeds", *columns[len(keys) :]], out


def _runs_by_group(root: Path) -> dict[str, dict[str, Path]]:
    """{seed group: {seed: run directory}} of every run under ``root`` that has a seed."""
    groups: dict[str, dict[str, Path]] = {}
    for path in _metric_files(root):
        group, seed = _seed_group(path.parent, root)
        if seed is not None:
            groups.setdefault(group, {})[seed] = path.parent
    return groups


def baseline_tests(
    root: str | Path, baseline: str, split: str = "auto", resamples: int = 1000, seed: int = 0, metric: str = "auto"
) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows): one row per (group, seed) testing the group's run against the baseline group's run
    of the same seed (module docstring, ``--baseline``); ``diff`` is the run's score minus the baseline's."""
    groups = _runs_by_group(Path(root))
    wanted = set(baseline.split())
    matches = [group for group in groups if wanted <= set(group.split())]
    if len(matches) != 1:
        known = "; ".join(groups) or "none with a seed"
        raise RelxError(f"--baseline {baseline!r} matches {len(matches)} seed groups (need 1); the groups: {known}")
    base = groups[matches[0]]
    rows: list[dict[str, Any]] = []
    for group, runs in groups.items():
        if group == matches[0]:
            continue
        for run_seed in sorted(base.keys() & runs.keys(), key=_natural_text):
            c = compare(base[run_seed], runs[run_seed], split, resamples, seed, metric)
            rows.append({
                "run": group, "seed": run_seed, "metric": f"{c.metric} ({c.split})", "baseline": c.score_a,
                "score": c.score_b, "diff": c.diff, "95% CI": f"[{c.low:+.4f}, {c.high:+.4f}]", "p": c.p_value,
            })  # fmt: skip
    if not rows:
        raise RelxError(f"no other seed group shares a seed with the baseline {matches[0]!r}")
    return ["run", "seed", "metric", "baseline", "score", "diff", "95% CI", "p"], rows


def _natural_text(text: str) -> list[int | str]:
    return _natural(Path(text))


# ---- output formats ------------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value if value is not None else "")


def to_markdown(columns: list[str], rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """CSV; a column of ``SeedStat`` cells becomes three: ``<column> mean``, ``<column> sd``, ``<column> n``."""
    stat_columns = {c for c in columns if any(isinstance(row.get(c), SeedStat) for row in rows)}
    header: list[str] = []
    for c in columns:
        header += [f"{c} mean", f"{c} sd", f"{c} n"] if c in stat_columns else [c]
    flat: list[dict[str, Any]] = []
    for row in rows:
        record = {c: v for c, v in row.items() if c not in stat_columns}
        for c in stat_columns & row.keys():
            stat = row[c]
            record.update({f"{c} mean": stat.mean, f"{c} sd": stat.sd, f"{c} n": stat.n})
        flat.append(record)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return out.getvalue()


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """A LaTeX ``tabular`` (no packages needed): text columns left-aligned, metrics right-aligned."""

    def cell(value: Any) -> str:
        if isinstance(value, SeedStat):
            spread = f" $\\pm$ {value.sd:.4f}" if value.sd is not None else ""
            return f"{value.mean:.4f}{spread} (n={value.n})"
        return latex_escape(_cell(value))

    text = {"run", "task", "decoder", "seeds", "seed", "metric", "95% CI"}
    spec = "".join("l" if c in text else "r" for c in columns)
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\hline", " & ".join(latex_escape(c) for c in columns) + " \\\\"]
    lines.append("\\hline")
    lines += [" & ".join(cell(row.get(c)) for c in columns) + " \\\\" for row in rows]
    lines += ["\\hline", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def plot_metric(root: Path, rows: list[dict[str, Any]], metric: str) -> Path:
    """``report_<metric>.png`` in ``root``: the metric of every row that has it (mean ± sd of a seed group)."""
    from relx.plots import plot_metric_across_runs

    runs = []
    for row in rows:
        value = row.get(metric)
        name = " ".join(str(row[k]) for k in ("run", "task", "decoder") if row.get(k))
        if isinstance(value, SeedStat):
            runs.append((name, value.mean, value.sd))
        elif isinstance(value, int | float):
            runs.append((name, float(value), None))
    if not runs:
        raise SystemExit(f"relx: error: no run under {root} has the metric {metric!r}")
    path = root / f"report_{metric.replace('/', '_')}.png"
    plot_metric_across_runs(path, runs, metric)
    return path


def _write_tables(root: Path, name: str, columns: list[str], rows: list[dict[str, Any]]) -> str:
    """``<name>.md``, ``.csv`` and ``.tex`` in ``root``; returns the markdown."""
    markdown = to_markdown(columns, rows)
    write_text_atomic(root / f"{name}.md", markdown)
    write_text_atomic(root / f"{name}.csv", to_csv(columns, rows))
    write_text_atomic(root / f"{name}.tex", to_latex(columns, rows))
    return markdown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", nargs="?", help="a multirun directory (or any directory holding run directories)")
    parser.add_argument("--metrics", default=None, help="comma-separated metric names (default: all)")
    parser.add_argument("--by-task", action="store_true", help="one row per run and task (multi-task runs)")
    parser.add_argument("--seeds", action="store_true", help="one row per group of runs differing only in seed")
    parser.add_argument("--baseline", metavar="OVERRIDES", help="--seeds: test every group against this one")
    parser.add_argument("--plot", metavar="METRIC", help="also draw METRIC across the runs: report_<METRIC>.png")
    parser.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="test RUN_B against RUN_A")
    parser.add_argument("--split", default="auto", help="the split whose predictions to compare (auto: test if any)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples and shuffles")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the resampling")
    parser.add_argument(
        "--test-metric", default="auto", help="--compare/--baseline: span QA's f1 (auto) or em; others have one"
    )
    args = parser.parse_args(argv)
    if (args.root is None) == (args.compare is None):
        parser.error("give either DIR (a table of runs) or --compare RUN_A RUN_B")
    if args.baseline and not args.seeds:
        parser.error("--baseline needs --seeds (it pairs the runs of each seed)")
    try:
        if args.compare:
            run_a, run_b = args.compare
            c = compare(run_a, run_b, args.split, args.resamples, args.seed, args.test_metric)
            print(format_comparison(c, run_a, run_b), end="")
            return
        tabulate = seed_groups if args.seeds else collect
        columns, rows = tabulate(args.root, args.metrics.split(",") if args.metrics else None, args.by_task)
        tests = (
            baseline_tests(args.root, args.baseline, args.split, args.resamples, args.seed, args.test_metric)
            if args.baseline
            else None
        )
    except RelxError as err:
        raise SystemExit(f"relx: error: {err}") from err
    print(_write_tables(Path(args.root), "report", columns, rows), end="")
    if tests:
        print(
            f"\nagainst the baseline ({args.baseline}), seed by seed:\n"
            + _write_tables(Path(args.root), "significance", *tests),
            end="",
        )
    if args.plot:
        path = plot_metric(Path(args.root), rows, args.plot)
        print(f"{args.plot} across the runs: {path}")


if __name__ == "__main__":
    main()
