from __future__ import annotations

import json
from pathlib import Path

import pytest

from relx.report import collect, main, seed_groups


def run(root: Path, name: str, overrides: list[str], metrics: dict[str, float]) -> None:
    d = root / name
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (d / "metrics.json").write_text(json.dumps(metrics))


def test_report_tabulates_a_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(tmp_path, "0", ["+rbert_variant=baseline"], {"val/f1": 0.8, "val/acc": 0.75})
    run(tmp_path, "1", ["+rbert_variant=shared"], {"val/f1": 0.7})
    columns, rows = collect(tmp_path, ["val/f1"])
    assert columns == ["run", "val/f1"] and [r["run"] for r in rows] == [
        "+rbert_variant=baseline",
        "+rbert_variant=shared",
    ]
    main([str(tmp_path), "--metrics", "val/f1,val/acc"])
    printed = capsys.readouterr().out
    assert "| +rbert_variant=shared | 0.7000 |  |" in printed
    assert (tmp_path / "report.md").read_text() == printed
    assert (tmp_path / "report.csv").read_text().splitlines()[1] == "+rbert_variant=baseline,0.8,0.75"


def test_report_without_runs_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no metrics.json found under"):
        main([str(tmp_path)])


def test_report_by_task_lines_up_multitask_and_single_task_runs(tmp_path: Path) -> None:
    run(tmp_path, "alone", ["task=ud_ewt"], {"val/las": 0.5})
    (tmp_path / "alone" / "config.json").write_text(json.dumps({"task": {"name": "ud_ewt"}}))
    run(tmp_path, "joint", ["+experiment=multitask"], {"val/ud/las": 0.6, "val/rel/f1": 0.4, "val/average": 0.5})
    columns, rows = collect(tmp_path, by_task=True)
    assert columns == ["run", "task", "val/average", "val/f1", "val/las"]
    assert rows == [
        {"run": "task=ud_ewt", "task": "ud_ewt", "val/las": 0.5},
        {"run": "+experiment=multitask", "task": "ud", "val/average": 0.5, "val/las": 0.6},
        {"run": "+experiment=multitask", "task": "rel", "val/average": 0.5, "val/f1": 0.4},
    ]


def test_report_plots_a_metric_across_the_sweep(tmp_path: Path) -> None:
    for seed, f1 in ((1, 0.8), (2, 0.7)):
        run(tmp_path, f"{seed}", ["+rbert_variant=baseline", f"seed={seed}"], {"val/f1": f1})
    run(tmp_path, "3", ["+rbert_variant=shared", "seed=1"], {"val/acc": 0.5})
    main([str(tmp_path), "--seeds", "--plot", "val/f1"])
    png = tmp_path / "report_val_f1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    with pytest.raises(SystemExit, match="no run under .* has the metric 'val/nope'"):
        main([str(tmp_path), "--plot", "val/nope"])


def test_report_gives_a_row_per_decoder_and_the_best_epoch(tmp_path: Path) -> None:
    """One training scored with two decoders (evaluation.decoders) is two rows; a run without decoders one row
    (its decoder cell empty); the best epoch comes from data_summary.json; --seeds groups by decoder too."""
    for seed, uas in ((1, 0.5), (2, 0.7)):
        run(tmp_path, f"p{seed}", ["head.features=emb", f"seed={seed}"],
            {"val/uas": uas, "val/uas@greedy": uas, "val/uas@mst": uas + 0.1, "val/loss": 1.0})  # fmt: skip
        (tmp_path / f"p{seed}" / "data_summary.json").write_text(json.dumps({"best_epoch": seed + 2}))
    run(tmp_path, "s", ["task=semeval"], {"val/f1": 0.4})
    columns, rows = collect(tmp_path)
    assert columns == ["run", "decoder", "best_epoch", "val/f1", "val/loss", "val/uas"]
    assert [(r["run"], r.get("decoder"), r.get("val/uas"), r.get("best_epoch")) for r in rows] == [
        ("head.features=emb seed=1", "greedy", 0.5, 3),
        ("head.features=emb seed=1", "mst", 0.6, 3),
        ("head.features=emb seed=2", "greedy", 0.7, 4),
        ("head.features=emb seed=2", "mst", pytest.approx(0.8), 4),
        ("task=semeval", None, None, None),
    ]
    assert all(r.get("val/loss") == 1.0 for r in rows[:4])  # no decoder changes the loss: in every row
    columns, groups = seed_groups(tmp_path, ["val/uas", "best_epoch"])
    assert columns == ["run", "decoder", "seeds", "val/uas", "best_epoch"]
    mst = next(g for g in groups if g["decoder"] == "mst")
    assert (mst["seeds"], mst["val/uas"].mean, mst["val/uas"].n, mst["best_epoch"].mean) == (
        "1,2", pytest.approx(0.7), 2, 3.5,
    )  # fmt: skip


def test_report_lists_sweep_jobs_in_number_order(tmp_path: Path) -> None:
    for job in (0, 2, 10, 1):
        run(tmp_path, f"{job}_x={job}", [f"x={job}"], {"val/f1": job / 10})
    assert [r["run"] for r in collect(tmp_path)[1]] == ["x=0", "x=1", "x=2", "x=10"]
