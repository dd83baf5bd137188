"""Bank invariants, checked after every block in tests and the simulator."""

from __future__ import annotations

from collections import defaultdict

from citychain.codec import decode
from citychain.modules.bank.state import BALANCE_PREFIX, split_balance_key
from citychain.modules.base import PrefixScan


def total_supply(scan: PrefixScan) -> list[str]:
    """total-supply: for every denomination, the sum of all balances equals the recorded supply."""
    sums: dict[str, int] = defaultdict(int)
    for key, value in scan(BALANCE_PREFIX):
        _, denom = split_balance_key(key)
        sums[denom] += int.from_bytes(value, "big")
    supplies = {
        key[len(b"bank/s/") :].decode(): int.from_bytes(v, "big") for key, v in scan(b"bank/s/")
    }
    denoms = decode(dict(scan(b"bank/denoms")).get(b"bank/denoms", b"\x90"), tuple[str, ...])
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
