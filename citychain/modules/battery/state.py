"""Battery keys under ``bat/`` and their typed accessors; no other file builds these keys.

| key                          | value                                                          |
| ---------------------------- | -------------------------------------------------------------- |
| bat/b/<id32>                 | Battery: public passport, manufacturer, commitments            |
| bat/k/<hid32>                | Holding: status, owner, lease, BMS device, change counter      |
| bat/c/<hid32><seq8>          | Change: one entry of the holding's history (seq from 0)        |
| bat/o/<addr20><slot4>        | hid32: owner index, the holdings an address owns               |
| bat/l/<addr20><slot4>        | hid32: lessee index, the holdings leased to an address         |
| bat/n/<kind1><addr20>        | count of the address's owner (o) or lessee (l) index entries   |
| bat/h/<id32>                 | Health: commitment to the latest dynamic data (point 4)        |
| bat/x/<id32>                 | Prediction: the latest attested end of life                    |
| bat/p/<day4><id32>           | 0x01: fleet index, batteries by predicted end-of-life day      |
| bat/params                   | BatteryParams, absent while equal to the defaults              |

``id32 = sha256("citychain/battery/id/v1" || 0x00 || identifier)``: fixed-length keys, and one
key per printed identifier, so a second registration of the same battery finds the first.

The public record (``bat/b/``) holds what Annex XIII point 1 makes public and nothing of point
4: whoever reads a battery's label finds its passport, never its owner, lessee, status or
history. Those live in the battery's *holding* (``bat/k/``), under ``hid32`` derived from a
secret the manufacturer draws and hands to the owner with the battery (holding.py); the public
record carries only a hiding commitment to ``hid32``, so nothing on the ledger links the two.

The index entries are slots (0..count-1) rather than ``<addr><hid>`` keys read by prefix: the
state answers point reads only (``StateReader.get``), so a page of a fleet costs one read per
entry and never a walk of the state. A removed entry takes the last one's slot, whose holding
records its new slot (``owner_slot``/``lessee_slot``).
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
COUNT_PREFIX = b"bat/n/"
HEALTH_PREFIX = b"bat/h/"
PREDICTION_PREFIX = b"bat/x/"
FLEET_PREFIX = b"bat/p/"
PARAMS_KEY = b"bat/params"
ID_DOMAIN = b"citychain/battery/id/v1\x00"
DAY_MS = 86_400_000
SEQ_BYTES = 8  # a change's sequence number in its key, big-endian: key order is history order
SLOT_BYTES = 4  # an index slot in its key
# The two indexes of holdings by address, and the field of Holding that records the slot.
OWNER, LESSEE = "owner", "lessee"
INDEX_PREFIX = {OWNER: OWNER_INDEX, LESSEE: LESSEE_INDEX}
SLOT_FIELD = {OWNER: "owner_slot", LESSEE: "lessee_slot"}

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
    owner_slot: U64  # its slot in the owner's index
    lessee_slot: U64  # its slot in the lessee's index while ``lessee`` is set, else 0


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
def count_key(kind: str, address: bytes) -> bytes:
    return COUNT_PREFIX + kind[:1].encode() + address


def slot_key(kind: str, address: bytes, slot: int) -> bytes:
    return INDEX_PREFIX[kind] + address + slot.to_bytes(SLOT_BYTES, "big")


def index_count(state: StateReader, kind: str, address: bytes) -> int:
    raw = state.get(count_key(kind, address))
    return int.from_bytes(raw, "big") if raw is not None else 0


def _set_count(state: Overlay, kind: str, address: bytes, count: int) -> None:
    if count:
        state.set(count_key(kind, address), count.to_bytes(SLOT_BYTES, "big"))
    else:
        state.delete(count_key(kind, address))


def index_entry(state: StateReader, kind: str, address: bytes, slot: int) -> bytes | None:
    return state.get(slot_key(kind, address, slot))


def index_add(state: Overlay, kind: str, address: bytes, holding_id: bytes) -> int:
    """Append ``holding_id`` to ``address``'s ``kind`` index; its slot."""
    slot = index_count(state, kind, address)
    state.set(slot_key(kind, address, slot), holding_id)
    _set_count(state, kind, address, slot + 1)
    return slot


def index_remove(state: Overlay, kind: str, address: bytes, slot: int) -> None:
    """Drop the entry at ``slot``: the last entry moves into it, and its holding records the
    move. The holding being removed is the caller's to rewrite."""
    last = index_count(state, kind, address) - 1
    if slot != last:
        moved = state.get(slot_key(kind, address, last))
        assert moved is not None  # invariant battery-holdings: slots 0..count-1 are filled
        state.set(slot_key(kind, address, slot), moved)
        holding = get_holding(state, moved)
        assert holding is not None
        set_holding(state, moved, structs.replace(holding, **{SLOT_FIELD[kind]: slot}))
    state.delete(slot_key(kind, address, last))
    _set_count(state, kind, address, last)


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


def fleet_key(eol_day: int, battery_id: bytes) -> bytes:
    # Big-endian day first: key order is the order of predicted replacement.
    return FLEET_PREFIX + eol_day.to_bytes(4, "big") + battery_id


def split_fleet_key(key: bytes) -> tuple[int, bytes]:
    rest = key[len(FLEET_PREFIX) :]
    return int.from_bytes(rest[:4], "big"), rest[4:]


def set_prediction(state: Overlay, battery_id: bytes, prediction: Prediction) -> None:
    """Store the latest prediction and move the battery's entry in the fleet index."""
    old = get_prediction(state, battery_id)
    if old is not None:
        state.delete(fleet_key(old.eol_day, battery_id))
    state.set(PREDICTION_PREFIX + battery_id, encode(prediction))
    state.set(fleet_key(prediction.eol_day, battery_id), b"\x01")


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
