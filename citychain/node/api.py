"""The node's HTTP API (OpenAPI at /openapi.json, docs at /docs) and its event stream (/ws).

One router per domain in ``citychain/node/routes/``, each at module level, getting the node
through the ``get_node`` dependency; this module only assembles them (FastAPI, "Bigger
Applications"). Every error is JSON ``{"error": {"code", "codespace", "message"}}`` with a 4xx
status; bad input never reaches a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette import status
from starlette.exceptions import HTTPException as StarletteHTTPException

from citychain.node.routes import (
    bank,
    battery,
    battery_openings,
    chain,
    consortium,
    devices,
    pages,
    registry,
    ws,
)
from citychain.node.routes.deps import error_response
from citychain.node.service import Node

__all__ = ["MAX_BODY_BYTES", "create_api"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024


def create_api(node: Node) -> FastAPI:
    """The API of ``node``, which it starts and stops with the application's lifespan."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        node.start()
        yield
        await node.stop()

    api = FastAPI(
        title="citychain node API",
        version="1",
        description="Submit transactions, read blocks, accounts and proofs, stream events.",
        lifespan=lifespan,
    )
    api.state.node = node
    api.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    api.add_exception_handler(Exception, unexpected_error)
    api.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    api.middleware("http")(limit_body)
    api.include_router(chain.router)
    api.include_router(bank.router)
    api.include_router(ws.router)
    api.include_router(pages.router)
    api.include_router(consortium.router)
    api.include_router(registry.router)
    api.include_router(battery.router)
    api.include_router(battery_openings.router)
    api.include_router(devices.router)
    api.mount("/static", StaticFiles(directory=str(pages.WEB)), name="static")
    return api


async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    # Keep the exception's headers: a 405 must say which methods are allowed (RFC 9110).
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    # A bug, not bad input: say so in the API's own error shape, without internals.
    log.exception("unexpected error serving a request")
    return error_response(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        f"internal error ({type(exc).__name__}); see the node log",
    )


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return error_response(
        status.HTTP_422_UNPROCESSABLE_CONTENT, f"{where}: {first.get('msg', 'invalid request')}"
    )


async def limit_body(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        return error_response(
            status.HTTP_413_CONTENT_TOO_LARGE, f"request body larger than {MAX_BODY_BYTES} bytes"
        )
    return await call_next(request)
