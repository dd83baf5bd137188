"""What one client can make the API do, enforced in the ASGI path before any route runs.

- ``BodyLimit``: a request body is counted as it arrives, through the ``receive`` the app reads
  it from, so the limit holds for a chunked body and for a ``Content-Length`` that lies; once
  over, the request is answered 413 in the API's error shape with ``Connection: close`` (the
  server then closes the connection rather than read the rest), and no more of it is read. A
  body whose next piece takes longer than the timeout is answered 408 the same way.
- ``RateLimit``: a token bucket per client address (IPv6 by /64, which one subscriber holds),
  answered 429 with ``Retry-After``; trusted addresses are exempt.

Both run on the API's thread (node/api_thread.py): a refused request never reaches the engine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from starlette import status
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citychain.node.routes.deps import error_response
from citychain.node.settings import IpNetwork

__all__ = ["BodyLimit", "BodyRefused", "Count", "RateLimit", "TokenBuckets", "client_key"]

IPV6_SUBSCRIBER_PREFIX = 64  # an IPv6 subscriber gets a /64 (RFC 6177): one client
MAX_REMEMBERED = 100_000  # client addresses whose buckets are kept (least recent forgotten)
CLOSE = {"Connection": "close"}

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Count = Callable[[str], None]
"""Counts a refusal by its reason (``citychain_api_refused_total``)."""


def _uncounted(reason: str) -> None:
    """No metrics to count in."""


class BodyRefused(HTTPException):
    """A body over the limit or too slow: answered in the API's error shape and the connection
    closed, since the rest of the body will not be read."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(status_code, detail, headers=CLOSE)


class BodyLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, read_timeout: float, count: Count = _uncounted
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout
        self.count = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send, self._too_large())
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, self._counting(receive), tracking_send)
        except BodyRefused as refusal:
            # Raised while reading outside a route (the routes turn it into their own answer).
            if started:
                raise
            await self._refuse(scope, receive, send, refusal)

    def _counting(self, receive: Receive) -> Receive:
        received = 0
        complete = False

        async def counting_receive() -> Message:
            nonlocal received, complete
            if complete:
                # After the body, receive() only waits for the client to go away.
                return await receive()
            try:
                async with asyncio.timeout(self.read_timeout):
                    message = await receive()
            except TimeoutError:
                self.count("body_timeout")
                raise BodyRefused(
                    status.HTTP_408_REQUEST_TIMEOUT,
                    f"the request body did not arrive within {self.read_timeout:g} s",
                ) from None
            if message["type"] != "http.request":
                complete = True
                return message
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._too_large()
            complete = not message.get("more_body", False)
            return message

        return counting_receive

    def _too_large(self) -> BodyRefused:
        self.count("body_too_large")
        return BodyRefused(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"request body larger than {self.max_bytes} bytes",
        )

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, refusal: BodyRefused) -> None:
        response = error_response(refusal.status_code, refusal.detail, headers=refusal.headers)
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The server has checked its syntax; any other value is left to the counting.
            return int(value) if value.isdigit() else None
    return None


class TokenBuckets:
    """A token bucket per key: ``rate`` tokens a second, at most ``burst`` saved up. At most
    ``max_keys`` buckets are kept, the least recently used forgotten first (a forgotten client
    starts again with a full bucket, never with less)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0 if there was one, else the seconds until there is."""
        now = self.clock()
        tokens, stamp = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def client_key(host: str) -> str:
    """The bucket a client address belongs to: the address, or its /64 for IPv6."""
    address = _parsed(host)
    return host if address is None else _key_of(address)


def _parsed(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _key_of(address: IpAddress) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_SUBSCRIBER_PREFIX), strict=False))
    return str(address)


class RateLimit:
    """429 with ``Retry-After`` for a client address past its bucket (HTTP requests and
    WebSocket handshakes alike); ``trusted`` networks are never limited."""

    def __init__(
        self,
        app: ASGIApp,
        rate: float,
        burst: int,
        trusted: Sequence[IpNetwork],
        count: Count = _uncounted,
    ) -> None:
        self.app = app
        self.buckets = TokenBuckets(rate, burst)
        self.trusted = tuple(trusted)
        self.count = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self._wait(client[0] if client else "")
        if not wait:
            await self.app(scope, receive, send)
            return
        self.count("rate_limited")
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013, "reason": "rate limited"})
            return
        retry = max(1, math.ceil(wait))
        response = error_response(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many requests from this address; retry after {retry} s",
            headers={"Retry-After": str(retry)},
        )
        await response(scope, receive, send)

    def _wait(self, host: str) -> float:
        """0 if ``host`` may go on now, else the seconds until it may; its address is parsed
        once, for both the trusted networks and its bucket."""
        address = _parsed(host)
        if address is None:
            return self.buckets.take(host)
        if any(address in network for network in self.trusted):
            return 0.0
        return self.buckets.take(_key_of(address))
