"""What ``bench/attacks.py`` and ``bench/soak.py`` put on the ledger before they load it: a few
batteries owned by a key of the benchmark, registered by the manufacturer key with the
simulator's ``register_fleet`` (docs/hardening-bench.md)."""

from __future__ import annotations

import time
from collections.abc import Callable

from citychain.benchmarks.attacks_context import BatterySetup, seeded_key
from citychain.benchmarks.attacks_target import Target
from citychain.client import Client, ClientError, Wallet
from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.sim.fleet import Fleet, register_fleet

__all__ = ["battery_owner", "register_batteries"]

DAY_S = 86_400
FLEET_SEED = "citychain-bench/attacks"


def battery_owner() -> PrivateKey:
    """The key that owns the benchmark's batteries (it needs no funds to read them)."""
    return seeded_key("battery-owner")


def register_batteries(
    target: Target, count: int, log: Callable[[str], None], *, prefix: str = "BENCH-ATK"
) -> list[BatterySetup]:
    """Register ``count`` batteries owned by ``battery_owner()`` (none, with a note on the
    target, when there is no manufacturer key or the node refused them)."""
    maker = target.role_keys.get("manufacturer")
    if maker is None:
        target.notes.append("no manufacturer key: no battery registered")
        return []
    owner = address_from_public_key(battery_owner().public_key)
    fleet = Fleet(
        count, seed=f"{FLEET_SEED}/{prefix}", start_day=int(time.time()) // DAY_S, prefix=prefix
    )
    with Client(target.urls[0]) as client:
        try:
            register_fleet(Wallet(maker, client, chain_id=target.chain_id), fleet, owner=owner)
        except Exception as exc:  # the simulator's, the node's or the SDK's: not fatal here
            # e.g. the openings of the test reports refused (an operator route) after the
            # batteries were registered: whether they are on the ledger is checked below
            target.notes.append(f"battery registration: {type(exc).__name__}: {exc}")
        registered = []
        for battery in fleet:
            try:
                client.battery_passport(battery.battery_id.hex())
            except ClientError:
                continue
            holding = getattr(battery, "holding_secret", b"")  # where the ledger has holdings
            registered.append(BatterySetup(battery.battery_id, battery_owner(), holding))
    log(f"registered {len(registered)} of {count} batteries")
    return registered
