"""Cross-origin access (CORS), as each route states it (node/routes/deps.py).

A route's policy is its ``openapi_extra[CORS_KEY]``, else by method: reads (GET, HEAD) from any
origin, other methods from the node's own pages only. ``any-origin`` answers a preflight with
``Access-Control-Allow-Origin: *`` and no credentials, and marks the real answer the same way;
``none`` refuses the preflight (403) and marks nothing, so a browser on another origin can
neither send such a request with a body or a header of its own, nor read any answer.
Requests without an ``Origin`` (servers, the CLI, curl) are not concerned.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from starlette import status
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citychain.node.routes.deps import CORS_ANY_ORIGIN, CORS_KEY, CORS_NONE, error_response

__all__ = ["ALLOWED_HEADERS", "CorsByRoute", "route_policy"]

READS = frozenset({"GET", "HEAD"})
# Request headers a page on another origin may send (beside the CORS-safelisted ones).
ALLOWED_HEADERS = frozenset({"content-type", "x-citychain-read-request"})
EXPOSED_HEADERS = "Retry-After"
PREFLIGHT_MAX_AGE_S = "600"


def route_policy(route: BaseRoute) -> str:
    extra = getattr(route, "openapi_extra", None) or {}
    stated = extra.get(CORS_KEY)
    if stated in (CORS_ANY_ORIGIN, CORS_NONE):
        return str(stated)
    methods = getattr(route, "methods", None) or READS
    return CORS_ANY_ORIGIN if set(methods) <= READS else CORS_NONE


class CorsByRoute:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes  # the app's own list: routes added later count too

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "origin" not in headers:
            await self.app(scope, receive, send)
            return
        requested = headers.get("access-control-request-method")
        if scope["method"] == "OPTIONS" and requested:
            await self._preflight(scope, headers, requested.upper())(scope, receive, send)
            return
        if self._policy(scope, scope["method"]) != CORS_ANY_ORIGIN:
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = "*"
                out["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            await send(message)

        await self.app(scope, receive, marked)

    def _preflight(self, scope: Scope, headers: Headers, method: str) -> Response:
        wanted = {
            h.strip().lower()
            for h in headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        }
        if self._policy(scope, method) != CORS_ANY_ORIGIN:
            return error_response(
                status.HTTP_403_FORBIDDEN,
                f"{method} {scope['path']} is not open to pages on other origins",
            )
        refused = sorted(wanted - ALLOWED_HEADERS)
        if refused:
            return error_response(
                status.HTTP_403_FORBIDDEN,
                f"headers not allowed from other origins: {', '.join(refused)}",
            )
        allowed = {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": method,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE_S,
        }
        if wanted:
            allowed["Access-Control-Allow-Headers"] = ", ".join(sorted(wanted))
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers=allowed)

    def _policy(self, scope: Scope, method: str) -> str:
        """The policy of the route that serves ``method`` at this path; none if no route does."""
        probe = {**scope, "method": method}
        for route in _flat(self.routes):
            match, _ = route.matches(probe)
            if match is Match.FULL:
                return route_policy(route)
        return CORS_NONE


def _flat(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes, with those of included routers in their place (FastAPI includes a router
    as one entry holding it; the routes' paths are whole, since create_api adds no prefix)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _flat(included.routes)
        else:
            yield route
