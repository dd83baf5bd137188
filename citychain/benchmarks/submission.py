"""Posting the pre-signed transfers to ``POST /txs/batch`` and counting what committed.

The request bodies are encoded before any clock starts (``encode_batches``), so the timed part
of ``citychain bench payments`` (``submit_all``) only sends bytes and decodes answers.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httpx
import msgspec

from citychain.client import ApiError, Client

__all__ = ["REQUEST_TIMEOUT", "Batch", "encode_batches", "submit_all", "tally"]

REQUEST_TIMEOUT = 300.0  # seconds; the node itself stops waiting for a commit after 30


@dataclass(slots=True)
class Batch:
    index: int
    body: bytes  # the JSON request, encoded before the clock starts
    hashes: list[str]
    sent: float = 0.0
    received: float = 0.0
    status: int = 0
    error: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)


def encode_batches(signed: list[bytes], size: int) -> list[Batch]:
    batches = []
    for index, lo in enumerate(range(0, len(signed), size)):
        raws = signed[lo : lo + size]
        body = msgspec.json.encode({"txs": [r.hex() for r in raws], "mode": "commit"})
        hashes = [hashlib.sha256(r).hexdigest() for r in raws]
        batches.append(Batch(index, body, hashes))
    return batches


def submit_all(url: str, batches: list[Batch], concurrency: int) -> None:
    """Post every batch, ``concurrency`` at a time, each thread on its own keep-alive client."""
    counter = itertools.count()
    lock = threading.Lock()
    headers = {"content-type": "application/json"}

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT) as http:
            while True:
                with lock:
                    index = next(counter)
                if index >= len(batches):
                    return
                batch = batches[index]
                batch.sent = time.perf_counter()
                try:
                    response = http.post("/txs/batch", content=batch.body, headers=headers)
                except httpx.HTTPError as exc:
                    batch.received = time.perf_counter()
                    batch.error = f"{type(exc).__name__}: {exc}"
                    continue
                batch.received = time.perf_counter()
                batch.status = response.status_code
                if response.status_code == HTTPStatus.OK:
                    batch.results = msgspec.json.decode(response.content)["results"]
                else:
                    batch.error = response.text[:300]

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def tally(batches: list[Batch], client: Client) -> dict[str, Any]:
    """Count what committed; look up every transaction whose fate the answers leave open."""
    committed = 0
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    samples: dict[str, str] = {}
    unknown: list[str] = []  # answered without a height, or in a batch that failed
    for batch in batches:
        if batch.status != HTTPStatus.OK:
            failures[f"http {batch.status or 'error'}"] += len(batch.hashes)
            samples.setdefault(f"http {batch.status or 'error'}", batch.error)
            unknown.extend(batch.hashes)
            continue
        latency_ms = 1000 * (batch.received - batch.sent)
        for result in batch.results:
            if result["code"] != 0:
                key = f"{result['codespace']}/{result['code']}"
                failures[key] += 1
                samples.setdefault(key, str(result["log"]))
            elif result["height"] is None:
                unknown.append(str(result["hash"]))
            else:
                committed += 1
                latencies.append(latency_ms)
    committed_late = 0
    for tx_hash in unknown:
        try:
            view = client.tx(tx_hash)
        except ApiError:  # not found: not committed
            continue
        if view["result"]["code"] == 0:
            committed_late += 1
    latencies.sort()
    return {
        "committed": committed,
        "committed_late": committed_late,
        "not_committed": len(unknown) - committed_late,
        "failures": dict(failures),
        "failure_samples": samples,
        "latencies": latencies,
    }
