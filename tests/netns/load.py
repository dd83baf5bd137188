"""Payments that stream while the fault tests break the network, and the check that nothing a
node acknowledged was lost or applied twice.

``PaymentStream(net, payers, nodes, payees)``: one thread per payer, each sending transfers
(``POST /txs``, mode sync) to its own node's API, payer i to ``nodes[i % len(nodes)]`` (CheckTx
takes only an account's next nonce, so a payer stays with the node whose mempool holds its
earlier payments). Every payment is signed once, with the payer's next nonce, and never signed
again: a refused one is sent again as the same bytes (same hash), so each nonce has one
transaction and the chain's nonce says how many of a payer's payments it holds.

An answer is

* **acknowledged**: code 0, the node admitted it (its CheckTx passed) and wrote it to its
  ingress journal: it must be committed, even if that node is killed right after;
* **known**: refused as already seen (``tx already exists in cache``, ``tx/13``, or ``tx/5``:
  its nonce is used, by this very payment): an earlier attempt got in, the payer goes on;
* **refused**: anything else (node down or unreachable, ``429``, CheckTx timed out, mempool
  full): counted by reason, and sent again after ``RETRY_S``. A refused payment may still be
  committed (the node may have admitted it after all); the checks allow for that.

``stop()`` ends the stream; ``settle()`` sends each payer's unanswered payment until a node
answers for it, then waits until every payment is committed; ``verify()`` asserts that each
acknowledged payment is committed exactly once (looked up by hash, and counted in the blocks),
and that every node's balances and nonces are what the committed payments make them.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from netutil import CHAIN_ID, FEE, Network, wait_until

from citychain.client import ApiError, Client
from citychain.crypto.address import address_from_public_key, address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.modules.bank.messages import MsgSend
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import sign_tx

__all__ = ["PaymentStream", "Sent"]

log = logging.getLogger("faults")

REQUEST_TIMEOUT_S = 10.0
PACE_S = 0.25  # between one payer's answered payments: ~4 a second each
RETRY_S = 0.5  # before a refused payment is sent again
SETTLE_TIMEOUT_S = 180.0  # for every answered payment to be committed
ANSWER_TIMEOUT_S = 60.0  # for the payers' last payments to be answered, once the stream stops
LOOKUP_WORKERS = 6
LOOKUP_RETRY_S = 0.3
HTTP_TOO_MANY = 429
HTTP_NOT_FOUND = 404
MAX_AMOUNT = 9
DENOM = "ccy"
KNOWN_CODES = {(e.codespace, e.code) for e in (tx_errors.NONCE_USED, tx_errors.DUPLICATE)}
GAP = (tx_errors.NONCE_GAP.codespace, tx_errors.NONCE_GAP.code)
IN_CACHE = "already exists in cache"  # CometBFT's refusal of bytes its mempool cache holds


class Answer(enum.Enum):
    ACKED = "acknowledged"
    KNOWN = "known"
    GAP = "nonce gap"
    REFUSED = "refused"


@dataclass
class Sent:
    """One payment, signed once; what the nodes answered, and where it committed."""

    payer: str
    payee: str
    amount: int
    nonce: int
    raw: bytes = field(repr=False)
    tx_hash: str
    node: int
    acked: bool = False
    known: bool = False
    refusals: list[str] = field(default_factory=list)
    height: int | None = None
    code: int | None = None

    @property
    def answered(self) -> bool:
        return self.acked or self.known


@dataclass
class Lane:
    """One payer: its key, its node, what it started with, what it signed."""

    key: PrivateKey
    node: int
    start_nonce: int = 0
    start_balance: int = 0
    sent: list[Sent] = field(default_factory=list)

    @property
    def address(self) -> str:
        return address_from_public_key(self.key.public_key)

    @property
    def current(self) -> Sent | None:
        """The last payment signed, while no node has answered for it."""
        if self.sent and not self.sent[-1].answered:
            return self.sent[-1]
        return None


def _reason(codespace: str, code: int, text: str) -> str:
    return f"{codespace}/{code}" + (" (in cache)" if IN_CACHE in text else "")


def classify(result: dict[str, Any]) -> tuple[Answer, str]:
    """What a node's answer to ``POST /txs`` means for the payment; a short reason."""
    code, codespace, text = int(result["code"]), str(result["codespace"]), str(result["log"])
    if code == 0:
        return Answer.ACKED, "ok"
    reason = _reason(codespace, code, text)
    if (codespace, code) in KNOWN_CODES or IN_CACHE in text:
        return Answer.KNOWN, reason
    if (codespace, code) == GAP:
        return Answer.GAP, reason
    return Answer.REFUSED, reason


class PaymentStream:
    def __init__(
        self,
        net: Network,
        payers: Sequence[PrivateKey],
        nodes: Sequence[int],
        payees: Sequence[str],
        *,
        pace_s: float = PACE_S,
    ) -> None:
        self.net = net
        self.nodes = list(nodes)
        self.payees = list(payees)
        self.pace_s = pace_s
        self.lanes = [Lane(key, self.nodes[i % len(self.nodes)]) for i, key in enumerate(payers)]
        self.refused: Counter[str] = Counter()
        self._refused_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.started_at = 0.0
        self.stopped_at = 0.0
        self.start_height = 0
        self._readers: dict[int, httpx.Client] = {}
        self._readers_lock = threading.Lock()

    def _reader(self, index: int) -> httpx.Client:
        """One client per node for the checks' reads, shared by their threads (a new httpx
        client per request costs tens of milliseconds: it loads the CA bundle)."""
        with self._readers_lock:
            if index not in self._readers:
                url = self.net.api_url(index)
                self._readers[index] = httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S)
            return self._readers[index]

    def close(self) -> None:
        with self._readers_lock:
            for http in self._readers.values():
                http.close()
            self._readers.clear()

    # --- the stream -----------------------------------------------------------------------
    def start(self) -> None:
        """Read each payer's nonce and balance (the chain must be quiet for them), then send."""
        self.start_height = self.net.common_height(self.net.everyone)
        for lane in self.lanes:
            client = self.net.client(lane.node)
            lane.start_nonce = client.nonce(lane.address)
            lane.start_balance = int(client.balance(lane.address)["balance"])
        self.started_at = time.monotonic()
        for lane in self.lanes:
            thread = threading.Thread(target=self._run, args=(lane,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT_S * 3)
            assert not thread.is_alive(), "a payer's thread did not stop"
        self.stopped_at = time.monotonic()

    def _sign(self, lane: Lane) -> Sent:
        nonce = lane.start_nonce + len(lane.sent)
        payee = self.payees[(len(lane.sent) + self.lanes.index(lane)) % len(self.payees)]
        amount = 1 + len(lane.sent) % MAX_AMOUNT
        message = MsgSend(address_to_bytes(payee), DENOM, amount)
        raw = sign_tx(lane.key, chain_id=CHAIN_ID, nonce=nonce, messages=[message], fee=FEE)
        sent = Sent(lane.address, payee, amount, nonce, raw, _tx_hash(raw), lane.node)
        lane.sent.append(sent)
        return sent

    def _run(self, lane: Lane) -> None:
        with Client(self.net.api_url(lane.node), timeout=REQUEST_TIMEOUT_S) as client:
            while not self._stop.is_set():
                sent = lane.current or self._sign(lane)
                answer = self._submit(client, sent)
                if answer is Answer.GAP:
                    self._resend_earlier(client, lane, sent)
                wait = self.pace_s if sent.answered else RETRY_S
                self._stop.wait(wait)

    def _submit(self, client: Client, sent: Sent) -> Answer:
        try:
            result = client.broadcast(sent.raw)
        except ApiError as exc:
            answer, reason = Answer.REFUSED, f"http {exc.status}"
        else:
            answer, reason = classify(result)
        if answer is Answer.ACKED:
            sent.acked = True
        elif answer is Answer.KNOWN:
            sent.known = True
        if answer is not Answer.ACKED:
            sent.refusals.append(reason)
            with self._refused_lock:
                self.refused[reason] += 1
        return answer

    def _resend_earlier(self, client: Client, lane: Lane, sent: Sent) -> None:
        """The node lacks an earlier payment of this payer that an answer said was in: send
        those not acknowledged again, in order (the same bytes)."""
        for earlier in lane.sent:
            if earlier is not sent and not earlier.acked:
                self._submit(client, earlier)

    # --- after the stream -------------------------------------------------------------------
    def settle(self, lookup_nodes: Sequence[int], timeout: float = SETTLE_TIMEOUT_S) -> None:
        """Send each payer's unanswered payment until a node answers for it, then wait until
        every payment that was answered is committed (each looked up by its hash on one of
        ``lookup_nodes``, in turn: one node's rate limit would make this slow)."""
        assert self._stop.is_set(), "stop() the stream first"
        answering = time.monotonic() + ANSWER_TIMEOUT_S
        for lane in self.lanes:
            self._answer(lane, answering)
        deadline = time.monotonic() + timeout
        answered = [s for s in self.all_sent() if s.answered]
        node_of = {s.tx_hash: lookup_nodes[i % len(lookup_nodes)] for i, s in enumerate(answered)}
        pending = list(answered)
        with ThreadPoolExecutor(LOOKUP_WORKERS) as pool:
            while pending and time.monotonic() < deadline:
                found = list(
                    pool.map(lambda s: lookup(self._reader(node_of[s.tx_hash]), s.tx_hash), pending)
                )
                for sent, where in zip(pending, found, strict=True):
                    if where is not None:
                        sent.height, sent.code = where
                pending = [s for s in pending if s.height is None]
                if pending:
                    time.sleep(LOOKUP_RETRY_S)
        log.info("settled %d payments, %d not committed", len(answered), len(pending))

    def _answer(self, lane: Lane, deadline: float) -> None:
        current = lane.current
        if current is None:
            return
        with Client(self.net.api_url(lane.node), timeout=REQUEST_TIMEOUT_S) as client:
            while not current.answered and time.monotonic() < deadline:
                if self._submit(client, current) is Answer.GAP:
                    self._resend_earlier(client, lane, current)
                if not current.answered:
                    time.sleep(RETRY_S)

    def all_sent(self) -> list[Sent]:
        return [s for lane in self.lanes for s in lane.sent]

    def figures(self) -> dict[str, Any]:
        sent = self.all_sent()
        return {
            "payments": len(sent),
            "acknowledged": sum(s.acked for s in sent),
            "acknowledged_by_node": dict(Counter(f"node{s.node}" for s in sent if s.acked)),
            "committed": sum(s.height is not None for s in sent),
            "refused_attempts": sum(self.refused.values()),
            "refused_payments": sum(bool(s.refusals) and not s.acked for s in sent),
            "committed_unacknowledged": sum(s.height is not None and not s.acked for s in sent),
            "acknowledged_lost": sum(s.acked and s.height is None for s in sent),
            "unanswered": sum(not s.answered for s in sent),
            "refusals_by_reason": dict(self.refused),
            "stream_s": round(self.stopped_at - self.started_at, 1),
        }

    # --- the checks -------------------------------------------------------------------------
    def acknowledged(self) -> int:
        """Payments acknowledged so far (read while the stream runs)."""
        return sum(s.acked for lane in self.lanes for s in list(lane.sent))

    def verify(self, nodes: Sequence[int]) -> None:
        """Every acknowledged payment committed, once, with code 0; every payer's nonce and
        balance, and every payee's balance, on each of ``nodes`` as the committed payments
        make them."""
        sent = self.all_sent()
        lost = [s for s in sent if s.acked and s.height is None]
        by_node = Counter(f"node{s.node}" for s in lost)
        assert not lost, (
            f"{len(lost)} acknowledged payments never committed (acknowledged by {dict(by_node)}); "
            f"the first: {lost[:3]}"
        )
        committed = [s for s in sent if s.height is not None]
        failed = [s for s in committed if s.code != 0]
        assert not failed, f"committed payments that failed: {failed[:3]}"
        top = max((s.height or 0 for s in committed), default=self.start_height)
        self.net.wait_for_height(top, nodes)
        self._assert_once(committed, top, nodes[0])
        for index in nodes:
            self._assert_accounts(index, committed)

    def _assert_once(self, committed: Sequence[Sent], top: int, index: int) -> None:
        """Each committed payment in exactly one block (the blocks of one node; the caller's
        agreement check shows the others hold the same blocks)."""
        ours = {s.tx_hash: s for s in committed}
        seen: Counter[str] = Counter()
        heights = range(self.start_height + 1, top + 1)
        with ThreadPoolExecutor(LOOKUP_WORKERS) as pool:
            for height, hashes in zip(
                heights, pool.map(lambda h: block_txs(self._reader(index), h), heights), strict=True
            ):
                for tx_hash in hashes:
                    if tx_hash in ours:
                        seen[tx_hash] += 1
                        assert ours[tx_hash].height == height, (tx_hash, height)
        twice = {h: n for h, n in seen.items() if n != 1}
        missing = set(ours) - set(seen)
        assert not twice and not missing, f"in blocks twice: {twice}; in no block: {missing}"

    def _assert_accounts(self, index: int, committed: Sequence[Sent]) -> None:
        client = self.net.client(index)
        by_payer: dict[str, list[Sent]] = {}
        received: Counter[str] = Counter()
        for s in committed:
            by_payer.setdefault(s.payer, []).append(s)
            received[s.payee] += s.amount
        for lane in self.lanes:
            mine = sorted(by_payer.get(lane.address, []), key=lambda s: s.nonce)
            nonces = [s.nonce for s in mine]
            assert nonces == list(range(lane.start_nonce, lane.start_nonce + len(mine))), (
                f"payer {lane.address}'s committed nonces are not consecutive: {nonces}"
            )
            spent = sum(s.amount + FEE for s in mine)
            actual = (client.nonce(lane.address), int(client.balance(lane.address)["balance"]))
            expected = (lane.start_nonce + len(mine), lane.start_balance - spent)
            assert actual == expected, f"node{index}: payer {lane.address} (nonce, balance)"
        for payee in self.payees:
            balance = int(client.balance(payee)["balance"])
            assert balance == received[payee], f"node{index}: payee {payee} has {balance}"


def _tx_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _get(http: httpx.Client, path: str) -> httpx.Response:
    """GET ``path``, again while the node answers 429 or cannot be reached."""

    def attempt() -> httpx.Response | None:
        with contextlib.suppress(httpx.HTTPError):
            response = http.get(path)
            if response.status_code != HTTP_TOO_MANY:
                return response
        return None

    return wait_until(attempt, SETTLE_TIMEOUT_S, f"GET {http.base_url}{path}", LOOKUP_RETRY_S)


def lookup(http: httpx.Client, tx_hash: str) -> tuple[int, int] | None:
    """(height, result code) of a committed transaction on the node ``http`` reaches; None if
    it has none with that hash."""
    response = _get(http, f"/txs/{tx_hash}")
    if response.status_code == HTTP_NOT_FOUND:
        return None
    response.raise_for_status()
    doc = response.json()
    return int(doc["height"]), int(doc["result"]["code"])


def block_txs(http: httpx.Client, height: int) -> list[str]:
    response = _get(http, f"/blocks/{height}")
    response.raise_for_status()
    return [str(h) for h in response.json().get("txs", [])]
