"""Bank invariants, checked after every block in tests and the simulator."""

from __future__ import annotations

from collections import defaultdict

from citychain.modules.bank.state import (
    BALANCE_PREFIX,
    DENOMS_KEY,
    SUPPLY_PREFIX,
    decode_denoms,
    split_balance_key,
    split_supply_key,
)
from citychain.modules.base import PrefixScan


def total_supply(scan: PrefixScan) -> list[str]:
    """total-supply: for every denomination, the sum of all balances equals the recorded supply."""
    sums: dict[str, int] = defaultdict(int)
    for key, value in scan(BALANCE_PREFIX):
        _, denom = split_balance_key(key)
        sums[denom] += int.from_bytes(value, "big")
    supplies = {split_supply_key(key): int.from_bytes(v, "big") for key, v in scan(SUPPLY_PREFIX)}
    denoms = decode_denoms(dict(scan(DENOMS_KEY)).get(DENOMS_KEY))
    broken = []
    for denom in sorted(set(denoms) | set(sums) | set(supplies)):
        if sums.get(denom, 0) != supplies.get(denom, 0):
            broken.append(
                f"total-supply: sum of {denom} balances {sums.get(denom, 0)}"
                f" != supply {supplies.get(denom, 0)}"
            )
    return broken


def no_zero_balances(scan: PrefixScan) -> list[str]:
    """zero-balances: a zero balance is deleted, never stored, so each state has one form."""
    return [
        f"zero-balances: {key.hex()} stores 0"
        for key, v in scan(BALANCE_PREFIX)
        if not int.from_bytes(v, "big")
    ]
