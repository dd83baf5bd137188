"""Read and check discharge curves Q_n(V) (docs/battery-prediction.md, "Discharge curves input").

The input of ``citychain battery predict --curves`` and the shared data folder's
``curves.csv.gz``: a CSV with at least ``cell_id,cycle,voltage_v,discharge_capacity_ah``, one
row per (cell, cycle, voltage). Rows of different cells may interleave in any way; within one
cell the cycles come in increasing order, each cycle's rows together, and the voltages of a cycle
strictly rise or strictly fall. Every malformed input raises :class:`CurveDataError` naming the
cell, the cycle and the line, so the CLI can print it and exit 2 instead of a stack trace.

The reader judges units per cell (the median over its cycles), not per cycle: the shared data
holds a few glitched cycles (b1c3 cycle 12 reaches ~31 Ah at 2.0 V; b1c36 cycle 73 is not
monotone in capacity), which are real recordings. The model refuses such a cycle only when it
uses it.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import math
import statistics
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TextIO

from citychain.oracle.battery_data import BatteryDataError, default_data_dir

__all__ = [
    "CURVES_FILE",
    "CURVE_COLUMNS",
    "MIN_POINTS",
    "VOLTAGE_RANGE_V",
    "CellCurves",
    "CurveDataError",
    "load_shared_curves",
    "parse_curves_csv",
    "read_curves_file",
]

CURVE_COLUMNS = ("cell_id", "cycle", "voltage_v", "discharge_capacity_ah")
CURVES_FILE = "curves.csv.gz"
# The 4C constant-current discharge of the training cells runs from 3.6 V down to 2.0 V; a curve
# outside that range was measured some other way, and the model has nothing to say about it.
VOLTAGE_RANGE_V = (2.0, 3.6)
# Rounding: a voltage written with 3 decimals may land a hair outside the range.
VOLTAGE_TOLERANCE_V = 0.001
# A voltage above this is in millivolts (no single cell reaches 100 V).
MAX_PLAUSIBLE_VOLTAGE_V = 100.0
# Fewer points than this cannot resolve the shape of Q(V) the model compares between cycles.
MIN_POINTS = 20
# Per cell: the median over cycles of the capacity at the lowest voltage above this is mAh
# given as Ah (an 18650 holds ~1.1 Ah; a glitched cycle may reach ~31 Ah, the median does not).
MAX_MEDIAN_CAPACITY_AH = 5.0
# Per cell: the median over cycles of the lowest capacity below this is a sign convention that
# counts discharge as negative (a healthy curve starts at ~0 Ah, within a few mAh).
MIN_MEDIAN_CAPACITY_AH = -0.05
MAX_CELL_ID = 64
MAX_CYCLE = 1_000_000
MAX_CYCLE_DIGITS = len(str(MAX_CYCLE))
# The shared file has 1.66 million rows; ten times that is not a curves file.
MAX_ROWS = 20_000_000

Curve = tuple[tuple[float, ...], tuple[float, ...]]


class CurveDataError(BatteryDataError):
    """The input cannot be used as discharge curves (bad CSV, columns, values, order or units)."""


@dataclass(frozen=True)
class CellCurves:
    """One cell's discharge curves: per cycle (ascending), the voltages in V as given (strictly
    monotone, either direction) and the capacity in Ah discharged down to each of them."""

    cell_id: str
    cycles: tuple[int, ...]
    voltages_v: tuple[tuple[float, ...], ...]
    capacities_ah: tuple[tuple[float, ...], ...]

    def _index(self, cycle: int) -> int:
        i = bisect.bisect_left(self.cycles, cycle)
        if i == len(self.cycles) or self.cycles[i] != cycle:
            raise CurveDataError(f"cell {self.cell_id} has no discharge curve for cycle {cycle}")
        return i

    def curve(self, cycle: int) -> Curve:
        """(voltages, capacities) of one cycle, in the order given; CurveDataError if absent."""
        i = self._index(cycle)
        return self.voltages_v[i], self.capacities_ah[i]

    def rising_curve(self, cycle: int) -> Curve:
        """The same curve with the voltages increasing (as numpy.interp wants its x)."""
        volts, caps = self.curve(cycle)
        if volts[0] > volts[-1]:
            return volts[::-1], caps[::-1]
        return volts, caps

    def voltage_span(self, cycle: int) -> tuple[float, float]:
        """(lowest, highest) voltage of one cycle's curve."""
        volts = self.curve(cycle)[0]
        return min(volts[0], volts[-1]), max(volts[0], volts[-1])

    def missing_cycles(self, cycles: Iterable[int]) -> tuple[int, ...]:
        """Those of ``cycles`` without a curve, ascending."""
        have = set(self.cycles)
        return tuple(sorted({c for c in cycles if c not in have}))

    def has_cycles(self, cycles: Iterable[int]) -> bool:
        return not self.missing_cycles(cycles)


class _CellBuilder:
    """One cell's rows while the file is read: the closed cycles and the open one."""

    __slots__ = ("cell_id", "cycles", "direction", "line", "q", "q_all", "v", "v_all")

    def __init__(self, cell_id: str) -> None:
        self.cell_id = cell_id
        self.cycles: list[int] = []
        self.v_all: list[tuple[float, ...]] = []
        self.q_all: list[tuple[float, ...]] = []
        self.v: list[float] = []
        self.q: list[float] = []
        self.direction = 0.0  # +1 rising, -1 falling, 0 not known yet
        self.line = 0  # where the open cycle started

    def close(self, source: str, grids: dict[tuple[float, ...], tuple[float, ...]]) -> None:
        """End the open cycle: check its length and keep it (voltage grids shared)."""
        if not self.v:
            return
        if len(self.v) < MIN_POINTS:
            raise CurveDataError(
                f"{source} line {self.line}: cell {self.cell_id} cycle {self.cycles[-1]} has "
                f"{len(self.v)} points; at least {MIN_POINTS} voltages per cycle are needed"
            )
        volts = tuple(self.v)
        # Most files use one voltage grid for every cycle: keep one copy of it.
        self.v_all.append(grids.setdefault(volts, volts))
        self.q_all.append(tuple(self.q))
        self.v, self.q, self.direction = [], [], 0.0


class _Reader:
    """csv.reader over the input, with the physical line number of the last row read."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._reader = csv.reader(lines, strict=True)

    def __iter__(self) -> Iterator[list[str]]:
        return self._reader

    @property
    def line_num(self) -> int:
        return self._reader.line_num


@dataclass
class _Context:
    """What every check needs to name the place of a problem."""

    source: str
    reader: _Reader
    grids: dict[tuple[float, ...], tuple[float, ...]]


def _where(source: str, reader: _Reader, cell: _CellBuilder) -> str:
    return f"{source} line {reader.line_num}: cell {cell.cell_id} cycle {cell.cycles[-1]}"


def _header(reader: _Reader, source: str) -> tuple[int, tuple[int, int, int, int]]:
    """The header's width and the indexes of the four columns."""
    try:
        header = next(iter(reader))
    except StopIteration:
        raise CurveDataError(f"{source}: empty file (expected a CSV header)") from None
    names = [h.strip() for h in header]
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0][1:]  # a byte-order mark from a spreadsheet export
    missing = [c for c in CURVE_COLUMNS if c not in names]
    if missing:
        raise CurveDataError(
            f"{source}: missing column(s) {', '.join(missing)}; the header must include "
            f"{','.join(CURVE_COLUMNS)} (got {','.join(names)[:200] or 'nothing'})"
        )
    if len(set(names)) != len(names):
        dups = sorted({n for n in names if names.count(n) > 1})
        raise CurveDataError(f"{source}: duplicate column(s) {', '.join(dups)} in the header")
    ci, yi, vi, qi = (names.index(c) for c in CURVE_COLUMNS)
    return len(names), (ci, yi, vi, qi)


def _cell_id(text: str, where: str) -> str:
    cell_id = text.strip()
    if not cell_id or len(cell_id) > MAX_CELL_ID or not cell_id.isprintable():
        raise CurveDataError(
            f"{where}: cell_id {text[:MAX_CELL_ID]!r} must be 1..{MAX_CELL_ID} printable chars"
        )
    return cell_id


def _cycle(text: str, where: str) -> int:
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdigit()):
        raise CurveDataError(f"{where}: cycle {text[:40]!r} is not a positive whole number")
    # bounded before int(): Python refuses to convert more than 4300 digits
    value = int(stripped) if len(stripped) <= MAX_CYCLE_DIGITS else MAX_CYCLE + 1
    if not 1 <= value <= MAX_CYCLE:
        raise CurveDataError(f"{where}: cycle {value} is outside 1..{MAX_CYCLE}")
    return value


def _enter_cycle(cell: _CellBuilder, cycle: int, ctx: _Context) -> None:
    """Rows of ``cycle`` follow for ``cell``: continue its open cycle or open the next one."""
    if cell.cycles and cycle == cell.cycles[-1]:
        return
    where = f"{ctx.source} line {ctx.reader.line_num}: cell {cell.cell_id}"
    if cell.cycles and cycle < cell.cycles[-1]:
        if cycle in cell.cycles:
            raise CurveDataError(
                f"{where}: cycle {cycle} repeated after cycle {cell.cycles[-1]}; each cycle's "
                "rows must come together"
            )
        raise CurveDataError(
            f"{where}: cycle {cycle} comes after cycle {cell.cycles[-1]}; cycles must increase"
        )
    cell.close(ctx.source, ctx.grids)
    cell.cycles.append(cycle)
    cell.line = ctx.reader.line_num


def _number(text: str, what: str, ctx: _Context, cell: _CellBuilder) -> float:
    try:
        value = float(text)
    except ValueError:
        where = _where(ctx.source, ctx.reader, cell)
        raise CurveDataError(f"{where}: {what} {text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise CurveDataError(
            f"{_where(ctx.source, ctx.reader, cell)}: {what} {text!r} is not finite"
        )
    return value


def _voltage(text: str, ctx: _Context, cell: _CellBuilder) -> float:
    """The row's voltage: in range, and strictly beyond the previous one in the cycle's
    direction."""
    volts = _number(text, "voltage_v", ctx, cell)
    low, high = VOLTAGE_RANGE_V
    if not low - VOLTAGE_TOLERANCE_V <= volts <= high + VOLTAGE_TOLERANCE_V:
        hint = "; is it in mV? give V (divide by 1000)" if volts > MAX_PLAUSIBLE_VOLTAGE_V else ""
        raise CurveDataError(
            f"{_where(ctx.source, ctx.reader, cell)}: voltage_v {volts:g} is outside "
            f"{low:g}..{high:g} V{hint}"
        )
    if cell.v:
        step = volts - cell.v[-1]
        if step * cell.direction < 0 or step == 0:
            _out_of_order(volts, ctx, cell)
        cell.direction = 1.0 if step > 0 else -1.0
    return volts


def _out_of_order(volts: float, ctx: _Context, cell: _CellBuilder) -> NoReturn:
    where = _where(ctx.source, ctx.reader, cell)
    previous = cell.v[-1]
    if volts == previous:
        raise CurveDataError(f"{where}: voltage_v {volts:g} repeated; voltages must not repeat")
    way = "rising" if cell.direction > 0 else "falling"
    raise CurveDataError(
        f"{where}: voltage_v {volts:g} after {previous:g} breaks the {way} order; a cycle's "
        "voltages must be strictly monotone"
    )


def _rows(ctx: _Context, width: int, columns: tuple[int, int, int, int]) -> dict[str, _CellBuilder]:
    """Read every data row into its cell's builder, checking each as it comes."""
    ci, yi, vi, qi = columns
    cells: dict[str, _CellBuilder] = {}
    by_text: dict[str, _CellBuilder] = {}
    last_key: tuple[str, str] | None = None
    cell = _CellBuilder("")
    count = 0
    for row in ctx.reader:
        if len(row) != width:
            if not row or all(not f.strip() for f in row):
                continue  # blank line
            raise CurveDataError(
                f"{ctx.source} line {ctx.reader.line_num}: {len(row)} fields, the header has "
                f"{width}"
            )
        count += 1
        if count > MAX_ROWS:
            raise CurveDataError(f"{ctx.source}: more than {MAX_ROWS} rows")
        key = (row[ci], row[yi])
        # Consecutive rows of one cycle skip the cell and cycle checks: the file is ~200 rows a
        # cycle, so this is most of the reading time saved.
        if key != last_key:
            if not any(f.strip() for f in row):
                continue  # an empty row from a spreadsheet export
            cell = _switch(key, cells, by_text, ctx)
            last_key = key
        cell.v.append(_voltage(row[vi], ctx, cell))
        cell.q.append(_number(row[qi], "discharge_capacity_ah", ctx, cell))
    if not cells:
        raise CurveDataError(f"{ctx.source}: no data rows")
    return cells


def _switch(
    key: tuple[str, str],
    cells: dict[str, _CellBuilder],
    by_text: dict[str, _CellBuilder],
    ctx: _Context,
) -> _CellBuilder:
    """The builder of the row's cell, its open cycle being the row's cycle."""
    where = f"{ctx.source} line {ctx.reader.line_num}"
    cell = by_text.get(key[0])
    if cell is None:
        cell_id = _cell_id(key[0], where)
        cell = cells.setdefault(cell_id, _CellBuilder(cell_id))
        by_text[key[0]] = cell
    _enter_cycle(cell, _cycle(key[1], f"{where}: cell {cell.cell_id}"), ctx)
    return cell


def _finish(cell: _CellBuilder, ctx: _Context) -> CellCurves:
    """Close the last cycle and check the cell's units on the median over its cycles."""
    cell.close(ctx.source, ctx.grids)
    at_lowest = [
        q[-1] if v[0] > v[-1] else q[0] for v, q in zip(cell.v_all, cell.q_all, strict=True)
    ]
    median_end = statistics.median(at_lowest)
    if median_end > MAX_MEDIAN_CAPACITY_AH:
        raise CurveDataError(
            f"{ctx.source}: cell {cell.cell_id}: median capacity at the lowest voltage is "
            f"{median_end:g} Ah over its {len(at_lowest)} cycles; is it in mAh? give Ah "
            "(divide by 1000)"
        )
    median_low = statistics.median(min(q) for q in cell.q_all)
    if median_low < MIN_MEDIAN_CAPACITY_AH:
        raise CurveDataError(
            f"{ctx.source}: cell {cell.cell_id}: capacities go down to {median_low:g} Ah (median "
            f"over its {len(at_lowest)} cycles), below {MIN_MEDIAN_CAPACITY_AH:g} Ah; give the "
            "capacity discharged since the start of the discharge, counted positive"
        )
    return CellCurves(cell.cell_id, tuple(cell.cycles), tuple(cell.v_all), tuple(cell.q_all))


def parse_curves_csv(text_or_lines: str | Iterable[str], source: str) -> dict[str, CellCurves]:
    """Parse and check discharge curves; cells come back in order of first appearance."""
    lines = io.StringIO(text_or_lines) if isinstance(text_or_lines, str) else text_or_lines
    ctx = _Context(source, _Reader(lines), {})
    try:
        width, columns = _header(ctx.reader, source)
        cells = _rows(ctx, width, columns)
    except csv.Error as exc:
        raise CurveDataError(
            f"{source} line {ctx.reader.line_num}: not a valid CSV: {exc}"
        ) from None
    return {cell_id: _finish(cell, ctx) for cell_id, cell in cells.items()}


def _open(path: Path) -> TextIO:
    # newline="" as the csv module wants; utf-8-sig drops a byte-order mark
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def read_curves_file(path: str | Path) -> dict[str, CellCurves]:
    """Read a curves CSV: ``-`` is stdin, a name ending ``.gz`` is gunzipped."""
    if str(path) == "-":
        return _parse_stream(sys.stdin, "stdin")
    p = Path(path)
    try:
        stream = _open(p)
    except OSError as exc:
        raise CurveDataError(f"cannot read {p}: {exc.strerror or exc}") from None
    with stream:
        return _parse_stream(stream, str(p))


def _parse_stream(stream: TextIO, source: str) -> dict[str, CellCurves]:
    """parse_curves_csv over a stream, with the stream's own failures as CurveDataError."""
    try:
        return parse_curves_csv(stream, source)
    except UnicodeDecodeError:
        hint = "" if source.endswith(".gz") else " (gzip-compressed? name it .gz)"
        raise CurveDataError(f"{source}: not UTF-8 text{hint}") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise CurveDataError(f"{source}: not a valid gzip file ({exc or 'truncated'})") from None
    except OSError as exc:
        raise CurveDataError(f"cannot read {source}: {exc.strerror or exc}") from None


def load_shared_curves(data_dir: Path | None = None) -> dict[str, CellCurves]:
    """The shared data folder's discharge curves (cycles 2..100 of its 84 cells)."""
    folder = data_dir if data_dir is not None else default_data_dir()
    return read_curves_file(folder / CURVES_FILE)
