"""Bank module: the city currency (docs/modules/bank.md)."""

from citychain.modules.bank import handlers, invariants
from citychain.modules.bank.genesis import init_genesis
from citychain.modules.bank.keeper import freeze_account, pay_fee, transfer, unfreeze_account
from citychain.modules.bank.messages import (
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
from citychain.modules.base import MessageRoute, Module
from citychain.modules.consortium.roles import ISSUER, KYC_VERIFIER

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

__all__ = ["MODULE", "freeze_account", "pay_fee", "transfer", "unfreeze_account"]
