"""What the oracle computes from a battery's stored BMS readings (docs/fleet.md §2): the
readings per day, the health values, and the end-of-life attestation. Pure functions: the
oracle service reads the readings and submits what these return."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from citychain.modules.battery import (
    DAY_MAX,
    DAY_MIN,
    MAX_EOL_CYCLE,
    HealthValues,
    MsgAttestPrediction,
    PredictionBasis,
)
from citychain.oracle.battery_data import CellSeries
from citychain.oracle.eol_model import (
    EolModel,
    Prediction,
    PredictionError,
    cycle_to_days,
    predict,
)
from citychain.oracle.prediction_basis import CAPACITY, CURVES, LotPrediction, prefer_capacity

__all__ = [
    "MIN_PREDICT_CYCLES",
    "Day",
    "FleetEntry",
    "attest_prediction",
    "days_of",
    "health_values",
]

log = logging.getLogger("citychain.oracle")

MIN_PREDICT_CYCLES = 100  # the committed model's first cut-off
MIN_PREDICT_POINTS = 3  # reported cycles with a capacity: fewer is no curve to predict from
RATE_WINDOW_DAYS = 7  # recent cycles per day: over the last week of reports
HOT_DC, COLD_DC = 450, -100  # extreme temperature: above 45 °C or below -10 °C
DEEP_DISCHARGE_PERMILLE = 50  # a day whose lowest state of charge is under 5 %
INPUTS_DOMAIN = b"citychain/oracle/inputs/v1\x00"
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class FleetEntry:
    battery_id: bytes
    device_id: bytes
    rated_capacity_mah: int
    threshold_permille: int


@dataclass(frozen=True)
class Day:
    """One battery's aggregate of one day's reports: counters from the last, extremes of all."""

    day: int
    counter: int
    batch_id: bytes
    cycle: int | None
    capacity_mah: int | None
    throughput_wh: int | None
    resistance_uohm: int | None
    max_temperature_dc: int | None
    min_temperature_dc: int | None
    min_soc_permille: int


def days_of(rows: Sequence[Any]) -> list[Day]:
    """A device's readings aggregated per day. ``rows``: (counter, report id, batch id, day,
    cycle, capacity mAh, throughput Wh, temperature dC, resistance uOhm, SoC permille), in
    counter order."""
    grouped: dict[int, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row[3], []).append(row)
    out = []
    for day in sorted(grouped):
        group = grouped[day]
        last = group[-1]
        temps = [r[7] for r in group if r[7] is not None]
        out.append(
            Day(
                day=day,
                counter=last[0],
                batch_id=bytes(last[2]),
                cycle=last[4],
                capacity_mah=last[5],
                throughput_wh=last[6],
                resistance_uohm=last[8],
                max_temperature_dc=max(temps) if temps else None,
                min_temperature_dc=min(temps) if temps else None,
                min_soc_permille=min(r[9] for r in group),
            )
        )
    return out


def _extreme(d: Day) -> bool:
    return (d.max_temperature_dc is not None and d.max_temperature_dc > HOT_DC) or (
        d.min_temperature_dc is not None and d.min_temperature_dc < COLD_DC
    )


def health_values(entry: FleetEntry, days: list[Day]) -> HealthValues:
    rated = entry.rated_capacity_mah
    capacity = next((d.capacity_mah for d in reversed(days) if d.capacity_mah is not None), 0)
    resistances = [d.resistance_uohm for d in days if d.resistance_uohm]
    r_first = resistances[0] if resistances else 0
    r_now = resistances[-1] if resistances else 0
    extreme_days = sum(1 for d in days if _extreme(d))
    cycles = max((d.cycle for d in days if d.cycle is not None), default=0)
    throughput = max((d.throughput_wh for d in days if d.throughput_wh is not None), default=0)
    capacity = min(capacity, rated * 12 // 10)  # the ledger refuses over 120 % of rated
    return HealthValues(
        # state of certified energy approximated by capacity over rated (same voltage)
        soh_permyriad=min(capacity * 10_000 // rated, 12_000),
        remaining_capacity_mah=capacity,
        capacity_fade_permille=max(0, min(1_000, 1_000 - capacity * 1_000 // rated)),
        resistance_increase_permille=(
            max(0, min(100_000, (r_now - r_first) * 1_000 // r_first)) if r_first else 0
        ),
        energy_throughput_wh=throughput,
        equivalent_full_cycles_x100=cycles * 100,
        # one sample a day: a day outside -10..45 °C counts as a whole day (coarse)
        extreme_temperature_s=extreme_days * SECONDS_PER_DAY,
        deep_discharge_events=sum(1 for d in days if d.min_soc_permille < DEEP_DISCHARGE_PERMILLE),
    )


def attest_prediction(
    model: EolModel,
    model_hash: bytes,
    entry: FleetEntry,
    days: list[Day],
    report_ids: list[bytes],
    lot: LotPrediction | None = None,
) -> MsgAttestPrediction | None:
    """The end-of-life attestation of a battery's days, or None while there is nothing to
    predict from. ``lot``: the curve model's prediction of the battery's lot, when its passport
    carries lot test curves: attested (basis ``curves``) until the battery's own telemetry is
    preferred (``prediction_basis.prefer_capacity``)."""
    if not days:
        return None
    points: dict[int, tuple[int, int]] = {}  # cycle -> (capacity mAh, day): the last wins
    for d in days:
        if d.cycle is not None and d.capacity_mah:
            points[d.cycle] = (d.capacity_mah, d.day)
    capacity = _attest_capacity(model, model_hash, entry, days, report_ids, points)
    if lot is None:
        return capacity
    cycles = max((d.cycle for d in days if d.cycle is not None), default=0)
    if capacity is not None and prefer_capacity(
        lot,
        (capacity.interval_low_cycles, capacity.interval_high_cycles),
        _crossed(entry, points),
    ):
        return capacity
    return _attest_lot(lot, entry, days, cycles)


def _crossed(entry: FleetEntry, points: dict[int, tuple[int, int]]) -> bool:
    """Whether a reported capacity is already below the passport's threshold."""
    limit = entry.rated_capacity_mah * entry.threshold_permille
    return any(q * 1_000 < limit for q, _ in points.values())


def _attest_lot(
    lot: LotPrediction, entry: FleetEntry, days: list[Day], cycles: int
) -> MsgAttestPrediction:
    """The lot's curve prediction for this battery: the lot cell's predicted life in cycles,
    dated from the battery's own cycle count and recent use."""
    rate = _rate_milli(days) if any(d.cycle is not None for d in days) else 1_000
    eol_day = days[-1].day + cycle_to_days(lot.prediction.eol_cycle, cycles, rate)
    return _message(entry, lot.prediction, eol_day, lot.model_hash, lot.inputs_ref, CURVES)


def _attest_capacity(
    model: EolModel,
    model_hash: bytes,
    entry: FleetEntry,
    days: list[Day],
    report_ids: list[bytes],
    points: dict[int, tuple[int, int]],
) -> MsgAttestPrediction | None:
    """The capacity model on the battery's telemetry; None before 100 cycles (or when the
    model refuses the series)."""
    if not points or max(points) < MIN_PREDICT_CYCLES or len(points) < MIN_PREDICT_POINTS:
        return None
    cycles, capacity = _per_cycle(sorted(points), [points[c][0] for c in sorted(points)])
    series = CellSeries(entry.battery_id.hex()[:16], tuple(cycles), tuple(capacity))
    try:
        result = predict(
            model,
            series,
            threshold=entry.threshold_permille / 1_000,
            nominal_ah=entry.rated_capacity_mah / 1_000,
        )
    except PredictionError as exc:
        log.warning("no prediction for %s: %s", entry.battery_id.hex(), exc)
        return None
    if result.observed:
        crossing = min(c for c in points if c >= result.eol_cycle)
        eol_day = points[crossing][1]
    else:
        eol_day = days[-1].day + cycle_to_days(
            result.eol_cycle, result.last_cycle, _rate_milli(days)
        )
    inputs_ref = hashlib.sha256(INPUTS_DOMAIN + b"".join(report_ids)).digest()
    return _message(entry, result, eol_day, model_hash, inputs_ref, CAPACITY)


def _message(
    entry: FleetEntry,
    result: Prediction,
    eol_day: int,
    model_hash: bytes,
    inputs_ref: bytes,
    basis: PredictionBasis,
) -> MsgAttestPrediction:
    """The attestation, within the ledger's bounds (a cycle or day past them is clamped)."""
    eol = min(result.eol_cycle, MAX_EOL_CYCLE)
    return MsgAttestPrediction(
        battery_id=entry.battery_id,
        eol_cycle=eol,
        eol_day=min(max(eol_day, DAY_MIN), DAY_MAX),
        interval_low_cycles=max(1, min(result.low, eol)),
        interval_high_cycles=min(max(result.high, eol), MAX_EOL_CYCLE),
        model_hash=model_hash,
        inputs_ref=inputs_ref,
        basis=basis,
    )


def _per_cycle(cycles: list[int], capacity: list[int]) -> tuple[list[int], list[float]]:
    """Daily reports give capacity every few cycles; the model wants every cycle: linear
    interpolation between reported cycles (an assumption, documented in docs/fleet.md)."""
    out_c: list[int] = []
    out_q: list[float] = []
    for i in range(len(cycles) - 1):
        c0, c1, q0, q1 = cycles[i], cycles[i + 1], capacity[i], capacity[i + 1]
        for c in range(c0, c1):
            out_c.append(c)
            out_q.append((q0 + (q1 - q0) * (c - c0) / (c1 - c0)) / 1_000)
    out_c.append(cycles[-1])
    out_q.append(capacity[-1] / 1_000)
    return out_c, out_q


def _rate_milli(days: list[Day]) -> int:
    """Recent full cycles per day, in thousandths, over the last RATE_WINDOW_DAYS of reports."""
    with_cycles = [d for d in days if d.cycle is not None]
    last = with_cycles[-1]
    window = [d for d in with_cycles if d.day >= last.day - RATE_WINDOW_DAYS]
    first = window[0] if window[0] is not last else with_cycles[0]
    span = last.day - first.day
    if span <= 0 or last.cycle is None or first.cycle is None:
        return 1_000
    return max(1, (last.cycle - first.cycle) * 1_000 // span)
