"""Registry keys under ``reg/`` and their typed accessors; no other file builds these keys.

| key               | value                                                              |
| ----------------- | ------------------------------------------------------------------ |
| reg/r/<id32>      | Record: one version of a birth or death record, with its history   |
| reg/w/<addr20>    | id (32 bytes) of the valid death record that froze this wallet     |

A record id names one version; an amendment makes a new id, linked both ways (``previous``,
``superseded_by``), so a proof of one key shows whether that version is still the valid one.
"""

from __future__ import annotations

from citychain.codec import U64, Address20, Bytes32, Struct, decode, encode
from citychain.state.overlay import Overlay, StateReader

PREFIX = b"reg/"
RECORD_PREFIX = b"reg/r/"
WALLET_PREFIX = b"reg/w/"

KIND_BIRTH = 0
KIND_DEATH = 1
KIND_NAMES = ("birth", "death")

STATUS_VALID = 0
STATUS_SUPERSEDED = 1
STATUS_REVOKED = 2
STATUS_NAMES = ("valid", "superseded", "revoked")

# Revocation reasons: code -> name. Codes are consensus data: never renumber, only append.
REVOCATION_REASONS: dict[int, str] = {
    1: "issued_in_error",
    2: "duplicate",
    3: "fraud",
    4: "court_order",
}

# Change.action values, in the order a record may meet them.
REGISTERED = "registered"  # first version of a record
AMENDED = "amended"  # this version replaced ``related`` (the previous version)
SUPERSEDED = "superseded"  # replaced by ``related`` (the new version)
REVOKED = "revoked"  # ``reason`` says why
DEATH_RECORDED = "death_recorded"  # on a birth record: ``related`` is the death record
DEATH_CLEARED = "death_cleared"  # on a birth record: the death record ``related`` was revoked


class Change(Struct, frozen=True):
    """One audit-trail entry: what happened, who signed it, in which transaction."""

    action: str
    registrar: Address20
    height: U64
    tx_hash: bytes
    related: bytes  # another record id, or b""
    reason: int  # revocation reason code, 0 otherwise


class Record(Struct, frozen=True):
    kind: int
    status: int
    commitment: Bytes32
    office: Address20  # the registrar that registered the first version
    registrar: Address20  # the registrar that signed this version
    version: U64  # 1 for the first version
    previous: bytes  # id of the version this one replaced, or b""
    superseded_by: bytes  # id of the version that replaced this one, or b""
    linked_record: bytes  # death: the birth record id given at registration, or b""
    wallets: tuple[bytes, ...]  # death: wallets frozen by this record
    deceased_by: bytes  # birth: the valid death record recorded against it, or b""
    revocation_reason: int  # 0 unless revoked
    history: tuple[Change, ...]


def record_key(record_id: bytes) -> bytes:
    return RECORD_PREFIX + record_id


def get_record(state: StateReader, record_id: bytes) -> Record | None:
    raw = state.get(RECORD_PREFIX + record_id)
    return decode(raw, Record) if raw is not None else None


def set_record(state: Overlay, record_id: bytes, record: Record) -> None:
    state.set(RECORD_PREFIX + record_id, encode(record))


def get_wallet_claim(state: StateReader, address: bytes) -> bytes | None:
    """The id of the valid death record that froze ``address``, if any."""
    return state.get(WALLET_PREFIX + address)


def set_wallet_claim(state: Overlay, address: bytes, record_id: bytes | None) -> None:
    if record_id is None:
        state.delete(WALLET_PREFIX + address)
    else:
        state.set(WALLET_PREFIX + address, record_id)


def current_version(state: StateReader, record_id: bytes) -> tuple[bytes, Record] | None:
    """Follow ``superseded_by`` from ``record_id`` to the newest version."""
    record = get_record(state, record_id)
    while record is not None and record.superseded_by:
        record_id = record.superseded_by
        record = get_record(state, record_id)
    return None if record is None else (record_id, record)
