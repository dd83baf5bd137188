"""Load and check per-cycle battery CSVs (docs/battery-prediction.md).

One format serves both the training data folder (``cycles.csv``, ``cells.csv``) and the input of
``citychain battery predict``: a header with at least ``cell_id,cycle,discharge_capacity_ah``;
optional ``internal_resistance_ohm`` and ``temperature_c`` columns are read when present.
Every malformed input raises :class:`BatteryDataError` with a message that says which row and
why, so the CLI can print it and exit 2 instead of showing a stack trace.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DATA_ENV",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "BatteryDataError",
    "CellMeta",
    "CellSeries",
    "default_data_dir",
    "load_cells_meta",
    "load_dataset",
    "parse_cycles_csv",
    "read_cycles_file",
]

REQUIRED_COLUMNS = ("cell_id", "cycle", "discharge_capacity_ah")
OPTIONAL_COLUMNS = ("internal_resistance_ohm", "temperature_c")
DATA_ENV = "CITYCHAIN_BATTERY_DATA"

# Physical sanity bounds. A single cell's capacity above 1000 Ah is almost surely mAh given as
# Ah (an 18650 holds ~1.1 Ah, the largest EV prismatic cells a few hundred Ah).
MAX_CAPACITY_AH = 1000.0
MAX_CYCLE = 1_000_000
MAX_ROWS = 5_000_000
MIN_CYCLES = 20
MAX_CELL_ID = 64
MAX_RESISTANCE_OHM = 10.0  # internal resistance of one cell: milliohms, never 10 ohm
TEMPERATURE_RANGE_C = (-60.0, 150.0)  # beyond either, the sensor or the unit is wrong
# A cell's highest capacity over its lowest: a cell at end of life still holds ~80 % of new, so
# a larger spread is rows in mixed units (Ah and mAh) or corrupt rows.
MAX_CAPACITY_SPREAD = 5


class BatteryDataError(ValueError):
    """The input cannot be used as battery telemetry (bad CSV, columns, values or units)."""


@dataclass(frozen=True)
class CellSeries:
    """One cell's cycles in increasing order, capacity in Ah; optional channels may be empty."""

    cell_id: str
    cycles: tuple[int, ...]
    capacity_ah: tuple[float, ...]
    resistance_ohm: tuple[float, ...] = field(default=())
    temperature_c: tuple[float, ...] = field(default=())

    def upto(self, cutoff: int) -> CellSeries:
        """Only the cycles <= cutoff: what an observer knew at that cycle."""
        n = sum(1 for c in self.cycles if c <= cutoff)
        return CellSeries(
            self.cell_id,
            self.cycles[:n],
            self.capacity_ah[:n],
            self.resistance_ohm[:n],
            self.temperature_c[:n],
        )


@dataclass(frozen=True)
class CellMeta:
    cell_id: str
    batch: int
    cycle_life: int
    charge_policy: str
    paper_split: str = ""  # "Train" or "Prim. Test": Severson et al.'s own split


def default_data_dir() -> Path:
    """$CITYCHAIN_BATTERY_DATA, else ../shared/data/battery beside the repository."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "data" / "battery"


def _float(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BatteryDataError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise BatteryDataError(f"{where}: {what} {text!r} is not finite")
    return value


def _cycle(text: str, where: str) -> int:
    stripped = text.strip()
    if not stripped.isdigit():
        raise BatteryDataError(f"{where}: cycle {text!r} is not a non-negative whole number")
    value = int(stripped)
    if value < 1 or value > MAX_CYCLE:
        raise BatteryDataError(f"{where}: cycle {value} is outside 1..{MAX_CYCLE}")
    return value


def _header(reader: Any, source: str) -> tuple[list[str], dict[str, int]]:
    """The header's column names and the index of each; every required one present."""
    try:
        header = next(reader)
    except StopIteration:
        raise BatteryDataError(f"{source}: empty file (expected a CSV header)") from None
    except csv.Error as exc:
        raise BatteryDataError(f"{source}: not a valid CSV: {exc}") from None
    names = [h.strip() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise BatteryDataError(
            f"{source}: missing column(s) {', '.join(missing)}; the header must include "
            f"{','.join(REQUIRED_COLUMNS)} (got {','.join(names) or 'nothing'})"
        )
    if len(set(names)) != len(names):
        raise BatteryDataError(f"{source}: duplicate column names in the header")
    return names, {name: i for i, name in enumerate(names)}


def _capacity(text: str, where: str) -> float:
    cap = _float(text, "discharge_capacity_ah", where)
    if cap <= 0:
        raise BatteryDataError(f"{where}: discharge_capacity_ah {cap} must be > 0")
    if cap > MAX_CAPACITY_AH:
        raise BatteryDataError(
            f"{where}: discharge_capacity_ah {cap} is absurd for one cell; "
            "is it in mAh? give Ah (divide by 1000)"
        )
    return cap


def _optional(row: list[str], index: dict[str, int], where: str) -> tuple[float, float]:
    """(internal resistance, temperature) of a row; NaN where the column is absent or empty."""
    extra = [math.nan, math.nan]
    for k, col in enumerate(OPTIONAL_COLUMNS):
        if col in index and row[index[col]].strip():
            extra[k] = _float(row[index[col]], col, where)
    resistance, temperature = extra
    if not math.isnan(resistance) and not 0 <= resistance < MAX_RESISTANCE_OHM:
        raise BatteryDataError(f"{where}: internal_resistance_ohm {resistance} not in [0,10)")
    low, high = TEMPERATURE_RANGE_C
    if not math.isnan(temperature) and not low <= temperature <= high:
        raise BatteryDataError(f"{where}: temperature_c {temperature} not in [-60,150]")
    return resistance, temperature


def _row(
    row: list[str], names: list[str], index: dict[str, int], where: str
) -> tuple[str, tuple[int, float, float, float]]:
    """(cell id, (cycle, capacity, resistance, temperature)) of one data row."""
    if len(row) != len(names):
        raise BatteryDataError(f"{where}: {len(row)} fields, the header has {len(names)}")
    cell_id = row[index["cell_id"]].strip()
    if not cell_id or len(cell_id) > MAX_CELL_ID or not cell_id.isprintable():
        raise BatteryDataError(f"{where}: cell_id must be 1..{MAX_CELL_ID} printable chars")
    cycle = _cycle(row[index["cycle"]], where)
    cap = _capacity(row[index["discharge_capacity_ah"]], where)
    resistance, temperature = _optional(row, index, where)
    return cell_id, (cycle, cap, resistance, temperature)


def _append(
    series: list[tuple[int, float, float, float]],
    cell_id: str,
    entry: tuple[int, float, float, float],
    where: str,
) -> None:
    """Add a row to its cell's series, whose cycles must strictly increase."""
    cycle = entry[0]
    if series and cycle == series[-1][0]:
        raise BatteryDataError(f"{where}: duplicate cycle {cycle} for cell {cell_id}")
    if series and cycle < series[-1][0]:
        raise BatteryDataError(
            f"{where}: cycle {cycle} of cell {cell_id} comes after cycle "
            f"{series[-1][0]}; cycles must increase"
        )
    series.append(entry)


def parse_cycles_csv(
    text: str, source: str = "input", min_cycles: int = MIN_CYCLES
) -> list[CellSeries]:
    """Parse and check per-cycle rows; cells come back in order of first appearance.

    Rows of one cell must have strictly increasing cycle numbers (gaps are fine: cleaned data
    drops outliers without renumbering). Rows of different cells may interleave.
    """
    reader = csv.reader(io.StringIO(text), strict=True)
    names, index = _header(reader, source)
    rows: dict[str, list[tuple[int, float, float, float]]] = {}
    try:
        for lineno, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            where = f"{source} line {lineno}"
            if lineno > MAX_ROWS:
                raise BatteryDataError(f"{source}: more than {MAX_ROWS} rows")
            cell_id, entry = _row(row, names, index, where)
            _append(rows.setdefault(cell_id, []), cell_id, entry, where)
    except csv.Error as exc:
        raise BatteryDataError(f"{source}: not a valid CSV: {exc}") from None
    if not rows:
        raise BatteryDataError(f"{source}: no data rows")
    return [_series(cell_id, data, source, min_cycles) for cell_id, data in rows.items()]


def _series(
    cell_id: str, data: list[tuple[int, float, float, float]], source: str, min_cycles: int
) -> CellSeries:
    if len(data) < min_cycles:
        raise BatteryDataError(
            f"{source}: cell {cell_id} has {len(data)} cycles; at least {min_cycles} are needed"
        )
    caps = [d[1] for d in data]
    # A whole cell whose median is ~1000x a plausible value passed the per-row bound only
    # because it is small cells in mAh: 'absurd' is judged per row above, units here.
    spread = max(caps) / min(caps)
    if spread > MAX_CAPACITY_SPREAD:
        raise BatteryDataError(
            f"{source}: cell {cell_id} capacity ranges {min(caps)}..{max(caps)} Ah (x{spread:.0f});"
            " mixed units or corrupt rows?"
        )
    res = tuple(d[2] for d in data)
    temp = tuple(d[3] for d in data)
    return CellSeries(
        cell_id,
        tuple(d[0] for d in data),
        tuple(caps),
        res if not all(math.isnan(r) for r in res) else (),
        temp if not all(math.isnan(t) for t in temp) else (),
    )


def read_cycles_file(path: str | Path, min_cycles: int = MIN_CYCLES) -> list[CellSeries]:
    """Read a per-cycle CSV file ('-' is not special here; the CLI handles stdin)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise BatteryDataError(f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BatteryDataError(f"{p}: not UTF-8 text (is it a CSV file?)") from None
    if "\x00" in text:
        raise BatteryDataError(f"{p}: binary data, not a CSV file")
    return parse_cycles_csv(text, str(p), min_cycles)


def load_cells_meta(data_dir: Path) -> dict[str, CellMeta]:
    path = data_dir / "cells.csv"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BatteryDataError(f"cannot read {path}: {exc.strerror or exc}") from None
    meta: dict[str, CellMeta] = {}
    for lineno, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            cid = row["cell_id"]
            meta[cid] = CellMeta(
                cid,
                int(row["batch"]),
                int(row["cycle_life"]),
                row["charge_policy"],
                row.get("paper_split") or "",
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise BatteryDataError(f"{path} line {lineno}: bad cell row ({exc})") from None
    return meta


def load_dataset(data_dir: Path | None = None) -> tuple[list[CellSeries], dict[str, CellMeta]]:
    """The training data: every cell's series (sorted by cell id) and its metadata."""
    folder = data_dir if data_dir is not None else default_data_dir()
    meta = load_cells_meta(folder)
    cells = read_cycles_file(folder / "cycles.csv")
    unknown = [c.cell_id for c in cells if c.cell_id not in meta]
    if unknown:
        raise BatteryDataError(f"{folder}: cells without metadata: {', '.join(unknown[:5])}")
    return sorted(cells, key=lambda c: c.cell_id), meta
