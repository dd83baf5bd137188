"""Who lives in the city: seeded citizens, merchants and the employer, and their opening state.

Everything is a function of the seed: keys are ``sha256("citychain-sim/<seed>/<role>/<i>")``,
and every choice comes from the simulation's one ``random.Random(seed)``, drawn in a fixed order.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass

from citychain.client import Client, Wallet
from citychain.crypto.keys import PrivateKey
from citychain.sim.config import MERCHANT_KINDS, CityConfig
from citychain.sim.model import (
    FEE,
    TIER_INSTITUTION,
    TIER_UNVERIFIED,
    TIER_VERIFIED,
    Account,
    Merchant,
    Mint,
    Op,
    SetTier,
)


def seeded_key(seed: int, role: str, index: int) -> PrivateKey:
    seed32 = hashlib.sha256(f"citychain-sim/{seed}/{role}/{index}".encode()).digest()
    return PrivateKey.from_seed(seed32)


def wallet_account(name: str, wallet: Wallet, tier: int = TIER_UNVERIFIED) -> Account:
    return Account(name, wallet.address, tier, wallet)


def fresh_account(name: str, key: PrivateKey, client: Client, chain_id: str) -> Account:
    """An account for a key created for this run, so its next nonce is known to be 0.

    Saves one ``GET /accounts`` per wallet; ``CitySimulation.setup`` checks freshness on a sample.
    """
    wallet = Wallet(key, client, chain_id=chain_id, fee=FEE)
    wallet.set_nonce(0)
    return wallet_account(name, wallet)


@dataclass(eq=False)
class Population:
    employer: Account  # the battery factory, an institution paying wages
    citizens: list[Account]
    merchants: list[Merchant]
    verified: set[Account]  # citizens verified to tier 1 by the kyc key
    employees: list[Account]  # verified citizens working at the battery factory
    wages: dict[Account, int]


def populate(config: CityConfig, rng: random.Random, client: Client, chain_id: str) -> Population:
    """The city's people, drawn from ``rng``: merchants' trades, who is verified, who works."""

    def fresh(name: str, role: str, index: int) -> Account:
        return fresh_account(name, seeded_key(config.seed, role, index), client, chain_id)

    employer = fresh("battery factory", "employer", 0)
    citizens = [fresh(f"citizen {i}", "citizen", i) for i in range(config.citizens)]
    weights = [k.weight for k in MERCHANT_KINDS]
    kinds = rng.choices(MERCHANT_KINDS, weights, k=config.merchants)
    seen: Counter[str] = Counter()
    merchants: list[Merchant] = []
    for i, kind in enumerate(kinds):
        seen[kind.name] += 1
        account = fresh(f"{kind.name} {seen[kind.name]}", "merchant", i)
        merchants.append(Merchant(account, kind))
    verified = rng.sample(citizens, round(config.citizens * config.verified_share))
    employees = verified[: round(config.citizens * config.employee_share)]
    wages = {e: rng.randint(60, 180) * 500 for e in employees}
    return Population(employer, citizens, merchants, set(verified), employees, wages)


def verifications(people: Population) -> list[Op]:
    """The kyc key's set-up: the employer an institution, merchants and the verified in tier 1."""
    tiers: list[Op] = [SetTier(people.employer, TIER_INSTITUTION)]
    tiers += [SetTier(m.account, TIER_VERIFIED) for m in people.merchants]
    tiers += [SetTier(c, TIER_VERIFIED) for c in people.citizens if c in people.verified]
    return tiers


def opening_float(people: Population, rng: random.Random) -> list[Op]:
    """The issuer's set-up mints: a payroll reserve, merchants' change, citizens' savings."""
    payroll = sum(people.wages.values())
    mints: list[Op] = [Mint(people.employer, max(1_000_000, payroll))]
    mints += [Mint(m.account, 20_000) for m in people.merchants]
    for c in people.citizens:
        high = 300_000 if c in people.verified else 40_000
        mints.append(Mint(c, rng.randint(2_000, high) // 10 * 10))
    return mints
