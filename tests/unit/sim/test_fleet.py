"""The simulated fleet: deterministic from its seed, ageing from the real cells' curves, reports
that the gateway's checks accept, and each battery's lot test curves (its source cell's) in its
test report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from citychain.oracle.battery_data import default_data_dir, load_cells_meta
from citychain.passport.lot_curves import lot_curves_of
from citychain.sim.fleet import LOT_CURVES_PATH, Fleet, load_curves, load_sources
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


def test_every_battery_carries_its_source_cells_lot_curves_in_its_test_report() -> None:
    fleet = _fleet(due=1)
    again = _fleet(due=1)
    for battery, twin in zip(fleet, again, strict=True):
        assert battery.lot is not None and battery.lot.cell_id == battery.cell_id
        fields, salt = battery.test_report()
        assert lot_curves_of(fields) == battery.lot
        assert (fields, salt) == twin.test_report()  # deterministic from the seed
    salts = {b.test_report()[1] for b in fleet}
    assert len(salts) == len(fleet)  # one salt per battery, never shared
    manifest = json.loads(json.dumps(fleet.manifest()))
    for entry, battery in zip(manifest["batteries"], fleet, strict=True):
        fields, salt = battery.test_report()
        assert entry["test_report"] == {"fields": fields, "salt": salt.hex()}


def _data_dir() -> Path:
    folder = default_data_dir()
    if not (folder / "cycles.csv").exists() or not (folder / "curves.csv.gz").exists():
        pytest.skip(f"battery data folder {folder} not present")
    return folder


def test_lot_curves_are_the_trajectories_cells() -> None:
    """lot_curves.json joins eol_params.json's trajectories by cell id: each cell's life and
    first capacity are those of the data folder."""
    folder = _data_dir()
    meta = load_cells_meta(folder)
    cycle_2 = {}
    for line in (folder / "cycles.csv").read_text().splitlines()[1:]:
        cell_id, cycle, capacity = line.split(",")
        if cycle == "2":
            cycle_2[cell_id] = round(float(capacity) * 100_000)
    sources = load_sources()
    assert len({s.cell_id for s in sources}) == len(sources) == len(load_curves())
    for source in sources:
        assert source.lot is not None and source.lot.cell_id == source.cell_id
        assert source.life == meta[source.cell_id].cycle_life
        assert source.lot.cycles[0] == 2
        assert source.lot.capacity_10uah[0] == cycle_2[source.cell_id]


def test_the_committed_lot_curves_are_what_the_script_derives() -> None:
    folder = _data_dir()
    path = Path(__file__).resolve().parents[3] / "scripts" / "derive_lot_curves.py"
    spec = importlib.util.spec_from_file_location("derive_lot_curves", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.render(script.derive(folder)) == LOT_CURVES_PATH.read_text(encoding="utf-8")


def test_a_lot_curves_file_of_other_data_is_refused(tmp_path: Path) -> None:
    doc = json.loads(LOT_CURVES_PATH.read_text())
    first = next(iter(doc["cells"].values()))
    first["life"] += 1
    (tmp_path / "lot_curves.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="regenerate it"):
        load_sources(lot_curves_path=tmp_path / "lot_curves.json")
