"""The API's request limits in the ASGI path (citychain/node/http_limits.py), driven with raw
ASGI messages: a body is counted as it arrives, so a chunked body or a lying Content-Length
cannot get past the limit (the old check read only the header); a slow body times out; the
rate limit is a token bucket per client address with trusted networks exempt."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest

from citychain.node.http_limits import BodyLimit, RateLimit, TokenBuckets, client_key
from citychain.node.settings import ApiSettings, SettingsError, parse_networks

LIMIT = 1000


class Recorder:
    """An ASGI app that reads the whole body, as FastAPI does, then answers 200."""

    def __init__(self) -> None:
        self.received = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            self.received += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def http_scope(headers: Iterable[tuple[bytes, bytes]] = (), client: str = "10.0.0.1") -> Any:
    return {
        "type": "http",
        "method": "POST",
        "path": "/txs",
        "headers": list(headers),
        "client": (client, 5000),
    }


async def call(app: Any, scope: Any, chunks: list[bytes], delay: float = 0.0) -> dict[str, Any]:
    """Run ``app`` with ``chunks`` as the body; the response's status, headers and body."""
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> Any:
        if pending:
            if delay:
                await asyncio.sleep(delay)
            return pending.pop(0)
        await asyncio.sleep(3600)  # the client stays, saying nothing more

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    return {"status": start["status"], "headers": headers, "body": body}


def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives() -> None:
    inner = Recorder()
    app = BodyLimit(inner, max_bytes=LIMIT, read_timeout=5)
    chunks = [b"x" * 300] * 10  # 3000 bytes, no Content-Length (chunked)
    answer = asyncio.run(call(app, http_scope(), chunks))
    assert answer["status"] == 413
    assert (
        json.loads(answer["body"])["error"]["message"] == f"request body larger than {LIMIT} bytes"
    )
    assert answer["headers"]["connection"] == "close"  # the rest is not read
    assert inner.received <= LIMIT  # the app never saw a byte past the limit


def test_a_lying_content_length_does_not_get_past_the_limit() -> None:
    inner = Recorder()
    app = BodyLimit(inner, max_bytes=LIMIT, read_timeout=5)
    scope = http_scope([(b"content-length", b"10")])
    answer = asyncio.run(call(app, scope, [b"y" * 600, b"y" * 600]))
    assert answer["status"] == 413
    assert inner.received <= LIMIT


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    inner = Recorder()
    app = BodyLimit(inner, max_bytes=LIMIT, read_timeout=5)
    scope = http_scope([(b"content-length", str(LIMIT + 1).encode())])
    answer = asyncio.run(call(app, scope, [b"z" * (LIMIT + 1)]))
    assert answer["status"] == 413
    assert inner.received == 0


def test_a_body_within_the_limit_passes_whole() -> None:
    inner = Recorder()
    app = BodyLimit(inner, max_bytes=LIMIT, read_timeout=5)
    answer = asyncio.run(call(app, http_scope(), [b"a" * 500, b"a" * 500]))
    assert (answer["status"], inner.received) == (200, LIMIT)


def test_a_body_that_stops_arriving_times_out() -> None:
    app = BodyLimit(Recorder(), max_bytes=LIMIT, read_timeout=0.2)
    answer = asyncio.run(call(app, http_scope(), [b"a", b"b"], delay=2.0))
    assert answer["status"] == 408
    assert "did not arrive" in json.loads(answer["body"])["error"]["message"]


def test_token_buckets_refill_at_their_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token every half second
    assert buckets.take("b") == 0.0  # another address has its own bucket
    now[0] = 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_token_buckets_forget_the_least_recent_beyond_their_size() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=2, clock=lambda: 0.0)
    for key in ("a", "b", "c"):
        buckets.take(key)
    assert len(buckets) == 2
    assert buckets.take("a") == 0.0  # forgotten: a full bucket again, never less


def test_an_ipv6_client_is_limited_by_its_slash_64() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:10.1.2.3") == "10.1.2.3"
    assert client_key("10.1.2.3") == "10.1.2.3"


def test_rate_limit_answers_429_with_retry_after_and_spares_trusted_addresses() -> None:
    app = RateLimit(Recorder(), rate=0.5, burst=2, trusted=parse_networks(["10.9.0.0/16"], "t"))

    async def scenario() -> list[dict[str, Any]]:
        answers = [await call(app, http_scope(client="10.0.0.1"), [b""]) for _ in range(3)]
        answers += [await call(app, http_scope(client="10.9.4.4"), [b""]) for _ in range(5)]
        return answers

    answers = asyncio.run(scenario())
    assert [a["status"] for a in answers[:3]] == [200, 200, 429]
    assert answers[2]["headers"]["retry-after"] == "2"
    assert json.loads(answers[2]["body"])["error"]["message"].startswith("too many requests")
    assert {a["status"] for a in answers[3:]} == {200}


def test_settings_refuse_what_the_node_cannot_use(tmp_path: Any) -> None:
    defaults = ApiSettings.from_config({}, tmp_path)
    assert defaults.max_body_bytes == 4 * 1024 * 1024 and not defaults.tls
    for bad, key in (
        ({"api_max_body_bytes": "big"}, "api_max_body_bytes"),
        ({"api_rate_per_second": 0}, "api_rate_per_second"),
        ({"api_rate_trusted": ["not-an-address"]}, "api_rate_trusted"),
        ({"api_ws_origins": "https://x"}, "api_ws_origins"),
        ({"api_tls_cert": "cert.pem"}, "api_tls_key"),
    ):
        with pytest.raises(SettingsError, match=key):
            ApiSettings.from_config(bad, tmp_path)
    tls = ApiSettings.from_config({"api_tls_cert": "c.pem", "api_tls_key": "k.pem"}, tmp_path)
    assert (tls.tls_cert, tls.scheme) == (tmp_path / "c.pem", "https")
