"""The mempool jam of ``bench/attacks.py`` (issue 13, "Mempool jam"; docs/hardening-bench.md).

Keys that hold no funds each send nonces 1..``jam_nonces`` (their next nonce is 0, so every one
waits for a gap that never closes): first ``jam_large_keys`` keys with transactions close to the
16 KiB limit (multi-sends), which fill a pool's byte limit, then ``jam_keys`` keys with ordinary
1-cent transfers, which fill its count limit. They go to ``POST /txs/batch`` (mode sync) from the
attacker's address; a batch refused as too large (413) is split in two and sent again, as an
attacker would. The honest client keeps paying throughout and for ``jam_observe`` seconds
after the last batch, which is when a jammed pool shows.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httpx

from citychain.benchmarks import DENOM, FEE, recipient_address
from citychain.benchmarks.attacks_context import AttackContext, Tally, seeded_key
from citychain.benchmarks.attacks_watch import MIB, answer_of
from citychain.modules.bank import MAX_OUTPUTS, MsgMultiSend, MsgSend
from citychain.tx.envelope import MAX_TX_BYTES, Message, sign_tx

__all__ = ["jam", "large_messages"]

LARGE_BATCH = 64  # large transactions per request: about 2 MB of hex
SMALL_BATCH = 1_000
SUBMITTERS = 2  # requests in flight
SUBMIT_TIMEOUT_S = 120.0
SAMPLE_LOG_CHARS = 120
ADMITTED = "admitted (code 0)"


def large_messages(chain_id: str) -> list[Message]:
    """As many 100-output multi-sends as fit one transaction under MAX_TX_BYTES."""
    outputs = tuple((recipient_address(i), 1) for i in range(MAX_OUTPUTS))
    message = MsgMultiSend(DENOM, outputs)
    probe = seeded_key("jam-probe")
    messages: list[Message] = [message]
    while True:
        bigger = [*messages, message]
        raw = sign_tx(probe, chain_id=chain_id, nonce=1, messages=bigger, fee=FEE)
        if len(raw) > MAX_TX_BYTES:
            return messages
        messages = bigger


def _signed(
    label: str, keys: int, nonces: int, messages: list[Message] | None, chain_id: str
) -> Iterator[bytes]:
    """Each key's transactions with nonces 1..nonces (its next nonce is 0: a gap)."""
    for index in range(keys):
        key = seeded_key(label, index)
        for nonce in range(1, nonces + 1):
            body = messages or [MsgSend(recipient_address(nonce), DENOM, 1)]
            yield sign_tx(key, chain_id=chain_id, nonce=nonce, messages=body, fee=FEE)


@dataclass
class _Submission:
    ctx: AttackContext
    batches: Iterator[list[bytes]]
    tally: Tally = field(default_factory=Tally)
    samples: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _next(self, retry: list[list[bytes]]) -> list[bytes] | None:
        if retry:
            return retry.pop()
        with self.lock:
            return next(self.batches, None)

    def worker(self) -> None:
        retry: list[list[bytes]] = []
        with self.ctx.http(SUBMIT_TIMEOUT_S) as client:
            while (batch := self._next(retry)) is not None:
                self._send(client, batch, retry)

    def _send(self, client: httpx.Client, batch: list[bytes], retry: list[list[bytes]]) -> None:
        body = {"txs": [raw.hex() for raw in batch], "mode": "sync"}
        try:
            response = client.post("/txs/batch", json=body)
        except httpx.HTTPError as exc:
            self._count(answer_of(exc), len(batch))
            return
        self._count_request()
        if response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE and len(batch) > 1:
            half = len(batch) // 2
            retry.extend([batch[half:], batch[:half]])
            self._count("batch split after HTTP 413", 0)
            return
        if response.status_code != HTTPStatus.OK:
            self._count(f"HTTP {response.status_code}", len(batch))
            return
        for result in response.json().get("results", []):
            self._result(result)

    def _result(self, result: dict[str, Any]) -> None:
        if result.get("code") == 0:
            self._count(ADMITTED, 1)
            return
        label = f"refused {result.get('codespace', '?')}/{result.get('code')}"
        with self.lock:
            self.samples.setdefault(label, str(result.get("log", ""))[:SAMPLE_LOG_CHARS])
        self._count(label, 1)

    def _count(self, label: str, txs: int) -> None:
        with self.lock:
            self.tally[label] += txs if txs else 1

    def _count_request(self) -> None:
        with self.lock:
            self.requests += 1


def _batched(txs: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    while batch := list(itertools.islice(txs, size)):
        yield batch


def _submit(ctx: AttackContext, txs: Iterator[bytes], size: int) -> _Submission:
    submission = _Submission(ctx, _batched(txs, size))
    threads = [threading.Thread(target=submission.worker) for _ in range(SUBMITTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return submission


def _mempool_size(ctx: AttackContext) -> int | None:
    try:
        value = httpx.get(f"{ctx.url}/status", timeout=SUBMIT_TIMEOUT_S).json()["mempool_size"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return int(value)


def jam(ctx: AttackContext) -> dict[str, Any]:
    o = ctx.options
    large = large_messages(ctx.chain_id)
    size = len(next(_signed("jam-size", 1, 1, large, ctx.chain_id)))
    phases = (
        ("large", o.jam_large_keys, large, LARGE_BATCH),
        ("small", o.jam_keys, None, SMALL_BATCH),
    )
    answers: dict[str, int] = {}
    samples: dict[str, str] = {}
    figures: dict[str, Any] = {"large_tx_bytes": size, "mempool_before": _mempool_size(ctx)}
    for name, keys, messages, batch in phases:
        started = time.monotonic()
        txs = _signed(f"jam-{name}", keys, o.jam_nonces, messages, ctx.chain_id)
        submission = _submit(ctx, txs, batch)
        figures[f"{name}_submit_s"] = round(time.monotonic() - started, 1)
        figures[f"{name}_requests"] = submission.requests
        answers.update({f"{name}: {k}": v for k, v in sorted(submission.tally.items())})
        samples.update({f"{name}: {k}": v for k, v in submission.samples.items()})
        ctx.log(f"jam, {name} transactions: {dict(submission.tally)}")
    figures["mempool_after_submit"] = _mempool_size(ctx)
    time.sleep(o.jam_observe)
    figures["mempool_after_observe"] = _mempool_size(ctx)
    large_mib = o.jam_large_keys * o.jam_nonces * size / MIB
    return {
        "sent": f"{o.jam_large_keys} unfunded keys x nonces 1..{o.jam_nonces} of {size:,}-byte "
        f"transactions ({large_mib:.0f} MiB), then {o.jam_keys:,} unfunded keys x nonces "
        f"1..{o.jam_nonces} of 1-cent transfers ({o.jam_keys * o.jam_nonces:,} txs); then "
        f"{o.jam_observe:g} s of honest payments only",
        "answers": answers,
        "figures": figures,
        "samples": samples,
    }
