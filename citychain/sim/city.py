"""The city simulator: a seeded city's payments, driven through a node's real HTTP API.

A city has citizens (most in wallet tier 0, a share verified to tier 1 by the ``kyc`` key),
merchants in tier 1 with the ticket sizes of their trade, and one employer (the battery factory,
an institution) paying wages with multi-send; the ``issuer`` mints the opening float, tops up
wallets from bank deposits and burns what merchants redeem. Each tick every acting wallet signs at
most one transaction; the tick goes to the node as one batch (``POST /txs/batch``, mode
``commit``), so the batch is admitted in order and committed in one block.

The simulator keeps its own ledger (``ExpectedLedger``), a small mirror of the bank's rules
(docs/modules/bank.md), and predicts every outcome before it submits: success, or the exact code
of a refusal (``bank/3`` overdraft, ``bank/5`` over the tier's payment limit, ``bank/9`` a request
paid twice, ``bank/10`` an expired request, ...). Any outcome that differs is a mismatch, and
``audit`` compares balances, nonces, requests and supply against the node at the end.

Everything is a function of the seed: keys are ``sha256("citychain-sim/<seed>/<role>/<i>")``,
and every choice comes from one ``random.Random(seed)``. Heights, and therefore request expiries
and ids, also depend on how many blocks the node made before the run.

This module is the loop (set up, tick, run, audit); the parts live beside it: ``config`` (the
city's shape), ``population`` (who lives there), ``model`` (the expected ledger), ``behaviour``
(what each actor does in a tick), ``transactions`` (sign, submit, check), ``stats`` and ``audit``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence

from citychain.client import Client, Wallet
from citychain.crypto.address import address_from_bytes
from citychain.crypto.keys import PrivateKey
from citychain.modules.bank import FEE_COLLECTOR
from citychain.sim.audit import Audit, audit_city
from citychain.sim.behaviour import (
    TickState,
    plan_citizens,
    plan_issuer,
    plan_merchants,
    plan_payroll,
    sort_requests,
)
from citychain.sim.config import CityConfig
from citychain.sim.model import (
    DENOM,
    TIER_INSTITUTION,
    Account,
    ExpectedLedger,
    Op,
    Request,
)
from citychain.sim.population import (
    opening_float,
    populate,
    verifications,
    wallet_account,
)
from citychain.sim.stats import Stats
from citychain.sim.transactions import Planned, SimulationError, chunks, plan, submit
from citychain.tx.envelope import MAX_MESSAGES

__all__ = ["CitySimulation"]


class CitySimulation:
    """``sim.setup()`` once, then ``sim.tick()`` (or ``sim.run(seconds)``), then ``sim.audit()``."""

    def __init__(
        self, client: Client, issuer: PrivateKey, kyc: PrivateKey, config: CityConfig | None = None
    ) -> None:
        self.client = client
        self.config = config = config or CityConfig()
        self.rng = random.Random(config.seed)
        status = client.status()
        self.chain_id = str(status["chain_id"])
        self.height = int(status["height"])
        self.stats = Stats(height=self.height)
        self.fee_collector = Account(
            "fee collector", address_from_bytes(FEE_COLLECTOR), TIER_INSTITUTION, unlimited=True
        )
        self.ledger = ExpectedLedger(self.fee_collector)
        self.issuer = wallet_account("issuer", Wallet(issuer, client, chain_id=self.chain_id))
        self.kyc = wallet_account("kyc", Wallet(kyc, client, chain_id=self.chain_id))
        people = populate(config, self.rng, client, self.chain_id)
        self.employer = people.employer
        self.citizens = people.citizens
        self.merchants = people.merchants
        self.verified = people.verified
        self.employees = people.employees
        self.wages = people.wages
        self._people = people  # the same objects, for the set-up transactions
        self.setup_txs: list[str] = []  # hashes of the set-up transactions (tiers, opening float)
        self.start_supply = 0
        self.outside = 0  # supply held by accounts the simulator does not know
        self.tick_state = TickState()

    @property
    def accounts(self) -> list[Account]:
        """Every account the simulator tracks."""
        fixed = [self.issuer, self.kyc, self.fee_collector, self.employer]
        return fixed + [m.account for m in self.merchants] + self.citizens

    def recent_requests(self) -> dict[str, list[Request]]:
        """Requests the simulator still tracks, by what happened to them (recent ones only)."""
        state = self.tick_state
        return {
            "paid": list(state.paid),
            "cancelled": list(state.cancelled),
            "expired": list(state.expired),
            "open": list(state.payable),
        }

    # --- setup ------------------------------------------------------------------------------
    def setup(self) -> None:
        """Check the city is new to this chain, verify wallets, and mint the opening float."""
        self._check_fresh()
        for account in (self.issuer, self.kyc, self.fee_collector):
            view = self.client.account(account.address)
            account.balance = int(view["balances"].get(DENOM, 0))
            account.tier = int(view["tier"])
            account.start_nonce = int(view["nonce"])
        self.start_supply = int(self.client.supply().get(DENOM, 0))
        self.outside = self.start_supply - sum(a.balance for a in self.accounts)
        tiers = verifications(self._people)
        mints = opening_float(self._people, self.rng)
        planned = [self._plan("setup", self.kyc, ops) for ops in chunks(tiers, MAX_MESSAGES)]
        planned += [self._plan("setup", self.issuer, ops) for ops in chunks(mints, MAX_MESSAGES)]
        if any(p is None for p in planned):
            raise SimulationError("the issuer or kyc key cannot fund the city (fee float?)")
        self.setup_txs = [p.hash for p in planned if p is not None]
        self._submit([p for p in planned if p is not None])
        if self.stats.mismatches:
            raise SimulationError(f"setup failed: {self.stats.mismatches[0]}")
        self.stats = Stats(height=self.height)

    def _check_fresh(self) -> None:
        sample = [self.employer, *[m.account for m in self.merchants[:4]], *self.citizens[:12]]
        for account in sample:
            view = self.client.account(account.address)
            if int(view["nonce"]) or any(int(v) for v in view["balances"].values()):
                raise SimulationError(
                    f"{account.name} ({account.address}) already has history on this chain:"
                    " use a fresh chain or another seed"
                )

    # --- one tick ---------------------------------------------------------------------------
    def tick(self) -> None:
        """Plan one batch (at most one transaction per wallet), submit it and check each result."""
        sort_requests(self)
        planned: list[Planned] = []
        plan_issuer(self, planned)
        if self.stats.ticks % self.config.payday_every == 0:
            plan_payroll(self, planned)
        plan_merchants(self, planned)
        plan_citizens(self, planned, self.config.max_batch - len(planned))
        self._submit(planned)
        self.stats.ticks += 1

    def run(
        self,
        seconds: float,
        on_progress: Callable[[Stats], None] | None = None,
        every: float = 5.0,
    ) -> Stats:
        """Tick until ``seconds`` have passed, calling ``on_progress`` every ``every`` seconds."""
        start = time.monotonic()
        if self.stats.ticks == 0:
            self.stats.started = start
        self.stats.stopped = None
        next_report = start + every
        while time.monotonic() - start < seconds:
            self.tick()
            if on_progress is not None and time.monotonic() >= next_report:
                on_progress(self.stats)
                next_report += every
        self.stats.stopped = time.monotonic()
        return self.stats

    # --- signing, submitting, checking (citychain/sim/transactions.py) ----------------------
    def _plan(
        self, kind: str, sender: Account, ops: Sequence[Op], *, expect_ok: bool = True
    ) -> Planned | None:
        return plan(self, kind, sender, ops, expect_ok=expect_ok)

    def _submit(self, planned: list[Planned]) -> None:
        submit(self, planned)

    # --- audit (citychain/sim/audit.py) -----------------------------------------------------
    def audit(
        self, sample: int = 300, trusted_validators: Iterable[tuple[bytes, int]] | None = None
    ) -> Audit:
        """Compare the node with the model: outcomes, balances and nonces, supply, requests,
        and one balance proof verified offline."""
        return audit_city(self, sample, trusted_validators)

    def example_account(self) -> Account:
        """A citizen worth looking at: the first with money."""
        return next((c for c in self.citizens if c.balance > 0), self.citizens[0])
