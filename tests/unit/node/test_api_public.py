"""The API for the public (issue 13, Build 3): the operator token, CORS stated per route, rate
limits per client address, uvicorn's concurrency limit, batches capped at a block, and TLS end
to end, each against a node served in this process over real sockets.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from apiutil import Served, self_signed, serving

from citychain.client import ApiError, Client
from citychain.home import Home
from citychain.node.operator import ensure_operator_token
from citychain.node.settings import SettingsError
from citychain.node.tls import server_context


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("public") / "home") as node:
        yield node


# --- the operator token -----------------------------------------------------------------------
def test_metrics_want_the_operator_token(served: Served) -> None:
    url = f"{served.url}/metrics"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": served.token}):
        response = httpx.get(url, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["message"].startswith("this route is for the node's")
    response = httpx.get(url, headers={"Authorization": f"Bearer {served.token}"})
    assert response.status_code == 200
    assert "citychain_block_height" in response.text
    with Client(served.url, operator_token=served.token) as client:
        assert "citychain_blocks_total" in client.metrics()
    with Client(served.url) as client, pytest.raises(ApiError) as refused:
        client.metrics()
    assert refused.value.status == 401


def test_the_operator_token_file_is_private_and_kept(tmp_path: Path) -> None:
    home = Home(tmp_path)
    token = ensure_operator_token(home)
    assert len(token) >= 40
    assert stat.S_IMODE(home.operator_token_file.stat().st_mode) == 0o600
    home.operator_token_file.chmod(0o644)
    assert ensure_operator_token(home) == token == home.operator_token()
    assert stat.S_IMODE(home.operator_token_file.stat().st_mode) == 0o600


def test_the_openapi_document_states_which_routes_want_the_token(served: Served) -> None:
    document = httpx.get(f"{served.url}/openapi.json").json()
    assert document["paths"]["/metrics"]["get"]["security"] == [{"operator": []}]
    assert "security" not in document["paths"]["/status"]["get"]


# --- CORS -------------------------------------------------------------------------------------
def preflight(served: Served, path: str, method: str, headers: str = "") -> httpx.Response:
    asked = {"Origin": "https://wallet.example", "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return httpx.options(f"{served.url}{path}", headers=asked)


def test_preflights_answer_as_each_route_states(served: Served) -> None:
    # POST /txs: any origin (a citizen's web wallet submits its signed transactions).
    answer = preflight(served, "/txs", "POST", "Content-Type")
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["access-control-allow-methods"] == "POST"
    assert answer.headers["access-control-allow-headers"] == "content-type"
    assert "access-control-allow-credentials" not in answer.headers
    # Public reads: any origin, with the battery's read-request header.
    answer = preflight(served, "/blocks/latest", "GET", "x-citychain-read-request")
    assert (answer.status_code, answer.headers["access-control-allow-origin"]) == (204, "*")
    # The operator's route and other writes: no other origin.
    for path, method, headers in (
        ("/metrics", "GET", "authorization"),
        ("/metrics", "GET", ""),
        ("/txs/batch", "POST", "content-type"),
        ("/blocks/latest", "GET", "authorization"),  # no credentials to public reads either
        ("/nowhere", "GET", ""),
    ):
        answer = preflight(served, path, method, headers)
        assert answer.status_code == 403, (path, method, headers)
        assert "access-control-allow-origin" not in answer.headers


def test_answers_carry_cors_headers_only_where_the_route_allows(served: Served) -> None:
    origin = {"Origin": "https://wallet.example"}
    read = httpx.get(f"{served.url}/status", headers=origin)
    assert read.headers["access-control-allow-origin"] == "*"
    operator = httpx.get(
        f"{served.url}/metrics", headers={**origin, "Authorization": f"Bearer {served.token}"}
    )
    assert operator.status_code == 200
    assert "access-control-allow-origin" not in operator.headers
    plain = httpx.get(f"{served.url}/status")  # no Origin: not a browser, nothing added
    assert "access-control-allow-origin" not in plain.headers


# --- rate limit, concurrency, batches ---------------------------------------------------------
def test_a_client_past_its_rate_gets_429_with_retry_after(tmp_path: Path) -> None:
    config = {"api_rate_per_second": 0.5, "api_rate_burst": 3, "api_rate_trusted": []}
    with serving(tmp_path / "home", config) as node, httpx.Client(base_url=node.url) as http:
        statuses = [http.get("/health").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = http.get("/health")
        assert refused.headers["retry-after"] == "2"
        assert refused.json()["error"]["message"].startswith("too many requests")
        sample = node.node.metrics.registry.get_sample_value
        assert sample("citychain_api_refused_total", {"reason": "rate_limited"}) == 2


def test_trusted_addresses_are_not_rate_limited(tmp_path: Path) -> None:
    config = {"api_rate_per_second": 0.5, "api_rate_burst": 1, "api_rate_trusted": ["127.0.0.1"]}
    with serving(tmp_path / "home", config) as node, httpx.Client(base_url=node.url) as http:
        assert {http.get("/health").status_code for _ in range(10)} == {200}


def test_beyond_the_concurrency_limit_the_node_answers_503(tmp_path: Path) -> None:
    limit = 3
    with serving(tmp_path / "home", {"api_limit_concurrency": limit}) as node:
        host, port = node.url.removeprefix("http://").split(":")
        idle = [socket.create_connection((host, int(port))) for _ in range(limit)]
        try:
            deadline = time.monotonic() + 20
            while True:  # the server counts a connection once it has accepted it
                status = httpx.get(f"{node.url}/health").status_code
                if status == 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert status == 503
        finally:
            for conn in idle:
                conn.close()
        deadline = time.monotonic() + 20
        while httpx.get(f"{node.url}/health").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_batch_larger_than_a_block_is_refused_whole(tmp_path: Path) -> None:
    config = {"max_block_txs": 3}
    with serving(tmp_path / "home", config) as node, httpx.Client(base_url=node.url) as http:
        answer = http.post("/txs/batch", json={"txs": ["00"] * 4})
        assert answer.status_code == 413
        assert "3 transactions" in answer.json()["error"]["message"]
        assert len(http.post("/txs/batch", json={"txs": ["00"] * 3}).json()["results"]) == 3
        limits = node.node.block_limits()
        assert (limits.max_txs, limits.max_bytes) == (3, 4 * 1024 * 1024)


def test_headers_that_keep_growing_are_refused(served: Served) -> None:
    """Headers still incomplete past api_max_header_bytes (16 KiB): 400, connection closed."""
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as raw:
        raw.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: ")
        answer = b""
        for _ in range(40):  # 40 KiB, a piece at a time, never ending the header
            try:
                raw.sendall(b"p" * 1024)
            except OSError:
                break
            time.sleep(0.005)
        with contextlib.suppress(ConnectionResetError):
            while chunk := raw.recv(4096):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


# --- TLS --------------------------------------------------------------------------------------
def test_tls_end_to_end(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    config = {"api_tls_cert": str(cert), "api_tls_key": str(key)}
    with serving(tmp_path / "home", config) as node:
        assert node.url.startswith("https://127.0.0.1:")
        with Client(node.url, ca_file=cert) as client:
            assert client.health()["status"] == "ok"
        with Client(node.url) as client, pytest.raises(ApiError, match="CERTIFICATE_VERIFY"):
            client.health()  # a self-signed certificate the system does not trust
        old = os.environ.get("CITYCHAIN_CA_FILE")
        os.environ["CITYCHAIN_CA_FILE"] = str(cert)
        try:
            with Client(node.url) as client:
                assert client.status()["height"] == 0
        finally:
            if old is None:
                del os.environ["CITYCHAIN_CA_FILE"]
            else:
                os.environ["CITYCHAIN_CA_FILE"] = old
        plain = node.url.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{plain}/health", timeout=5)  # no plain HTTP on the TLS port
        wss = node.url.replace("https://", "wss://") + "/ws"
        from websockets.sync.client import connect

        with connect(wss, ssl=_client_context(cert), proxy=None, open_timeout=10):
            pass


def _client_context(cert: Path) -> object:
    from citychain.client.http import tls_context

    return tls_context(cert)


def test_bad_tls_files_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    _, other_key = self_signed(tmp_path / "other")
    with pytest.raises(SettingsError, match="no such file"):
        server_context(tmp_path / "missing.pem", key)
    with pytest.raises(SettingsError, match="cannot use certificate"):
        server_context(cert, other_key)  # a key that is not the certificate's
    assert server_context(cert, key) is not None
