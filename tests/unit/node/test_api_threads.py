"""The API runs on its own thread and loop; the engine keeps its own (citychain/node/run.py,
api_thread.py, dispatch.py). Issue 13, "Event-loop stalls": a stall of the API (a huge JSON
body took 5.6 s) delayed blocks and, under CometBFT, the validator's ABCI answers, because all
three shared one loop.

Each test blocks the API's loop outright (``time.sleep`` scheduled on it) and shows that the
solo engine still commits a block and the ABCI server still answers meanwhile, and that the
API really was blocked. Routes run their work on the engine's thread, and block events cross
to the API's thread for /ws.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from apiutil import Served, serving
from fastapi import APIRouter
from fastapi.routing import APIRoute
from websockets.sync.client import connect

from citychain.engines.cometbft.wire import FrameDecoder, frame
from citychain.node.api import ROUTERS
from citychain.node.dispatch import EngineRoute, check_dispatched, on_engine
from citychain.node.routes.deps import NodeDep
from citychain.pb.tendermint.abci import types_pb2 as abci

BLOCK_S = 4.0  # how long the API's loop is blocked
ANSWER_S = BLOCK_S / 2  # what the engine must answer within meanwhile


def block_api_loop(served: Served) -> float:
    """Block the API's loop for BLOCK_S; return when it has started to be."""
    blocked = threading.Event()

    def stall() -> None:
        blocked.set()
        time.sleep(BLOCK_S)

    served.api_loop.call_soon_threadsafe(stall)
    assert blocked.wait(30)
    return time.monotonic()


def assert_api_was_blocked(served: Served, since: float) -> None:
    """The API answers only once the stall is over: it really was blocked."""
    response = httpx.get(f"{served.url}/health", timeout=30)
    assert response.status_code == 200
    assert time.monotonic() - since >= BLOCK_S - 0.5


def test_a_blocked_api_loop_does_not_stop_the_solo_engine(tmp_path: Path) -> None:
    with serving(tmp_path / "home") as served:
        raw = served.payment()
        since = block_api_loop(served)
        submitted = served.node.submit([raw], wait_commit=True, timeout=ANSWER_S)
        (result,) = served.on_engine(submitted, timeout=BLOCK_S * 2)
        took = time.monotonic() - since
        assert (result.code, result.height) == (0, 1), result
        assert took < ANSWER_S, f"the block took {took:.2f} s while the API was blocked"
        assert_api_was_blocked(served, since)


def test_a_blocked_api_loop_does_not_delay_abci_answers(tmp_path: Path) -> None:
    abci_path = tmp_path / "abci.sock"
    config = {
        "engine": "cometbft",
        "abci": f"unix://{abci_path}",
        "cometbft_rpc": "http://127.0.0.1:9",  # never called here
        "cometbft_home": str(tmp_path / "cometbft"),
    }
    with serving(tmp_path / "home", config) as served:
        deadline = time.monotonic() + 30
        while not abci_path.exists():
            assert time.monotonic() < deadline, "the ABCI server did not start"
            time.sleep(0.01)
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(abci_path))
            conn.settimeout(ANSWER_S)
            since = block_api_loop(served)
            request = abci.Request(echo=abci.RequestEcho(message="still there?"))
            conn.sendall(frame(request.SerializeToString()))
            decoder = FrameDecoder()
            messages: list[bytes] = []
            while not messages:
                messages = decoder.feed(conn.recv(4096))
            took = time.monotonic() - since
        response = abci.Response()
        response.ParseFromString(messages[0])
        assert response.echo.message == "still there?"
        assert took < ANSWER_S, f"ABCI answered after {took:.2f} s while the API was blocked"
        assert_api_was_blocked(served, since)


def test_routes_do_their_work_on_the_engine_thread(tmp_path: Path) -> None:
    with serving(tmp_path / "home") as served:
        seen: list[str] = []
        settled = served.node.engine.settled

        async def recording_settled() -> None:
            seen.append(threading.current_thread().name)
            await settled()

        served.node.engine.settled = recording_settled  # type: ignore[method-assign]
        for path in ("/health", "/status", "/bank/supply", "/consortium/members"):
            assert httpx.get(served.url + path, timeout=30).status_code == 200, path
        assert seen and set(seen) == {"test-engine"}, seen


def test_every_route_that_takes_the_node_is_dispatched() -> None:
    checked = 0
    for domain in ROUTERS:  # the API's own list: a router added there is checked here
        # HTTP routes; /ws lives on the API's loop and takes its blocks from Node.subscribe.
        for route in (r for r in domain.routes if isinstance(r, APIRoute)):
            assert isinstance(route, EngineRoute), route
            # on_engine() returns an endpoint as it is only when it does not take the node.
            assert on_engine(route.endpoint) is route.endpoint, route.path
            checked += 1
    assert checked > 40
    router = APIRouter()

    @router.get("/bypass")
    async def bypass(node: NodeDep) -> None:
        return None

    with pytest.raises(TypeError, match="route_class=EngineRoute"):
        check_dispatched(router)


def test_block_events_reach_websocket_clients_across_threads(tmp_path: Path) -> None:
    with serving(tmp_path / "home") as served:
        url = served.url.replace("http://", "ws://") + "/ws"
        with connect(url, open_timeout=30) as events:
            deadline = time.monotonic() + 30
            while served.node.subscriber_count() == 0:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            served.on_engine(served.node.submit([served.payment()], wait_commit=True))
            event = json.loads(events.recv(timeout=30))
        assert event["height"] == 1


def test_a_stopped_node_releases_its_port(tmp_path: Path) -> None:
    with serving(tmp_path / "home") as served:
        host, port = served.url.removeprefix("http://").split(":")
    with socket.socket() as probe:
        assert probe.connect_ex((host, int(port))) != 0  # nothing listens any more
