"""``citychain net genesis``: the coordinator builds the genesis from the members' public files.

CometBFT's genesis.json (``build_genesis``), whose ``app_state`` is the citychain genesis every
member's app checks in InitChain, and the peers file (``peers_document``) from which ``net
join`` takes each member's persistent peers. Nothing here needs a private key or a CometBFT
home.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from citychain.app import Application
from citychain.genesis import Genesis, GenesisError
from citychain.init_home import ROLE_KEY_FEE_FLOAT
from citychain.modules.bank import DEFAULT_SECTION
from citychain.net.member import (
    PEERS_FORMAT,
    ROLE_NAMES,
    MemberInfo,
    NetInputError,
    check_chain_id,
    check_distinct,
    host_port,
)
from citychain.store.sqlite import BlockStore

__all__ = [
    "CONSENSUS_PARAMS",
    "build_genesis",
    "check_with_application",
    "comet_validators",
    "peers_document",
]

# What `cometbft init` (v0.38) writes; spelled out so that the coordinator needs no CometBFT home
# (and makes no throwaway keys). tests/unit/test_net_members.py compares it with `cometbft init`.
CONSENSUS_PARAMS: dict[str, Any] = {
    "block": {"max_bytes": "22020096", "max_gas": "-1"},
    "evidence": {
        "max_age_num_blocks": "100000",
        "max_age_duration": "172800000000000",
        "max_bytes": "1048576",
    },
    "validator": {"pub_key_types": ["ed25519"]},
    "version": {"app": "0"},
    "abci": {"vote_extensions_enable_height": "0"},
}


class Reachable(Protocol):
    """A node the others dial: a member's public file, or a node of a network on this machine."""

    @property
    def name(self) -> str: ...
    @property
    def node_id(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def p2p_port(self) -> int: ...


def _app_genesis(
    chain_id: str,
    members: Sequence[MemberInfo],
    genesis_time: str,
    extra_balances: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    roles: dict[str, list[str]] = {}
    funded = [m.operator for m in members]
    for role in ROLE_NAMES:
        for member in members:
            if role in member.roles:
                roles.setdefault(role, []).append(member.roles[role])
                funded.append(member.roles[role])
    bank = copy.deepcopy(DEFAULT_SECTION)
    bank["wallet_tiers"] = [{"address": a, "tier": 2} for a in funded]
    bank["balances"] = [
        {"address": a, "denom": "ccy", "amount": ROLE_KEY_FEE_FLOAT} for a in funded
    ]
    bank["balances"].extend(dict(entry) for entry in extra_balances)
    return {
        "chain_id": chain_id,
        "genesis_time": genesis_time,
        "validators": [
            {"name": m.name, "public_key": m.validator_public_key, "power": m.power}
            for m in members
        ],
        "app_state": {
            "consortium": {
                "roles": roles,
                "members": [
                    {
                        "name": m.name,
                        "operator": m.operator,
                        "validator_public_key": m.validator_public_key,
                        "power": m.power,
                    }
                    for m in members
                ],
            },
            "bank": bank,
        },
    }


def comet_validators(app_genesis: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CometBFT's ``validators`` for the citychain genesis ``app_genesis``."""
    return [
        {
            "address": hashlib.sha256(bytes.fromhex(v["public_key"])).digest()[:20].hex().upper(),
            "pub_key": {
                "type": "tendermint/PubKeyEd25519",
                "value": base64.b64encode(bytes.fromhex(v["public_key"])).decode(),
            },
            "power": str(v["power"]),
            "name": v["name"],
        }
        for v in app_genesis["validators"]
    ]


def check_with_application(app_genesis: dict[str, Any]) -> Genesis:
    """Refuse a genesis the Application would refuse in InitChain: run it on a scratch store."""
    genesis = Genesis.from_dict(app_genesis)
    with tempfile.TemporaryDirectory(prefix="citychain-genesis-check-") as scratch:
        store = BlockStore(Path(scratch) / "check.sqlite")
        try:
            Application(store).init_chain(genesis)
        finally:
            store.close()
    return genesis


def build_genesis(
    members: Sequence[MemberInfo],
    chain_id: str,
    *,
    extra_balances: Sequence[Mapping[str, Any]] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """CometBFT's genesis.json for ``members`` (their public files only); its ``app_state`` is
    the citychain genesis document every member's app checks in InitChain."""
    check_chain_id(chain_id)
    if not members:
        raise NetInputError("a genesis needs at least one member")
    check_distinct(
        [
            ("name", [m.name for m in members]),
            ("node id", [m.node_id for m in members]),
            ("validator key", [m.validator_public_key for m in members]),
            ("operator", [m.operator for m in members]),
            ("host and p2p port", [host_port(m.host, m.p2p_port) for m in members]),
        ]
    )
    now = now or datetime.now(UTC)
    app_genesis = _app_genesis(chain_id, members, now.isoformat(timespec="seconds"), extra_balances)
    try:
        check_with_application(app_genesis)
    except GenesisError as exc:
        raise NetInputError(f"the genesis would be refused: {exc}") from None
    return {
        "genesis_time": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "chain_id": chain_id,
        "initial_height": "0",
        "consensus_params": copy.deepcopy(CONSENSUS_PARAMS),
        "validators": comet_validators(app_genesis),
        "app_hash": "",
        "app_state": app_genesis,
    }


def peers_document(chain_id: str, nodes: Sequence[Reachable]) -> dict[str, Any]:
    """Where each node is reached: ``net join`` makes them its persistent peers."""
    return {
        "format": PEERS_FORMAT,
        "chain_id": chain_id,
        "peers": [
            {"name": n.name, "node_id": n.node_id, "host": n.host, "p2p_port": n.p2p_port}
            for n in nodes
        ],
    }
