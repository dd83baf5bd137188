"""What every attack of ``bench/attacks.py`` is given: the options, the attacked API, the
attacker's source address and what the run set up (docs/hardening-bench.md).

The attacker sends from its own loopback address (127.0.0.2 by default, when the node is on
127.0.0.1), so that a node which limits requests per client address limits the attacker, not
the honest client beside it on 127.0.0.1: one client, one address, as the issue's findings are.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from citychain.benchmarks.attacks_watch import answer_of
from citychain.crypto.keys import PrivateKey
from citychain.passport.restricted import sign_read_request

__all__ = [
    "AttackContext",
    "AttackOptions",
    "BatterySetup",
    "Tally",
    "default_attacker_address",
    "node_id_of",
    "read_header",
    "seeded_key",
]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_ATTACKER = "127.0.0.2"
REQUEST_TIMEOUT_S = 60.0


@dataclass
class AttackOptions:
    """Sizes and durations of each attack; the defaults take a few minutes on 2 cores."""

    rate: float = 5.0  # honest payments per second
    honest_keys: int = 32
    payment_timeout: float = 30.0
    quiet_seconds: float = 5.0  # before the first attack and after the last
    gap_seconds: float = 2.0  # between attacks, not counted in either
    chunked_mib: int = 200
    json_mib: int = 60
    flood_connections: int = 256
    flood_seconds: float = 10.0
    ws: int = 3_000
    ws_hold: float = 10.0
    ws_open_concurrency: int = 100
    ws_origin: str | None = None
    scan_seconds: float = 10.0
    scan_concurrency: int = 4
    state_keys: int = 20_000
    replays: int = 100
    jam_large_keys: int = 150
    jam_keys: int = 1_700
    jam_nonces: int = 64
    jam_observe: float = 15.0
    attacker_address: str | None = None


@dataclass(frozen=True)
class BatterySetup:
    """A battery of the run and its owner: the key, and the holding secret the manufacturer
    handed over with it where the ledger keeps holdings (empty otherwise)."""

    battery_id: bytes
    owner: PrivateKey
    holding: bytes = b""


@dataclass
class AttackContext:
    url: str  # the attacked node's API
    chain_id: str
    options: AttackOptions
    local_address: str | None = None
    battery: BatterySetup | None = None
    log: Callable[[str], None] = field(default=lambda _m: None)

    def http(self, timeout: float = REQUEST_TIMEOUT_S, **kwargs: Any) -> httpx.Client:
        """A client that connects from the attacker's address."""
        transport = httpx.HTTPTransport(local_address=self.local_address, **kwargs)
        return httpx.Client(base_url=self.url, transport=transport, timeout=timeout)


class Tally(Counter[str]):
    """How the node answered: ``HTTP 413``, ``connection closed``, ``timeout``, ..."""

    def response(self, response: httpx.Response) -> None:
        self[f"HTTP {response.status_code}"] += 1

    def error(self, exc: BaseException) -> None:
        self[answer_of(exc)] += 1


def default_attacker_address(url: str) -> str | None:
    """127.0.0.2 for a node on loopback (Linux routes all of 127/8 to it), else the default."""
    host = urlsplit(url).hostname or ""
    return DEFAULT_ATTACKER if host in LOOPBACK_HOSTS else None


def node_id_of(client: httpx.Client, url: str) -> bytes | None:
    """The node id a read request must name (``GET /status`` ``node_id``), where there is one."""
    try:
        value = client.get(f"{url.rstrip('/')}/status").json().get("node_id")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return bytes.fromhex(value) if isinstance(value, str) else None


def read_header(
    key: PrivateKey,
    chain_id: str,
    battery_id: bytes,
    part: str,
    *,
    route: str,
    node_id: bytes | None,
    holding: bytes = b"",
) -> str:
    """A signed read request for ``route`` of ``battery_id``, as the header's hex value.

    Requests are bound to the node and the route, and an owner names the battery's holding,
    where the passport protocol says so (the parameters ``node_id``, ``route`` and ``holding``
    of ``sign_read_request``); older nodes take requests without them, and this builds
    whichever the code in this tree signs.
    """
    accepted = inspect.signature(sign_read_request).parameters
    kwargs: dict[str, Any] = {
        "chain_id": chain_id,
        "battery_id": battery_id,
        "part": part,
        "issued_at_ms": int(time.time() * 1000),
    }
    if "route" in accepted:
        kwargs["route"] = route
    if "node_id" in accepted:
        kwargs["node_id"] = node_id if node_id is not None else b""
    if "holding" in accepted and holding:
        kwargs["holding"] = holding
    return sign_read_request(key, **kwargs).to_bytes().hex()


def seeded_key(label: str, index: int = 0) -> PrivateKey:
    """A deterministic throwaway key of the benchmark."""
    seed = hashlib.sha256(f"citychain-bench/attacks/{label}/".encode() + index.to_bytes(8, "big"))
    return PrivateKey.from_seed(seed.digest())
