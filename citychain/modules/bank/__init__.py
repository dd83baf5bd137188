"""Bank module: the city currency (docs/modules/bank.md).

The names below are the bank's whole public surface (docs/modules/README.md): other modules, the
node, clients and proofs import them from here, never from a file inside the package.
"""

from citychain.modules.bank import handlers, invariants
from citychain.modules.bank.errors import (
    ACCOUNT_FROZEN,
    AMOUNT_MISMATCH,
    BALANCE_OVERFLOW,
    INSUFFICIENT_FUNDS,
    INVALID_AMOUNT,
    INVALID_EXPIRY,
    INVALID_TIER,
    NOT_MERCHANT,
    PAYER_NOT_ALLOWED,
    REFUND_EXCEEDS,
    REQUEST_EXPIRED,
    REQUEST_NOT_FOUND,
    REQUEST_NOT_OPEN,
    REQUEST_NOT_PAID,
    SUPPLY_OVERFLOW,
    TIER_BALANCE_LIMIT,
    TIER_PAYMENT_LIMIT,
    TOO_MANY_OUTPUTS,
    UNKNOWN_DENOM,
    BankError,
)
from citychain.modules.bank.genesis import DEFAULT_SECTION, init_genesis
from citychain.modules.bank.keeper import (
    freeze_account,
    get_balance,
    is_frozen,
    list_denoms,
    min_fee,
    pay_fee,
    transfer,
    unfreeze_account,
)
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
from citychain.modules.bank.queries import account_view, request_view, supply_view
from citychain.modules.bank.state import FEE_COLLECTOR, balance_key, new_request_id
from citychain.modules.base import MessageRoute, Module
from citychain.modules.consortium import ISSUER, KYC_VERIFIER

MODULE = Module(
    name="bank",
    routes=(
        MessageRoute(MsgSend, handlers.handle_send),
        MessageRoute(MsgMultiSend, handlers.handle_multi_send),
        MessageRoute(MsgMint, handlers.handle_mint, role=ISSUER),
        MessageRoute(MsgBurn, handlers.handle_burn, role=ISSUER),
        MessageRoute(MsgSetTier, handlers.handle_set_tier, role=KYC_VERIFIER),
        MessageRoute(MsgCreateRequest, handlers.handle_create_request),
        MessageRoute(MsgPayRequest, handlers.handle_pay_request),
        MessageRoute(MsgCancelRequest, handlers.handle_cancel_request),
        MessageRoute(MsgRefund, handlers.handle_refund),
    ),
    init_genesis=init_genesis,
    invariants=(invariants.total_supply, invariants.no_zero_balances),
    genesis_order=20,
)

__all__ = [
    "ACCOUNT_FROZEN",
    "AMOUNT_MISMATCH",
    "BALANCE_OVERFLOW",
    "DEFAULT_SECTION",
    "FEE_COLLECTOR",
    "INSUFFICIENT_FUNDS",
    "INVALID_AMOUNT",
    "INVALID_EXPIRY",
    "INVALID_TIER",
    "MAX_OUTPUTS",
    "MODULE",
    "NOT_MERCHANT",
    "PAYER_NOT_ALLOWED",
    "REFUND_EXCEEDS",
    "REQUEST_EXPIRED",
    "REQUEST_NOT_FOUND",
    "REQUEST_NOT_OPEN",
    "REQUEST_NOT_PAID",
    "SUPPLY_OVERFLOW",
    "TIER_BALANCE_LIMIT",
    "TIER_PAYMENT_LIMIT",
    "TOO_MANY_OUTPUTS",
    "UNKNOWN_DENOM",
    "BankError",
    "MsgBurn",
    "MsgCancelRequest",
    "MsgCreateRequest",
    "MsgMint",
    "MsgMultiSend",
    "MsgPayRequest",
    "MsgRefund",
    "MsgSend",
    "MsgSetTier",
    "account_view",
    "balance_key",
    "freeze_account",
    "get_balance",
    "is_frozen",
    "list_denoms",
    "min_fee",
    "new_request_id",
    "pay_fee",
    "request_view",
    "supply_view",
    "transfer",
    "unfreeze_account",
]
