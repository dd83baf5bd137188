"""What the node's routers share: the node itself (a dependency), settled reads, proofs, the
parsing of hex and addresses into the API's one error shape, and who may call a route.

``create_api`` puts the node on ``app.state``; a route declares ``node: NodeDep`` and gets it
(FastAPI, "Bigger Applications": no router built inside a closure over the node). Every router is
made with ``APIRouter(route_class=EngineRoute)``, so that such a route runs on the engine's loop
(node/dispatch.py; ``create_api`` refuses a router that is not).

Who may call a route, stated on the route (docs/api.md, "Who may call what"):

- ``**OPERATOR_ROUTE``: the node's operator only, with the operator token
  (``Authorization: Bearer``, node/operator.py); never from a browser on another origin.
- ``**CROSS_ORIGIN``: a write that web pages on any origin may make (a citizen's web wallet
  submits its signed transactions), without credentials.
- otherwise, reads (GET) may be made from any origin without credentials, and other methods
  from the node's own pages only (node/cors.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette import status
from starlette.requests import HTTPConnection

from citychain.crypto.address import address_to_bytes
from citychain.crypto.errors import AddressError
from citychain.node.dispatch import EngineRoute
from citychain.node.operator import token_matches
from citychain.node.service import Node

__all__ = [
    "CORS_ANY_ORIGIN",
    "CORS_KEY",
    "CORS_NONE",
    "CROSS_ORIGIN",
    "ERRORS",
    "OPERATOR_ROUTE",
    "EngineRoute",
    "ErrorOut",
    "Limit",
    "NodeDep",
    "error_response",
    "get_node",
    "parse_address",
    "parse_hex",
    "proof_of",
    "require_operator",
    "settled_reads",
]

Limit = Annotated[int, Query(ge=1, le=200)]


class ErrorOut(BaseModel):
    error: dict[str, Any]


ERRORS: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {"model": ErrorOut},
    status.HTTP_404_NOT_FOUND: {"model": ErrorOut},
}


async def get_node(connection: HTTPConnection) -> Node:
    """The node this API serves (``create_api`` stores it on ``app.state``). A coroutine, so
    that FastAPI calls it on the event loop rather than in a worker thread."""
    node: Node = connection.app.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="operator",
    description="the node's operator token (HOME/operator-token)",
)


async def require_operator(
    connection: HTTPConnection,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse (401) a request without the node's operator token."""
    expected: str | None = getattr(connection.app.state, "operator_token", None)
    given = credentials.credentials if credentials is not None else None
    if not token_matches(expected, given):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this route is for the node's operator: send Authorization: Bearer <operator token>",
            headers={"WWW-Authenticate": "Bearer"},
        )


# Where a route states its cross-origin policy (read by node/cors.py).
CORS_KEY = "x-citychain-cors"
CORS_ANY_ORIGIN = "any-origin"  # any origin, no credentials
CORS_NONE = "none"  # same origin only

OPERATOR_ROUTE: dict[str, Any] = {
    "dependencies": [Depends(require_operator)],
    "openapi_extra": {CORS_KEY: CORS_NONE},
    "responses": {
        status.HTTP_401_UNAUTHORIZED: {
            "model": ErrorOut,
            "description": "no operator token, or a wrong one",
        }
    },
}
CROSS_ORIGIN: dict[str, Any] = {"openapi_extra": {CORS_KEY: CORS_ANY_ORIGIN}}


async def settled_reads(node: Node) -> None:
    """What every read of state awaits first: no block write in flight, so that a read sees
    only durable state; a node whose engine stopped answers 503."""
    try:
        await node.engine.settled()
    except RuntimeError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None


async def proof_of(node: Node, key: bytes, claim: dict[str, Any] | None = None) -> dict[str, Any]:
    """The node's proof bundle of ``key`` (a raw claim unless given); 404 before the first
    block, or when the signed header cannot be had."""
    try:
        return await node.prove(key, claim if claim is not None else {"kind": "raw"})
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


def error_response(
    status_code: int,
    message: str,
    code: int = 0,
    codespace: str = "api",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The API's one error shape: ``{"error": {"code", "codespace", "message"}}``."""
    return JSONResponse(
        status_code=status_code,
        content={"error": {"code": code, "codespace": codespace, "message": message}},
        headers=headers,
    )


def parse_address(value: str) -> bytes:
    try:
        return address_to_bytes(value)
    except AddressError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"invalid address: {exc}") from None


def parse_hex(value: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = None
    # bytes.fromhex skips whitespace; the length check refuses it.
    if raw is None or 2 * len(raw) != len(value):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{what} must be hex") from None
    return raw
