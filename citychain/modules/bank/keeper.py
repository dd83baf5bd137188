"""The bank's public functions: the only way another module or the ante step moves money.

Each function validates everything before its first write, so a raise leaves state unchanged.
The reads others need (``get_balance``, ``is_frozen``, ``list_denoms``, ``min_fee``) are here
too, so that nothing outside the bank imports its state.py (docs/modules/README.md).
"""

from __future__ import annotations

from citychain.codec import U64_MAX
from citychain.modules.bank import errors
from citychain.modules.bank.errors import BankError
from citychain.modules.bank.state import (
    FEE_COLLECTOR,
    DenomInfo,
    get_balance,
    get_denom,
    get_params,
    get_supply,
    get_tier,
    is_frozen,
    list_denoms,
    set_balance,
    set_frozen,
    set_supply,
)
from citychain.state.overlay import Overlay, StateReader

__all__ = [
    "burn",
    "check_balance_limit",
    "check_payment_limit",
    "freeze_account",
    "get_balance",
    "is_frozen",
    "list_denoms",
    "min_fee",
    "mint",
    "pay_fee",
    "require_denom",
    "transfer",
    "unfreeze_account",
]


def require_denom(state: StateReader, denom: str) -> DenomInfo:
    info = get_denom(state, denom)
    if info is None:
        raise BankError(errors.UNKNOWN_DENOM, f"unknown denomination {denom!r}")
    return info


def check_payment_limit(state: StateReader, sender: bytes, amount: int) -> None:
    tier = get_tier(state, sender)
    limits = get_params(state).tiers[tier]
    if amount > limits.max_payment:
        raise BankError(
            errors.TIER_PAYMENT_LIMIT,
            f"payment {amount} > {limits.max_payment}, the limit of tier {tier} ({limits.name})",
        )


def check_balance_limit(state: StateReader, recipient: bytes, new_balance: int) -> None:
    if recipient == FEE_COLLECTOR:
        return
    tier = get_tier(state, recipient)
    limits = get_params(state).tiers[tier]
    if new_balance > limits.max_balance:
        raise BankError(
            errors.TIER_BALANCE_LIMIT,
            f"balance {new_balance} > {limits.max_balance},"
            f" the limit of tier {tier} ({limits.name})",
        )


def transfer(
    state: Overlay,
    sender: bytes,
    recipient: bytes,
    denom: str,
    amount: int,
    *,
    payment: bool = True,
) -> None:
    """Move ``amount`` of ``denom``; ``payment`` applies the sender's per-payment tier limit."""
    if amount <= 0:
        raise BankError(errors.INVALID_AMOUNT, f"amount must be positive, got {amount}")
    info = require_denom(state, denom)
    if is_frozen(state, sender):
        raise BankError(errors.ACCOUNT_FROZEN, "sender account is frozen")
    if is_frozen(state, recipient):
        raise BankError(errors.ACCOUNT_FROZEN, "recipient account is frozen")
    sender_balance = get_balance(state, sender, denom)
    if sender_balance < amount:
        raise BankError(errors.INSUFFICIENT_FUNDS, f"{sender_balance} < {amount} {denom}")
    if info.tiered and payment:
        check_payment_limit(state, sender, amount)
    if sender == recipient:
        return
    recipient_balance = get_balance(state, recipient, denom) + amount
    if recipient_balance > U64_MAX:
        raise BankError(errors.BALANCE_OVERFLOW, f"recipient balance would be {recipient_balance}")
    if info.tiered:
        check_balance_limit(state, recipient, recipient_balance)
    set_balance(state, sender, denom, sender_balance - amount)
    set_balance(state, recipient, denom, recipient_balance)


def mint(state: Overlay, recipient: bytes, denom: str, amount: int) -> None:
    if amount <= 0:
        raise BankError(errors.INVALID_AMOUNT, f"amount must be positive, got {amount}")
    info = require_denom(state, denom)
    supply = get_supply(state, denom) + amount
    if supply > U64_MAX:
        raise BankError(errors.SUPPLY_OVERFLOW, f"supply would be {supply} > {U64_MAX}")
    if is_frozen(state, recipient):
        raise BankError(errors.ACCOUNT_FROZEN, "recipient account is frozen")
    balance = get_balance(state, recipient, denom) + amount
    if info.tiered:
        check_balance_limit(state, recipient, balance)
    set_supply(state, denom, supply)
    set_balance(state, recipient, denom, balance)


def burn(state: Overlay, holder: bytes, denom: str, amount: int) -> None:
    if amount <= 0:
        raise BankError(errors.INVALID_AMOUNT, f"amount must be positive, got {amount}")
    require_denom(state, denom)
    balance = get_balance(state, holder, denom)
    if balance < amount:
        raise BankError(errors.INSUFFICIENT_FUNDS, f"{balance} < {amount} {denom}")
    set_balance(state, holder, denom, balance - amount)
    set_supply(state, denom, get_supply(state, denom) - amount)


def min_fee(state: StateReader) -> int:
    """The least fee a transaction must offer, in minor units of the fee denomination."""
    return get_params(state).min_fee


def pay_fee(state: Overlay, payer: bytes, amount: int) -> None:
    """Move a transaction fee to the fee collector; frozen accounts and tiers do not apply."""
    if amount == 0:
        return
    denom = get_params(state).fee_denom
    balance = get_balance(state, payer, denom)
    if balance < amount:
        raise BankError(errors.INSUFFICIENT_FUNDS, f"fee {amount} > balance {balance} {denom}")
    set_balance(state, payer, denom, balance - amount)
    set_balance(state, FEE_COLLECTOR, denom, get_balance(state, FEE_COLLECTOR, denom) + amount)


def freeze_account(state: Overlay, address: bytes) -> None:
    """Freeze a wallet (estate settlement): balances stay, nothing moves in or out."""
    set_frozen(state, address, True)


def unfreeze_account(state: Overlay, address: bytes) -> None:
    set_frozen(state, address, False)
