"""The CometBFT engine's submission path, against a stand-in for CometBFT's JSON-RPC (httpx's
MockTransport): each transaction's outcome comes from this process's own CheckTx, or from
CometBFT's refusal of it, or of the whole request, without waiting for a timeout."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from citychain.app import Application, CheckResult
from citychain.engines.cometbft.engine import MEMPOOL_CODESPACE, CometEngine
from citychain.store.sqlite import BlockStore


def engine_with(tmp_path: Path, answer: Any) -> tuple[CometEngine, list[Any]]:
    """An engine whose RPC calls go to ``answer(request_body) -> (status, json)``."""
    engine = CometEngine(
        Application(BlockStore(tmp_path / "c.sqlite")),
        abci_address="tcp://127.0.0.1:0",
        rpc_url="http://cometbft.invalid",
    )
    seen: list[Any] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        status, doc = answer(engine, body)
        return httpx.Response(status, json=doc)

    engine._http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return engine, seen


def checked(engine: CometEngine, body: list[dict[str, Any]], code: int = 0) -> None:
    """What CometBFT does with broadcast_tx_async: CheckTx in the app, later."""
    loop = asyncio.get_running_loop()
    for call in body:
        raw = base64.b64decode(call["params"]["tx"])
        result = CheckResult(code, "" if code == 0 else "bank", "" if code == 0 else "no", None)
        loop.call_soon(engine._on_check, hashlib.sha256(raw).digest(), result)


def test_outcomes_come_from_the_apps_own_check_tx(tmp_path: Path) -> None:
    def answer(engine: CometEngine, body: Any) -> tuple[int, Any]:
        checked(engine, body)
        return 200, [{"jsonrpc": "2.0", "id": c["id"], "result": {}} for c in body]

    engine, seen = engine_with(tmp_path, answer)
    raws = [b"tx-%d" % i for i in range(3)]
    hashes = [hashlib.sha256(r).digest() for r in raws]
    outcomes = asyncio.run(engine.broadcast(raws, hashes, timeout=5))
    assert [o.code for o in outcomes] == [0, 0, 0]
    assert [c["method"] for c in seen[0]] == ["broadcast_tx_async"] * 3
    assert not engine._checks  # nothing left waiting


def test_a_transaction_cometbft_refuses_is_refused_with_its_reason(tmp_path: Path) -> None:
    def answer(engine: CometEngine, body: Any) -> tuple[int, Any]:
        checked(engine, body[1:])
        error = {"code": -32603, "data": "tx already exists in cache"}
        refused = {"jsonrpc": "2.0", "id": 0, "error": error}
        return 200, [refused] + [{"jsonrpc": "2.0", "id": c["id"], "result": {}} for c in body[1:]]

    engine, _ = engine_with(tmp_path, answer)
    raws = [b"dup", b"new"]
    outcomes = asyncio.run(engine.broadcast(raws, [hashlib.sha256(r).digest() for r in raws], 5))
    assert (outcomes[0].codespace, outcomes[0].log) == (
        MEMPOOL_CODESPACE,
        "tx already exists in cache",
    )
    assert outcomes[1].code == 0


@pytest.mark.parametrize(
    "refusal",
    [
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batch too large"}},
        "not json-rpc at all",
    ],
)
def test_a_refused_request_refuses_every_transaction_at_once(tmp_path: Path, refusal: Any) -> None:
    engine, _ = engine_with(tmp_path, lambda engine, body: (200, refusal))
    raws = [b"a", b"b"]
    started = asyncio.run(
        _timed(engine.broadcast(raws, [hashlib.sha256(r).digest() for r in raws], 30))
    )
    outcomes, seconds = started
    assert all(o.codespace == MEMPOOL_CODESPACE and o.code != 0 for o in outcomes)
    assert seconds < 5  # not the 30 s CheckTx timeout


def test_an_unreachable_cometbft_refuses_with_a_clear_reason(tmp_path: Path) -> None:
    def answer(engine: CometEngine, body: Any) -> tuple[int, Any]:
        raise httpx.ConnectError("connection refused")

    engine, _ = engine_with(tmp_path, answer)
    outcomes = asyncio.run(engine.broadcast([b"x"], [hashlib.sha256(b"x").digest()], 5))
    assert "CometBFT RPC unreachable" in outcomes[0].log


async def _timed(coro: Any) -> tuple[Any, float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await coro
    return result, loop.time() - start
