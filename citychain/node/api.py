"""The node's HTTP API (OpenAPI at /openapi.json, docs at /docs) and its event stream (/ws).

One router per domain in ``citychain/node/routes/``, each at module level, getting the node
through the ``get_node`` dependency; this module only assembles them (FastAPI, "Bigger
Applications"), each made with ``route_class=EngineRoute`` so that what touches the node runs
on the engine's loop (node/dispatch.py). Every error is JSON ``{"error": {"code", "codespace",
"message"}}`` with a 4xx status; bad input never reaches a stack trace.

Around the routes, outermost first (each on the API's thread, before any route runs):
cross-origin access per route (node/cors.py), a rate limit per client address and the body
limit (node/http_limits.py). The operator routes want the operator token (node/operator.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette import status
from starlette.exceptions import HTTPException as StarletteHTTPException

from citychain.node.cors import CorsByRoute
from citychain.node.dispatch import check_dispatched
from citychain.node.http_limits import BodyLimit, Count, RateLimit
from citychain.node.metrics import NodeMetrics
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
from citychain.node.routes.ws import WsGate
from citychain.node.service import Node
from citychain.node.settings import DEFAULT_MAX_BODY, ApiSettings

__all__ = ["MAX_BODY_BYTES", "ROUTERS", "create_api"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = DEFAULT_MAX_BODY
# Every domain's router, in the order the API includes them.
ROUTERS: tuple[APIRouter, ...] = (
    chain.router,
    bank.router,
    ws.router,
    pages.router,
    consortium.router,
    registry.router,
    battery.router,
    battery_openings.router,
    devices.router,
)


def create_api(
    node: Node,
    settings: ApiSettings | None = None,
    *,
    operator_token: str | None = None,
    manage_node: bool = True,
) -> FastAPI:
    """The API of ``node`` under ``settings`` (defaults: node/settings.py). With
    ``manage_node``, the application's lifespan starts and stops the node on the API's own loop
    (one loop for both, as in tests); node/run.py runs them apart and passes False. Without an
    ``operator_token``, the operator routes refuse everyone."""
    settings = settings if settings is not None else ApiSettings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        node.start()
        yield
        await node.stop()

    api = FastAPI(
        title="citychain node API",
        version="1",
        description="Submit transactions, read blocks, accounts and proofs, stream events.",
        lifespan=lifespan if manage_node else None,
    )
    api.state.node = node
    api.state.operator_token = operator_token
    metrics: NodeMetrics | None = getattr(node, "metrics", None)  # none in some tests
    count = _refusal_counter(metrics)
    api.state.ws_gate = WsGate(
        settings.ws_max_connections, settings.ws_max_per_client, settings.ws_origins, count=count
    )
    if metrics is not None:
        api.state.ws_gate.gauge = metrics.ws_connections.set
    api.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    api.add_exception_handler(Exception, unexpected_error)
    api.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    # add_middleware puts each one outside those added before it.
    api.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        read_timeout=settings.body_timeout_s,
        count=count,
    )
    api.add_middleware(
        RateLimit,
        rate=settings.rate_per_second,
        burst=settings.rate_burst,
        trusted=settings.rate_trusted,
        count=count,
    )
    api.add_middleware(CorsByRoute, routes=api.routes)
    for router in ROUTERS:
        check_dispatched(router)
        api.include_router(router)
    api.mount("/static", StaticFiles(directory=str(pages.WEB)), name="static")
    return api


def _refusal_counter(metrics: NodeMetrics | None) -> Count:
    """Counts the API's refusals in ``citychain_api_refused_total``."""
    if metrics is None:
        return lambda reason: None
    refused = metrics.api_refused

    def count(reason: str) -> None:
        refused.labels(reason).inc()

    return count


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
