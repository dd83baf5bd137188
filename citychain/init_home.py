"""``citychain init``: a single-node chain's home, genesis and role keys."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.genesis import Genesis
from citychain.home import DEFAULT_API, Home, HomeError
from citychain.modules.bank import DEFAULT_SECTION
from citychain.modules.consortium import (
    ISSUER,
    KYC_VERIFIER,
    MANUFACTURER,
    ORACLE,
    REGISTRAR,
)

__all__ = ["ROLE_KEYS", "init_home"]

# The keys ``init`` creates, each holding the role of the same name. Later modules add theirs.
ROLE_KEY_FEE_FLOAT = 1_000_000  # 10,000.00 ccy
ROLE_KEYS: tuple[tuple[str, str], ...] = (
    (ISSUER, "issuer"),
    (KYC_VERIFIER, "kyc"),
    (REGISTRAR, "registrar"),
    (ORACLE, "oracle"),
    (MANUFACTURER, "manufacturer"),
)


def init_home(
    path: Path,
    *,
    password: str,
    chain_id: str = "citychain-local",
    moniker: str = "validator",
    api: str = DEFAULT_API,
    extra_balances: Iterable[dict[str, Any]] = (),
    kdf_limits: tuple[int, int] | None = None,
    genesis_time: str | None = None,
) -> tuple[Home, Genesis, dict[str, str]]:
    """Create HOME with config, validator key, role keys and genesis; returns their addresses.

    The role keys sit in the institution tier so that the issuer can hold the money it
    mints before paying it out.
    """
    home = Home(path)
    if home.exists():
        raise HomeError(f"{path} already holds a chain; choose another --home")
    path.mkdir(parents=True, exist_ok=True)
    validator = PrivateKey.generate()
    home.write_validator_key(validator, moniker)
    keystore = (
        Keystore(home.keys_dir)
        if kdf_limits is None
        else Keystore(home.keys_dir, opslimit=kdf_limits[0], memlimit=kdf_limits[1])
    )
    addresses: dict[str, str] = {}
    roles: dict[str, list[str]] = {}
    for role, name in ROLE_KEYS:
        info = keystore.add(name, password)
        addresses[name] = info.address
        roles.setdefault(role, []).append(info.address)
    bank = copy.deepcopy(DEFAULT_SECTION)
    bank["wallet_tiers"] = [{"address": a, "tier": 2} for a in addresses.values()]
    # Role keys start with enough currency to pay their transaction fees.
    bank["balances"] = [
        {"address": a, "denom": "ccy", "amount": ROLE_KEY_FEE_FLOAT} for a in addresses.values()
    ]
    bank["balances"].extend(extra_balances)
    doc: dict[str, Any] = {
        "chain_id": chain_id,
        "genesis_time": genesis_time or datetime.now(UTC).isoformat(timespec="seconds"),
        "validators": [{"name": moniker, "public_key": validator.public_key.hex(), "power": 10}],
        "app_state": {"consortium": {"roles": roles}, "bank": bank},
    }
    genesis = Genesis.from_dict(doc)
    home.genesis_file.write_bytes(genesis.raw)
    home.write_config(
        {
            "chain_id": chain_id,
            "moniker": moniker,
            "engine": "solo",
            "api": api,
            "max_block_txs": 5000,
            "max_block_interval": 0.05,
            "mempool_max_txs": 100_000,
        }
    )
    addresses["validator"] = address_from_public_key(validator.public_key)
    return home, genesis, addresses
