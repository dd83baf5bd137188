"""Battery invariants, checked after every block in tests and the simulator."""

from __future__ import annotations

from citychain.codec import decode
from citychain.modules.base import PrefixScan
from citychain.modules.battery.state import (
    BASIS_NAMES,
    BATTERY_PREFIX,
    CHANGE_PREFIX,
    HEALTH_PREFIX,
    HOLDING_PREFIX,
    INDEX_PREFIX,
    INDEXED,
    LESSEE,
    OWNER,
    PREDICTION_PREFIX,
    SEQ_BYTES,
    STATUS_NAMES,
    WASTE,
    Battery,
    Holding,
    Prediction,
    battery_id_of,
    index_key,
)

__all__ = ["battery_holdings", "battery_records"]


def battery_records(scan: PrefixScan) -> list[str]:
    """battery-records: each battery sits under the id of its identifier, every health and
    prediction entry belongs to a registered battery, and every prediction has a known basis."""
    broken = []
    ids = set()
    for key, value in scan(BATTERY_PREFIX):
        battery_id = key[len(BATTERY_PREFIX) :]
        ids.add(battery_id)
        b = decode(value, Battery)
        if battery_id != battery_id_of(b.passport.identifier):
            broken.append(
                f"battery-records: {battery_id.hex()} holds identifier {b.passport.identifier!r}"
            )
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


def _holding_problems(where: str, h: Holding) -> list[str]:
    broken = []
    if h.status >= len(STATUS_NAMES):
        broken.append(f"{where} has status {h.status}")
    if h.lease_end_height and not h.lessee:
        broken.append(f"{where} has lease end {h.lease_end_height} without a lessee")
    if h.lessee and (h.lessee == h.owner or h.status == WASTE):
        broken.append(f"{where} is leased to its owner or leased as waste")
    return broken


def _expected_index(holdings: dict[bytes, Holding]) -> dict[bytes, bytes]:
    """Every index entry the holdings imply, key -> value."""
    expected: dict[bytes, bytes] = {}
    for holding_id, h in holdings.items():
        expected[index_key(OWNER, h.owner, holding_id)] = INDEXED
        if h.lessee:
            expected[index_key(LESSEE, h.lessee, holding_id)] = INDEXED
    return expected


def battery_holdings(scan: PrefixScan) -> list[str]:
    """battery-holdings: each holding has a known status and a lease only with a lessee who
    is not the owner, none once waste; its history is exactly entries 0..changes-1; the owner
    and lessee indexes hold exactly one entry per holding, under its owner and its lessee."""
    holdings = {
        key[len(HOLDING_PREFIX) :]: decode(value, Holding) for key, value in scan(HOLDING_PREFIX)
    }
    broken = []
    for holding_id, h in holdings.items():
        broken += _holding_problems(f"battery-holdings: {holding_id.hex()}", h)
    expected_changes = {
        holding_id + seq.to_bytes(SEQ_BYTES, "big")
        for holding_id, h in holdings.items()
        for seq in range(h.changes)
    }
    stored_changes = {key[len(CHANGE_PREFIX) :] for key, _ in scan(CHANGE_PREFIX)}
    if stored_changes != expected_changes:
        broken.append(
            f"battery-holdings: {len(stored_changes ^ expected_changes)} history entries "
            "missing or beyond their holding's counter"
        )
    stored = {key: value for prefix in INDEX_PREFIX.values() for key, value in scan(prefix)}
    if stored != _expected_index(holdings):
        broken.append("battery-holdings: the owner and lessee indexes do not match the holdings")
    return broken
