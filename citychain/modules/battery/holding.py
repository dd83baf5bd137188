"""A battery's holding id and the public record's commitment to it (docs/modules/battery.md §7).

The manufacturer's client draws a 32-byte ``secret`` per battery and keeps it off the ledger; it
goes to the owner with the battery (and on at each transfer). From it:

    holding_id = sha256(HOLDING_DOMAIN  || battery_id || secret)
    blinding   = sha256(BLINDING_DOMAIN || secret)
    commitment = sha256(COMMIT_DOMAIN   || holding_id || blinding)

The public record (``bat/b/<battery_id>``) carries ``commitment``; the holding (status, owner,
lease, history) lives under ``holding_id``. Without the secret nobody can tell which holding is a
battery's: ``holding_id`` is a hash with a secret in it, and the commitment is blinded, so even
hashing every holding id on the ledger finds no match. With it, anyone (a node serving the owner,
an authority) checks the link by recomputing both. Deriving the blinding from the secret keeps
one value to hand over instead of two.
"""

from __future__ import annotations

import hashlib

from citychain.modules.battery.state import Battery, Holding, get_holding
from citychain.state.overlay import StateReader

__all__ = [
    "HOLDING_SECRET_SIZE",
    "holding_commitment",
    "holding_id_of",
    "proven_holding",
]

HOLDING_SECRET_SIZE = 32
HOLDING_DOMAIN = b"citychain/battery/holding/v1\x00"
BLINDING_DOMAIN = b"citychain/battery/holding-blinding/v1\x00"
COMMIT_DOMAIN = b"citychain/battery/holding-commitment/v1\x00"


def _check(secret: bytes) -> None:
    if len(secret) != HOLDING_SECRET_SIZE:
        raise ValueError(f"a holding secret is {HOLDING_SECRET_SIZE} bytes, got {len(secret)}")


def holding_id_of(battery_id: bytes, secret: bytes) -> bytes:
    """The 32-byte id of the battery's holding on the ledger."""
    _check(secret)
    return hashlib.sha256(HOLDING_DOMAIN + battery_id + secret).digest()


def holding_commitment(battery_id: bytes, secret: bytes) -> bytes:
    """What ``battery/register`` puts in the public record: a blinded commitment to the
    holding id."""
    blinding = hashlib.sha256(BLINDING_DOMAIN + secret).digest()
    return hashlib.sha256(COMMIT_DOMAIN + holding_id_of(battery_id, secret) + blinding).digest()


def proven_holding(
    state: StateReader, battery_id: bytes, battery: Battery, secret: bytes
) -> tuple[bytes, Holding] | None:
    """The battery's holding, if ``secret`` opens its public record's commitment and the
    holding was opened by the battery's own manufacturer; None otherwise."""
    if len(secret) != HOLDING_SECRET_SIZE:
        return None
    if holding_commitment(battery_id, secret) != battery.holding_commitment:
        return None
    holding_id = holding_id_of(battery_id, secret)
    holding = get_holding(state, holding_id)
    # Another manufacturer could open a holding under an id it saw in the mempool before the
    # registrant's opening commits: such a holding is not the battery's.
    if holding is None or holding.manufacturer != battery.manufacturer:
        return None
    return holding_id, holding
