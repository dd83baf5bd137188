"""Battery keys under ``bat/`` and their typed accessors; no other file builds these keys.

| key                      | value                                                         |
| ------------------------ | ------------------------------------------------------------- |
| bat/b/<id32>             | Battery: public passport, commitments, status, owner, lease    |
| bat/h/<id32>             | Health: commitment to the latest dynamic data (point 4)        |
| bat/x/<id32>             | Prediction: the latest attested end of life                    |
| bat/p/<day4><id32>       | 0x01: fleet index, batteries by predicted end-of-life day      |
| bat/params               | BatteryParams, absent while equal to the defaults             |

``id32 = sha256("citychain/battery/id/v1" || 0x00 || identifier)``: fixed-length keys, and one
key per printed identifier, so a second registration of the same battery finds the first.
"""

from __future__ import annotations

import hashlib

from citychain.codec import U64, Address20, Bytes32, Struct, decode, encode
from citychain.modules.battery.messages import Passport
from citychain.state.overlay import Overlay, StateReader

PREFIX = b"bat/"
BATTERY_PREFIX = b"bat/b/"
HEALTH_PREFIX = b"bat/h/"
PREDICTION_PREFIX = b"bat/x/"
FLEET_PREFIX = b"bat/p/"
PARAMS_KEY = b"bat/params"
ID_DOMAIN = b"citychain/battery/id/v1\x00"
DAY_MS = 86_400_000

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
REGISTERED = "registered"
STATUS_CHANGED = "status_changed"  # ``status`` is the new status
TRANSFERRED = "transferred"  # ``party`` is the new owner
LEASED = "leased"  # ``party`` is the lessee, ``end_height`` its last height (0 = open)
LEASE_ENDED = "lease_ended"  # ``party`` is the former lessee

DEFAULT_HORIZON_DAYS = 30

# Prediction.basis codes are indexes into this (MsgAttestPrediction.basis names them).
# Consensus data: append only.
BASIS_NAMES = ("capacity", "curves")


class Change(Struct, frozen=True):
    """One entry of a battery's audit trail: what happened, who signed it, where."""

    action: str
    actor: Address20
    height: U64
    tx_hash: bytes
    status: int  # the status after the change
    party: bytes  # new owner or lessee, or b""
    end_height: U64  # lease only, 0 otherwise


class Battery(Struct, frozen=True):
    passport: Passport
    manufacturer: Address20  # the account that registered it (holding the manufacturer role)
    bms_device_id: bytes  # 32 bytes, or b"" when the battery has no connected BMS
    legitimate_interest_commitment: Bytes32
    authority_commitment: Bytes32
    status: int
    owner: Address20
    lessee: bytes  # 20 bytes, or b"" when not leased
    lease_end_height: U64  # last height of the lease; 0 = open-ended or not leased
    registered_height: U64
    history: tuple[Change, ...]


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


def battery_key(battery_id: bytes) -> bytes:
    return BATTERY_PREFIX + battery_id


def get_battery(state: StateReader, battery_id: bytes) -> Battery | None:
    raw = state.get(BATTERY_PREFIX + battery_id)
    return decode(raw, Battery) if raw is not None else None


def set_battery(state: Overlay, battery_id: bytes, battery: Battery) -> None:
    state.set(BATTERY_PREFIX + battery_id, encode(battery))


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


def lease_active(battery: Battery, height: int) -> bool:
    """Whether the lease holds at ``height``: it runs through ``lease_end_height`` inclusive."""
    if not battery.lessee:
        return False
    return battery.lease_end_height == 0 or height <= battery.lease_end_height
