"""A lot's early-life test curves between the passport's fixed point and the curve model
(docs/fleet.md §2; the format: citychain/passport/lot_curves.py).

``measured_lot_curves`` turns a test station's measurements (discharge curves as read by
``curve_data``, per-cycle capacity as read by ``battery_data``) into the passport's integers:
the cycles the curve model needs, resampled to a 10 mV grid from 3.5 V down to 2.0 V, and the
capacity of cycles 2..100, all in 1e-5 Ah. ``model_inputs`` turns them back into the model's
inputs. Both directions are exact functions of their input, so whoever holds the opened test
report rebuilds the same model inputs and the same prediction as the oracle.
"""

from __future__ import annotations

from collections.abc import Sequence

from citychain.oracle.battery_data import CellSeries
from citychain.oracle.curve_data import CellCurves, CurveDataError
from citychain.oracle.curve_features import resample
from citychain.oracle.curve_model import REQUIRED_CYCLES
from citychain.oracle.eol_features import PredictionError
from citychain.passport.lot_curves import (
    MAX_CAPACITY_10UAH,
    LotCurve,
    LotCurves,
    LotCurvesError,
    lot_curves_fields,
    parse_lot_curves,
    voltages_mv,
)

__all__ = [
    "CAPACITY_CYCLES",
    "GRID_HIGH_MV",
    "GRID_LOW_MV",
    "GRID_STEP_MV",
    "UNITS_PER_AH",
    "measured_lot_curves",
    "model_inputs",
]

# The grid the passport carries: the curve model's own (curve_features.GRID, 2.0-3.5 V every
# 10 mV, 151 points a curve), so the model reads the test report's points as they are.
GRID_HIGH_MV, GRID_LOW_MV, GRID_STEP_MV = 3_500, 2_000, 10
# The lot cell's per-cycle capacity the model reads: cycle 2 (the first after formation) to 100.
CAPACITY_CYCLES = (2, 100)
UNITS_PER_AH = 100_000  # the passport's capacity unit is 1e-5 Ah
MV_PER_V = 1_000


def _fixed(ah: float, what: str) -> int:
    value = round(ah * UNITS_PER_AH)
    if abs(value) > MAX_CAPACITY_10UAH:
        raise CurveDataError(f"{what}: {ah:g} Ah is absurd for one test cell (mAh given as Ah?)")
    return value


def _resampled(curves: CellCurves, cycle: int) -> LotCurve:
    """One cycle's curve on the passport's grid (the curve model's own), highest voltage
    first."""
    try:
        q = resample(curves.cell_id, cycle, *curves.curve(cycle))[::-1]
    except PredictionError as exc:
        raise CurveDataError(str(exc)) from None
    where = f"cell {curves.cell_id} cycle {cycle}"
    return LotCurve(cycle=cycle, capacity_10uah=tuple(_fixed(float(v), where) for v in q))


def measured_lot_curves(
    curves: CellCurves,
    series: CellSeries,
    nominal_ah: float | None,
    cycles: Sequence[int] = REQUIRED_CYCLES,
) -> LotCurves:
    """The passport's lot curves of one test cell: its curves of ``cycles`` on the grid and its
    capacity of cycles 2..100 (those it has). CurveDataError says what is missing."""
    missing = curves.missing_cycles(cycles)
    if missing:
        raise CurveDataError(
            f"cell {curves.cell_id} has no discharge curve for cycle(s) "
            f"{', '.join(map(str, missing))}; the curve model needs {', '.join(map(str, cycles))}"
        )
    first, last = CAPACITY_CYCLES
    kept = [
        (c, q) for c, q in zip(series.cycles, series.capacity_ah, strict=True) if first <= c <= last
    ]
    if not kept or kept[-1][0] != last:
        raise CurveDataError(
            f"cell {series.cell_id}: the per-cycle capacity must reach cycle {last} "
            f"(cycles {first}..{last} are read); it has {len(kept)} rows in that range"
        )
    where = f"cell {series.cell_id} capacity"
    lot = LotCurves(
        cell_id=curves.cell_id,
        nominal_10uah=None if nominal_ah is None else _fixed(nominal_ah, "nominal capacity"),
        voltage_high_mv=GRID_HIGH_MV,
        voltage_step_mv=GRID_STEP_MV,
        curves=tuple(_resampled(curves, c) for c in sorted(set(cycles))),
        cycles=tuple(c for c, _ in kept),
        capacity_10uah=tuple(_fixed(q, where) for _, q in kept),
    )
    try:
        # the same checks a reader of the test report makes
        return parse_lot_curves(lot_curves_fields(lot))
    except LotCurvesError as exc:
        raise CurveDataError(f"cell {series.cell_id}: {exc}") from None


def model_inputs(lot: LotCurves) -> tuple[CellCurves, CellSeries, float | None]:
    """The curve model's inputs: (curves, the lot cell's capacity series, nominal Ah)."""
    volts = tuple(mv / MV_PER_V for mv in voltages_mv(lot))
    curves = CellCurves(
        cell_id=lot.cell_id,
        cycles=tuple(c.cycle for c in lot.curves),
        voltages_v=tuple(volts for _ in lot.curves),
        capacities_ah=tuple(tuple(q / UNITS_PER_AH for q in c.capacity_10uah) for c in lot.curves),
    )
    series = CellSeries(
        lot.cell_id, lot.cycles, tuple(q / UNITS_PER_AH for q in lot.capacity_10uah)
    )
    nominal = None if lot.nominal_10uah is None else lot.nominal_10uah / UNITS_PER_AH
    return curves, series, nominal
