"""Which model the oracle attests (citychain/oracle/prediction_basis.py, health.py): the lot's
curve prediction from the first report, the capacity model once its expected error at the
battery's cycle count is lower, or at once when the battery's own telemetry contradicts its lot
(a reported crossing, intervals that do not meet); and the lot curves' fixed point
(citychain/oracle/lot_curves.py), from which an auditor re-runs the same prediction."""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
from battery_fixtures import dataset

from citychain.oracle.battery_data import CellSeries, default_data_dir
from citychain.oracle.curve_data import CellCurves, CurveDataError, load_shared_curves
from citychain.oracle.curve_model import (
    REQUIRED_CYCLES,
    VOLTAGE_WINDOW,
    curve_model_hash,
    load_curve_params,
    predict_curves,
)
from citychain.oracle.eol_model import EolModel, Prediction, load_params, model_hash
from citychain.oracle.health import INPUTS_DOMAIN, Day, FleetEntry, attest_prediction
from citychain.oracle.lot_curves import (
    GRID_HIGH_MV,
    GRID_LOW_MV,
    measured_lot_curves,
    model_inputs,
)
from citychain.oracle.prediction_basis import (
    CAPACITY,
    CURVES,
    LotPrediction,
    capacity_takes_over,
    predict_lot,
    prefer_capacity,
)
from citychain.passport.lot_curves import lot_curves_fields, lot_curves_ref, parse_lot_curves

RATED_MAH = 20_000
ENTRY = FleetEntry(bytes(range(32)), bytes(range(32, 64)), RATED_MAH, 800)
CURVE_HASH = hashlib.sha256(b"curve model").digest()
LOT_REF = hashlib.sha256(b"lot curves").digest()


@cache
def capacity_model() -> EolModel:
    return load_params()


def lot(eol: int = 480, low: int = 400, high: int = 600) -> LotPrediction:
    """A lot predicted to live ``eol`` cycles: about what life() fades to (80 % at 500)."""
    return LotPrediction(Prediction("b1c5", eol, low, high, 100, 100), CURVE_HASH, LOT_REF)


def life(cycles_per_day: int, days: int, fade_per_cycle: float = 0.0004) -> list[Day]:
    """A battery's daily aggregates: ``cycles_per_day`` full cycles a day, linear fade."""
    out = []
    for d in range(1, days + 1):
        cycle = cycles_per_day * d
        capacity = round(RATED_MAH * (1.0 - fade_per_cycle * cycle))
        out.append(Day(20_000 + d, d, bytes(32), cycle, capacity, None, None, 250, 250, 500))
    return out


REPORTS = [bytes([i]) * 32 for i in range(3)]


@pytest.mark.parametrize(
    ("interval", "takes_over"),
    [((420, 560), True), ((350, 650), False), ((400, 600), False), ((401, 600), True)],
)
def test_switch_rule(interval: tuple[int, int], takes_over: bool) -> None:
    """The lot's interval is 400..600: a narrower capacity interval takes over; a tie keeps
    the curves."""
    assert capacity_takes_over(interval, lot()) is takes_over


def test_the_lot_prediction_serves_from_the_first_report() -> None:
    model = capacity_model()
    days = life(5, 1)  # one day: 5 cycles
    message = attest_prediction(model, bytes(32), ENTRY, days, REPORTS[:1], lot())
    assert message is not None and message.basis == CURVES
    assert (message.model_hash, message.inputs_ref) == (CURVE_HASH, LOT_REF)
    interval = (message.interval_low_cycles, message.interval_high_cycles)
    assert (message.eol_cycle, interval) == (480, (400, 600))
    # one report says nothing of the rate of use: a cycle a day until a second one does
    assert message.eol_day == days[-1].day + 480 - 5
    days = life(5, 10)
    message = attest_prediction(model, bytes(32), ENTRY, days, REPORTS, lot())
    assert message is not None and message.basis == CURVES
    assert message.eol_day == days[-1].day + (480 - 50) // 5
    # without lot curves, nothing until the capacity model's first cut-off (as before)
    assert attest_prediction(model, bytes(32), ENTRY, days, REPORTS) is None


def test_the_capacity_model_takes_over_once_its_interval_is_narrower() -> None:
    """Through the whole attestation: as the history grows the capacity model's interval
    narrows, and the basis follows the rule at every step (and does switch)."""
    model = capacity_model()
    hash_ = bytes.fromhex(model_hash(model))
    seen = set()
    for days in range(20, 96, 5):  # 100..475 cycles; the battery reaches 80 % at 500
        alone = attest_prediction(model, hash_, ENTRY, life(5, days), REPORTS)
        message = attest_prediction(model, hash_, ENTRY, life(5, days), REPORTS, lot())
        assert alone is not None and message is not None
        interval = (alone.interval_low_cycles, alone.interval_high_cycles)
        expected = CAPACITY if prefer_capacity(lot(), interval, False) else CURVES
        assert message.basis == expected
        if expected == CAPACITY:
            assert message.model_hash == hash_
            assert message.inputs_ref == hashlib.sha256(INPUTS_DOMAIN + b"".join(REPORTS)).digest()
        seen.add(message.basis)
    assert seen == {CAPACITY, CURVES}


def test_telemetry_that_contradicts_the_lot_beats_the_curves() -> None:
    """A battery ageing unlike its lot's test cell: once the capacity model's interval does not
    meet the lot's, the battery's own telemetry is attested, whatever the expected errors."""
    model = capacity_model()
    long_lived = lot(900, 700, 1_100)
    # 100 cycles: the capacity interval (about 290..720) still meets 700..1100
    message = attest_prediction(model, bytes(32), ENTRY, life(5, 20), REPORTS, long_lived)
    assert message is not None and message.basis == CURVES
    # 150 cycles: about 330..640, below the lot's interval
    message = attest_prediction(model, bytes(32), ENTRY, life(5, 30), REPORTS, long_lived)
    assert message is not None and message.basis == CAPACITY
    assert message.interval_high_cycles < 700


@pytest.mark.parametrize(
    ("interval", "crossed", "capacity"),
    [
        ((350, 650), False, False),  # wider than the lot's 400..600, and they meet
        ((420, 560), False, True),  # narrower
        ((300, 399), False, True),  # below the lot's interval
        ((601, 900), False, True),  # above it
        ((100, 400), False, False),  # touching is meeting (and it is wider)
        ((350, 650), True, True),  # a reported crossing
    ],
)
def test_prefer_capacity(interval: tuple[int, int], crossed: bool, capacity: bool) -> None:
    assert prefer_capacity(lot(), interval, crossed) is capacity


def test_a_reported_crossing_beats_the_curves() -> None:
    days = life(5, 30, fade_per_cycle=0.0015)  # 150 cycles, 77.5 % of rated
    message = attest_prediction(capacity_model(), bytes(32), ENTRY, days, REPORTS, lot())
    assert message is not None and message.basis == CAPACITY
    assert message.eol_cycle == message.interval_high_cycles < 150


def test_the_curves_stand_in_when_the_capacity_model_refuses() -> None:
    # 250 cycles but only two reported points: no curve to predict from
    days = [life(125, 2)[0], life(125, 2)[1]]
    message = attest_prediction(capacity_model(), bytes(32), ENTRY, days, REPORTS, lot())
    assert message is not None and message.basis == CURVES


def _synthetic_curves(cell_id: str = "lot-7", cycles: tuple[int, ...] = (10, 100)) -> CellCurves:
    """Falling voltages 3.6 -> 2.0 V every 8 mV and a capacity that rises with depth."""
    volts = tuple(round(3.6 - 0.008 * i, 4) for i in range(201))
    caps = tuple(
        tuple(round(1.05 * (3.6 - v) / 1.6 - 0.0001 * c / 100, 5) for v in volts) for c in cycles
    )
    return CellCurves(cell_id, cycles, tuple(volts for _ in cycles), caps)


def _synthetic_series(cell_id: str = "lot-7", last: int = 100) -> CellSeries:
    cycles = tuple(range(2, last + 1))
    return CellSeries(cell_id, cycles, tuple(1.07 - 1e-5 * c for c in cycles))


def test_the_passport_grid_is_the_curve_models_window() -> None:
    assert (GRID_LOW_MV / 1_000, GRID_HIGH_MV / 1_000) == VOLTAGE_WINDOW


def test_measured_lot_curves_are_fixed_point_and_give_back_the_model_inputs() -> None:
    lot_curves = measured_lot_curves(_synthetic_curves(), _synthetic_series(), 1.1)
    assert [c.cycle for c in lot_curves.curves] == list(REQUIRED_CYCLES)
    assert all(len(c.capacity_10uah) == 151 for c in lot_curves.curves)
    first = lot_curves.curves[0].capacity_10uah
    assert first[0] == round(1.05 * 0.1 / 1.6 * 1e5 - 1) and first[-1] == 105_000 - 1
    assert lot_curves.cycles == tuple(range(2, 101)) and lot_curves.nominal_10uah == 110_000
    assert parse_lot_curves(lot_curves_fields(lot_curves)) == lot_curves
    curves, series, nominal = model_inputs(lot_curves)
    assert nominal == 1.1 and series.capacity_ah[0] == 1.06998
    assert curves.voltage_span(10) == (2.0, 3.5)


@pytest.mark.parametrize(
    ("curves", "series", "why"),
    [
        (_synthetic_curves(cycles=(10, 50)), _synthetic_series(), "no discharge curve for cycle"),
        (_synthetic_curves(), _synthetic_series(last=90), "must reach cycle 100"),
    ],
)
def test_unusable_measurements_are_refused(
    curves: CellCurves, series: CellSeries, why: str
) -> None:
    with pytest.raises(CurveDataError, match=why):
        measured_lot_curves(curves, series, 1.1)


def test_a_curve_that_stops_short_of_the_window_is_refused() -> None:
    short = _synthetic_curves()
    cut = CellCurves(
        short.cell_id,
        short.cycles,
        tuple(v[:150] for v in short.voltages_v),  # down to 2.4 V only
        tuple(q[:150] for q in short.capacities_ah),
    )
    with pytest.raises(CurveDataError, match=r"covers 2\.41\.\.3\.60 V"):
        measured_lot_curves(cut, _synthetic_series(), 1.1)


def test_an_auditor_with_the_opened_test_report_gets_the_same_integers() -> None:
    cells, _meta = dataset()
    series = next(c for c in cells if c.cell_id == "b1c5")
    curves = load_shared_curves(default_data_dir())["b1c5"]
    # what the oracle attests: the test report's curves, through the passport's fixed point
    fields_ = lot_curves_fields(measured_lot_curves(curves, series, 1.1))
    model = load_curve_params()
    attested = predict_lot(model, bytes.fromhex(curve_model_hash(model)), parse_lot_curves(fields_))
    # what an auditor does with the opened report: parse, recompute the reference, re-run
    audited = parse_lot_curves(fields_)
    assert lot_curves_ref(audited) == attested.inputs_ref
    assert predict_curves(model, *model_inputs(audited)) == attested.prediction
    # the fixed point moves the prediction by a cycle at most from the raw curves'
    raw = predict_curves(model, curves, series.upto(100), 1.1)
    assert abs(raw.eol_cycle - attested.prediction.eol_cycle) <= 1
