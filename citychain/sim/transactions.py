"""One transaction's life: predicted by the expected ledger, signed, submitted, checked.

Each tick's transactions go to the node as one batch (``POST /txs/batch``, mode ``commit``), so
the batch is admitted in order and committed in one block. An outcome other than the predicted
one is a mismatch; the simulator then takes the node's word for what the transaction touched.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from citychain.client import ApiError
from citychain.modules.bank import (
    MsgBurn,
    MsgCancelRequest,
    MsgCreateRequest,
    MsgMint,
    MsgMultiSend,
    MsgPayRequest,
    MsgRefund,
    MsgSend,
    MsgSetTier,
    new_request_id,
)
from citychain.sim.model import (
    DENOM,
    OK,
    Account,
    Burn,
    CancelRequest,
    CreateRequest,
    Mint,
    MultiSend,
    Op,
    PayRequest,
    Refund,
    Request,
    Send,
    SetTier,
)
from citychain.tx.envelope import Message

if TYPE_CHECKING:
    from citychain.sim.city import CitySimulation

__all__ = ["Planned", "SimulationError", "chunks", "plan", "submit"]


class SimulationError(Exception):
    """The simulation cannot go on (the chain is not fresh, a batch never committed, ...)."""


@dataclass(eq=False)
class Planned:
    kind: str  # "setup", "transfer", "payment", "merchant", "payroll", "issuer", "probe"
    sender: Account
    ops: tuple[Op, ...]
    raw: bytes
    hash: str
    expected: str


def chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _outcome(result: dict[str, Any]) -> str:
    code = int(result.get("code", 0))
    return OK if code == 0 else f"{result.get('codespace', '')}/{code}"


def plan(
    sim: CitySimulation, kind: str, sender: Account, ops: Sequence[Op], *, expect_ok: bool = True
) -> Planned | None:
    """Predict, sign and (when it should succeed) apply one transaction to the model.

    Returns None, signing nothing, when the prediction is not what the caller wants.
    """
    height = sim.height + 1
    expected = sim.ledger.run(sender, ops, height, commit=False)
    if (expected == OK) != expect_ok:
        return None
    assert sender.wallet is not None
    raw = sender.wallet.sign([to_message(op) for op in ops])
    tx_hash = hashlib.sha256(raw).digest()
    for index, op in enumerate(ops):
        if isinstance(op, CreateRequest):
            op.request.id = new_request_id(tx_hash, index)
    if expected == OK:
        sim.ledger.run(sender, ops, height, commit=True)
    return Planned(kind, sender, tuple(ops), raw, tx_hash.hex(), expected)


def submit(sim: CitySimulation, planned: list[Planned]) -> None:
    for batch in chunks(planned, sim.config.max_batch):
        results = sim.client.broadcast_batch([p.raw for p in batch], wait=True)
        uncommitted = [
            i for i, r in enumerate(results) if r.get("code") == 0 and r.get("height") is None
        ]
        for i in uncommitted:  # admitted but not committed before the node's timeout
            results[i] = _await_commit(sim, batch[i].hash)
        for p, result in zip(batch, results, strict=True):
            _settle(sim, p, result)


def _await_commit(sim: CitySimulation, tx_hash: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            view = sim.client.tx(tx_hash)
        except ApiError as exc:
            if exc.status != HTTPStatus.NOT_FOUND:
                raise
            time.sleep(0.2)
            continue
        result = view["result"]
        return {**result, "hash": tx_hash, "height": view["height"]}
    raise SimulationError(f"transaction {tx_hash} was admitted but not committed in {timeout}s")


def _settle(sim: CitySimulation, p: Planned, result: dict[str, Any]) -> None:
    stats = sim.stats
    actual = _outcome(result)
    if result.get("height") is not None:
        sim.height = max(sim.height, int(result["height"]))
        stats.height = sim.height
    stats.submitted += 1
    if actual != OK:
        stats.refused[actual] += 1
        assert p.sender.wallet is not None
        p.sender.wallet.resync()  # a refused transaction did not use its nonce
    refused_unblocked = actual != p.expected and result.get("height") is None
    latest = int(sim.client.status()["height"]) if refused_unblocked else None
    if actual != p.expected and _expired_in_flight(p, actual, result, latest):
        stats.late[actual] += 1
        _reconcile(sim, p)
        return
    if actual != p.expected:
        stats.mismatches.append(
            f"{p.kind} {p.hash} from {p.sender.name}: expected {p.expected}, got {actual}"
            f" ({result.get('log', '')})"
        )
        _reconcile(sim, p)
        return
    if actual != OK:
        return
    stats.committed += 1
    for op in p.ops:
        _count(sim, p, op)


def _count(sim: CitySimulation, p: Planned, op: Op) -> None:
    """Add one message of a committed transaction to the run's statistics."""
    stats = sim.stats
    match op:
        case Send(_, amount):
            stats.transfers += p.kind == "transfer"
            stats.volume_cents += amount
        case MultiSend(outputs):
            stats.wages_paid += len(outputs)
            stats.volume_cents += sum(a for _, a in outputs)
        case Mint(recipient, amount):
            stats.minted += amount
            stats.top_ups += p.kind == "issuer" and recipient is not sim.employer
        case Burn(amount):
            stats.burned += amount
        case CreateRequest():
            stats.requests_created += 1
        case PayRequest(r):
            stats.requests_paid += 1
            stats.volume_cents += r.amount
            stats.example_payment = stats.example_payment or p.hash
        case CancelRequest():
            stats.cancelled += 1
        case Refund(_, amount):
            stats.refunds += 1
            stats.refunded_cents += amount
            stats.volume_cents += amount


NEVER_CREATED = "never_created"
"""A request whose creating transaction failed: the ledger has no such request."""


def _expired_in_flight(
    p: Planned, actual: str, result: dict[str, Any], latest_height: int | None = None
) -> bool:
    """Whether a predicted success failed only because its block came at or after a
    request's expiry, which the ledger's rules say it must (bank handlers): creating needs
    expiry > height (bank/18), paying needs height <= expiry (bank/10). A transaction's
    messages succeed or fail together, so one such message explains a merchant's bundle; and
    a payment planned in the same tick for a request whose creation so failed finds no
    request (bank/8).

    A transaction refused before any block (CheckTx: no ``height`` in the result) was checked
    at some height no later than ``latest_height``, the node's height asked after the refusal;
    the rule can explain it only if it would refuse at that height."""
    height = result.get("height")
    if p.expected != OK:
        return False
    at = int(height) if height is not None else latest_height
    if at is None:
        return False
    for op in p.ops:
        match op:
            case CreateRequest(r) if actual == "bank/18" and at >= r.expiry:
                return True
            case PayRequest(r) if actual == "bank/10" and at > r.expiry:
                return True
            case PayRequest(r) if actual == "bank/8" and r.status == NEVER_CREATED:
                return True
    return False


def _reconcile(sim: CitySimulation, p: Planned) -> None:
    """After a surprise, take the node's word for what the transaction touched."""
    touched: list[Account] = [p.sender, sim.fee_collector]
    for op in p.ops:
        match op:
            case Send(a) | Mint(a) | SetTier(a):
                touched.append(a)
            case MultiSend(outputs):
                touched.extend(a for a, _ in outputs)
            case CreateRequest(r) | PayRequest(r) | CancelRequest(r) | Refund(r):
                touched.append(r.merchant.account)
                if r.paid_by is not None:
                    touched.append(r.paid_by)
                _reload_request(sim, r)
    for account in touched:
        view = sim.client.account(account.address)
        account.balance = int(view["balances"].get(DENOM, 0))
        account.tier = int(view["tier"])
        account.accepted = int(view["nonce"]) - account.start_nonce


def _reload_request(sim: CitySimulation, r: Request) -> None:
    try:
        view = sim.client.payment_request(r.id.hex())
    except ApiError:
        r.status = NEVER_CREATED  # keep it out of every pool and of the audit's sample
        return
    r.status, r.refunded = str(view["status"]), int(view["refunded"])
    by = view.get("paid_by")
    r.paid_by = next((a for a in sim.citizens if a.address == by), None) if by else None


def to_message(op: Op) -> Message:
    match op:
        case Send(recipient, amount):
            return MsgSend(recipient.raw, DENOM, amount)
        case MultiSend(outputs):
            return MsgMultiSend(DENOM, tuple((a.raw, n) for a, n in outputs))
        case Mint(recipient, amount):
            return MsgMint(recipient.raw, DENOM, amount)
        case Burn(amount):
            return MsgBurn(DENOM, amount)
        case SetTier(account, tier):
            return MsgSetTier(account.raw, tier)
        case CreateRequest(r):
            return MsgCreateRequest(DENOM, r.amount, r.memo, r.expiry, b"")
        case PayRequest(r, amount):
            return MsgPayRequest(r.id, DENOM, amount)
        case CancelRequest(r):
            return MsgCancelRequest(r.id)
        case Refund(r, amount):
            return MsgRefund(r.id, amount)
    raise TypeError(f"unknown op {op!r}")
