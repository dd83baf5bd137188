"""Battery invariants, checked after every block in tests and the simulator."""

from __future__ import annotations

from citychain.codec import decode
from citychain.modules.base import PrefixScan
from citychain.modules.battery.state import (
    BASIS_NAMES,
    BATTERY_PREFIX,
    FLEET_PREFIX,
    HEALTH_PREFIX,
    PREDICTION_PREFIX,
    STATUS_NAMES,
    WASTE,
    Battery,
    Prediction,
    battery_id_of,
    split_fleet_key,
)

__all__ = ["battery_records", "fleet_index"]


def battery_records(scan: PrefixScan) -> list[str]:
    """battery-records: each battery sits under the id of its identifier, has a known status,
    a lease only with a lessee who is not the owner, no lease once waste, every health and
    prediction entry belongs to a registered battery, and every prediction has a known basis."""
    broken = []
    ids = set()
    for key, value in scan(BATTERY_PREFIX):
        battery_id = key[len(BATTERY_PREFIX) :]
        ids.add(battery_id)
        b = decode(value, Battery)
        where = f"battery-records: {battery_id.hex()}"
        if battery_id != battery_id_of(b.passport.identifier):
            broken.append(f"{where} holds identifier {b.passport.identifier!r}")
        if b.status >= len(STATUS_NAMES):
            broken.append(f"{where} has status {b.status}")
        if b.lease_end_height and not b.lessee:
            broken.append(f"{where} has lease end {b.lease_end_height} without a lessee")
        if b.lessee and (b.lessee == b.owner or b.status == WASTE):
            broken.append(f"{where} is leased to its owner or leased as waste")
    for prefix in (HEALTH_PREFIX, PREDICTION_PREFIX):
        for key, _ in scan(prefix):
            if key[len(prefix) :] not in ids:
                broken.append(f"battery-records: {key!r} belongs to no battery")
    return broken + _unknown_bases(scan)


def _unknown_bases(scan: PrefixScan) -> list[str]:
    return [
        f"battery-records: prediction {key!r} has basis {basis}"
        for key, value in scan(PREDICTION_PREFIX)
        if (basis := decode(value, Prediction).basis) >= len(BASIS_NAMES)
    ]


def fleet_index(scan: PrefixScan) -> list[str]:
    """fleet-index: the index lists exactly one (predicted day, id) per stored prediction."""
    expected = sorted(
        (decode(value, Prediction).eol_day, key[len(PREDICTION_PREFIX) :])
        for key, value in scan(PREDICTION_PREFIX)
    )
    index = [split_fleet_key(key) for key, _ in scan(FLEET_PREFIX)]
    if index != expected:
        return [
            f"fleet-index: index {[(d, i.hex()) for d, i in index]} "
            f"!= predictions {[(d, i.hex()) for d, i in expected]}"
        ]
    return []
