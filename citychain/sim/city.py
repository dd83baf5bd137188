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
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from citychain.client import ApiError, Client, Wallet, verify_bundle
from citychain.crypto.address import address_from_bytes, address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.errors import ErrorCode
from citychain.modules.bank import errors as bank_errors
from citychain.modules.bank.genesis import DEFAULT_SECTION
from citychain.modules.bank.messages import (
    MAX_OUTPUTS,
    MsgBurn,
    MsgCancelRequest,
    MsgCreateRequest,
    MsgMint,
    MsgMultiSend,
    MsgPayRequest,
    MsgRefund,
    MsgSend,
    MsgSetTier,
)
from citychain.modules.bank.state import FEE_COLLECTOR, new_request_id
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import MAX_MESSAGES, Message

__all__ = [
    "MERCHANT_KINDS",
    "Audit",
    "Check",
    "CityConfig",
    "CitySimulation",
    "MerchantKind",
    "SimulationError",
    "Stats",
]

DENOM = "ccy"
FEE = 1  # cents; the genesis minimum fee
OK = "ok"
TIER_UNVERIFIED, TIER_VERIFIED, TIER_INSTITUTION = 0, 1, 2


def code_name(error: ErrorCode) -> str:
    """``bank/5``: how outcomes are named in the simulator's counters and reports."""
    return f"{error.codespace}/{error.code}"


INVALID_AMOUNT = code_name(bank_errors.INVALID_AMOUNT)
INSUFFICIENT_FUNDS = code_name(bank_errors.INSUFFICIENT_FUNDS)
TIER_PAYMENT_LIMIT = code_name(bank_errors.TIER_PAYMENT_LIMIT)
TIER_BALANCE_LIMIT = code_name(bank_errors.TIER_BALANCE_LIMIT)
REQUEST_NOT_OPEN = code_name(bank_errors.REQUEST_NOT_OPEN)
REQUEST_EXPIRED = code_name(bank_errors.REQUEST_EXPIRED)
AMOUNT_MISMATCH = code_name(bank_errors.AMOUNT_MISMATCH)
NOT_MERCHANT = code_name(bank_errors.NOT_MERCHANT)
REFUND_EXCEEDS = code_name(bank_errors.REFUND_EXCEEDS)
INVALID_EXPIRY = code_name(bank_errors.INVALID_EXPIRY)
REQUEST_NOT_PAID = code_name(bank_errors.REQUEST_NOT_PAID)
FEE_UNPAYABLE = code_name(tx_errors.FEE_UNPAYABLE)


class SimulationError(Exception):
    """The simulation cannot go on (the chain is not fresh, a batch never committed, ...)."""


# --- the city --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MerchantKind:
    name: str
    plural: str
    weight: int  # how many of every 100 merchants are of this kind
    ticket_min: int  # cents
    ticket_max: int
    items: tuple[str, ...]


MERCHANT_KINDS: tuple[MerchantKind, ...] = (
    MerchantKind("café", "cafés", 24, 180, 950, ("espresso", "flat white", "croissant", "lunch")),
    MerchantKind("bakery", "bakeries", 12, 120, 1_400, ("baguette", "rye loaf", "cake slice")),
    MerchantKind("grocery", "groceries", 20, 600, 9_500, ("groceries", "weekly shop", "fruit")),
    MerchantKind("pharmacy", "pharmacies", 8, 350, 6_500, ("prescription", "vitamins", "plasters")),
    MerchantKind("transit", "transit lines", 8, 180, 450, ("bus fare", "tram fare", "metro fare")),
    MerchantKind("restaurant", "restaurants", 12, 1_400, 8_500, ("dinner", "set menu", "takeaway")),
    MerchantKind("utilities", "utilities", 4, 2_500, 15_000, ("electricity", "water", "heating")),
    MerchantKind("hardware", "hardware stores", 6, 300, 12_000, ("tools", "paint", "screws")),
    MerchantKind("bookshop", "bookshops", 6, 500, 4_500, ("paperback", "newspaper", "atlas")),
)


@dataclass(frozen=True)
class CityConfig:
    """The city's shape and pace; amounts in cents of ``ccy``."""

    citizens: int = 5_000
    merchants: int = 200
    seed: int = 1
    verified_share: float = 0.25  # of citizens, verified to tier 1 by the kyc key
    employee_share: float = 0.15  # of citizens, working at the battery factory (all verified)
    acting_share: float = 0.12  # of citizens, acting in each tick
    max_batch: int = 4_000  # transactions per tick; below the node's block size
    pay_share: float = 0.55  # of acting citizens: pay a merchant's request (else: a transfer)
    probe_share: float = 0.015  # of acting citizens: try something the ledger must refuse
    refund_share: float = 0.03  # of payments, refunded later
    cancel_share: float = 0.02  # of open requests per tick, cancelled by the merchant
    short_request_share: float = 0.03  # requests that nobody pays, left to expire
    payday_every: int = 10  # ticks
    paydays_per_cycle: int = 8  # every employee is paid once in this many paydays

    def __post_init__(self) -> None:
        if self.citizens < 10:
            raise ValueError(f"a city needs at least 10 citizens, got {self.citizens}")
        if self.merchants < 1:
            raise ValueError(f"a city needs at least 1 merchant, got {self.merchants}")
        if not 100 <= self.max_batch <= 5_000:
            raise ValueError("max_batch must be 100..5000 (one block per tick)")


@dataclass(frozen=True)
class TierLimit:
    max_balance: int
    max_payment: int


DEFAULT_TIERS: tuple[TierLimit, ...] = tuple(
    TierLimit(int(tier["max_balance"]), int(tier["max_payment"]))
    for tier in DEFAULT_SECTION["params"]["tiers"]
)


class _FreshWallet(Wallet):
    """A wallet the simulator created for this run, so its next nonce is known to be 0.

    Saves one ``GET /accounts`` per wallet; ``CitySimulation.setup`` checks freshness on a sample.
    """

    def __init__(self, key: PrivateKey, client: Client, chain_id: str) -> None:
        super().__init__(key, client, chain_id=chain_id, fee=FEE)
        self._nonce = 0


@dataclass(eq=False)
class Account:
    """One wallet as the simulator expects the ledger to hold it."""

    name: str
    address: str
    tier: int
    wallet: Wallet | None = None  # None: not ours to sign for (the fee collector)
    balance: int = 0
    start_nonce: int = 0
    accepted: int = 0  # transactions committed in this run
    unlimited: bool = False  # no balance limit applies (the fee collector)
    raw: bytes = b""

    def __post_init__(self) -> None:
        self.raw = address_to_bytes(self.address)


@dataclass(eq=False)
class Merchant:
    account: Account
    kind: MerchantKind


@dataclass(eq=False)
class Request:
    merchant: Merchant
    amount: int
    expiry: int
    memo: str
    id: bytes = b""  # known once the creating transaction is signed
    status: str = "open"  # open, paid, cancelled, refunded: the node's names
    paid_by: Account | None = None
    refunded: int = 0


# --- the expected ledger ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    recipient: Account
    amount: int


@dataclass(frozen=True, slots=True)
class MultiSend:
    outputs: tuple[tuple[Account, int], ...]


@dataclass(frozen=True, slots=True)
class Mint:
    recipient: Account
    amount: int


@dataclass(frozen=True, slots=True)
class Burn:
    amount: int


@dataclass(frozen=True, slots=True)
class SetTier:
    account: Account
    tier: int


@dataclass(frozen=True, slots=True)
class CreateRequest:
    request: Request


@dataclass(frozen=True, slots=True)
class PayRequest:
    request: Request
    amount: int


@dataclass(frozen=True, slots=True)
class CancelRequest:
    request: Request


@dataclass(frozen=True, slots=True)
class Refund:
    request: Request
    amount: int


Op = Send | MultiSend | Mint | Burn | SetTier | CreateRequest | PayRequest | CancelRequest | Refund


class _RequestState(NamedTuple):
    status: str
    paid_by: Account | None
    refunded: int


class _Branch:
    """One transaction's writes over the expected ledger, kept apart until it succeeds."""

    def __init__(self, tiers: Sequence[TierLimit], height: int) -> None:
        self.limits = tiers
        self.height = height
        self.balances: dict[Account, int] = {}
        self.tiers: dict[Account, int] = {}
        self.requests: dict[Request, _RequestState] = {}
        self.minted = 0
        self.burned = 0

    def balance(self, account: Account) -> int:
        return self.balances.get(account, account.balance)

    def request(self, r: Request) -> _RequestState:
        return self.requests.get(r) or _RequestState(r.status, r.paid_by, r.refunded)

    def move(self, src: Account, dst: Account, amount: int, *, payment: bool = True) -> str:
        """keeper.transfer: funds, then the sender's payment limit, then the recipient's cap."""
        if amount <= 0:
            return INVALID_AMOUNT
        have = self.balance(src)
        if have < amount:
            return INSUFFICIENT_FUNDS
        if payment and amount > self.limits[self.tiers.get(src, src.tier)].max_payment:
            return TIER_PAYMENT_LIMIT
        if src is dst:
            return OK
        new = self.balance(dst) + amount
        if not dst.unlimited and new > self.limits[self.tiers.get(dst, dst.tier)].max_balance:
            return TIER_BALANCE_LIMIT
        self.balances[src] = have - amount
        self.balances[dst] = new
        return OK

    def apply(self, sender: Account, op: Op) -> str:
        match op:
            case Send(recipient, amount):
                return self.move(sender, recipient, amount)
            case MultiSend(outputs):
                for recipient, amount in outputs:
                    if (outcome := self.move(sender, recipient, amount)) != OK:
                        return outcome
                return OK
            case Mint(recipient, amount):
                new = self.balance(recipient) + amount
                limit = self.limits[self.tiers.get(recipient, recipient.tier)].max_balance
                if amount <= 0:
                    return INVALID_AMOUNT
                if not recipient.unlimited and new > limit:
                    return TIER_BALANCE_LIMIT
                self.balances[recipient] = new
                self.minted += amount
                return OK
            case Burn(amount):
                if amount <= 0:
                    return INVALID_AMOUNT
                if self.balance(sender) < amount:
                    return INSUFFICIENT_FUNDS
                self.balances[sender] = self.balance(sender) - amount
                self.burned += amount
                return OK
            case SetTier(account, tier):
                self.tiers[account] = tier
                return OK
            case CreateRequest(r):
                if r.amount <= 0:
                    return INVALID_AMOUNT
                if r.expiry <= self.height:
                    return INVALID_EXPIRY
                self.requests[r] = _RequestState("open", None, 0)
                return OK
            case PayRequest(r, amount):
                state = self.request(r)
                if state.status != "open":
                    return REQUEST_NOT_OPEN
                if self.height > r.expiry:
                    return REQUEST_EXPIRED
                if amount != r.amount:
                    return AMOUNT_MISMATCH
                if (outcome := self.move(sender, r.merchant.account, r.amount)) != OK:
                    return outcome
                self.requests[r] = _RequestState("paid", sender, 0)
                return OK
            case CancelRequest(r):
                state = self.request(r)
                if r.merchant.account is not sender:
                    return NOT_MERCHANT
                if state.status != "open":
                    return REQUEST_NOT_OPEN
                self.requests[r] = state._replace(status="cancelled")
                return OK
            case Refund(r, amount):
                state = self.request(r)
                if r.merchant.account is not sender:
                    return NOT_MERCHANT
                if state.status not in ("paid", "refunded") or state.paid_by is None:
                    return REQUEST_NOT_PAID
                if amount <= 0 or amount > r.amount - state.refunded:
                    return REFUND_EXCEEDS
                if (outcome := self.move(sender, state.paid_by, amount, payment=False)) != OK:
                    return outcome
                refunded = state.refunded + amount
                status = "refunded" if refunded == r.amount else state.status
                self.requests[r] = _RequestState(status, state.paid_by, refunded)
                return OK
        raise TypeError(f"unknown op {op!r}")


class ExpectedLedger:
    """What the node should hold: balances, tiers, requests and supply, one tx at a time."""

    def __init__(self, fee_collector: Account, tiers: Sequence[TierLimit] = DEFAULT_TIERS) -> None:
        self.tiers = tuple(tiers)
        self.fee_collector = fee_collector
        self.minted = 0
        self.burned = 0

    def run(self, sender: Account, ops: Sequence[Op], height: int, *, commit: bool) -> str:
        """The outcome of one transaction in block ``height``; with ``commit``, keep its writes.

        Mirrors the ante step (the fee is paid first) and the all-or-nothing message branch. A
        refused transaction never reaches a block here, so a refusal changes nothing at all.
        """
        branch = _Branch(self.tiers, height)
        if branch.balance(sender) < FEE:
            return FEE_UNPAYABLE
        branch.balances[sender] = branch.balance(sender) - FEE
        branch.balances[self.fee_collector] = branch.balance(self.fee_collector) + FEE
        for op in ops:
            if (outcome := branch.apply(sender, op)) != OK:
                return outcome
        if commit:
            for account, balance in branch.balances.items():
                account.balance = balance
            for account, tier in branch.tiers.items():
                account.tier = tier
            for r, state in branch.requests.items():
                r.status, r.paid_by, r.refunded = state
            self.minted += branch.minted
            self.burned += branch.burned
            sender.accepted += 1
        return OK


# --- statistics and audit --------------------------------------------------------------------


@dataclass
class Stats:
    ticks: int = 0
    height: int = 0
    submitted: int = 0
    committed: int = 0  # transactions committed with success
    transfers: int = 0
    requests_created: int = 0
    requests_paid: int = 0
    refunds: int = 0
    refunded_cents: int = 0
    cancelled: int = 0
    wages_paid: int = 0
    top_ups: int = 0
    minted: int = 0
    burned: int = 0
    volume_cents: int = 0  # money moved between wallets (transfers, payments, wages, refunds)
    refused: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    stopped: float | None = None  # set when ``run`` returns, so rates stop at the run's end
    example_payment: str = ""  # hash of a committed request payment, for the explorer

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def elapsed(self) -> float:
        return (self.stopped or time.monotonic()) - self.started


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


@dataclass(eq=False)
class _Planned:
    kind: str  # "setup", "transfer", "payment", "merchant", "payroll", "issuer", "probe"
    sender: Account
    ops: tuple[Op, ...]
    raw: bytes
    hash: str
    expected: str


# --- the simulation --------------------------------------------------------------------------

LOW_BALANCE = 1_500  # cents; below this a citizen asks the bank for a top-up
CASH_OUT_ABOVE = 200_000  # cents; a merchant sweeps takings above this to the bank...
MERCHANT_FLOAT = 20_000  # ...keeping this much for change and refunds
PAY_MARGIN = 3  # blocks: a request is paid only while it has this many left before expiry
REQUEST_LIFETIME = (20, 60)  # blocks
SHORT_LIFETIME = 3  # blocks; such a request is left unpaid to expire


def _seeded_key(seed: int, role: str, index: int) -> PrivateKey:
    seed32 = hashlib.sha256(f"citychain-sim/{seed}/{role}/{index}".encode()).digest()
    return PrivateKey.from_seed(seed32)


def _chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _cents(value: float, step: int = 10) -> int:
    return max(step, round(value / step) * step)


def _outcome(result: dict[str, Any]) -> str:
    code = int(result.get("code", 0))
    return OK if code == 0 else f"{result.get('codespace', '')}/{code}"


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
        self.issuer = self._account("issuer", Wallet(issuer, client, chain_id=self.chain_id))
        self.kyc = self._account("kyc", Wallet(kyc, client, chain_id=self.chain_id))
        self.employer = self._fresh("battery factory", "employer", 0)
        self.citizens = [self._fresh(f"citizen {i}", "citizen", i) for i in range(config.citizens)]
        weights = [k.weight for k in MERCHANT_KINDS]
        kinds = self.rng.choices(MERCHANT_KINDS, weights, k=config.merchants)
        seen: Counter[str] = Counter()
        self.merchants: list[Merchant] = []
        for i, kind in enumerate(kinds):
            seen[kind.name] += 1
            account = self._fresh(f"{kind.name} {seen[kind.name]}", "merchant", i)
            self.merchants.append(Merchant(account, kind))
        verified = self.rng.sample(self.citizens, round(config.citizens * config.verified_share))
        self.verified = set(verified)
        self.employees = verified[: round(config.citizens * config.employee_share)]
        self.wages = {e: self.rng.randint(60, 180) * 500 for e in self.employees}
        self.setup_txs: list[str] = []  # hashes of the set-up transactions (tiers, opening float)
        self.start_supply = 0
        self.outside = 0  # supply held by accounts the simulator does not know
        self._payable: list[Request] = []
        self._expiring: list[Request] = []
        self._expired: deque[Request] = deque(maxlen=500)
        self._paid: deque[Request] = deque(maxlen=3_000)
        self._cancelled: deque[Request] = deque(maxlen=500)
        self._low: dict[Account, None] = {}
        self._redeemed = 0  # merchants' cash-outs the issuer holds, burnt in the next tick
        self._payday = 0
        self._paid_last_tick = 0

    def _account(self, name: str, wallet: Wallet, tier: int = TIER_UNVERIFIED) -> Account:
        return Account(name, wallet.address, tier, wallet)

    def _fresh(self, name: str, role: str, index: int) -> Account:
        key = _seeded_key(self.config.seed, role, index)
        return self._account(name, _FreshWallet(key, self.client, self.chain_id))

    @property
    def accounts(self) -> list[Account]:
        """Every account the simulator tracks."""
        fixed = [self.issuer, self.kyc, self.fee_collector, self.employer]
        return fixed + [m.account for m in self.merchants] + self.citizens

    def recent_requests(self) -> dict[str, list[Request]]:
        """Requests the simulator still tracks, by what happened to them (recent ones only)."""
        return {
            "paid": list(self._paid),
            "cancelled": list(self._cancelled),
            "expired": list(self._expired),
            "open": list(self._payable),
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
        tiers: list[Op] = [SetTier(self.employer, TIER_INSTITUTION)]
        tiers += [SetTier(m.account, TIER_VERIFIED) for m in self.merchants]
        tiers += [SetTier(c, TIER_VERIFIED) for c in self.citizens if c in self.verified]
        payroll = sum(self.wages.values())
        mints: list[Op] = [Mint(self.employer, max(1_000_000, payroll))]
        mints += [Mint(m.account, 20_000) for m in self.merchants]
        for c in self.citizens:
            high = 300_000 if c in self.verified else 40_000
            mints.append(Mint(c, self.rng.randint(2_000, high) // 10 * 10))
        planned = [self._plan("setup", self.kyc, ops) for ops in _chunks(tiers, MAX_MESSAGES)]
        planned += [self._plan("setup", self.issuer, ops) for ops in _chunks(mints, MAX_MESSAGES)]
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
        self._sort_requests()
        planned: list[_Planned] = []
        self._plan_issuer(planned)
        if self.stats.ticks % self.config.payday_every == 0:
            self._plan_payroll(planned)
        self._plan_merchants(planned)
        self._plan_citizens(planned, self.config.max_batch - len(planned))
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

    def _sort_requests(self) -> None:
        """Move requests out of the payable pool near their expiry, and into the expired list."""
        h = self.height
        payable: list[Request] = []
        for r in self._payable:
            if r.status != "open":
                continue
            (payable if r.expiry >= h + 1 + PAY_MARGIN else self._expiring).append(r)
        self._payable = payable
        expiring = []
        for r in self._expiring:
            if r.status == "open":
                # Past expiry even for check_tx at h + 1 with a block to spare.
                (self._expired.append(r) if h > r.expiry else expiring.append(r))
        self._expiring = expiring

    def _plan_issuer(self, planned: list[_Planned]) -> None:
        ops: list[Op] = []
        if self._redeemed:
            ops.append(Burn(self._redeemed))
        payday_need = sum(self.wages.values()) // self.config.paydays_per_cycle
        if self.employer.balance < 3 * payday_need:
            ops.append(Mint(self.employer, 10 * payday_need))
        limits = self.ledger.tiers
        for citizen in list(self._low):
            if len(ops) >= MAX_MESSAGES:
                break
            del self._low[citizen]
            room = limits[citizen.tier].max_balance - citizen.balance
            amount = min(self.rng.randint(20, 60) * 500, room)
            if amount >= 1_000:
                ops.append(Mint(citizen, amount))
        if ops and (p := self._plan("issuer", self.issuer, ops)) is not None:
            planned.append(p)
            if self._redeemed and isinstance(ops[0], Burn):
                self._redeemed = 0

    def _plan_payroll(self, planned: list[_Planned]) -> None:
        cycle = self.config.paydays_per_cycle
        cohort = self.employees[self._payday % cycle :: cycle]
        self._payday += 1
        limits = self.ledger.tiers
        outputs = [
            (e, self.wages[e])
            for e in cohort
            if e.balance + self.wages[e] <= limits[e.tier].max_balance
        ]
        chunks = _chunks(outputs, MAX_OUTPUTS)[:MAX_MESSAGES]
        ops: list[Op] = [MultiSend(tuple(chunk)) for chunk in chunks]
        if ops and (p := self._plan("payroll", self.employer, ops)) is not None:
            planned.append(p)

    def _plan_merchants(self, planned: list[_Planned]) -> None:
        cfg, rng, height = self.config, self.rng, self.height + 1
        bundles: dict[Merchant, list[Op]] = {}

        def add(merchant: Merchant, op: Op) -> bool:
            ops = [*bundles.get(merchant, []), op]
            if len(ops) > MAX_MESSAGES:
                return False
            if self.ledger.run(merchant.account, ops, height, commit=False) != OK:
                return False
            bundles[merchant] = ops
            return True

        limits = self.ledger.tiers
        for m in self.merchants:  # cash-outs to the bank (the issuer), which burns them
            if m.account.balance > CASH_OUT_ABOVE:
                amount = m.account.balance - MERCHANT_FLOAT - FEE
                add(m, Send(self.issuer, min(amount, limits[m.account.tier].max_payment)))
        refunds = self._binomial(self._paid_last_tick, cfg.refund_share)
        for _ in range(refunds):
            if not self._paid:
                break
            r = self._paid[rng.randrange(len(self._paid))]
            remaining = r.amount - r.refunded
            if r.status != "paid" or remaining <= 0:
                continue
            amount = remaining if rng.random() < 0.6 else rng.randint(1, remaining)
            add(r.merchant, Refund(r, amount))
        for _ in range(self._binomial(len(self._payable), cfg.cancel_share)):
            r = self._payable.pop(rng.randrange(len(self._payable)))
            add(r.merchant, CancelRequest(r))
        acting = round(cfg.citizens * cfg.acting_share)
        deficit = 2 * round(acting * cfg.pay_share) + 4 - len(self._payable) - len(bundles)
        for _ in range(max(0, deficit)):
            m = rng.choice(self.merchants)
            kind = m.kind
            short = rng.random() < cfg.short_request_share
            lifetime = SHORT_LIFETIME if short else rng.randint(*REQUEST_LIFETIME)
            amount = _cents(rng.randint(kind.ticket_min, kind.ticket_max))
            memo = f"{m.account.name}: {rng.choice(kind.items)}"
            add(m, CreateRequest(Request(m, amount, self.height + lifetime, memo)))
        for m, ops in bundles.items():
            if (p := self._plan("merchant", m.account, ops)) is None:
                continue
            planned.append(p)
            for op in ops:
                if isinstance(op, CreateRequest):
                    short = op.request.expiry < height + PAY_MARGIN
                    (self._expiring if short else self._payable).append(op.request)
                elif isinstance(op, CancelRequest):
                    self._cancelled.append(op.request)
                elif isinstance(op, Send):
                    self._redeemed += op.amount

    def _binomial(self, n: int, p: float) -> int:
        """A draw of Binomial(n, p), cheap enough for n in the thousands."""
        mean = n * p
        whole = int(mean)
        return whole + (1 if self.rng.random() < mean - whole else 0)

    def _plan_citizens(self, planned: list[_Planned], room: int) -> None:
        cfg, rng = self.config, self.rng
        count = min(room, max(1, round(cfg.citizens * cfg.acting_share)))
        paid = 0
        for citizen in rng.sample(self.citizens, count):
            p: _Planned | None = None
            if citizen.balance >= FEE + 10:
                roll = rng.random()
                if roll < cfg.probe_share:
                    p = self._plan_probe(citizen)
                elif roll < cfg.probe_share + cfg.pay_share and self._payable:
                    p = self._plan_payment(citizen)
                    paid += p is not None
                else:
                    p = self._plan_transfer(citizen)
            if p is not None:
                planned.append(p)
            if citizen.balance < LOW_BALANCE:
                self._low[citizen] = None
        self._paid_last_tick = paid

    def _plan_payment(self, citizen: Account) -> _Planned | None:
        pool = self._payable
        index = self.rng.randrange(len(pool))
        r = pool[index]
        pool[index] = pool[-1]
        pool.pop()
        p = self._plan("payment", citizen, [PayRequest(r, r.amount)])
        if p is None:
            pool.append(r)  # this citizen cannot afford it; someone else may
        else:
            self._paid.append(r)
        return p

    def _plan_transfer(self, citizen: Account) -> _Planned | None:
        recipient = self.rng.choice(self.citizens)
        if recipient is citizen:
            return None
        amount = _cents(self.rng.lognormvariate(7.2, 0.9))
        amount = min(amount, citizen.balance - FEE, self.ledger.tiers[citizen.tier].max_payment)
        if amount <= 0:
            return None
        return self._plan("transfer", citizen, [Send(recipient, amount)])

    def _plan_probe(self, citizen: Account) -> _Planned | None:
        """Something the ledger must refuse, with the code the model expects."""
        rng = self.rng
        kind = rng.choices(
            ("overdraft", "over_limit", "expired", "paid_twice", "cancelled", "wrong_amount"),
            (3, 4, 1, 1, 1, 1),
        )[0]
        recipient = self.rng.choice(self.citizens)
        spendable = citizen.balance - FEE
        max_payment = self.ledger.tiers[citizen.tier].max_payment
        op: Op | None = None
        if kind == "over_limit" and spendable > max_payment:
            op = Send(recipient, rng.randint(max_payment + 1, spendable))
        elif kind == "expired" and self._expired:
            r = self._expired[rng.randrange(len(self._expired))]
            op = PayRequest(r, r.amount)
        elif kind == "paid_twice" and self._paid:
            r = self._paid[rng.randrange(len(self._paid))]
            op = PayRequest(r, r.amount)
        elif kind == "cancelled" and self._cancelled:
            r = self._cancelled[rng.randrange(len(self._cancelled))]
            op = PayRequest(r, r.amount)
        elif kind == "wrong_amount" and self._payable:
            r = self._payable[rng.randrange(len(self._payable))]
            op = PayRequest(r, r.amount - 1 if r.amount > 1 else 2)
        else:
            op = Send(recipient, spendable + rng.randint(1, 5_000))  # an overdraft
        return self._plan("probe", citizen, [op], expect_ok=False)

    # --- signing, submitting, checking ------------------------------------------------------
    def _plan(
        self, kind: str, sender: Account, ops: Sequence[Op], *, expect_ok: bool = True
    ) -> _Planned | None:
        """Predict, sign and (when it should succeed) apply one transaction to the model.

        Returns None, signing nothing, when the prediction is not what the caller wants.
        """
        height = self.height + 1
        expected = self.ledger.run(sender, ops, height, commit=False)
        if (expected == OK) != expect_ok:
            return None
        assert sender.wallet is not None
        raw = sender.wallet.sign([_message(op) for op in ops])
        tx_hash = hashlib.sha256(raw).digest()
        for index, op in enumerate(ops):
            if isinstance(op, CreateRequest):
                op.request.id = new_request_id(tx_hash, index)
        if expected == OK:
            self.ledger.run(sender, ops, height, commit=True)
        return _Planned(kind, sender, tuple(ops), raw, tx_hash.hex(), expected)

    def _submit(self, planned: list[_Planned]) -> None:
        for batch in _chunks(planned, self.config.max_batch):
            results = self.client.broadcast_batch([p.raw for p in batch], wait=True)
            uncommitted = [
                i for i, r in enumerate(results) if r.get("code") == 0 and r.get("height") is None
            ]
            for i in uncommitted:  # admitted but not committed before the node's timeout
                results[i] = self._await_commit(batch[i].hash)
            for p, result in zip(batch, results, strict=True):
                self._settle(p, result)

    def _await_commit(self, tx_hash: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                view = self.client.tx(tx_hash)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                time.sleep(0.2)
                continue
            result = view["result"]
            return {**result, "hash": tx_hash, "height": view["height"]}
        raise SimulationError(f"transaction {tx_hash} was admitted but not committed in {timeout}s")

    def _settle(self, p: _Planned, result: dict[str, Any]) -> None:
        stats = self.stats
        actual = _outcome(result)
        if result.get("height") is not None:
            self.height = max(self.height, int(result["height"]))
            stats.height = self.height
        stats.submitted += 1
        if actual != OK:
            stats.refused[actual] += 1
            assert p.sender.wallet is not None
            p.sender.wallet.resync()  # a refused transaction did not use its nonce
        if actual != p.expected:
            stats.mismatches.append(
                f"{p.kind} {p.hash} from {p.sender.name}: expected {p.expected}, got {actual}"
                f" ({result.get('log', '')})"
            )
            self._reconcile(p)
            return
        if actual != OK:
            return
        stats.committed += 1
        for op in p.ops:
            match op:
                case Send(_, amount):
                    stats.transfers += p.kind == "transfer"
                    stats.volume_cents += amount
                case MultiSend(outputs):
                    stats.wages_paid += len(outputs)
                    stats.volume_cents += sum(a for _, a in outputs)
                case Mint(recipient, amount):
                    stats.minted += amount
                    stats.top_ups += p.kind == "issuer" and recipient is not self.employer
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

    def _reconcile(self, p: _Planned) -> None:
        """After a surprise, take the node's word for what the transaction touched."""
        touched: list[Account] = [p.sender, self.fee_collector]
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
                    self._reload_request(r)
        for account in touched:
            view = self.client.account(account.address)
            account.balance = int(view["balances"].get(DENOM, 0))
            account.tier = int(view["tier"])
            account.accepted = int(view["nonce"]) - account.start_nonce

    def _reload_request(self, r: Request) -> None:
        try:
            view = self.client.payment_request(r.id.hex())
        except ApiError:
            r.status = "cancelled"  # never created: keep it out of every pool
            return
        r.status, r.refunded = str(view["status"]), int(view["refunded"])
        by = view.get("paid_by")
        r.paid_by = next((a for a in self.citizens if a.address == by), None) if by else None

    # --- audit ------------------------------------------------------------------------------
    def audit(self, sample: int = 300, trusted_validators: Iterable[bytes] | None = None) -> Audit:
        """Compare the node with the model: outcomes, balances and nonces, supply, requests,
        and one balance proof verified offline."""
        audit = Audit()
        stats = self.stats
        mismatches = stats.mismatches
        audit.add(
            "outcomes",
            not mismatches,
            f"{stats.submitted:,} transactions, each committed or refused as predicted"
            if not mismatches
            else f"{len(mismatches)} differ from the prediction; first: {mismatches[0]}",
        )
        held = self._audit_accounts(audit, sample)
        self._audit_supply(audit, held)
        self._audit_requests(audit)
        self._audit_proof(audit, trusted_validators)
        return audit

    def _audit_accounts(self, audit: Audit, sample: int) -> int | None:
        """Spot-check balances and nonces; returns the node's total when every account was read."""
        picker = random.Random(self.config.seed + 1)
        citizens = picker.sample(self.citizens, min(sample, len(self.citizens)))
        fixed = [self.issuer, self.kyc, self.fee_collector, self.employer]
        accounts = fixed + [m.account for m in self.merchants] + citizens
        wrong: list[str] = []
        total = self.outside
        for account in accounts:
            view = self.client.account(account.address)
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
        return total if len(citizens) == len(self.citizens) else None

    def _audit_supply(self, audit: Audit, node_total: int | None) -> None:
        supply = int(self.client.supply().get(DENOM, 0))
        minted, burned = self.ledger.minted, self.ledger.burned
        expected = self.start_supply + minted - burned
        audit.add(
            "supply",
            supply == expected,
            f"/bank/supply {supply:,} {'=' if supply == expected else '!='} start"
            f" {self.start_supply:,} + minted {minted:,} - burned {burned:,} (cents)",
        )
        # With every account read, the node's own balances are summed; else the expected ones.
        held = node_total if node_total is not None else sum(a.balance for a in self.accounts)
        held += 0 if node_total is not None else self.outside
        whose = "all balances on the node" if node_total is not None else "expected balances"
        whose += "" if node_total is not None else " (every account)"
        audit.add(
            "total-supply",
            held == supply,
            f"sum of {whose} {held:,} {'=' if held == supply else '!='} supply {supply:,}",
        )

    def _audit_requests(self, audit: Audit) -> None:
        picker = random.Random(self.config.seed + 2)
        pools: list[Sequence[Request]] = [
            list(self._paid),
            list(self._cancelled),
            list(self._expired),
            self._payable,
        ]
        sample = [r for pool in pools for r in picker.sample(list(pool), min(40, len(pool)))]
        wrong = []
        for r in sample:
            view = self.client.payment_request(r.id.hex())
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

    def _audit_proof(self, audit: Audit, trusted: Iterable[bytes] | None) -> None:
        account = self.example_account()
        body = self.client.balance(account.address, prove=True)
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
            else f"{account.name}: {result.reason}; node {body['balance']},"
            f" expected {account.balance}",
        )

    def example_account(self) -> Account:
        """A citizen worth looking at: the first with money."""
        return next((c for c in self.citizens if c.balance > 0), self.citizens[0])


def _message(op: Op) -> Message:
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
