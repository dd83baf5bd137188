"""The gate in front of a battery's data on the node's API: the battery must exist (404), and
for its Annex XIII point-4 data and restricted parts, the signed read
request in the ``X-Citychain-Read-Request`` header (citychain/passport/restricted.py), parsed,
bound to this node and route, authenticated, authorised and answered once (the node's
``PassportService`` and its one nonce store), or refused with the API's error shape
(docs/battery-api.md).

Missing → 401; malformed → 400; a bad signature, another chain or node, a request outside its
window or one answered before → 401; a request for another battery, part or route, or a signer
the regulation does not name → 403.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Header, HTTPException, Path
from fastapi.responses import JSONResponse
from starlette import status

from citychain.app import Application
from citychain.errors import CityError
from citychain.modules.battery import Readable, get_battery
from citychain.node.service import Node
from citychain.passport import errors as passport_errors
from citychain.passport.errors import RestrictedReadError
from citychain.passport.restricted import READ_HEADER, SignedReadRequest

__all__ = [
    "GATED",
    "BatteryId",
    "ReadRequestHeader",
    "Refused",
    "fleet_reader",
    "known_battery",
    "now_ms",
    "parse_read_request",
    "reader_of",
    "refused",
]

BatteryId = Annotated[
    str, Path(pattern="^[0-9a-fA-F]{64}$", description="battery id: 64 hex characters")
]
ReadRequestHeader = Annotated[
    str | None,
    Header(
        alias=READ_HEADER,
        max_length=2_000,
        description="hex of a SignedReadRequest (citychain battery read-request); "
        "required for Annex XIII point 4 data",
    ),
]

GATED: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {"description": 'a malformed read request: {"error": {...}}'},
    status.HTTP_401_UNAUTHORIZED: {
        "description": "no read request, a bad signature, one for another chain or node, "
        'outside its window or answered before: {"error": {...}}'
    },
    status.HTTP_403_FORBIDDEN: {
        "description": "a request for another battery, part or route, or a signer who may not "
        'read this battery\'s point-4 data: {"error": {...}}'
    },
    status.HTTP_404_NOT_FOUND: {"description": 'no battery with this id: {"error": {...}}'},
}
# The passport service's refusals, by code, as HTTP statuses.
STATUS_OF: dict[int, int] = {
    passport_errors.MALFORMED_REQUEST.code: status.HTTP_400_BAD_REQUEST,
    passport_errors.BAD_SIGNATURE.code: status.HTTP_401_UNAUTHORIZED,
    passport_errors.WRONG_CHAIN.code: status.HTTP_401_UNAUTHORIZED,
    passport_errors.STALE_REQUEST.code: status.HTTP_401_UNAUTHORIZED,
    passport_errors.UNKNOWN_BATTERY.code: status.HTTP_404_NOT_FOUND,
    passport_errors.UNKNOWN_PART.code: status.HTTP_403_FORBIDDEN,
    passport_errors.NOT_AUTHORISED.code: status.HTTP_403_FORBIDDEN,
    passport_errors.REPLAYED_REQUEST.code: status.HTTP_401_UNAUTHORIZED,
    passport_errors.PART_NOT_HELD.code: status.HTTP_404_NOT_FOUND,
    passport_errors.WRONG_NODE.code: status.HTTP_401_UNAUTHORIZED,
    passport_errors.WRONG_ROUTE.code: status.HTTP_403_FORBIDDEN,
}


class Refused(Exception):
    """A restricted read refused: carries the API's error response."""

    def __init__(self, status_code: int, code: int, codespace: str, message: str) -> None:
        super().__init__(message)
        self.response = JSONResponse(
            status_code=status_code,
            content={"error": {"code": code, "codespace": codespace, "message": message}},
        )


def refused(exc: CityError) -> Refused:
    """The passport service's refusal ``exc`` with its HTTP status (403 if it has none)."""
    return Refused(
        STATUS_OF.get(exc.code, status.HTTP_403_FORBIDDEN), exc.code, exc.codespace, exc.message
    )


def known_battery(app: Application, battery_id: str) -> bytes:
    """The raw id of a battery the ledger holds, else 404."""
    raw = bytes.fromhex(battery_id)
    if get_battery(app.committed, raw) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no battery {battery_id.lower()}")
    return raw


def now_ms() -> int:
    """Wall-clock time: a read request's freshness is the node's to judge, not the chain's."""
    return int(time.time() * 1000)


def parse_read_request(header: str | None) -> SignedReadRequest:
    if header is None:
        raise Refused(
            status.HTTP_401_UNAUTHORIZED,
            0,
            "api",
            "this is restricted passport data (Annex XIII points 2 to 4): send a read request "
            f"signed for this node and route in the {READ_HEADER} header (citychain battery "
            "read-request)",
        )
    try:
        raw = bytes.fromhex(header)
    except ValueError:
        raw = b""
    if not raw or 2 * len(raw) != len(header):
        raise refused(
            RestrictedReadError(passport_errors.MALFORMED_REQUEST, f"{READ_HEADER} must be hex")
        )
    try:
        return SignedReadRequest.from_bytes(raw)
    except RestrictedReadError as exc:
        raise refused(exc) from None


def reader_of(node: Node, signed: SignedReadRequest, battery_id: bytes, route: str) -> Readable:
    """What the signer of ``signed`` (``parse_read_request``) may read of ``route`` (status,
    history, health or prediction) of ``battery_id``'s point-4 data, its nonce spent; Refused
    otherwise."""
    app = node.app
    try:
        return node.passport_service.admit(
            signed,
            app.committed,
            app.height,
            now_ms(),
            chain_id=app.chain_id,
            battery_id=battery_id,
            route=route,
        )
    except RestrictedReadError as exc:
        raise refused(exc) from None


def fleet_reader(node: Node, header: str | None) -> bytes:
    """The signer of a fleet request for this node, its nonce spent; Refused otherwise."""
    signed = parse_read_request(header)
    try:
        return node.passport_service.admit_fleet(signed, now_ms(), chain_id=node.app.chain_id)
    except RestrictedReadError as exc:
        raise refused(exc) from None
