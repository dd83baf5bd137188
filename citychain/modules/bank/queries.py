"""Bank read paths; proofs come from the application's ``prove`` on the keys named here."""

from __future__ import annotations

from typing import Any

from citychain.crypto.address import address_from_bytes
from citychain.modules.bank.state import (
    REQUEST_STATUS_NAMES,
    balance_key,
    get_balance,
    get_params,
    get_request,
    get_supply,
    get_tier,
    is_frozen,
    list_denoms,
)
from citychain.state.overlay import StateReader

__all__ = ["account_view", "balance_key", "request_view", "supply_view"]


def account_view(state: StateReader, address: bytes) -> dict[str, Any]:
    tier = get_tier(state, address)
    return {
        "balances": {d: get_balance(state, address, d) for d in list_denoms(state)},
        "tier": tier,
        "tier_name": get_params(state).tiers[tier].name,
        "frozen": is_frozen(state, address),
    }


def supply_view(state: StateReader) -> dict[str, int]:
    return {d: get_supply(state, d) for d in list_denoms(state)}


def request_view(state: StateReader, request_id: bytes) -> dict[str, Any] | None:
    request = get_request(state, request_id)
    if request is None:
        return None
    return {
        "id": request_id.hex(),
        "merchant": address_from_bytes(request.merchant),
        "denom": request.denom,
        "amount": request.amount,
        "memo": request.memo,
        "expiry_height": request.expiry_height,
        "payer": address_from_bytes(request.payer) if request.payer else None,
        "status": REQUEST_STATUS_NAMES[request.status],
        "paid_by": address_from_bytes(request.paid_by) if request.paid_by else None,
        "refunded": request.refunded,
        "created_height": request.created_height,
    }
