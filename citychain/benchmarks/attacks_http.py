"""The HTTP attacks of ``bench/attacks.py`` (issue 13; docs/hardening-bench.md): oversized
bodies, scans of the whole state, replayed battery read requests (the flood is in
attacks_flood.py). Each is bounded by the options and returns what was sent and how the node
answered; none of them decides whether the node did well.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from citychain.benchmarks.attacks_context import (
    AttackContext,
    Tally,
    node_id_of,
    read_header,
    seeded_key,
)
from citychain.benchmarks.attacks_watch import MIB, answer_of, latency_figures
from citychain.crypto.address import address_from_bytes
from citychain.crypto.keys import PrivateKey
from citychain.modules.battery import HEALTH
from citychain.passport.restricted import FLEET_ID, FLEET_PART, READ_HEADER

__all__ = ["bodies", "replay", "scans"]

BODY_TIMEOUT_S = 300.0
JSON_ITEM = b'"00",'  # one element of the JSON body's array: 5 bytes
SCAN_TIMEOUT_S = 30.0
REPLAY_ROUTES = ("status", "history", "health")
ADDRESS_BYTES = 20


# --- bodies ---------------------------------------------------------------------------------
def _chunks(total_mib: int, sent: list[int]) -> Iterator[bytes]:
    """A JSON body for POST /txs whose ``tx`` is ``total_mib`` MiB of 'a', in 1 MiB chunks;
    ``sent[0]`` counts the bytes handed to the socket."""
    head = b'{"tx":"'
    sent[0] += len(head)
    yield head
    chunk = b"a" * MIB
    for _ in range(total_mib):
        sent[0] += len(chunk)
        yield chunk
    yield b'","mode":"sync"}'


def _post(ctx: AttackContext, path: str, content: Any, tally: Tally) -> float:
    started = time.monotonic()
    with ctx.http(BODY_TIMEOUT_S) as client:
        try:
            tally.response(
                client.post(path, content=content, headers={"content-type": "application/json"})
            )
        except httpx.HTTPError as exc:
            tally.error(exc)
    return time.monotonic() - started


def bodies(ctx: AttackContext) -> dict[str, Any]:
    """A chunked body of ``chunked_mib`` MiB (no Content-Length) to POST /txs, then a JSON body
    of ``json_mib`` MiB with a Content-Length under 64 MiB to POST /txs/batch: an array of
    millions of tiny strings, the costliest JSON per byte to parse."""
    o = ctx.options
    chunked, whole = Tally(), Tally()
    sent = [0]
    chunked_s = _post(ctx, "/txs", _chunks(o.chunked_mib, sent), chunked)
    items = max(1, o.json_mib * MIB // len(JSON_ITEM))
    body = b'{"txs":[' + JSON_ITEM * (items - 1) + b'"00"],"mode":"sync"}'
    whole_s = _post(ctx, "/txs/batch", body, whole)
    return {
        "sent": f"a chunked body of {o.chunked_mib} MiB to POST /txs; a {len(body) / MIB:.0f} "
        f"MiB JSON body ({items:,} array items) to POST /txs/batch",
        "answers": {
            **{f"chunked: {k}": v for k, v in chunked.items()},
            **{f"json: {k}": v for k, v in whole.items()},
        },
        "figures": {
            "chunked_mib_sent": round(sent[0] / MIB, 1),
            "chunked_answer_s": round(chunked_s, 2),
            "json_mib": round(len(body) / MIB, 1),
            "json_answer_s": round(whole_s, 2),
        },
    }


# --- scans ----------------------------------------------------------------------------------
def _scan_worker(
    ctx: AttackContext, deadline: float, node_id: bytes | None, out: dict[str, Any]
) -> None:
    turn = 0
    with ctx.http(SCAN_TIMEOUT_S) as client:
        while time.monotonic() < deadline:
            turn += 1
            if turn % 2:
                route = "devices"
                owner = address_from_bytes(seeded_key("scan", turn).public_key[:ADDRESS_BYTES])
                request = client.build_request("GET", "/devices", params={"owner": owner})
            else:
                route = "fleet"
                header = read_header(
                    PrivateKey.generate(),  # any self-made key: the finding
                    ctx.chain_id,
                    FLEET_ID,
                    FLEET_PART,
                    route="GET /battery/fleet",
                    node_id=node_id,
                )
                request = client.build_request(
                    "GET", "/battery/fleet", headers={READ_HEADER: header}
                )
            started = time.monotonic()
            try:
                response = client.send(request)
                answer = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                answer = answer_of(exc)
            with out["lock"]:
                out["tally"][f"{route}: {answer}"] += 1
                out["seconds"][route].append(time.monotonic() - started)


def scans(ctx: AttackContext) -> dict[str, Any]:
    """``GET /devices?owner=`` of unknown owners and ``GET /battery/fleet`` with a fresh
    self-made key each time, from ``scan_concurrency`` threads for ``scan_seconds``."""
    o = ctx.options
    with httpx.Client(timeout=SCAN_TIMEOUT_S) as plain:
        node_id = node_id_of(plain, ctx.url)
    out: dict[str, Any] = {
        "lock": threading.Lock(),
        "tally": Tally(),
        "seconds": {"devices": [], "fleet": []},
    }
    deadline = time.monotonic() + o.scan_seconds
    threads = [
        threading.Thread(target=_scan_worker, args=(ctx, deadline, node_id, out), daemon=True)
        for _ in range(o.scan_concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally: Tally = out["tally"]
    return {
        "sent": f"{sum(tally.values()):,} scans (GET /devices?owner=, GET /battery/fleet with a "
        f"self-made key) from {o.scan_concurrency} threads in {o.scan_seconds:g} s",
        "answers": dict(tally),
        "figures": {
            f"{route}_{name}": round(value, 1)
            for route, seconds in out["seconds"].items()
            for name, value in latency_figures(seconds).items()
        },
    }


# --- replayed read requests -------------------------------------------------------------------
def replay(ctx: AttackContext) -> dict[str, Any]:
    """The owner reads its battery's status once; the header it sent, captured, is replayed
    ``replays`` times on each of /status, /history and /health from the attacker's address."""
    o = ctx.options
    if ctx.battery is None:
        return {
            "sent": "nothing",
            "answers": {},
            "skipped": "no battery registered (see the notes)",
        }
    battery_hex = ctx.battery.battery_id.hex()
    with httpx.Client(base_url=ctx.url, timeout=SCAN_TIMEOUT_S) as owner_client:
        node_id = node_id_of(owner_client, ctx.url)
        header = read_header(
            ctx.battery.owner,
            ctx.chain_id,
            ctx.battery.battery_id,
            HEALTH,
            route=f"GET /battery/{battery_hex}/status",
            node_id=node_id,
            holding=ctx.battery.holding,
        )
        first = Tally()
        try:
            first.response(
                owner_client.get(f"/battery/{battery_hex}/status", headers={READ_HEADER: header})
            )
        except httpx.HTTPError as exc:
            first.error(exc)
    replays = Tally()
    with ctx.http(SCAN_TIMEOUT_S) as client:
        for _ in range(o.replays):
            for route in REPLAY_ROUTES:
                try:
                    response = client.get(
                        f"/battery/{battery_hex}/{route}", headers={READ_HEADER: header}
                    )
                    replays[f"{route}: HTTP {response.status_code}"] += 1
                except httpx.HTTPError as exc:
                    replays[f"{route}: {answer_of(exc)}"] += 1
    return {
        "sent": f"the owner's read request for /status, used once by the owner, then replayed "
        f"{o.replays} times on each of /{', /'.join(REPLAY_ROUTES)}",
        "answers": {
            **{f"owner's first use: {k}": v for k, v in first.items()},
            **{f"replay {k}": v for k, v in sorted(replays.items())},
        },
        "figures": {
            "replays_answered_200": sum(v for k, v in replays.items() if k.endswith("HTTP 200"))
        },
    }
