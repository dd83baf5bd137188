"""Bank genesis (docs/genesis.md): denominations, fee and tier parameters, opening balances.

```json
{"denoms": [{"denom": "ccy", "decimals": 2, "tiered": true}],
 "params": {"fee_denom": "ccy", "min_fee": 1,
            "tiers": [{"name": "unverified", "max_balance": 100000, "max_payment": 20000}, ...]},
 "balances": [{"address": "city1...", "denom": "ccy", "amount": 5000}],
 "wallet_tiers": [{"address": "city1...", "tier": 2}]}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citychain.codec import U64_MAX
from citychain.crypto.address import address_to_bytes
from citychain.modules.bank.state import (
    BankParams,
    DenomInfo,
    TierLimits,
    get_balance,
    get_denom,
    get_supply,
    set_balance,
    set_denom,
    set_params,
    set_supply,
    set_tier,
)
from citychain.state.overlay import Overlay

DEFAULT_SECTION: dict[str, Any] = {
    "denoms": [{"denom": "ccy", "decimals": 2, "tiered": True}],
    "params": {
        "fee_denom": "ccy",
        "min_fee": 1,
        "tiers": [
            # Amounts in cents of the city currency; modelled on two-tier CBDC holding limits.
            {"name": "unverified", "max_balance": 100_000, "max_payment": 20_000},
            {"name": "verified", "max_balance": 5_000_000, "max_payment": 1_000_000},
            {"name": "institution", "max_balance": U64_MAX, "max_payment": U64_MAX},
        ],
    },
    "balances": [],
    "wallet_tiers": [],
}


def _uint(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U64_MAX:
        raise ValueError(f"{what} must be an integer in 0..2^64-1, got {value!r}")
    return value


def init_genesis(state: Overlay, section: Mapping[str, Any]) -> None:
    for entry in section.get("denoms", []):
        denom = str(entry["denom"])
        set_denom(
            state,
            denom,
            DenomInfo(
                _uint(entry.get("decimals", 0), "decimals"), bool(entry.get("tiered", False))
            ),
        )
    params = section["params"]
    tiers = tuple(
        TierLimits(
            str(t["name"]),
            _uint(t["max_balance"], "max_balance"),
            _uint(t["max_payment"], "max_payment"),
        )
        for t in params["tiers"]
    )
    if not tiers:
        raise ValueError("bank.params.tiers needs at least tier 0")
    fee_denom = str(params["fee_denom"])
    if get_denom(state, fee_denom) is None:
        raise ValueError(f"fee denomination {fee_denom!r} is not among bank.denoms")
    set_params(state, BankParams(fee_denom, _uint(params["min_fee"], "min_fee"), tiers))
    for entry in section.get("wallet_tiers", []):
        tier = _uint(entry["tier"], "tier")
        if tier >= len(tiers):
            raise ValueError(f"wallet tier {tier} does not exist")
        set_tier(state, address_to_bytes(str(entry["address"])), tier)
    for entry in section.get("balances", []):
        address = address_to_bytes(str(entry["address"]))
        denom = str(entry["denom"])
        if get_denom(state, denom) is None:
            raise ValueError(f"balance in unknown denomination {denom!r}")
        amount = _uint(entry["amount"], "amount")
        supply = get_supply(state, denom) + amount
        if supply > U64_MAX:
            raise ValueError(f"genesis supply of {denom} exceeds 2^64-1")
        set_balance(state, address, denom, get_balance(state, address, denom) + amount)
        set_supply(state, denom, supply)
