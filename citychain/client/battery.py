"""Signed read requests for the node's battery routes (docs/battery-api.md).

Annex XIII point 4 data (a battery's status, owner, history, health and prediction) is served
only to its owner, running lessee and manufacturer. The node's ``/battery/...`` routes take the
passport service's signed read request (``citychain.passport.restricted``) in one header:

    X-Citychain-Read-Request: <hex of SignedReadRequest.to_bytes()>

A request is bound to the chain, the battery and the part ``health``, and is fresh for five
minutes (the node's clock); within that time it may be sent again (reads are idempotent). The
fleet route takes a request for the pseudo-part ``fleet`` with an all-zero battery id: it lists
every battery whose point-4 data the signer may read.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.modules.battery import HEALTH, SALT_SIZE, MsgUpdateHealth, battery_id_of, commit_part
from citychain.passport.restricted import (
    DEFAULT_MAX_AGE_MS,
    FLEET_ID,
    FLEET_PART,
    READ_HEADER,
    sign_read_request,
)

if TYPE_CHECKING:
    from citychain.client.wallet import Wallet

__all__ = [
    "FLEET_ID",
    "FLEET_PART",
    "READ_HEADER",
    "battery_id_from",
    "fleet_read_request",
    "read_request",
    "read_request_file",
    "seal_health",
    "submit_health",
]

BATTERY_ID_HEX_CHARS = 64  # a 32-byte battery id in hex


def battery_id_from(text: str) -> bytes:
    """A battery id from its 64 hex characters, else from the printed identifier."""
    if len(text) == BATTERY_ID_HEX_CHARS:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return battery_id_of(text)


def _now_ms() -> int:
    return int(time.time() * 1000)


def read_request(
    key: PrivateKey,
    chain_id: str,
    battery_id: bytes,
    *,
    now_ms: int | None = None,
    part: str = HEALTH,
) -> str:
    """The header value that lets ``key`` read one battery's point-4 data (or, with ``part``,
    one restricted part in clear: ``composition``, ``test_reports``, ``health``)."""
    signed = sign_read_request(
        key,
        chain_id=chain_id,
        battery_id=battery_id,
        part=part,
        issued_at_ms=_now_ms() if now_ms is None else now_ms,
    )
    return signed.to_bytes().hex()


def seal_health(
    battery_id: bytes, values: Mapping[str, int], telemetry_batch: bytes
) -> tuple[MsgUpdateHealth, bytes]:
    """The oracle's health update (a commitment to ``values`` under a fresh salt) and the
    salt that opens it."""
    salt = secrets.token_bytes(SALT_SIZE)
    commitment = commit_part(HEALTH, dict(values), salt)
    return MsgUpdateHealth(battery_id, commitment, telemetry_batch), salt


def submit_health(
    wallet: Wallet, battery_id: bytes, values: Mapping[str, int], telemetry_batch: bytes
) -> dict[str, Any]:
    """Commit one health update on the ledger, then give its opening to the wallet's node;
    the transaction's result."""
    message, salt = seal_health(battery_id, values, telemetry_batch)
    result = wallet.submit([message])
    wallet.client.deliver_opening(battery_id.hex(), HEALTH, dict(values), salt)
    return result


def fleet_read_request(key: PrivateKey, chain_id: str, *, now_ms: int | None = None) -> str:
    """The header value that lets ``key`` list the fleet it may read."""
    return read_request(key, chain_id, FLEET_ID, now_ms=now_ms, part=FLEET_PART)


def read_request_file(
    key: PrivateKey, chain_id: str, battery_id: bytes | None, *, now_ms: int | None = None
) -> dict[str, Any]:
    """What ``citychain battery read-request`` writes and the web pages accept: the header
    value with what it is for (``battery_id`` None: a fleet request)."""
    issued = _now_ms() if now_ms is None else now_ms
    if battery_id is None:
        value = fleet_read_request(key, chain_id, now_ms=issued)
    else:
        value = read_request(key, chain_id, battery_id, now_ms=issued)
    return {
        "kind": "citychain/battery/read-request/v1",
        "header": READ_HEADER,
        "request": value,
        "chain_id": chain_id,
        "battery_id": battery_id.hex() if battery_id is not None else None,
        "part": HEALTH if battery_id is not None else FLEET_PART,
        "reader": address_from_public_key(key.public_key),
        "issued_at_ms": issued,
        "expires_at_ms": issued + DEFAULT_MAX_AGE_MS,
    }
