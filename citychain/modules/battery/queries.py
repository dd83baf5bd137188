"""Battery read paths (JSON views). The public passport is anyone's; status, history, health,
prediction and the fleet view are Annex XIII point 4 data (the individual battery's), given
only to a reader ``access.may_read`` names.

The views trust ``reader`` to be authenticated by their caller (a signed read request,
``citychain.passport.restricted.authorise``). The owner and lessee are known only through the
battery's holding, which the reader names by its holding secret (``holding.py``): the views
take that secret and check it against the public record's commitment. Proofs of the raw keys
come from the application's ``prove``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from citychain.crypto.address import address_from_bytes
from citychain.modules.battery import errors
from citychain.modules.battery.access import HEALTH, may_read
from citychain.modules.battery.errors import BatteryError
from citychain.modules.battery.holding import proven_holding
from citychain.modules.battery.state import (
    BASIS_NAMES,
    LESSEE,
    OWNER,
    STATUS_NAMES,
    Battery,
    Change,
    Holding,
    battery_key,
    changes,
    get_battery,
    get_health,
    get_holding,
    get_prediction,
    index_prefix,
    lease_active,
)
from citychain.modules.devices import KeyRange
from citychain.state.overlay import StateReader

__all__ = [
    "MAX_PAGE",
    "Readable",
    "battery_key",
    "fleet_view",
    "health_record",
    "health_view",
    "history_page",
    "history_view",
    "holding_view",
    "passport_view",
    "prediction_record",
    "prediction_view",
    "readable",
    "status_view",
]

MAX_PAGE = 100
_EPOCH = datetime.date(1970, 1, 1)
# fleet cursors: "<o|l>:<holding id hex>", the index and the holding id of the page's last entry
_KINDS = {"o": OWNER, "l": LESSEE}
_HOLDING_ID_BYTES = 32


def _date(day: int) -> str:
    return (_EPOCH + datetime.timedelta(days=day)).isoformat()


def _address(raw: bytes) -> str | None:
    return address_from_bytes(raw) if raw else None


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be in 1..{MAX_PAGE}, got {limit}")


def passport_view(state: StateReader, battery_id: bytes) -> dict[str, Any] | None:
    """Annex XIII point 1 (public), with who registered the battery, the commitments to
    points 2 and 3 and to its holding; never a restricted value. Status and ownership are
    point 4 data, in the holding: see ``status_view``."""
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
        "commitments": {
            "composition": battery.legitimate_interest_commitment.hex(),
            "test_reports": battery.authority_commitment.hex(),
            "holding": battery.holding_commitment.hex(),
        },
        "registered_height": battery.registered_height,
    }


class Readable:
    """A battery whose point-4 data ``reader`` may see, with its holding when proven."""

    __slots__ = ("battery", "battery_id", "holding", "holding_id", "reader")

    def __init__(
        self,
        reader: bytes,
        battery_id: bytes,
        battery: Battery,
        found: tuple[bytes, Holding] | None,
    ) -> None:
        self.reader = reader
        self.battery_id = battery_id
        self.battery = battery
        self.holding_id: bytes | None = found[0] if found is not None else None
        self.holding: Holding | None = found[1] if found is not None else None

    def held(self) -> tuple[bytes, Holding]:
        """The holding; BatteryError when the reader did not prove it."""
        if self.holding_id is None or self.holding is None:
            raise BatteryError(
                errors.NOT_AUTHORISED,
                f"status and history of {self.battery_id.hex()} are read with its holding "
                "secret (citychain battery holding)",
            )
        return self.holding_id, self.holding


def readable(
    state: StateReader, battery_id: bytes, secret: bytes | None, reader: bytes, height: int
) -> Readable:
    """The battery and, if ``secret`` opens its holding commitment, its holding, when
    ``reader`` may read its point-4 data; BatteryError otherwise (2: no such battery, 16:
    a secret that does not open the commitment, or a reader the regulation does not name)."""
    battery = get_battery(state, battery_id)
    if battery is None:
        raise BatteryError(errors.BATTERY_NOT_FOUND, f"no battery {battery_id.hex()}")
    found = None
    if secret:
        found = proven_holding(state, battery_id, battery, secret)
        if found is None:
            raise BatteryError(
                errors.NOT_AUTHORISED,
                f"the holding secret does not open the holding commitment of {battery_id.hex()}",
            )
    if not may_read(state, battery, found[1] if found else None, reader, HEALTH, height):
        raise BatteryError(
            errors.NOT_AUTHORISED,
            f"{address_from_bytes(reader)} may not read the health of {battery_id.hex()}",
        )
    return Readable(reader, battery_id, battery, found)


def holding_view(holding_id: bytes, holding: Holding, height: int) -> dict[str, Any]:
    """A holding's lifecycle status, owner, running lease and BMS device at ``height``."""
    active = lease_active(holding, height)
    return {
        "holding_id": holding_id.hex(),
        "status": STATUS_NAMES[holding.status],
        "owner": address_from_bytes(holding.owner),
        "lessee": _address(holding.lessee) if active else None,
        "lease_end_height": (holding.lease_end_height or None) if active else None,
        "bms_device_id": holding.bms_device_id.hex() or None,
        "opened_height": holding.opened_height,
        "changes": holding.changes,
    }


def status_view(
    state: StateReader, battery_id: bytes, secret: bytes, reader: bytes, height: int
) -> dict[str, Any]:
    """Lifecycle status (Annex XIII point 4), owner and running lease at ``height``."""
    holding_id, holding = readable(state, battery_id, secret, reader, height).held()
    return {"id": battery_id.hex(), **holding_view(holding_id, holding, height)}


def _change_view(seq: int, change: Change) -> dict[str, Any]:
    return {
        "seq": seq,
        "action": change.action,
        "actor": address_from_bytes(change.actor),
        "height": change.height,
        "tx_hash": change.tx_hash.hex(),
        "status": STATUS_NAMES[change.status],
        "party": _address(change.party),
        "end_height": change.end_height or None,
    }


def history_page(
    state: StateReader, holding_id: bytes, holding: Holding, after: int | None, limit: int
) -> dict[str, Any]:
    """Entries after ``after`` (a ``seq``; None: from the first), oldest first, at most
    ``limit``, and ``next`` (the last ``seq`` given, None when none follow)."""
    _check_limit(limit)
    start = 0 if after is None else after + 1
    stop = min(holding.changes, start + limit)
    entries = changes(state, holding_id, start, stop)
    page = [_change_view(start + i, change) for i, change in enumerate(entries)]
    return {"history": page, "next": stop - 1 if stop < holding.changes else None}


def history_view(
    state: StateReader,
    battery_id: bytes,
    secret: bytes,
    reader: bytes,
    height: int,
    *,
    after: int | None = None,
    limit: int = MAX_PAGE,
) -> dict[str, Any]:
    """The holding's lifecycle, ownership and lease trail, one page, oldest first."""
    holding_id, holding = readable(state, battery_id, secret, reader, height).held()
    page = history_page(state, holding_id, holding, after, limit)
    return {"id": battery_id.hex(), "holding_id": holding_id.hex(), **page}


def health_view(
    state: StateReader, battery_id: bytes, secret: bytes | None, reader: bytes, height: int
) -> dict[str, Any] | None:
    """The ledger's record of the latest health update (its commitment, not the values), or
    None before the first."""
    readable(state, battery_id, secret, reader, height)
    return health_record(state, battery_id)


def health_record(state: StateReader, battery_id: bytes) -> dict[str, Any] | None:
    """``health_view`` for a caller that has checked the reader (``readable``)."""
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
    state: StateReader, battery_id: bytes, secret: bytes | None, reader: bytes, height: int
) -> dict[str, Any] | None:
    """The latest attested end of life, or None before the first."""
    readable(state, battery_id, secret, reader, height)
    return prediction_record(state, battery_id)


def prediction_record(state: StateReader, battery_id: bytes) -> dict[str, Any] | None:
    """``prediction_view`` for a caller that has checked the reader (``readable``)."""
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


def parse_cursor(after: str | None) -> tuple[int, bytes | None]:
    """(index number: 0 owner, 1 lessee; the holding id to read after) from a fleet cursor."""
    if after is None:
        return 0, None
    kind, _, last = after.partition(":")
    try:
        holding_id = bytes.fromhex(last)
    except ValueError:
        holding_id = b""
    if kind not in _KINDS or len(holding_id) != _HOLDING_ID_BYTES:
        raise ValueError(f"a fleet cursor is o:<holding id> or l:<holding id>, got {after!r}")
    return list(_KINDS).index(kind), holding_id


def _index_entries(
    keys_after: KeyRange, prefix: bytes, after: bytes | None, batch: int
) -> Iterator[bytes]:
    """The holding ids under index ``prefix`` after the holding id ``after``, in key order,
    read ``batch`` keys at a time."""
    start = prefix + after if after is not None else None
    while True:
        keys = keys_after(prefix, start, batch)
        yield from (key[len(prefix) :] for key in keys)
        if len(keys) < batch:
            return
        start = keys[-1]


def fleet_view(
    state: StateReader,
    keys_after: KeyRange,
    reader: bytes,
    height: int,
    *,
    after: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """The holdings ``reader`` owns, then those it leases (lease running), from range reads of
    the owner and lessee indexes (``keys_after``) and one point read per entry, never a walk
    of the state.

    ``after`` is the ``next`` cursor of the previous page: the index and the holding id of its
    last entry, so entries added or removed meanwhile do not shift the pages. The battery ids
    are not here: the ledger does not link a holding to its battery; the holder knows (its
    holding files).
    """
    _check_limit(limit)
    first_kind, last = parse_cursor(after)
    page: list[dict[str, Any]] = []
    kinds = list(_KINDS.items())
    for number in range(first_kind, len(kinds)):
        letter, kind = kinds[number]
        start = last if number == first_kind else None
        prefix = index_prefix(kind, reader)
        for holding_id in _index_entries(keys_after, prefix, start, limit + 1):
            if len(page) == limit:
                return {"holdings": page, "next": page[-1]["cursor"]}
            holding = get_holding(state, holding_id)
            if holding is None:  # the battery-holdings invariant says it never is
                continue
            if kind == LESSEE and not lease_active(holding, height):
                continue  # a lapsed lease stays indexed until the owner's next change
            page.append(
                {"cursor": f"{letter}:{holding_id.hex()}", "role": kind}
                | holding_view(holding_id, holding, height)
            )
    return {"holdings": page, "next": None}
