"""Discharge curves input (docs/battery-prediction.md, "Discharge curves input"): every malformed
input is a CurveDataError naming the cell, the cycle, the line and the reason; the shared data
folder's curves.csv.gz, glitched cycles included, loads as it is."""

from __future__ import annotations

import contextlib
import gzip
import io
import itertools
import os
import tempfile
import time
from pathlib import Path

import pytest
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from citychain.oracle.battery_data import BatteryDataError, default_data_dir
from citychain.oracle.curve_data import (
    CURVES_FILE,
    MIN_POINTS,
    CellCurves,
    CurveDataError,
    load_shared_curves,
    parse_curves_csv,
    read_curves_file,
)

HEADER = "cell_id,cycle,voltage_v,discharge_capacity_ah"
POINTS = 30  # per synthetic cycle, above MIN_POINTS


def cycle_rows(
    cell: str,
    cycle: int,
    points: int = POINTS,
    rising: bool = False,
    low: float = 2.0,
    high: float = 3.6,
    scale: float = 1.0,
    end_ah: float = 1.05,
) -> list[str]:
    """One cycle's rows: a plausible Q(V), 0 Ah at the highest voltage, ``end_ah`` at the
    lowest, voltages falling (as recorded) unless ``rising``."""
    volts = [high - (high - low) * i / (points - 1) for i in range(points)]
    if rising:
        volts.reverse()
    rows = []
    for v in volts:
        q = end_ah * ((high - v) / (high - low)) ** 0.5
        rows.append(f"{cell},{cycle},{v:.4f},{q * scale:.5f}")
    return rows


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def cell_rows(cell: str, cycles: range = range(2, 6), **kw: float | bool) -> list[str]:
    return [r for n in cycles for r in cycle_rows(cell, n, **kw)]  # type: ignore[arg-type]


def good() -> list[str]:
    return cell_rows("a")


def replace_row(rows: list[str], index: int, row: str) -> list[str]:
    return [*rows[:index], row, *rows[index + 1 :]]


# line numbers: the header is line 1, so rows[i] is line i + 2
BAD: list[tuple[str, str, list[str]]] = [
    ("empty", "", ["empty file"]),
    ("missing column", "cell_id,cycle,voltage_v\na,2,3.6\n", ["missing column(s)", "capacity"]),
    (
        "duplicate column",
        csv_text("a,2,3.6,3.6,0", header="cell_id,cycle,voltage_v,voltage_v,discharge_capacity_ah"),
        ["duplicate column(s) voltage_v"],
    ),
    ("header only", csv_text(), ["no data rows"]),
    (
        "field count",
        csv_text(*good()[:5], "a,2,3.5,0.1,9"),
        ["line 7", "5 fields, the header has 4"],
    ),
    ("quote", csv_text(*good()[:3], 'a,2,"3.5,0.1'), ["not a valid CSV"]),
    (
        "voltage not a number",
        csv_text(*replace_row(good(), 4, "a,2,x,0.1")),
        ["line 6", "cell a cycle 2", "voltage_v 'x' is not a number"],
    ),
    (
        "capacity not a number",
        csv_text(*replace_row(good(), 40, "a,3,3.0,1.0Ah")),
        ["line 42", "cell a cycle 3", "discharge_capacity_ah '1.0Ah' is not a number"],
    ),
    (
        "voltage not finite",
        csv_text(*replace_row(good(), 4, "a,2,nan,0.1")),
        ["cell a cycle 2", "voltage_v 'nan' is not finite"],
    ),
    (
        "capacity not finite",
        csv_text(*replace_row(good(), 4, "a,2,3.3,inf")),
        ["cell a cycle 2", "discharge_capacity_ah 'inf' is not finite"],
    ),
    ("cycle zero", csv_text(*cell_rows("a", range(0, 2))), ["line 2", "cell a", "outside 1.."]),
    (
        "cycle fraction",
        csv_text("a,2.5,3.6,0"),
        ["line 2", "cell a", "cycle '2.5' is not a positive whole number"],
    ),
    ("cycle negative", csv_text("a,-3,3.6,0"), ["cycle '-3' is not a positive whole number"]),
    ("cycle huge", csv_text("a," + "9" * 5000 + ",3.6,0"), ["outside 1..1000000"]),
    ("cycle unicode digit", csv_text("a,²,3.6,0"), ["is not a positive whole number"]),
    (
        "cycles backwards",
        csv_text(*cell_rows("a", range(3, 5)), *cycle_rows("a", 2)),
        [f"line {2 * POINTS + 2}", "cell a", "cycle 2 comes after cycle 4; cycles must increase"],
    ),
    (
        "cycle repeated",
        csv_text(*cell_rows("a", range(2, 4)), *cycle_rows("a", 2)),
        ["cell a", "cycle 2 repeated after cycle 3; each cycle's rows must come together"],
    ),
    (
        "voltage repeated",
        csv_text(*replace_row(good(), 5, good()[4])),
        ["line 7", "cell a cycle 2", "voltage_v 3.3793 repeated"],
    ),
    (
        "voltage out of order",
        csv_text(*replace_row(good(), 5, "a,2,3.5,0.1")),
        ["line 7", "cell a cycle 2", "voltage_v 3.5 after 3.3793 breaks the falling order"],
    ),
    (
        "voltage out of a rising order",
        csv_text(*replace_row(cell_rows("a", rising=True), 5, "a,2,2.1,0.9")),
        ["cell a cycle 2", "breaks the rising order"],
    ),
    (
        "voltage below the range",
        csv_text(*cell_rows("a", low=1.5)),
        ["line 25", "cell a cycle 2", "voltage_v 1.9345 is outside 2..3.6 V"],
    ),
    (
        "voltage above the range",
        csv_text(*cell_rows("a", high=4.2)),
        ["line 2", "cell a cycle 2", "voltage_v 4.2 is outside 2..3.6 V"],
    ),
    (
        "voltage in mV",
        csv_text(*[r.replace(",3.6000,", ",3600,") for r in good()]),
        ["line 2", "cell a cycle 2", "is it in mV?"],
    ),
    (
        "too few points",
        csv_text(*cycle_rows("a", 2), *cycle_rows("a", 3, points=10), *cycle_rows("a", 4)),
        [f"line {POINTS + 2}", "cell a cycle 3 has 10 points; at least 20"],
    ),
    (
        "too few points in the last cycle",
        csv_text(*cycle_rows("a", 2), *cycle_rows("a", 3, points=MIN_POINTS - 1)),
        ["cell a cycle 3 has 19 points"],
    ),
    ("capacity in mAh", csv_text(*cell_rows("a", scale=1000.0)), ["cell a", "is it in mAh?"]),
    (
        "capacity counted negative",
        csv_text(*cell_rows("a", scale=-1.0)),
        ["cell a", "capacities go down to -1.05 Ah", "counted positive"],
    ),
    ("empty cell id", csv_text(*[r[1:] for r in good()]), ["line 2", "cell_id '' must be 1..64"]),
]


@pytest.mark.parametrize(("text", "messages"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_rejected_with_a_clear_message(text: str, messages: list[str]) -> None:
    with pytest.raises(CurveDataError) as info:
        parse_curves_csv(text, "in.csv")
    message = str(info.value)
    assert message.startswith("in.csv")
    for part in messages:
        assert part in message


def test_the_error_is_a_battery_data_error() -> None:
    # the CLI's existing `except BatteryDataError` keeps working for curves
    assert issubclass(CurveDataError, BatteryDataError)


@pytest.mark.parametrize("rising", [False, True])
def test_falling_and_rising_grids_give_the_same_curve(rising: bool) -> None:
    cells = parse_curves_csv(csv_text(*cell_rows("a", rising=rising)), "in.csv")
    cell = cells["a"]
    assert cell.cycles == (2, 3, 4, 5)
    volts, caps = cell.curve(3)
    assert len(volts) == len(caps) == POINTS
    assert (volts[0] < volts[-1]) is rising  # as given
    up_v, up_q = cell.rising_curve(3)
    assert list(up_v) == sorted(up_v)
    assert up_q[0] == pytest.approx(1.05) and up_q[-1] == 0.0
    assert cell.voltage_span(3) == (2.0, 3.6)


def test_a_custom_coarser_grid_and_order_of_columns() -> None:
    # 21 voltages, 2.05..3.55 V, columns in another order with an extra one
    rows = []
    for n in (10, 100):
        for r in cycle_rows("x1", n, points=21, low=2.05, high=3.55):
            cell_id, cycle, v, q = r.split(",")
            rows.append(f"{q},{v},ignored,{cycle},{cell_id}")
    header = "discharge_capacity_ah,voltage_v,note,cycle,cell_id"
    cell = parse_curves_csv(csv_text(*rows, header=header), "in.csv")["x1"]
    assert cell.cycles == (10, 100)
    assert cell.voltage_span(100) == (2.05, 3.55)
    assert cell.has_cycles((10, 100)) and not cell.has_cycles((10, 50))
    assert cell.missing_cycles([100, 50, 1, 50]) == (1, 50)


def test_cells_may_interleave_by_cycle_and_by_row() -> None:
    a2, b2, a3 = cycle_rows("a", 2), cycle_rows("b", 2), cycle_rows("a", 3)
    by_row = [r for pair in zip(a2, b2, strict=True) for r in pair]
    cells = parse_curves_csv(csv_text(*by_row, "", *a3, ",,,"), "in.csv")
    assert list(cells) == ["a", "b"]
    assert cells["a"].cycles == (2, 3) and cells["b"].cycles == (2,)
    assert cells["a"].curve(2) == cells["b"].curve(2)


def test_tolerances_and_glitched_cycles_are_accepted() -> None:
    # rounding a hair past 3.6 V; one cycle ~30x too large and one dipping below zero (as in the
    # shared data): the reader judges units on the cell's median, the model refuses glitches
    rows = [r.replace(",3.6000,", ",3.6005,") for r in cell_rows("a", range(2, 7))]
    glitch = cycle_rows("a", 7, scale=30.0)
    dip = [r.replace(",0.00000", ",-0.5") for r in cycle_rows("a", 8)]
    cell = parse_curves_csv(csv_text(*rows, *glitch, *dip), "in.csv")["a"]
    assert cell.cycles == (2, 3, 4, 5, 6, 7, 8)
    assert max(cell.curve(7)[1]) == pytest.approx(31.5)
    assert min(cell.curve(8)[1]) == -0.5
    assert cell.voltage_span(2)[1] == 3.6005


def test_curve_of_a_missing_cycle_names_the_cell() -> None:
    cell = parse_curves_csv(csv_text(*good()), "in.csv")["a"]
    with pytest.raises(CurveDataError, match="cell a has no discharge curve for cycle 9"):
        cell.curve(9)


def test_plain_gzip_and_stdin_read_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = csv_text(*good(), *cell_rows("b", range(10, 12)))
    plain = tmp_path / "c.csv"
    plain.write_text(text, encoding="utf-8")
    packed = tmp_path / "c.csv.gz"
    packed.write_bytes(gzip.compress(("\ufeff" + text).encode()))  # with a byte-order mark
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    expected = parse_curves_csv(text, "x")
    assert read_curves_file(plain) == read_curves_file(str(packed)) == expected
    assert read_curves_file("-") == expected


def test_unreadable_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CurveDataError, match=r"cannot read .*nope\.csv"):
        read_curves_file(tmp_path / "nope.csv")
    fake = tmp_path / "c.csv.gz"
    fake.write_text(csv_text(*good()), encoding="utf-8")
    with pytest.raises(CurveDataError, match=r"c\.csv\.gz: not a valid gzip file"):
        read_curves_file(fake)
    truncated = tmp_path / "t.csv.gz"
    truncated.write_bytes(gzip.compress(csv_text(*good()).encode())[:-12])
    with pytest.raises(CurveDataError, match=r"t\.csv\.gz: not a valid gzip file"):
        read_curves_file(truncated)
    unnamed = tmp_path / "c.csv"
    unnamed.write_bytes(gzip.compress(csv_text(*good()).encode()))
    with pytest.raises(CurveDataError, match=r"not UTF-8 text \(gzip-compressed\? name it \.gz\)"):
        read_curves_file(unnamed)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(CurveDataError, match="stdin: empty file"):
        read_curves_file("-")


@pytest.fixture(scope="module")
def shared() -> dict[str, CellCurves]:
    folder = default_data_dir()
    if not (folder / CURVES_FILE).exists():
        pytest.skip(f"battery data folder {folder} has no {CURVES_FILE}")
    started = time.perf_counter()
    cells = load_shared_curves(folder)
    print(f"loaded {CURVES_FILE} in {time.perf_counter() - started:.2f} s")
    return cells


def test_the_shared_curves_load_as_they_are(shared: dict[str, CellCurves]) -> None:
    assert len(shared) == 84
    for cell in shared.values():
        assert cell.cycles == tuple(range(2, 101)), cell.cell_id
        assert {len(v) for v in cell.voltages_v} == {200}, cell.cell_id
        assert {len(q) for q in cell.capacities_ah} == {200}, cell.cell_id
        low, high = cell.voltage_span(100)
        assert (round(low, 2), high) == (2.01, 3.6), cell.cell_id
    # the glitched cycles the README's data holds are kept for the model to judge
    assert max(shared["b1c3"].curve(12)[1]) > 30.0
    caps = shared["b1c36"].curve(73)[1]
    assert any(b < a for a, b in itertools.pairwise(caps))


# --- no input crashes the reader with anything but CurveDataError ----------------------------

TOKENS = ["a", "b", "2", "3", "100", "0", "-1", "3.6", "2.0", "2.5", "1.0", "1e9", "nan", "", '"']


def _rows_text(rows: list[list[str]]) -> str:
    return HEADER + "\n" + "\n".join(",".join(r) for r in rows)


@settings(max_examples=examples(300))
@given(st.binary(max_size=400), st.booleans())
def test_no_byte_string_crashes_the_reader(data: bytes, gzipped: bool) -> None:
    fd, name = tempfile.mkstemp(suffix=".csv.gz" if gzipped else ".csv")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        with contextlib.suppress(CurveDataError):
            read_curves_file(name)
    finally:
        os.unlink(name)


@settings(max_examples=examples(300))
@given(st.binary(max_size=400))
def test_no_byte_string_after_a_header_crashes_the_parser(data: bytes) -> None:
    with contextlib.suppress(CurveDataError):
        parse_curves_csv(HEADER + "\n" + data.decode("utf-8", "replace"), "in.csv")


@settings(max_examples=examples(300))
@given(st.lists(st.lists(st.sampled_from(TOKENS), min_size=3, max_size=5), max_size=60))
def test_no_near_csv_crashes_the_parser(rows: list[list[str]]) -> None:
    try:
        cells = parse_curves_csv(_rows_text(rows), "in.csv")
    except CurveDataError:
        return
    for cell in cells.values():
        assert all(len(v) >= MIN_POINTS for v in cell.voltages_v)
