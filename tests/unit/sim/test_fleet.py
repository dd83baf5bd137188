"""The simulated fleet: deterministic from its seed, ageing from the real cells' curves, reports
that the gateway's checks accept."""

from __future__ import annotations

from citychain.sim.fleet import Fleet, load_curves
from citychain.telemetry.report import BmsReadings, check_ranges, parse_report


def _fleet(**kw: object) -> Fleet:
    return Fleet(8, seed="unit", start_day=20_000, **kw)  # type: ignore[arg-type]


def test_same_seed_same_reports_other_seed_other_keys() -> None:
    a, b = _fleet(), _fleet()
    assert [x.device_id for x in a] == [x.device_id for x in b]
    assert a.day_reports() == b.day_reports()
    other = Fleet(8, seed="other", start_day=20_000)
    assert {x.device_id for x in other}.isdisjoint(x.device_id for x in a)


def test_reports_are_valid_and_counters_grow() -> None:
    fleet = _fleet()
    previous: dict[bytes, tuple[int, int]] = {}
    for day in range(1, 41):
        for device_id, raw in fleet.day_reports():
            report = parse_report(raw)
            body = report.body
            assert body.device_id == device_id and body.counter == day
            assert body.time_ms // 86_400_000 == 20_000 + day
            check_ranges(body)
            assert report.signature_valid(
                next(b for b in fleet if b.device_id == device_id).key.public_key
            )
            readings = body.readings
            assert isinstance(readings, BmsReadings)
            assert readings.cycle_count is not None and readings.energy_throughput_wh is not None
            cycles, energy = previous.get(device_id, (0, 0))
            assert readings.cycle_count >= cycles and readings.energy_throughput_wh >= energy
            previous[device_id] = (readings.cycle_count, readings.energy_throughput_wh)


def test_capacity_follows_the_source_curve_and_crosses_80_percent_at_true_eol() -> None:
    curves = load_curves()
    assert len(curves) > 20
    for battery in _fleet():
        assert 0.9 < battery.capacity_fraction(0) < 1.05
        eol = battery.true_eol_cycle
        # within one curve step (10 cycles of the source cell) of the 80 % crossing
        step = 10 / battery.scale
        assert battery.capacity_fraction(eol - 2 * step) > 0.8 - 0.002
        assert battery.capacity_fraction(eol + 2 * step) < 0.8 + 0.002


def test_due_battery_wears_out_just_after_the_simulated_period() -> None:
    fleet = Fleet(3, seed="unit", start_day=20_000, cycles_per_day=(4, 8), due=1, days=30,
                  due_in_days=5)  # fmt: skip
    due = fleet.batteries[0]
    assert abs(due.true_eol_cycle - due.cycles_per_day * 35) <= 1
    for _ in range(30):
        fleet.day_reports()
    assert due.cycles < due.true_eol_cycle
