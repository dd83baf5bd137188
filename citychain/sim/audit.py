"""The end-of-run checks: the node against the simulator's expected ledger.

Outcomes as predicted, balances and nonces, supply, payment requests, and one balance proof
verified offline; each check prints both sides of its comparison.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citychain.client import ApiError, verify_bundle
from citychain.sim.model import DENOM, Request
from citychain.sim.transactions import NEVER_CREATED

if TYPE_CHECKING:
    from citychain.sim.city import CitySimulation

__all__ = ["Audit", "Check", "audit_city"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Audit:
    checks: list[Check] = field(default_factory=list)
    proof: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))


def audit_city(
    sim: CitySimulation, sample: int, trusted_validators: Iterable[tuple[bytes, int]] | None
) -> Audit:
    """Compare the node with the model: outcomes, balances and nonces, supply, requests,
    and one balance proof verified offline."""
    audit = Audit()
    stats = sim.stats
    mismatches = stats.mismatches
    late = sum(stats.late.values())
    late_note = (
        f"; {late} reached their block after the request's expiry, refused as the rules say"
        if late
        else ""
    )
    audit.add(
        "outcomes",
        not mismatches,
        f"{stats.submitted:,} transactions, each committed or refused as predicted{late_note}"
        if not mismatches
        else f"{len(mismatches)} differ from the prediction; first: {mismatches[0]}",
    )
    held = _audit_accounts(sim, audit, sample)
    _audit_supply(sim, audit, held)
    _audit_requests(sim, audit)
    _audit_proof(sim, audit, trusted_validators)
    return audit


def _audit_accounts(sim: CitySimulation, audit: Audit, sample: int) -> int | None:
    """Spot-check balances and nonces; returns the node's total when every account was read."""
    picker = random.Random(sim.config.seed + 1)
    citizens = picker.sample(sim.citizens, min(sample, len(sim.citizens)))
    fixed = [sim.issuer, sim.kyc, sim.fee_collector, sim.employer]
    accounts = fixed + [m.account for m in sim.merchants] + citizens
    wrong: list[str] = []
    total = sim.outside
    for account in accounts:
        view = sim.client.account(account.address)
        balance, nonce = int(view["balances"].get(DENOM, 0)), int(view["nonce"])
        total += balance
        expected_nonce = account.start_nonce + account.accepted
        if balance != account.balance or (account.wallet and nonce != expected_nonce):
            wrong.append(
                f"{account.name}: node {balance} (nonce {nonce}),"
                f" expected {account.balance} (nonce {expected_nonce})"
            )
    audit.add(
        "balances",
        not wrong,
        f"{len(accounts):,} accounts spot-checked: balance and nonce as expected"
        if not wrong
        else f"{len(wrong)} of {len(accounts)} differ; first: {wrong[0]}",
    )
    return total if len(citizens) == len(sim.citizens) else None


def _audit_supply(sim: CitySimulation, audit: Audit, node_total: int | None) -> None:
    supply = int(sim.client.supply().get(DENOM, 0))
    minted, burned = sim.ledger.minted, sim.ledger.burned
    expected = sim.start_supply + minted - burned
    audit.add(
        "supply",
        supply == expected,
        f"/bank/supply {supply:,} {'=' if supply == expected else '!='} start"
        f" {sim.start_supply:,} + minted {minted:,} - burned {burned:,} (cents)",
    )
    # With every account read, the node's own balances are summed; else the expected ones.
    held = node_total if node_total is not None else sum(a.balance for a in sim.accounts)
    held += 0 if node_total is not None else sim.outside
    whose = "all balances on the node" if node_total is not None else "expected balances"
    whose += "" if node_total is not None else " (every account)"
    audit.add(
        "total-supply",
        held == supply,
        f"sum of {whose} {held:,} {'=' if held == supply else '!='} supply {supply:,}",
    )


def _audit_requests(sim: CitySimulation, audit: Audit) -> None:
    picker = random.Random(sim.config.seed + 2)
    pools: list[Sequence[Request]] = [
        list(sim.tick_state.paid),
        list(sim.tick_state.cancelled),
        list(sim.tick_state.expired),
        sim.tick_state.payable,
    ]
    pools = [[r for r in pool if r.status != NEVER_CREATED] for pool in pools]
    sample = [r for pool in pools for r in picker.sample(list(pool), min(40, len(pool)))]
    wrong = []
    for r in sample:
        try:
            view = sim.client.payment_request(r.id.hex())
        except ApiError as exc:
            wrong.append(f"{r.id.hex()} ({r.memo}, expected {r.status}): {exc}")
            continue
        expected = (r.status, r.paid_by.address if r.paid_by else None, r.refunded, r.amount)
        actual = (view["status"], view["paid_by"], view["refunded"], view["amount"])
        if actual != expected:
            wrong.append(f"{r.id.hex()}: node {actual}, expected {expected}")
    paid = sum(1 for r in sample if r.paid_by is not None)
    audit.add(
        "payment requests",
        not wrong,
        f"{len(sample)} requests checked ({paid} paid once, exactly; refunds as made)"
        if not wrong
        else f"{len(wrong)} of {len(sample)} differ; first: {wrong[0]}",
    )


def _audit_proof(
    sim: CitySimulation, audit: Audit, trusted: Iterable[tuple[bytes, int]] | None
) -> None:
    account = sim.example_account()
    body = sim.client.balance(account.address, prove=True)
    result = verify_bundle(body["proof"], trusted)
    ok = result.valid and int(body["balance"]) == account.balance
    audit.proof = {
        "address": account.address,
        "balance": int(body["balance"]),
        "height": result.details.get("height"),
        "valid": result.valid,
        "reason": result.reason,
        "validators_from": result.details.get("validators_from"),
    }
    audit.add(
        "balance proof",
        ok,
        f"{account.name}'s balance {int(body['balance']):,} proven at height"
        f" {result.details.get('height')} and verified offline"
        if ok
        else f"{account.name}: {result.reason}; node {body['balance']}, expected {account.balance}",
    )
