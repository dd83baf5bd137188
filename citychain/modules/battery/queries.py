"""Battery read paths (JSON views). The public passport is anyone's; status, history, health,
prediction and the fleet view are Annex XIII point 4 data (the individual battery's), given
only to a reader ``access.may_read`` names.

The views trust ``reader`` to be authenticated by their caller (a signed read request,
``citychain.passport.restricted.authorise``); proofs of the raw keys come from the
application's ``prove`` and are only as restricted as the node's key query.
"""

from __future__ import annotations

import datetime
from typing import Any

from citychain.crypto.address import address_from_bytes
from citychain.modules.base import PrefixScan
from citychain.modules.battery import errors
from citychain.modules.battery.access import HEALTH, may_read
from citychain.modules.battery.errors import BatteryError
from citychain.modules.battery.state import (
    BASIS_NAMES,
    FLEET_PREFIX,
    STATUS_NAMES,
    Battery,
    Change,
    battery_key,
    get_battery,
    get_health,
    get_prediction,
    lease_active,
    split_fleet_key,
)
from citychain.state.overlay import StateReader

__all__ = [
    "battery_key",
    "fleet_view",
    "health_view",
    "history_view",
    "passport_view",
    "prediction_view",
    "status_view",
]

MAX_PAGE = 100
_EPOCH = datetime.date(1970, 1, 1)


def _date(day: int) -> str:
    return (_EPOCH + datetime.timedelta(days=day)).isoformat()


def _address(raw: bytes) -> str | None:
    return address_from_bytes(raw) if raw else None


def passport_view(state: StateReader, battery_id: bytes) -> dict[str, Any] | None:
    """Annex XIII point 1 (public), with who registered the battery and the commitments to
    points 2 and 3; never a restricted value. Status and ownership are point 4 data: see
    ``status_view``."""
    battery = get_battery(state, battery_id)
    if battery is None:
        return None
    p = battery.passport
    return {
        "id": battery_id.hex(),
        "identifier": p.identifier,
        "manufacturer": address_from_bytes(battery.manufacturer),
        "model": p.model,
        "category": p.category,
        "chemistry": p.chemistry,
        "rated_capacity_mah": p.rated_capacity_mah,
        "rated_energy_wh": p.rated_energy_wh,
        "nominal_voltage_mv": p.nominal_voltage_mv,
        "weight_g": p.weight_g,
        "expected_lifetime_cycles": p.expected_lifetime_cycles,
        "capacity_threshold_permille": p.capacity_threshold_permille,
        "manufacturing_day": p.manufacturing_day,
        "manufacturing_date": _date(p.manufacturing_day),
        "manufacturing_place": p.manufacturing_place,
        "carbon_footprint_g_per_kwh": p.carbon_footprint_g_per_kwh,
        "recycled_content_permille": {
            "cobalt": p.recycled_cobalt_permille,
            "lead": p.recycled_lead_permille,
            "lithium": p.recycled_lithium_permille,
            "nickel": p.recycled_nickel_permille,
        },
        "hazardous_substances": list(p.hazardous_substances),
        "bms_device_id": battery.bms_device_id.hex() or None,
        "commitments": {
            "composition": battery.legitimate_interest_commitment.hex(),
            "test_reports": battery.authority_commitment.hex(),
        },
        "registered_height": battery.registered_height,
    }


def status_view(
    state: StateReader, battery_id: bytes, reader: bytes, height: int
) -> dict[str, Any]:
    """Lifecycle status (Annex XIII point 4), owner and running lease at ``height``."""
    battery = _readable(state, battery_id, reader, height)
    active = lease_active(battery, height)
    return {
        "id": battery_id.hex(),
        "status": STATUS_NAMES[battery.status],
        "owner": address_from_bytes(battery.owner),
        "lessee": _address(battery.lessee) if active else None,
        "lease_end_height": (battery.lease_end_height or None) if active else None,
    }


def _change_view(change: Change) -> dict[str, Any]:
    return {
        "action": change.action,
        "actor": address_from_bytes(change.actor),
        "height": change.height,
        "tx_hash": change.tx_hash.hex(),
        "status": STATUS_NAMES[change.status],
        "party": _address(change.party),
        "end_height": change.end_height or None,
    }


def history_view(
    state: StateReader, battery_id: bytes, reader: bytes, height: int
) -> list[dict[str, Any]]:
    """The battery's lifecycle, ownership and lease trail, oldest first (point 4 data)."""
    return [_change_view(c) for c in _readable(state, battery_id, reader, height).history]


def _readable(state: StateReader, battery_id: bytes, reader: bytes, height: int) -> Battery:
    battery = get_battery(state, battery_id)
    if battery is None:
        raise BatteryError(errors.BATTERY_NOT_FOUND, f"no battery {battery_id.hex()}")
    if not may_read(state, battery, reader, HEALTH, height):
        raise BatteryError(
            errors.NOT_AUTHORISED,
            f"{address_from_bytes(reader)} may not read the health of {battery_id.hex()}",
        )
    return battery


def health_view(
    state: StateReader, battery_id: bytes, reader: bytes, height: int
) -> dict[str, Any] | None:
    """The ledger's record of the latest health update (its commitment, not the values), or
    None before the first update."""
    _readable(state, battery_id, reader, height)
    health = get_health(state, battery_id)
    if health is None:
        return None
    # The values are off the ledger (citychain/passport/openings.py): this is what it holds.
    return {
        "commitment": health.commitment.hex(),
        "telemetry_batch": health.telemetry_batch.hex(),
        "updates": health.updates,
        "updated_height": health.updated_height,
        "updated_time_ms": health.updated_time_ms,
        "oracle": address_from_bytes(health.oracle),
    }


def prediction_view(
    state: StateReader, battery_id: bytes, reader: bytes, height: int
) -> dict[str, Any] | None:
    """The latest attested end of life, or None before the first."""
    _readable(state, battery_id, reader, height)
    prediction = get_prediction(state, battery_id)
    if prediction is None:
        return None
    return {
        "eol_cycle": prediction.eol_cycle,
        "eol_day": prediction.eol_day,
        "eol_date": _date(prediction.eol_day),
        "interval_low_cycles": prediction.interval_low_cycles,
        "interval_high_cycles": prediction.interval_high_cycles,
        "model_hash": prediction.model_hash.hex(),
        "basis": BASIS_NAMES[prediction.basis],
        "inputs_ref": prediction.inputs_ref.hex(),
        "attested_height": prediction.attested_height,
        "attested_time_ms": prediction.attested_time_ms,
        "oracle": address_from_bytes(prediction.oracle),
    }


def fleet_view(
    state: StateReader,
    scan: PrefixScan,
    reader: bytes,
    height: int,
    *,
    after: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """The batteries ``reader`` may see the health of, soonest predicted replacement first.

    ``after`` is the ``next`` cursor of the previous page. The scan walks the whole fleet
    index (O(n)): fine for a city's thousands of batteries, an indexer's job beyond.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be in 1..{MAX_PAGE}, got {limit}")
    start = FLEET_PREFIX + bytes.fromhex(after) if after else b""
    page: list[dict[str, Any]] = []
    next_cursor = None
    for key, _ in scan(FLEET_PREFIX):
        if key <= start:
            continue
        eol_day, battery_id = split_fleet_key(key)
        battery = get_battery(state, battery_id)
        if battery is None or not may_read(state, battery, reader, HEALTH, height):
            continue
        if len(page) == limit:
            next_cursor = page[-1]["cursor"]
            break
        page.append(
            {
                "cursor": key[len(FLEET_PREFIX) :].hex(),
                "id": battery_id.hex(),
                "identifier": battery.passport.identifier,
                "eol_day": eol_day,
                "eol_date": _date(eol_day),
                "status": STATUS_NAMES[battery.status],
                "owner": address_from_bytes(battery.owner),
            }
        )
    return {"batteries": page, "next": next_cursor}
