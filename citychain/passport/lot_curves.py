"""The early-life test curves of a battery's lot, carried in its test report (Regulation (EU)
2023/1542, Annex XIII point 3; docs/modules/battery.md §6).

The factory's test stations cycle sample cells of every lot. Their discharge curves Q_n(V) of
early cycles and their per-cycle capacity let the oracle predict a battery's end of life from
the day it is registered (docs/fleet.md §2). They travel inside the restricted ``test_reports``
part, under the key ``lot_curves``, so the ledger holds only the part's salted commitment
(``authority_commitment``) and they are read like every test report: by the manufacturer and
the ``regulator`` role, each checking what it is served against that commitment.

Fixed point, integers only (a float's text differs between languages, and the commitment and the
reference below are hashes of text)::

    {"cell_id": "b1c5",                  the lot's test cell
     "nominal_10uah": 110000,            its rated capacity, 10 µAh (1e-5 Ah) units, or null
     "voltage_high_mv": 3500,            the first voltage of every curve
     "voltage_step_mv": 10,              each next point is this much lower
     "curves": [{"cycle": 10, "capacity_10uah": [q(3.50 V), q(3.49 V), ..., q(2.00 V)]}, ...],
     "cycles": [2, 3, ..., 100],         cycles with a measured capacity, ascending
     "capacity_10uah": [107069, ...]}    the discharge capacity of each of those cycles

A curve point is the capacity discharged from the top of the discharge down to that voltage; it
may be a hair below zero at the first points (the current sensor's offset). An attested
prediction made from the curves names them by ``lot_curves_ref``: sha256 over a domain and the
canonical JSON of this object (sorted keys, no spaces), so anyone holding the opened test report
recomputes it and re-runs the prediction.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

__all__ = [
    "LOT_CURVES_FIELD",
    "REF_DOMAIN",
    "LotCurve",
    "LotCurves",
    "LotCurvesError",
    "lot_curves_bytes",
    "lot_curves_fields",
    "lot_curves_of",
    "lot_curves_ref",
    "parse_lot_curves",
    "voltages_mv",
]

LOT_CURVES_FIELD = "lot_curves"  # the key of the test report's fields that holds them
REF_DOMAIN = b"citychain/passport/lot-curves/v1\x00"

# Bounds are "absurd beyond": 1,000 Ah is no single test cell (battery_data.MAX_CAPACITY_AH),
# 10 V no single cell's voltage, 1,000 points a finer grid than any test station records.
MAX_CAPACITY_10UAH = 100_000_000
MAX_VOLTAGE_MV = 10_000
MAX_STEP_MV = 1_000
MAX_POINTS = 1_000
MAX_CURVES = 16
MAX_CYCLE = 1_000_000
MAX_CAPACITY_CYCLES = 5_000

Cycle = Annotated[int, msgspec.Meta(ge=1, le=MAX_CYCLE)]
CurvePoint = Annotated[int, msgspec.Meta(ge=-MAX_CAPACITY_10UAH, le=MAX_CAPACITY_10UAH)]
Capacity = Annotated[int, msgspec.Meta(ge=1, le=MAX_CAPACITY_10UAH)]
CellId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern="^[ -~]+\\Z")]


class LotCurvesError(ValueError):
    """The lot curves are malformed: wrong types, out of range, or inconsistent."""


class LotCurve(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One cycle's discharge curve on the voltage grid of its LotCurves."""

    cycle: Cycle
    capacity_10uah: Annotated[
        tuple[CurvePoint, ...], msgspec.Meta(min_length=2, max_length=MAX_POINTS)
    ]


class LotCurves(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The lot test cell's curves and per-cycle capacity (the module docstring's format)."""

    cell_id: CellId
    nominal_10uah: Capacity | None
    voltage_high_mv: Annotated[int, msgspec.Meta(ge=1, le=MAX_VOLTAGE_MV)]
    voltage_step_mv: Annotated[int, msgspec.Meta(ge=1, le=MAX_STEP_MV)]
    curves: Annotated[tuple[LotCurve, ...], msgspec.Meta(min_length=1, max_length=MAX_CURVES)]
    cycles: Annotated[tuple[Cycle, ...], msgspec.Meta(min_length=1, max_length=MAX_CAPACITY_CYCLES)]
    capacity_10uah: Annotated[
        tuple[Capacity, ...], msgspec.Meta(min_length=1, max_length=MAX_CAPACITY_CYCLES)
    ]

    def curve(self, cycle: int) -> LotCurve | None:
        return next((c for c in self.curves if c.cycle == cycle), None)


def _ascending(values: tuple[int, ...]) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


def _check(lot: LotCurves) -> LotCurves:
    """What the types cannot say: one grid for every curve, above 0 V; cycles ascending; one
    capacity per cycle."""
    if not _ascending(tuple(c.cycle for c in lot.curves)):
        raise LotCurvesError("lot_curves: the curves' cycles must be strictly ascending")
    points = {len(c.capacity_10uah) for c in lot.curves}
    if len(points) != 1:
        raise LotCurvesError(
            f"lot_curves: every curve must have the same number of points, got {sorted(points)}"
        )
    lowest = lot.voltage_high_mv - lot.voltage_step_mv * (points.pop() - 1)
    if lowest <= 0:
        raise LotCurvesError(
            f"lot_curves: the grid goes down to {lowest} mV from {lot.voltage_high_mv} mV by "
            f"{lot.voltage_step_mv} mV: too many points or too large a step"
        )
    if not _ascending(lot.cycles):
        raise LotCurvesError("lot_curves: 'cycles' must be strictly ascending")
    if len(lot.cycles) != len(lot.capacity_10uah):
        raise LotCurvesError(
            f"lot_curves: {len(lot.cycles)} cycles but {len(lot.capacity_10uah)} capacities"
        )
    return lot


def parse_lot_curves(doc: Any) -> LotCurves:
    """The lot curves of a JSON object (as in a test report); LotCurvesError says why not."""
    if not isinstance(doc, Mapping):
        raise LotCurvesError("lot_curves must be a JSON object")
    try:
        # strict: a float or a numeric string is refused, as the commitment refuses floats
        lot = msgspec.convert(dict(doc), LotCurves, strict=True)
    except msgspec.ValidationError as exc:
        raise LotCurvesError(f"lot_curves: {exc}") from None
    return _check(lot)


def lot_curves_fields(lot: LotCurves) -> dict[str, Any]:
    """The JSON object of ``lot``: what the test report's ``lot_curves`` key holds."""
    # through JSON, so that it compares equal to what a reader parses (lists, not tuples)
    doc: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(_check(lot)))
    return doc


def lot_curves_of(test_report: Mapping[str, Any]) -> LotCurves | None:
    """The lot curves in a test report's fields, or None when it carries none."""
    doc = test_report.get(LOT_CURVES_FIELD)
    return None if doc is None else parse_lot_curves(doc)


def lot_curves_bytes(lot: LotCurves) -> bytes:
    """The canonical bytes: the JSON object with sorted keys and no spaces (ASCII only)."""
    fields = lot_curves_fields(lot)
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def lot_curves_ref(lot: LotCurves) -> bytes:
    """sha256(REF_DOMAIN || canonical bytes): the ``inputs_ref`` of a prediction made from
    them (the curves and the lot cell's capacity are everything that prediction reads)."""
    return hashlib.sha256(REF_DOMAIN + lot_curves_bytes(lot)).digest()


def voltages_mv(lot: LotCurves) -> tuple[int, ...]:
    """The grid's voltages, highest first, one per curve point."""
    count = len(lot.curves[0].capacity_10uah)
    return tuple(lot.voltage_high_mv - i * lot.voltage_step_mv for i in range(count))
