"""``citychain battery predict --curves`` (docs/battery-prediction.md, "Discharge curves input"):
cells with discharge curves get the curve model, the others the capacity model, each entry
naming its model and hash; every bad input exits 2 with ``error: ...`` naming the cell.

The input is cut at test time from the shared data folder (never copied into the project):
b1c5 (batch 1, life 1074) and b2c1 (batch 2, life 148) with curves of cycles 10, 50 and 100
and their capacity up to cycle 100; b1c7 with 300 cycles of capacity and no curves.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from cliutil import Run, in_process

from citychain.oracle.battery_data import default_data_dir
from citychain.oracle.curve_data import CURVES_FILE
from citychain.oracle.curve_model import REQUIRED_CYCLES, curve_model_hash, load_curve_params
from citychain.oracle.eol_model import load_params, model_hash

CURVE_CELLS = ("b1c5", "b2c1")
CAPACITY_CELL = "b1c7"
CURVE_CYCLES = ("10", "50", "100")
CURVE_HEADER = "cell_id,cycle,voltage_v,discharge_capacity_ah\n"


@pytest.fixture(scope="module")
def shared_rows() -> tuple[str, list[str], list[str]]:
    """(cycles header, cycles rows, curves rows) of the three cells, from the shared folder."""
    folder = default_data_dir()
    if not (folder / CURVES_FILE).exists() or not (folder / "cycles.csv").exists():
        pytest.skip(f"battery data folder {folder} has no {CURVES_FILE} or cycles.csv")
    with gzip.open(folder / CURVES_FILE, "rt", encoding="utf-8") as f:
        assert next(f) == CURVE_HEADER
        curves = [
            line
            for line in f
            if line.startswith(("b1c5,", "b2c1,")) and line.split(",", 2)[1] in CURVE_CYCLES
        ]
    lines = (folder / "cycles.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    cycles = []
    for line in lines[1:]:
        cell, cycle, _ = line.split(",", 2)
        last = 100 if cell in CURVE_CELLS else 300 if cell == CAPACITY_CELL else 0
        if int(cycle) <= last:
            cycles.append(line)
    return lines[0], cycles, curves


@pytest.fixture
def files(tmp_path: Path, shared_rows: tuple[str, list[str], list[str]]) -> tuple[Path, Path]:
    header, cycles, curves = shared_rows
    cycles_csv = tmp_path / "cycles.csv"
    cycles_csv.write_text(header + "".join(cycles), encoding="utf-8")
    curves_csv = tmp_path / "curves.csv"
    curves_csv.write_text(CURVE_HEADER + "".join(curves), encoding="utf-8")
    return cycles_csv, curves_csv


def predict(cycles: Path | str, *more: str | Path, stdin: str = "") -> Run:
    return in_process(
        "battery", "predict", "--input", cycles, "--nominal-ah", "1.1", *more, stdin=stdin
    )


def test_curve_cells_get_the_curve_model_and_the_others_the_capacity_model(
    files: tuple[Path, Path],
) -> None:
    cycles, curves = files
    run = predict(cycles, "--curves", curves, "--cycles-per-day", "2", "--as-of", "2026-12-01")
    assert run.returncode == 0, run.stderr
    doc = run.json()
    capacity_hash = model_hash(load_params())
    curves_hash = curve_model_hash(load_curve_params())
    assert doc["model_hash"] == capacity_hash  # unchanged for existing readers
    assert doc["curve_model_hash"] == curves_hash != capacity_hash
    by_id = {c["cell_id"]: c for c in doc["cells"]}
    assert [c["cell_id"] for c in doc["cells"]] == ["b1c5", "b1c7", "b2c1"]  # input order
    assert by_id["b1c7"]["model"] == "capacity"
    assert by_id["b1c7"]["model_hash"] == capacity_hash
    assert by_id["b1c7"]["last_cycle"] == 300
    for cell_id in CURVE_CELLS:
        cell = by_id[cell_id]
        assert (cell["model"], cell["model_hash"]) == ("curves", curves_hash)
        low, high = cell["interval"]
        assert all(isinstance(v, int) for v in (cell["eol_cycle"], low, high))
        assert cell["last_cycle"] == 100 and cell["observed"] is False
        assert 100 < low <= cell["eol_cycle"] <= high
        # the dates come from the same code as the capacity model's
        assert isinstance(cell["days_to_eol"], int) and cell["eol_date"] > "2026-12-01"
        assert len(cell["interval_dates"]) == 2
    # the same input gives the same output
    again = predict(cycles, "--curves", curves, "--cycles-per-day", "2", "--as-of", "2026-12-01")
    assert again.json() == doc


def test_without_curves_every_cell_gets_the_capacity_model(files: tuple[Path, Path]) -> None:
    cycles, _ = files
    run = predict(cycles)
    assert run.returncode == 0, run.stderr
    doc = run.json()
    assert "curve_model_hash" not in doc
    assert {(c["model"], c["model_hash"]) for c in doc["cells"]} == {
        ("capacity", doc["model_hash"])
    }


def test_curves_from_stdin_and_gzip(files: tuple[Path, Path], tmp_path: Path) -> None:
    cycles, curves = files
    expected = predict(cycles, "--curves", curves).json()
    packed = tmp_path / "curves.csv.gz"
    packed.write_bytes(gzip.compress(curves.read_bytes()))
    assert predict(cycles, "--curves", packed).json() == expected
    assert predict(cycles, "--curves", "-", stdin=curves.read_text()).json() == expected


def assert_usage_error(run: Run, *parts: str) -> None:
    assert run.returncode == 2, run.stdout
    assert run.stderr.startswith("error: "), run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    for part in parts:
        assert part in run.stderr, run.stderr


def test_curves_of_a_cell_not_in_the_input(files: tuple[Path, Path], tmp_path: Path) -> None:
    cycles, curves = files
    text = cycles.read_text()
    only_b1c5 = tmp_path / "cut.csv"
    only_b1c5.write_text("".join(line for line in text.splitlines(True) if "b2c1," not in line))
    assert_usage_error(predict(only_b1c5, "--curves", curves), "b2c1", "not in --input")


def test_curves_without_a_required_cycle(files: tuple[Path, Path], tmp_path: Path) -> None:
    cycles, curves = files
    cut = tmp_path / "cut.csv"
    cut.write_text(
        "".join(
            line for line in curves.read_text().splitlines(True) if not line.startswith("b2c1,100,")
        )
    )
    assert REQUIRED_CYCLES[-1] == 100
    assert_usage_error(
        predict(cycles, "--curves", cut), "cell b2c1", "no discharge curve for cycle(s) 100"
    )


def test_curves_with_another_threshold(files: tuple[Path, Path]) -> None:
    cycles, curves = files
    assert_usage_error(
        predict(cycles, "--curves", curves, "--threshold", "0.7"),
        "the curve model predicts the 80 % end of life only",
    )
    assert predict(cycles, "--curves", curves, "--threshold", "0.80").returncode == 0


def test_curves_and_input_both_on_stdin(files: tuple[Path, Path]) -> None:
    assert_usage_error(predict("-", "--curves", "-"), "cannot both be read from stdin")


def _edit_cycle(curves: Path, tmp_path: Path, prefix: str, edit: str) -> Path:
    """The curves with one cycle's rows changed: ``mV`` voltages, ``narrow`` (2.6 V and up
    only), or ``glitch`` (capacities x30, as b1c3's cycle 12 in the shared data)."""
    out = []
    for line in curves.read_text().splitlines(True):
        if line.startswith(prefix):
            cell, cycle, volts, cap = line.strip().split(",")
            if edit == "mV":
                volts = f"{float(volts) * 1000:.1f}"
            elif edit == "narrow" and float(volts) < 2.6:
                continue
            elif edit == "glitch":
                cap = f"{float(cap) * 30:.5f}"
            line = f"{cell},{cycle},{volts},{cap}\n"
        out.append(line)
    path = tmp_path / f"{edit}.csv"
    path.write_text("".join(out))
    return path


@pytest.mark.parametrize(
    ("edit", "parts"),
    [
        ("mV", ["line ", "cell b1c5 cycle 10", "is it in mV?"]),
        ("narrow", ["cell b1c5", "cycle 10", "covers"]),
        ("glitch", ["cell b1c5", "cycle 10", "not a discharge curve"]),
    ],
)
def test_curves_the_reader_or_the_model_refuse(
    files: tuple[Path, Path], tmp_path: Path, edit: str, parts: list[str]
) -> None:
    cycles, curves = files
    bad = _edit_cycle(curves, tmp_path, "b1c5,10,", edit)
    run = predict(cycles, "--curves", bad)
    assert_usage_error(run, *parts)
    assert "cell b1c5: cell b1c5" not in run.stderr  # named once


def test_unreadable_curves(files: tuple[Path, Path], tmp_path: Path) -> None:
    cycles, _ = files
    assert_usage_error(predict(cycles, "--curves", tmp_path / "nope.csv"), "cannot read")
    empty = tmp_path / "empty.csv"
    empty.write_text(CURVE_HEADER)
    assert_usage_error(predict(cycles, "--curves", empty), "no data rows")


def test_help_mentions_curves() -> None:
    run = in_process("battery", "predict", "--help")
    assert run.returncode == 0
    assert "--curves CURVES.csv" in run.stdout and "curve model" in run.stdout
