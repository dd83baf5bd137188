"""Devices keys under ``dev/`` and their typed accessors; no other file builds these keys.

| key               | value                                                                 |
| ----------------- | --------------------------------------------------------------------- |
| dev/d/<id32>      | Device: owner, kind, current public key, metadata commitment, status  |
| dev/k/<pubkey32>  | id (32 bytes) of the device this key is or was bound to; never freed  |
| dev/b/<batch32>   | Anchor: Merkle root and size of a gateway's telemetry batch           |
| dev/o/<owner20><id32> | 0x01: the owner index, one entry per device its owner registered  |

A device id is ``sha256(DEVICE_ID_DOMAIN || first public key)`` (docs/modules/devices.md §1):
derived, so nobody can claim an id for a key they do not hold, and fixed across key rotations.
"""

from __future__ import annotations

import hashlib

from citychain.codec import U64, Address20, Bytes32, Struct, decode, encode
from citychain.state.overlay import Overlay, StateReader

PREFIX = b"dev/"
DEVICE_PREFIX = b"dev/d/"
KEY_PREFIX = b"dev/k/"
BATCH_PREFIX = b"dev/b/"
OWNER_PREFIX = b"dev/o/"
OWNED = b"\x01"
"""The value of an owner index entry: the key says everything, the value only marks presence."""

DEVICE_ID_DOMAIN = b"citychain/devices/id/v1\x00"

# Device kinds: what the device is. Append only: the names are in messages and state.
KINDS = ("bms", "gateway", "machine", "meter", "sensor")
KIND_GATEWAY = "gateway"

STATUS_ACTIVE = 0
STATUS_DECOMMISSIONED = 1
STATUS_NAMES = ("active", "decommissioned")


class Device(Struct, frozen=True):
    owner: Address20  # the account that registered it; the only one that may change it
    kind: str  # one of KINDS
    public_key: Bytes32  # the key its reports are signed with now
    metadata: Bytes32  # the owner's commitment to model, serial, firmware (kept off-ledger)
    status: int  # STATUS_ACTIVE or STATUS_DECOMMISSIONED
    key_version: U64  # 1 for the registered key, +1 per rotation
    registered_height: U64
    updated_height: U64  # height of the last change (registration, rotation, decommission)


class Anchor(Struct, frozen=True):
    """A gateway's commitment to one batch of telemetry reports (RFC 6962 tree root)."""

    root: Bytes32
    count: U64  # reports in the batch: the tree size an inclusion proof is checked against
    gateway: Bytes32  # the gateway device that verified and batched them
    owner: Address20  # the gateway's owner, who signed the anchoring transaction
    height: U64
    time_ms: U64  # the anchoring block's time


def device_id_of(public_key: bytes) -> bytes:
    """The id of a device first registered with ``public_key``."""
    return hashlib.sha256(DEVICE_ID_DOMAIN + public_key).digest()


def device_key(device_id: bytes) -> bytes:
    return DEVICE_PREFIX + device_id


def get_device(state: StateReader, device_id: bytes) -> Device | None:
    raw = state.get(DEVICE_PREFIX + device_id)
    return decode(raw, Device) if raw is not None else None


def set_device(state: Overlay, device_id: bytes, device: Device) -> None:
    state.set(DEVICE_PREFIX + device_id, encode(device))


def owner_index_prefix(owner: bytes) -> bytes:
    """The prefix of ``owner``'s index entries; a range read under it lists their devices by id."""
    return OWNER_PREFIX + owner


def owner_index_key(owner: bytes, device_id: bytes) -> bytes:
    return OWNER_PREFIX + owner + device_id


def index_owner(state: Overlay, owner: bytes, device_id: bytes) -> None:
    """Enter ``device_id`` under ``owner`` in the owner index. A device's owner never changes
    and a decommissioned device stays listed, so registration is the index's only write."""
    state.set(owner_index_key(owner, device_id), OWNED)


def get_key_binding(state: StateReader, public_key: bytes) -> bytes | None:
    """The id of the device ``public_key`` is or was bound to, if any."""
    return state.get(KEY_PREFIX + public_key)


def bind_key(state: Overlay, public_key: bytes, device_id: bytes) -> None:
    state.set(KEY_PREFIX + public_key, device_id)


# A batch's id is a hash of what it is, so one root from one gateway has one id and the same
# id can never name two different batches (the anchor handler checks it).
BATCH_DOMAIN = b"citychain/devices/batch/v1\x00"


def batch_id_of(gateway: bytes, root: bytes, count: int) -> bytes:
    """``sha256(BATCH_DOMAIN || gateway || root || count as u64 big-endian)``."""
    return hashlib.sha256(BATCH_DOMAIN + gateway + root + count.to_bytes(8, "big")).digest()


def anchor_key(batch_id: bytes) -> bytes:
    return BATCH_PREFIX + batch_id


def get_anchor(state: StateReader, batch_id: bytes) -> Anchor | None:
    raw = state.get(BATCH_PREFIX + batch_id)
    return decode(raw, Anchor) if raw is not None else None


def set_anchor(state: Overlay, batch_id: bytes, anchor: Anchor) -> None:
    state.set(BATCH_PREFIX + batch_id, encode(anchor))
