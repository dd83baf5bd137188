"""The honest client of ``bench/attacks.py`` and ``bench/soak.py``: funded payers sending one
transfer at a steady rate while the node is attacked (docs/hardening-bench.md).

Every payment is ``POST /txs`` with ``mode=commit`` from one of the honest keys (each key has at
most one payment in flight, so its nonces stay in order), 1 cent to a recipient-only account
with fee 1. Its latency is the request's round trip: submission to commit. A key whose payment
did not commit asks the node for its nonce before it pays again. When every key is busy at a
tick, the tick is counted as ``skipped``: the client does not pile up requests the node has not
answered.
"""

from __future__ import annotations

import hashlib
import itertools
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx

from citychain.benchmarks import DENOM, FEE, recipient_address
from citychain.benchmarks.attacks_watch import answer_of, latency_figures
from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.modules.bank import MsgSend
from citychain.tx.envelope import sign_tx

__all__ = ["COMMITTED", "HonestPayer", "Payment", "honest_key", "payment_figures"]

COMMITTED = "committed"
TIMEOUT = "timeout"
DEFAULT_TIMEOUT_S = 30.0
PAYMENT_CENTS = 1
RECIPIENTS = 1_000  # recipient-only accounts the payments go to, round robin
JOIN_S = 5.0


def honest_key(index: int) -> PrivateKey:
    """The deterministic key of honest payer ``index``."""
    seed = hashlib.sha256(b"citychain-bench/attacks/honest/" + index.to_bytes(8, "big"))
    return PrivateKey.from_seed(seed.digest())


@dataclass(frozen=True, slots=True)
class Payment:
    sent: float  # monotonic
    seconds: float
    outcome: str  # COMMITTED, "refused tx/14", "HTTP 429", TIMEOUT, "connection closed", ...
    node: int  # index of the API it was sent to


class HonestPayer:
    """``rate`` payments a second from ``keys``, round robin over the APIs ``urls``."""

    def __init__(
        self,
        urls: Sequence[str],
        keys: Sequence[PrivateKey],
        chain_id: str,
        *,
        rate: float,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if rate <= 0 or not keys or not urls:
            raise ValueError("an honest payer needs a positive rate, keys and a node")
        self.urls = [u.rstrip("/") for u in urls]
        self.keys = list(keys)
        self.addresses = [address_from_public_key(k.public_key) for k in self.keys]
        self.chain_id = chain_id
        self.rate = rate
        self.timeout = timeout
        self.payments: list[Payment] = []
        self.skipped: list[float] = []
        self._nonces: list[int | None] = [None] * len(self.keys)
        self._idle: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(len(self.keys)):
            self._idle.put(index)
        self._counter = itertools.count()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=len(self.keys), thread_name_prefix="honest")
        self._ticker = threading.Thread(target=self._tick, name="honest-ticker", daemon=True)

    def start(self) -> HonestPayer:
        self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop paying and wait for the payments in flight (at most their timeout)."""
        self._stop.set()
        self._ticker.join(timeout=JOIN_S)
        self._pool.shutdown(wait=True)

    def _tick(self) -> None:
        started = time.monotonic()
        for tick in itertools.count():
            due = started + tick / self.rate
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            try:
                index = self._idle.get_nowait()
            except queue.Empty:
                with self._lock:
                    self.skipped.append(time.monotonic())
                continue
            self._pool.submit(self._pay, index)

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=self.timeout)
            self._local.client = client
        return client

    def _pay(self, index: int) -> None:
        number = next(self._counter)
        node = number % len(self.urls)
        try:
            self._pay_from(index, node)
        finally:
            self._idle.put(index)

    def _pay_from(self, index: int, node: int) -> None:
        url, client = self.urls[node], self._client()
        nonce = self._nonces[index]
        if nonce is None:
            asked = time.monotonic()
            nonce, problem = self._nonce(client, url, self.addresses[index])
            if nonce is None:
                # the honest user could not pay either: a failed payment
                with self._lock:
                    self.payments.append(Payment(asked, time.monotonic() - asked, problem, node))
                return
        raw = sign_tx(
            self.keys[index],
            chain_id=self.chain_id,
            nonce=nonce,
            messages=[MsgSend(recipient_address(nonce % RECIPIENTS), DENOM, PAYMENT_CENTS)],
            fee=FEE,
        )
        sent = time.monotonic()
        outcome = self._submit(client, url, raw)
        payment = Payment(sent, time.monotonic() - sent, outcome, node)
        self._nonces[index] = nonce + 1 if outcome == COMMITTED else None
        with self._lock:
            self.payments.append(payment)

    @staticmethod
    def _nonce(client: httpx.Client, url: str, address: str) -> tuple[int | None, str]:
        """The account's next nonce, else why it could not be read."""
        try:
            response = client.get(f"{url}/accounts/{address}")
        except httpx.HTTPError as exc:
            return None, f"nonce lookup: {answer_of(exc)}"
        if response.status_code != HTTPStatus.OK:
            return None, f"nonce lookup: HTTP {response.status_code}"
        try:
            return int(response.json()["nonce"]), ""
        except (ValueError, KeyError, TypeError):
            return None, "nonce lookup: no nonce in the answer"

    @staticmethod
    def _submit(client: httpx.Client, url: str, raw: bytes) -> str:
        try:
            response = client.post(f"{url}/txs", json={"tx": raw.hex(), "mode": "commit"})
        except httpx.HTTPError as exc:
            return answer_of(exc)
        if response.status_code != HTTPStatus.OK:
            return f"HTTP {response.status_code}"
        try:
            result: dict[str, Any] = response.json()
        except ValueError:
            return "HTTP 200 without JSON"
        if result.get("code") == 0 and result.get("height") is not None:
            return COMMITTED
        if result.get("code") == 0:
            return "accepted, not committed"
        return f"refused {result.get('codespace', '?')}/{result.get('code')}"

    def window(self, start: float, end: float) -> tuple[list[Payment], int]:
        """The payments sent in [start, end) and the ticks skipped then."""
        with self._lock:
            payments = [p for p in self.payments if start <= p.sent < end]
            skipped = sum(1 for at in self.skipped if start <= at < end)
        return payments, skipped


def payment_figures(payments: Sequence[Payment], skipped: int = 0) -> dict[str, Any]:
    """Sent, committed, failed and the latency figures of ``payments``.

    The latencies are those of the committed payments and of the ones the node never answered
    (their timeout): a refusal is a failure, not a fast payment.
    """
    outcomes = Counter(p.outcome for p in payments)
    committed = outcomes.get(COMMITTED, 0)
    latencies = [p.seconds for p in payments if p.outcome in (COMMITTED, TIMEOUT)]
    return {
        "sent": len(payments),
        "committed": committed,
        "failed": len(payments) - committed,
        "skipped": skipped,
        "outcomes": dict(sorted(outcomes.items())),
        **latency_figures(latencies),
    }
