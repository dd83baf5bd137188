"""The expected ledger: the simulator's small mirror of the bank's rules (docs/modules/bank.md).

The accounts, merchants and payment requests as the simulator expects the node to hold them, the
operations a transaction carries, and ``ExpectedLedger``, which predicts each transaction's
outcome (success, or the exact code of its refusal) before it is submitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from citychain.client import Wallet
from citychain.crypto.address import address_to_bytes
from citychain.errors import ErrorCode
from citychain.modules import bank
from citychain.sim.config import MerchantKind
from citychain.tx import errors as tx_errors

DENOM = "ccy"
FEE = 1  # cents; the genesis minimum fee
OK = "ok"
TIER_UNVERIFIED, TIER_VERIFIED, TIER_INSTITUTION = 0, 1, 2


def code_name(error: ErrorCode) -> str:
    """``bank/5``: how outcomes are named in the simulator's counters and reports."""
    return f"{error.codespace}/{error.code}"


INVALID_AMOUNT = code_name(bank.INVALID_AMOUNT)
INSUFFICIENT_FUNDS = code_name(bank.INSUFFICIENT_FUNDS)
TIER_PAYMENT_LIMIT = code_name(bank.TIER_PAYMENT_LIMIT)
TIER_BALANCE_LIMIT = code_name(bank.TIER_BALANCE_LIMIT)
REQUEST_NOT_OPEN = code_name(bank.REQUEST_NOT_OPEN)
REQUEST_EXPIRED = code_name(bank.REQUEST_EXPIRED)
AMOUNT_MISMATCH = code_name(bank.AMOUNT_MISMATCH)
NOT_MERCHANT = code_name(bank.NOT_MERCHANT)
REFUND_EXCEEDS = code_name(bank.REFUND_EXCEEDS)
INVALID_EXPIRY = code_name(bank.INVALID_EXPIRY)
REQUEST_NOT_PAID = code_name(bank.REQUEST_NOT_PAID)
FEE_UNPAYABLE = code_name(tx_errors.FEE_UNPAYABLE)


# --- accounts and requests as the ledger should hold them -----------------------------------


@dataclass(frozen=True)
class TierLimit:
    max_balance: int
    max_payment: int


DEFAULT_TIERS: tuple[TierLimit, ...] = tuple(
    TierLimit(int(tier["max_balance"]), int(tier["max_payment"]))
    for tier in bank.DEFAULT_SECTION["params"]["tiers"]
)


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


# --- the operations a transaction carries ---------------------------------------------------


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


# --- the expected ledger ---------------------------------------------------------------------


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
                return self._multi_send(sender, outputs)
            case Mint(recipient, amount):
                return self._mint(recipient, amount)
            case Burn(amount):
                return self._burn(sender, amount)
            case SetTier(account, tier):
                self.tiers[account] = tier
                return OK
            case CreateRequest(r):
                return self._create_request(r)
            case PayRequest(r, amount):
                return self._pay_request(sender, r, amount)
            case CancelRequest(r):
                return self._cancel_request(sender, r)
            case Refund(r, amount):
                return self._refund(sender, r, amount)
        raise TypeError(f"unknown op {op!r}")

    def _multi_send(self, sender: Account, outputs: Sequence[tuple[Account, int]]) -> str:
        for recipient, amount in outputs:
            if (outcome := self.move(sender, recipient, amount)) != OK:
                return outcome
        return OK

    def _mint(self, recipient: Account, amount: int) -> str:
        new = self.balance(recipient) + amount
        limit = self.limits[self.tiers.get(recipient, recipient.tier)].max_balance
        if amount <= 0:
            return INVALID_AMOUNT
        if not recipient.unlimited and new > limit:
            return TIER_BALANCE_LIMIT
        self.balances[recipient] = new
        self.minted += amount
        return OK

    def _burn(self, sender: Account, amount: int) -> str:
        if amount <= 0:
            return INVALID_AMOUNT
        if self.balance(sender) < amount:
            return INSUFFICIENT_FUNDS
        self.balances[sender] = self.balance(sender) - amount
        self.burned += amount
        return OK

    def _create_request(self, r: Request) -> str:
        if r.amount <= 0:
            return INVALID_AMOUNT
        if r.expiry <= self.height:
            return INVALID_EXPIRY
        self.requests[r] = _RequestState("open", None, 0)
        return OK

    def _pay_request(self, sender: Account, r: Request, amount: int) -> str:
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

    def _cancel_request(self, sender: Account, r: Request) -> str:
        state = self.request(r)
        if r.merchant.account is not sender:
            return NOT_MERCHANT
        if state.status != "open":
            return REQUEST_NOT_OPEN
        self.requests[r] = state._replace(status="cancelled")
        return OK

    def _refund(self, sender: Account, r: Request, amount: int) -> str:
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
