"""When each transaction committed on a node, as CometBFT itself reports it.

A ``BlockWatcher`` subscribes to one node's ``tm.event='NewBlockHeader'`` over CometBFT's
websocket (``/websocket``). CometBFT fires that event once the block is executed, the app has
answered ``Commit`` and the state is saved (state/execution.go, ``ApplyBlock`` then
``fireEvents``). The watcher stamps the event with the clock as it arrives, then fetches the
block (``/block?height=H``) and records that time for every transaction in it, keyed by
sha256(tx), which is also CometBFT's and citychain's transaction hash. Heights it missed are
fetched too and stamped with the later time (``late_blocks`` counts them).

The same watcher follows both networks of ``citychain bench payments --network``, so their
"committed" times are taken the same way; the header event is small whatever the application,
and fetching the block costs each CometBFT the same JSON of the same number of transaction bytes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
import msgspec
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

__all__ = ["BlockWatcher", "WatchedBlock"]

SUBSCRIBE_QUERY = "tm.event='NewBlockHeader'"


@dataclass(frozen=True, slots=True)
class WatchedBlock:
    height: int
    seen: float  # time.perf_counter() when the event arrived
    txs: int


class BlockWatcher:
    def __init__(self, rpc_url: str) -> None:
        self.rpc_url = rpc_url.rstrip("/")
        self.committed: dict[bytes, float] = {}  # tx hash -> when its block was seen
        self.blocks: list[WatchedBlock] = []
        self.late_blocks = 0
        self.error: str | None = None
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._last_height = 0
        self._ws: ClientConnection | None = None
        self._closing = contextlib.ExitStack()
        self._http = httpx.Client(base_url=self.rpc_url, timeout=30.0)
        self._thread: threading.Thread | None = None

    def start(self) -> BlockWatcher:
        """Subscribe, and return once CometBFT has acknowledged the subscription."""
        ws_url = "ws" + self.rpc_url.removeprefix("http") + "/websocket"
        self._ws = self._closing.enter_context(connect(ws_url, max_size=None, open_timeout=10))
        request = {
            "jsonrpc": "2.0",
            "id": "watch",
            "method": "subscribe",
            "params": {"query": SUBSCRIBE_QUERY},
        }
        self._ws.send(msgspec.json.encode(request).decode())
        ack = msgspec.json.decode(self._ws.recv(timeout=10))
        if "error" in ack:
            raise RuntimeError(f"{self.rpc_url}: subscribe refused: {ack['error']}")
        self._thread = threading.Thread(target=self._follow, name="block-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            self._closing.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http.close()

    def _follow(self) -> None:
        assert self._ws is not None
        try:
            while not self._stop.is_set():
                try:
                    message = self._ws.recv(timeout=0.5)
                except TimeoutError:
                    continue
                seen = time.perf_counter()
                doc = msgspec.json.decode(message)
                value = doc.get("result", {}).get("data", {}).get("value")
                if not value:
                    continue
                height = int(value["header"]["height"])
                first = self._last_height + 1 if self._last_height else height
                for missed in range(first, height):
                    self._record(missed, seen)
                    self.late_blocks += 1
                self._record(height, seen)
        except ConnectionClosed:
            if not self._stop.is_set():
                self.error = f"{self.rpc_url}: the websocket closed"
        except Exception as exc:  # reported with the figures; the run cannot trust them
            self.error = f"{self.rpc_url}: {type(exc).__name__}: {exc}"
        finally:
            with self.changed:
                self.changed.notify_all()

    def _record(self, height: int, seen: float) -> None:
        response = self._http.get("/block", params={"height": height})
        block = msgspec.json.decode(response.content)["result"]["block"]
        txs = block["data"].get("txs") or []
        hashes = [hashlib.sha256(base64.b64decode(tx)).digest() for tx in txs]
        with self.changed:
            for tx_hash in hashes:
                self.committed.setdefault(tx_hash, seen)
            self.blocks.append(WatchedBlock(height, seen, len(hashes)))
            self._last_height = height
            self.changed.notify_all()

    def wait_for(
        self, hashes: Sequence[bytes], timeout: float, abort: Callable[[], bool]
    ) -> float | None:
        """The time the last of ``hashes`` was seen committed, or None after ``timeout`` (or
        once ``abort()`` is true, or the watcher failed)."""
        remaining = set(hashes)
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                remaining = {h for h in remaining if h not in self.committed}
                if not remaining:
                    break
                left = deadline - time.monotonic()
                if left <= 0 or abort() or self.error is not None or self._stop.is_set():
                    return None
                self.changed.wait(min(left, 1.0))
        return self.last_seen(hashes)

    def last_seen(self, hashes: Sequence[bytes]) -> float | None:
        """The latest commit time among ``hashes``; None if any was not seen (or none given)."""
        latest: float | None = None
        for tx_hash in hashes:
            seen = self.committed.get(tx_hash)
            if seen is None:
                return None
            latest = seen if latest is None else max(latest, seen)
        return latest
