"""The read-request gate on the node's HTTP routes (citychain/node/routes/battery_access.py),
over an Application driven in process and the node's real stores: a signed read request is for
one node (``GET /status`` ``node_id``), one route and a minute, and is answered once across
every gated route, also after a restart; a missing header on any gated route is a clean 401.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from battery_chain import (
    COMPOSITION_FIELDS,
    HOLDING_SECRET,
    MAKER,
    SALT_COMPOSITION,
    STRANGER,
    bid,
    leased_chain,
)
from fastapi.testclient import TestClient
from helpers import CHAIN_ID, Chain

from citychain.crypto.keys import PrivateKey
from citychain.modules.battery import holding as holding_module
from citychain.node.api import create_api
from citychain.passport import OpeningStore, PassportService
from citychain.passport.restricted import (
    FLEET_ID,
    FLEET_PART,
    FLEET_ROUTE,
    READ_HEADER,
    SignedReadRequest,
    part_route,
    point4_route,
    sign_read_request,
)

POINT4 = ("status", "history", "health", "prediction")
GATED_PATHS = [f"/battery/{bid().hex()}/{name}" for name in POINT4] + [
    "/battery/fleet",
    f"/battery/{bid().hex()}/parts/composition",
    f"/battery/{bid().hex()}/parts/health",
]


async def _settled() -> None:
    return None


async def _on_engine(work: Coroutine[Any, Any, Any]) -> Any:
    """The node's ``on_engine``: here the test's own loop is the engine's."""
    return await work


class Gate:
    """The node's API over ``chain`` with the openings and nonce stores in ``data``."""

    def __init__(self, chain: Chain, data: Path) -> None:
        self.chain, self.data = chain, data
        self.service = PassportService(store=OpeningStore(data / "openings.sqlite"))
        engine = SimpleNamespace(
            settled=_settled,
            validator_public_key=lambda: bytes(32),
            mempool_size=lambda: 0,
            name="solo",
        )
        node: Any = SimpleNamespace(
            app=chain.app,
            engine=engine,
            on_engine=_on_engine,
            openings=self.service.store,
            passport_service=self.service,
            validator_name="v",
        )
        # The lifespan (which would start an engine) does not run: the client is not entered.
        self.client = TestClient(create_api(node), raise_server_exceptions=False)

    def close(self) -> None:
        self.service.close()
        self.service.store.close()

    def header(
        self,
        route: str,
        *,
        key: PrivateKey = MAKER,
        part: str = "health",
        battery_id: bytes | None = None,
        node_id: bytes | None = None,
        holding: bytes = b"",
    ) -> dict[str, str]:
        signed = sign_read_request(
            key,
            chain_id=CHAIN_ID,
            node_id=self.service.node_id if node_id is None else node_id,
            route=route,
            battery_id=bid() if battery_id is None else battery_id,
            part=part,
            issued_at_ms=int(time.time() * 1000),
            holding=holding,
        )
        return {READ_HEADER: signed.to_bytes().hex()}

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.client.get(path, headers=headers or {})


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    chain = leased_chain(tmp_path / "chain")
    assert chain.app.chain_id == CHAIN_ID
    return chain


@pytest.fixture
def gate(chain: Chain, tmp_path: Path) -> Iterator[Gate]:
    gate = Gate(chain, tmp_path / "data")
    gate.service.store.accept(
        chain.app.committed, bid(), "composition", COMPOSITION_FIELDS, SALT_COMPOSITION
    )
    yield gate
    gate.close()


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "codespace", "message"}
    return error


def test_the_node_id_is_served_and_stable(gate: Gate, chain: Chain, tmp_path: Path) -> None:
    status = gate.get("/status").json()
    assert status["node_id"] == gate.service.node_id.hex() and len(status["node_id"]) == 32
    again = Gate(chain, tmp_path / "data")
    assert again.service.node_id == gate.service.node_id
    again.close()
    other = Gate(chain, tmp_path / "other-node")
    assert other.service.node_id != gate.service.node_id
    other.close()


@pytest.mark.parametrize("path", GATED_PATHS)
def test_a_missing_header_is_a_clean_401(
    gate: Gate, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, /battery/{id}/parts/{part} answered 500 with tracebacks in the log."""
    with caplog.at_level(logging.DEBUG):
        error = _error(gate.get(path), 401)
    assert READ_HEADER in error["message"]
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


def test_the_captured_header_of_the_issue_is_answered_once(gate: Gate) -> None:
    """The issue's replay: one captured header answered /status, /history and /health again
    and again. A request is now for one route, and answered once."""
    base = f"/battery/{bid().hex()}"
    captured = gate.header(point4_route(bid(), "health"))
    assert gate.get(f"{base}/health", captured).status_code == 200
    for _ in range(3):
        for name in POINT4:
            error = _error(gate.get(f"{base}/{name}", captured), 401 if name == "health" else 403)
            expected = ("passport", 4) if name == "health" else ("passport", 15)
            assert (error["codespace"], error["code"]) == expected, (name, error)
    # The same for a part in clear and the fleet: each request once, on its own route only.
    part = gate.header(part_route(bid(), "composition"), part="composition")
    assert gate.get(f"{base}/parts/composition", part).status_code == 200
    assert _error(gate.get(f"{base}/parts/composition", part), 401)["code"] == 4
    fleet = gate.header(FLEET_ROUTE, part=FLEET_PART, battery_id=FLEET_ID)
    assert gate.get("/battery/fleet", fleet).status_code == 200
    assert _error(gate.get("/battery/fleet", fleet), 401)["code"] == 4
    # A fresh request for each route reads it (the manufacturer's routes without a holding).
    for name in ("health", "prediction"):
        fresh = gate.header(point4_route(bid(), name))
        assert gate.get(f"{base}/{name}", fresh).status_code == 200, name


def test_a_refused_request_spends_no_nonce(gate: Gate) -> None:
    base = f"/battery/{bid().hex()}"
    stranger = gate.header(point4_route(bid(), "status"), key=STRANGER)
    assert _error(gate.get(f"{base}/status", stranger), 403)["code"] == 7
    assert len(gate.service.nonces) == 0


def test_a_request_for_another_node_is_refused(gate: Gate) -> None:
    base = f"/battery/{bid().hex()}"
    elsewhere = bytes(range(16))
    for path, route, part, battery_id in (
        (f"{base}/status", point4_route(bid(), "status"), "health", None),
        (f"{base}/parts/composition", part_route(bid(), "composition"), "composition", None),
        ("/battery/fleet", FLEET_ROUTE, FLEET_PART, FLEET_ID),
    ):
        header = gate.header(route, part=part, battery_id=battery_id, node_id=elsewhere)
        error = _error(gate.get(path, header), 401)
        assert (error["codespace"], error["code"]) == ("passport", 14), error
        assert gate.service.node_id.hex() in error["message"]


def test_the_replay_is_refused_after_a_restart(gate: Gate, chain: Chain) -> None:
    base = f"/battery/{bid().hex()}"
    captured = gate.header(point4_route(bid(), "health"))
    assert gate.get(f"{base}/health", captured).status_code == 200
    gate.close()
    restarted = Gate(chain, gate.data)
    try:
        assert restarted.service.node_id == gate.service.node_id
        assert _error(restarted.get(f"{base}/health", captured), 401)["code"] == 4
    finally:
        restarted.close()


def test_a_gated_read_parses_and_authorises_its_request_once(
    gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route answers from what the request was authorised for: one parse of the header
    and one check of its holding secret per request (before: two of each)."""
    calls = {"parse": 0, "holding proof": 0}
    parse, commitment = SignedReadRequest.from_bytes, holding_module.holding_commitment

    def counted_parse(cls: type[SignedReadRequest], data: bytes) -> SignedReadRequest:
        calls["parse"] += 1
        return parse(data)

    def counted_commitment(battery_id: bytes, secret: bytes) -> bytes:
        calls["holding proof"] += 1
        return commitment(battery_id, secret)

    monkeypatch.setattr(SignedReadRequest, "from_bytes", classmethod(counted_parse))
    monkeypatch.setattr(holding_module, "holding_commitment", counted_commitment)
    header = gate.header(point4_route(bid(), "status"), holding=HOLDING_SECRET)
    answer = gate.get(f"/battery/{bid().hex()}/status", header)
    assert answer.status_code == 200, answer.text
    assert calls == {"parse": 1, "holding proof": 1}
