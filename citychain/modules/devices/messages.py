"""Devices messages (docs/modules/devices.md §2): typed, immutable, validated on decode.

Registering or rotating to a key carries the key's own signature over a domain-separated
statement (``possession_statement``), so nobody can bind a key they do not hold to a device, and
a signature made for one chain, owner or device is worthless for another.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from citychain.codec import Bytes32, encode
from citychain.tx.envelope import Bytes64, Message

POSSESSION_DOMAIN = b"citychain/devices/possession/v1\x00"

# A batch anchors at most this many reports: far above a gateway's useful batch size, and small
# enough that an inclusion proof stays under 2**20 leaves (20 hashes).
MAX_BATCH_REPORTS = 1 << 20

Kind = Literal["bms", "gateway", "machine", "meter", "sensor"]
ReportCount = Annotated[int, msgspec.Meta(ge=1, le=MAX_BATCH_REPORTS)]


def possession_statement(chain_id: str, owner: bytes, device_id: bytes, public_key: bytes) -> bytes:
    """What a device key signs to show it agrees to be ``device_id``'s key under ``owner``."""
    return POSSESSION_DOMAIN + encode((chain_id, owner, device_id, public_key))


class MsgRegisterDevice(Message, frozen=True):
    """Register a device under the sender; its id is derived from ``public_key``.

    ``possession``: the device key's signature of ``possession_statement(chain_id, sender,
    device_id_of(public_key), public_key)``.
    """

    TYPE = "devices/register"
    public_key: Bytes32
    kind: Kind
    metadata: Bytes32
    possession: Bytes64


class MsgRotateKey(Message, frozen=True):
    """Replace an active device's key; ``possession`` is the new key's signature of
    ``possession_statement(chain_id, sender, device_id, new_public_key)``."""

    TYPE = "devices/rotate_key"
    device_id: Bytes32
    new_public_key: Bytes32
    possession: Bytes64


class MsgDecommission(Message, frozen=True):
    """Retire a device for good: the gateway refuses its reports from then on."""

    TYPE = "devices/decommission"
    device_id: Bytes32


class MsgAnchorBatch(Message, frozen=True):
    """Anchor a batch of reports verified by the gateway device ``gateway`` (owned by the
    sender): ``root`` is the RFC 6962 Merkle root of their leaves, in batch order."""

    TYPE = "devices/anchor"
    batch_id: Bytes32
    root: Bytes32
    count: ReportCount
    gateway: Bytes32


ALL_MESSAGES: tuple[type[Message], ...] = (
    MsgRegisterDevice,
    MsgRotateKey,
    MsgDecommission,
    MsgAnchorBatch,
)

__all__ = [
    "ALL_MESSAGES",
    "MAX_BATCH_REPORTS",
    "POSSESSION_DOMAIN",
    "MsgAnchorBatch",
    "MsgDecommission",
    "MsgRegisterDevice",
    "MsgRotateKey",
    "possession_statement",
]
