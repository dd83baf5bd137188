"""Battery keys under ``bat/`` and their typed accessors; no other file builds these keys.

| key                          | value                                                          |
| ---------------------------- | -------------------------------------------------------------- |
| bat/b/<id32>                 | Battery: public passport, manufacturer, commitments            |
| bat/k/<hid32>                | Holding: status, owner, lease, BMS device, change counter      |
| bat/c/<hid32><seq8>          | Change: one entry of the holding's history (seq from 0)        |
| bat/o/<addr20><hid32>        | 0x01: owner index, the holdings an address owns                |
| bat/l/<addr20><hid32>        | 0x01: lessee index, the holdings leased to an address          |
| bat/h/<id32>                 | Health: commitment to the latest dynamic data (point 4)        |
| bat/x/<id32>                 | Prediction: the latest attested end of life                    |
| bat/params                   | BatteryParams, absent while equal to the defaults              |

``id32 = sha256("citychain/battery/id/v1" || 0x00 || identifier)``: fixed-length keys, and one
key per printed identifier, so a second registration of the same battery finds the first.

The public record (``bat/b/``) holds what Annex XIII point 1 makes public and nothing of point
4: whoever reads a battery's label finds its passport, never its owner, lessee, status or
history. Those live in the battery's *holding* (``bat/k/``), under ``hid32`` derived from a
secret the manufacturer draws and hands to the owner with the battery (holding.py); the public
record carries only a hiding commitment to ``hid32``, so nothing on the ledger links the two.

An index entry's key says everything (its value only marks presence), so the handlers add and
remove one by a point write; the node reads an address's entries as a range of the committed
store's ordered keys (``devices.KeyRange``), so a fleet page costs the page, never a walk of the
state.
"""

from __future__ import annotations

import hashlib

from msgspec import structs

from citychain.codec import U64, Address20, Bytes32, Struct, decode, encode
from citychain.modules.battery.messages import Passport
from citychain.state.overlay import Overlay, StateReader

PREFIX = b"bat/"
BATTERY_PREFIX = b"bat/b/"
HOLDING_PREFIX = b"bat/k/"
CHANGE_PREFIX = b"bat/c/"
OWNER_INDEX = b"bat/o/"
LESSEE_INDEX = b"bat/l/"
HEALTH_PREFIX = b"bat/h/"
PREDICTION_PREFIX = b"bat/x/"
PARAMS_KEY = b"bat/params"
ID_DOMAIN = b"citychain/battery/id/v1\x00"
DAY_MS = 86_400_000
SEQ_BYTES = 8  # a change's sequence number in its key, big-endian: key order is history order
# The two indexes of holdings by address.
OWNER, LESSEE = "owner", "lessee"
INDEX_PREFIX = {OWNER: OWNER_INDEX, LESSEE: LESSEE_INDEX}
INDEXED = b"\x01"  # an index entry's value: the key says everything

# Lifecycle statuses (Annex XIII point 4(b) and Art. 3 definitions, plus the EV states
# installed and swapped). Codes are consensus data: append only.
ORIGINAL, INSTALLED, SWAPPED, REUSED, REPURPOSED, REMANUFACTURED, WASTE = range(7)
STATUS_NAMES = (
    "original",
    "installed",
    "swapped",
    "reused",
    "repurposed",
    "remanufactured",
    "waste",
)
# status -> the statuses that may follow it. Waste is final (Art. 3(1)(19): the holder
# discards it); a repurposed battery serves a different purpose and never goes back into a
# vehicle without remanufacturing.
TRANSITIONS: dict[int, tuple[int, ...]] = {
    ORIGINAL: (INSTALLED, REPURPOSED, WASTE),
    INSTALLED: (SWAPPED, WASTE),
    SWAPPED: (INSTALLED, REUSED, REPURPOSED, REMANUFACTURED, WASTE),
    REUSED: (INSTALLED, SWAPPED, REPURPOSED, REMANUFACTURED, WASTE),
    REPURPOSED: (REMANUFACTURED, WASTE),
    REMANUFACTURED: (INSTALLED, REUSED, REPURPOSED, WASTE),
    WASTE: (),
}

# Change.action values.
REGISTERED = "registered"  # the holding opened; ``party`` is the first owner
STATUS_CHANGED = "status_changed"  # ``status`` is the new status
TRANSFERRED = "transferred"  # ``party`` is the new owner
LEASED = "leased"  # ``party`` is the lessee, ``end_height`` its last height (0 = open)
LEASE_ENDED = "lease_ended"  # ``party`` is the former lessee

DEFAULT_HORIZON_DAYS = 30

# Prediction.basis codes are indexes into this (MsgAttestPrediction.basis names them).
# Consensus data: append only.
BASIS_NAMES = ("capacity", "curves")


class Change(Struct, frozen=True):
    """One entry of a holding's audit trail: what happened, who signed it, where."""

    action: str
    actor: Address20
    height: U64
    tx_hash: bytes
    status: int  # the status after the change
    party: bytes  # new owner or lessee, or b""
    end_height: U64  # lease only, 0 otherwise


class Battery(Struct, frozen=True):
    """The public record of a battery (Annex XIII point 1): nothing a label reader may not see."""

    passport: Passport
    manufacturer: Address20  # the account that registered it (holding the manufacturer role)
    legitimate_interest_commitment: Bytes32
    authority_commitment: Bytes32
    # sha256(domain || hid32 || blinding): binds the battery to its one holding, hiding which.
    holding_commitment: Bytes32
    registered_height: U64


class Holding(Struct, frozen=True):
    """Who holds a battery and what became of it (Annex XIII point 4), under its holding id."""

    manufacturer: Address20  # the account that opened it: must be the battery's registrant
    status: int
    owner: Address20
    lessee: bytes  # 20 bytes, or b"" when not leased
    lease_end_height: U64  # last height of the lease; 0 = open-ended or not leased
    bms_device_id: bytes  # 32 bytes, or b"" when the battery has no connected BMS
    opened_height: U64
    changes: U64  # entries of its history: bat/c/<hid><0..changes-1>


class Health(Struct, frozen=True):
    """The latest health update: a commitment to the values (Annex XIII point 4), which stay
    off the ledger, and where it came from."""

    commitment: Bytes32
    telemetry_batch: Bytes32
    updates: U64  # how many health updates the battery has had, this one included
    updated_height: U64
    updated_time_ms: U64
    oracle: Address20


class Prediction(Struct, frozen=True):
    eol_cycle: U64
    eol_day: U64
    interval_low_cycles: U64
    interval_high_cycles: U64
    model_hash: Bytes32
    inputs_ref: Bytes32
    attested_height: U64
    attested_time_ms: U64
    oracle: Address20
    basis: int  # BASIS_NAMES index: what the prediction was made from


class BatteryParams(Struct, frozen=True):
    # A prediction within this many days of the block's day fires battery_replacement_due.
    horizon_days: U64 = DEFAULT_HORIZON_DAYS


DEFAULT_PARAMS = BatteryParams()


def battery_id_of(identifier: str) -> bytes:
    """The 32-byte ledger id of the battery printed with ``identifier``."""
    return hashlib.sha256(ID_DOMAIN + identifier.encode()).digest()


# --- the public record ------------------------------------------------------------------------
def battery_key(battery_id: bytes) -> bytes:
    return BATTERY_PREFIX + battery_id


def get_battery(state: StateReader, battery_id: bytes) -> Battery | None:
    raw = state.get(BATTERY_PREFIX + battery_id)
    return decode(raw, Battery) if raw is not None else None


def set_battery(state: Overlay, battery_id: bytes, battery: Battery) -> None:
    state.set(BATTERY_PREFIX + battery_id, encode(battery))


# --- the holding and its history --------------------------------------------------------------
def holding_key(holding_id: bytes) -> bytes:
    return HOLDING_PREFIX + holding_id


def get_holding(state: StateReader, holding_id: bytes) -> Holding | None:
    raw = state.get(HOLDING_PREFIX + holding_id)
    return decode(raw, Holding) if raw is not None else None


def set_holding(state: Overlay, holding_id: bytes, holding: Holding) -> None:
    state.set(HOLDING_PREFIX + holding_id, encode(holding))


def change_key(holding_id: bytes, seq: int) -> bytes:
    return CHANGE_PREFIX + holding_id + seq.to_bytes(SEQ_BYTES, "big")


def get_change(state: StateReader, holding_id: bytes, seq: int) -> Change | None:
    raw = state.get(change_key(holding_id, seq))
    return decode(raw, Change) if raw is not None else None


def append_change(state: Overlay, holding_id: bytes, holding: Holding, change: Change) -> Holding:
    """Store ``change`` as the holding's next history entry; the holding with its counter
    advanced (the caller stores it). One key per change keeps every value small."""
    state.set(change_key(holding_id, holding.changes), encode(change))
    return structs.replace(holding, changes=holding.changes + 1)


def changes(state: StateReader, holding_id: bytes, start: int, stop: int) -> list[Change]:
    """History entries ``start`` to ``stop - 1``, by point reads."""
    found = []
    for seq in range(start, stop):
        change = get_change(state, holding_id, seq)
        if change is None:  # never for a consistent state (invariant battery-holdings)
            break
        found.append(change)
    return found


# --- the owner and lessee indexes -------------------------------------------------------------
def index_prefix(kind: str, address: bytes) -> bytes:
    """The prefix of ``address``'s ``kind`` index; a range read under it lists its holding ids."""
    return INDEX_PREFIX[kind] + address


def index_key(kind: str, address: bytes, holding_id: bytes) -> bytes:
    return INDEX_PREFIX[kind] + address + holding_id


def index_add(state: Overlay, kind: str, address: bytes, holding_id: bytes) -> None:
    state.set(index_key(kind, address, holding_id), INDEXED)


def index_remove(state: Overlay, kind: str, address: bytes, holding_id: bytes) -> None:
    state.delete(index_key(kind, address, holding_id))


# --- health, prediction, fleet by day -----------------------------------------------------------
def health_key(battery_id: bytes) -> bytes:
    return HEALTH_PREFIX + battery_id


def get_health(state: StateReader, battery_id: bytes) -> Health | None:
    raw = state.get(HEALTH_PREFIX + battery_id)
    return decode(raw, Health) if raw is not None else None


def set_health(state: Overlay, battery_id: bytes, health: Health) -> None:
    state.set(HEALTH_PREFIX + battery_id, encode(health))


def prediction_key(battery_id: bytes) -> bytes:
    return PREDICTION_PREFIX + battery_id


def get_prediction(state: StateReader, battery_id: bytes) -> Prediction | None:
    raw = state.get(PREDICTION_PREFIX + battery_id)
    return decode(raw, Prediction) if raw is not None else None


def set_prediction(state: Overlay, battery_id: bytes, prediction: Prediction) -> None:
    """Store the latest prediction."""
    state.set(PREDICTION_PREFIX + battery_id, encode(prediction))


def get_params(state: StateReader) -> BatteryParams:
    raw = state.get(PARAMS_KEY)
    return decode(raw, BatteryParams) if raw is not None else DEFAULT_PARAMS


def set_params(state: Overlay, params: BatteryParams) -> None:
    # The default is not stored, so that a chain without a battery section and one with the
    # default written out have the same state.
    if params == DEFAULT_PARAMS:
        state.delete(PARAMS_KEY)
    else:
        state.set(PARAMS_KEY, encode(params))


def lease_active(holding: Holding, height: int) -> bool:
    """Whether the lease holds at ``height``: it runs through ``lease_end_height`` inclusive."""
    if not holding.lessee:
        return False
    return holding.lease_end_height == 0 or height <= holding.lease_end_height
