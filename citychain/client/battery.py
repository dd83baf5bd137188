"""Signed read requests for the node's battery routes (docs/battery-api.md).

Annex XIII point 4 data (a battery's status, owner, history, health and prediction) is served
only to its owner, running lessee and manufacturer. The node's ``/battery/...`` routes take the
passport service's signed read request (``citychain.passport.restricted``) in one header:

    X-Citychain-Read-Request: <hex of SignedReadRequest.to_bytes()>

A request is bound to the chain and the node it is sent to (``ReadTarget``: both from the node's
``GET /status``), to one route (``GET /battery/<id>/status``), the battery and the part
``health``; it is valid for 60 seconds and answered once: sign one per GET. The fleet route
takes a request for the pseudo-part ``fleet`` with an all-zero battery id, one per page: it
lists every battery whose point-4 data the signer may read.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.modules.battery import (
    HEALTH,
    HOLDING_SECRET_SIZE,
    SALT_SIZE,
    MsgUpdateHealth,
    battery_id_of,
    commit_part,
    holding_id_of,
)
from citychain.passport.restricted import (
    FLEET_ID,
    FLEET_PART,
    FLEET_ROUTE,
    MAX_WINDOW_MS,
    POINT4_ROUTES,
    READ_HEADER,
    part_route,
    point4_route,
    sign_read_request,
)

if TYPE_CHECKING:
    from citychain.client.wallet import Wallet

__all__ = [
    "FLEET_FILE_PAGES",
    "FLEET_ID",
    "FLEET_PART",
    "HOLDING_FILE_KIND",
    "POINT4_ROUTES",
    "READ_HEADER",
    "REQUEST_FILE_KIND",
    "ReadTarget",
    "battery_id_from",
    "fleet_read_request",
    "holding_document",
    "new_holding_secret",
    "parse_holding_document",
    "part_read_request",
    "read_request",
    "read_request_file",
    "seal_health",
    "submit_health",
]

BATTERY_ID_HEX_CHARS = 64  # a 32-byte battery id in hex
REQUEST_FILE_KIND = "citychain/battery/read-request/v2"
# Fleet pages a request file can read (100 batteries a page): one request each.
FLEET_FILE_PAGES = 10
# A holding file: what the manufacturer hands the owner with the battery, and each owner the
# next (docs/battery-api.md §4): the battery's holding secret, which nothing else gives.
HOLDING_FILE_KIND = "citychain/battery/holding/v1"


def battery_id_from(text: str) -> bytes:
    """A battery id from its 64 hex characters, else from the printed identifier."""
    if len(text) == BATTERY_ID_HEX_CHARS:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return battery_id_of(text)


def new_holding_secret() -> bytes:
    """A fresh holding secret, drawn by the manufacturer's client for each battery."""
    return secrets.token_bytes(HOLDING_SECRET_SIZE)


def holding_document(battery_id: bytes, identifier: str, secret: bytes) -> dict[str, Any]:
    """A holding file's content: whoever holds it can name the battery's holding."""
    return {
        "kind": HOLDING_FILE_KIND,
        "battery_id": battery_id.hex(),
        "identifier": identifier,
        "holding_id": holding_id_of(battery_id, secret).hex(),
        "secret": secret.hex(),
    }


def parse_holding_document(doc: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """(battery id, holding secret) of a holding file; ValueError saying what is wrong."""
    if doc.get("kind") != HOLDING_FILE_KIND:
        raise ValueError(f"not a holding file (kind {HOLDING_FILE_KIND!r})")
    try:
        battery_id = bytes.fromhex(str(doc["battery_id"]))
        secret = bytes.fromhex(str(doc["secret"]))
        holding_id = bytes.fromhex(str(doc["holding_id"]))
    except (KeyError, ValueError):
        raise ValueError("battery_id, secret and holding_id must be hex") from None
    if len(battery_id) != BATTERY_ID_HEX_CHARS // 2 or len(secret) != HOLDING_SECRET_SIZE:
        raise ValueError(f"battery_id and secret must be {HOLDING_SECRET_SIZE} bytes each")
    if holding_id_of(battery_id, secret) != holding_id:
        raise ValueError("its holding_id is not the one its battery_id and secret give")
    return battery_id, secret


class _StatusSource(Protocol):
    def status(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ReadTarget:
    """The node a read request is for: its chain id and node id, as its ``GET /status``
    gives them. A request for one node is refused by every other."""

    chain_id: str
    node_id: bytes

    @classmethod
    def of_status(cls, status: Mapping[str, Any]) -> ReadTarget:
        return cls(str(status["chain_id"]), bytes.fromhex(str(status["node_id"])))

    @classmethod
    def of(cls, client: _StatusSource) -> ReadTarget:
        """The node ``client`` talks to (one ``GET /status``)."""
        return cls.of_status(client.status())


def _now_ms() -> int:
    return int(time.time() * 1000)


def _signed(
    key: PrivateKey,
    target: ReadTarget,
    route: str,
    battery_id: bytes,
    part: str,
    now_ms: int | None,
    holding: bytes = b"",
) -> str:
    signed = sign_read_request(
        key,
        chain_id=target.chain_id,
        node_id=target.node_id,
        route=route,
        battery_id=battery_id,
        part=part,
        issued_at_ms=_now_ms() if now_ms is None else now_ms,
        holding=holding,
    )
    return signed.to_bytes().hex()


def read_request(
    key: PrivateKey,
    target: ReadTarget,
    battery_id: bytes,
    route: str,
    *,
    now_ms: int | None = None,
    holding: bytes = b"",
) -> str:
    """The header value that lets ``key`` read one of a battery's point-4 routes (``route``:
    status, history, health or prediction) once, on ``target``'s node. An owner or lessee
    sends the battery's ``holding`` secret (status and history need it from everyone)."""
    return _signed(
        key, target, point4_route(battery_id, route), battery_id, HEALTH, now_ms, holding
    )


def part_read_request(
    key: PrivateKey,
    target: ReadTarget,
    battery_id: bytes,
    part: str,
    *,
    now_ms: int | None = None,
    holding: bytes = b"",
) -> str:
    """The header value that lets ``key`` read one restricted part in clear (``composition``,
    ``test_reports``, ``health``: ``GET /battery/<id>/parts/<part>``) once; an owner or
    lessee sends the battery's ``holding`` secret."""
    return _signed(key, target, part_route(battery_id, part), battery_id, part, now_ms, holding)


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


def fleet_read_request(key: PrivateKey, target: ReadTarget, *, now_ms: int | None = None) -> str:
    """The header value that lets ``key`` read one page of the fleet it may read, once."""
    return _signed(key, target, FLEET_ROUTE, FLEET_ID, FLEET_PART, now_ms)


def read_request_file(
    key: PrivateKey,
    target: ReadTarget,
    battery_id: bytes | None,
    *,
    now_ms: int | None = None,
    holding: bytes = b"",
) -> dict[str, Any]:
    """What ``citychain battery read-request`` writes and the web pages accept: one request
    for each GET the page makes (the four point-4 routes of a battery, or ``FLEET_FILE_PAGES``
    fleet pages; ``battery_id`` None), each with its route, and what they are for."""
    issued = _now_ms() if now_ms is None else now_ms
    if battery_id is None:
        requests = [
            {"route": FLEET_ROUTE, "request": fleet_read_request(key, target, now_ms=issued)}
            for _ in range(FLEET_FILE_PAGES)
        ]
    else:
        requests = [
            {
                "route": point4_route(battery_id, name),
                "request": read_request(
                    key, target, battery_id, name, now_ms=issued, holding=holding
                ),
            }
            for name in POINT4_ROUTES
        ]
    return {
        "kind": REQUEST_FILE_KIND,
        "header": READ_HEADER,
        "requests": requests,
        "chain_id": target.chain_id,
        "node_id": target.node_id.hex(),
        "battery_id": battery_id.hex() if battery_id is not None else None,
        "part": HEALTH if battery_id is not None else FLEET_PART,
        "reader": address_from_public_key(key.public_key),
        "issued_at_ms": issued,
        "expires_at_ms": issued + MAX_WINDOW_MS,
    }
