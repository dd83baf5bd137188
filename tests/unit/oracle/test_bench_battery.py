"""The benchmark: no test cell reaches fitting or calibration, and its figures add up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from battery_fixtures import dataset

from citychain.benchmarks import battery as bench_battery
from citychain.benchmarks import battery_splits
from citychain.benchmarks.battery import MAIN, Fold, check_no_leakage, run_benchmark
from citychain.oracle.battery_data import CellMeta, CellSeries


def _subset(per_batch: int = 12) -> tuple[list[CellSeries], dict[str, CellMeta]]:
    cells, meta = dataset()
    keep: list[CellSeries] = []
    for batch in (1, 2):
        keep += [c for c in cells if meta[c.cell_id].batch == batch][:per_batch]
    return keep, meta


def test_leakage_guard_rejects_test_cells_in_fit_data() -> None:
    def fold(fitted: list[str], pool: list[str] | None = None) -> Fold:
        return Fold(100, "t", pool or ["b1c0", "b1c1"], ["b1c0"], ["b2c0"], fitted_on=fitted)

    with pytest.raises(AssertionError, match="leak"):
        check_no_leakage(fold(["b1c0", "b2c0"]))  # a test cell was fitted
    with pytest.raises(AssertionError, match="leak"):
        check_no_leakage(fold(["b1c0", "b2c1"]))  # a cell outside the training pool
    with pytest.raises(AssertionError, match="leak"):
        check_no_leakage(fold(["b1c0"], pool=["b1c0", "b2c0"]))  # the pool holds a test cell
    check_no_leakage(fold(["b1c0", "b1c1"]))


def test_smoke_at_100_cycles_is_consistent_and_leak_free() -> None:
    cells, meta = _subset()
    report = run_benchmark(cells, meta, cutoffs=[100])
    row = report["results"]["100"]
    folds = report["folds"]
    assert sorted(f["split"] for f in folds) == ["train b1 -> test b2", "train b2 -> test b1"]
    for f in folds:
        train_b, test_b = (1, 2) if f["split"] == "train b1 -> test b2" else (2, 1)
        assert not set(f["fitted_on"]) & set(f["test_ids"])
        assert {meta[c].batch for c in f["fitted_on"]} == {train_b}
        assert {meta[c].batch for c in f["pool"]} == {train_b}
        assert {meta[c].batch for c in f["test_ids"]} == {test_b}
        assert all(meta[c].cycle_life > 100 for c in f["test_ids"])
    tested = sorted(c for f in folds for c in f["test_ids"])
    assert tested == sorted(c.cell_id for c in cells if meta[c.cell_id].cycle_life > 100)
    for name, metrics in row.items():
        pred = [f["predictions"][name][c] for f in folds for c in f["test_ids"]]
        true = np.array([meta[c].cycle_life for f in folds for c in f["test_ids"]], dtype=float)
        centre = np.array([p[0] for p in pred])
        rel = np.abs(centre - true) / true
        assert metrics["n"] == len(tested)
        assert metrics["mape"] == pytest.approx(100 * rel.mean())
        assert metrics["rmse"] == pytest.approx(float(np.sqrt(np.mean((centre - true) ** 2))))
        assert metrics["within15"] == pytest.approx(100 * float(np.mean(rel <= 0.15)))
        assert 0 <= metrics["within15"] <= 100
        if metrics["coverage"] is not None:
            inside = [p[1] <= t <= p[2] for p, t in zip(pred, true, strict=True)]
            assert metrics["coverage"] == pytest.approx(100 * sum(inside) / len(inside))
            assert all(p[1] <= p[0] <= p[2] for p in pred)
        assert all(p[0] > 100 for p in pred)  # survival: never before the cut-off
        by_dir = metrics["by_direction"]
        assert sum(d["n"] for d in by_dir.values()) == metrics["n"]
    # baseline 1 is the mean of the training lives past the cut-off, the same for every cell
    for f in folds:
        lives = [meta[c].cycle_life for c in f["pool"]]
        expected = np.mean([life for life in lives if life > 100])
        got = {
            p[0]
            for p in f["predictions"]["baseline: training mean life (alive at cut-off)"].values()
        }
        assert len(got) == 1
        assert got.pop() == pytest.approx(expected)
    assert MAIN in row


def test_pooled_reference_folds_are_disjoint() -> None:
    cells, meta = _subset(8)
    report = run_benchmark(cells, meta, cutoffs=[100], variants=[MAIN], mode="pooled")
    tested = [c for f in report["folds"] for c in f["test_ids"]]
    assert len(tested) == len(set(tested))
    for f in report["folds"]:
        assert not set(f["fitted_on"]) & set(f["test_ids"])
        held_out = {meta[c].charge_policy for c in f["test_ids"]}
        assert not held_out & {meta[c].charge_policy for c in f["fitted_on"]}


def test_within_life_blocks_stay_inside_a_batch_and_are_contiguous() -> None:
    cells, meta = _subset(10)
    splits = battery_splits.splits(cells, meta, "within-life")
    assert len(splits) == 10
    for _, pool, test in splits:
        assert len({meta[c].batch for c in pool + test}) == 1
        assert not set(pool) & set(test)
        lives = sorted(meta[c].cycle_life for c in test)
        others = [meta[c].cycle_life for c in pool]
        # a block is a contiguous run of lives: no training cell lies strictly inside it
        assert not [life for life in others if lives[0] < life < lives[-1]]


def test_same_run_twice_gives_the_same_report() -> None:
    cells, meta = _subset(8)
    a = run_benchmark(cells, meta, cutoffs=[100], variants=[MAIN])
    b = run_benchmark(cells, meta, cutoffs=[100], variants=[MAIN])
    assert a["results"] == b["results"]


def test_main_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset()  # skip without the data
    out = tmp_path / "r.json"
    assert bench_battery.main(["--cutoffs", "100", "--no-ablation", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "baseline: per-cell linear extrapolation" in text
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["results"]["100"][MAIN]["n"] == 84
