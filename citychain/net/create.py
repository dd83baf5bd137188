"""``citychain net init`` and ``net add-node``: N members' homes and their shared genesis.

Each member's home is made as ``net keygen`` makes it on the member's own machine (citychain
home, engine ``cometbft``, and a CometBFT home from ``cometbft init``), the genesis is built from
the members' public files as ``net genesis`` builds it, and installed as ``net join`` does
(citychain/net/keygen.py, coordinator.py, join.py). Each authority key (issuer, kyc,
registrar, oracle, manufacturer) is made in the home of the member that holds the role
(``DEFAULT_ROLE_ORGS``, or the hosts file).

Two shapes:

* ``create_network``: every member on this machine, on loopback, ports from ``base_port``; one
  operator runs them all, with one key password.
* ``create_hosts_network``: one member per host (``net init --hosts FILE``); each home is meant
  to be copied to its member's machine, with its own password.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from citychain.modules.consortium import (
    ISSUER,
    KYC_VERIFIER,
    MANUFACTURER,
    ORACLE,
    REGISTRAR,
)
from citychain.net.coordinator import build_genesis, peers_document
from citychain.net.join import join
from citychain.net.keygen import NetOptions, keygen
from citychain.net.layout import MEMBER_ORGS, NetError, NetLayout, NodeSpec, moniker_of
from citychain.net.member import (
    LOOPBACK,
    OPERATOR_KEY,
    ROLE_NAMES,
    MemberInfo,
    MemberPlan,
    NetInputError,
    check_chain_id,
    check_distinct,
    host_port,
)

__all__ = [
    "DEFAULT_BASE_PORT",
    "DEFAULT_ROLE_ORGS",
    "OPERATOR_KEY",
    "NetOptions",
    "add_node",
    "create_hosts_network",
    "create_network",
    "default_role_holders",
]

DEFAULT_BASE_PORT = 27000
MAX_VALIDATORS = 64  # the most `--validators` a network is created with

# Which member organisation holds each authority role by default: the city issues its currency
# and keeps the civil registry, the bank checks identities, the battery maker registers its
# batteries and runs the telemetry oracle. With fewer members, the member at that position
# modulo N.
DEFAULT_ROLE_ORGS: dict[str, str] = {
    ISSUER: "City Hall",
    KYC_VERIFIER: "First City Bank",
    REGISTRAR: "City Hall",
    ORACLE: "Voltcell Batteries",
    MANUFACTURER: "Voltcell Batteries",
}


def default_role_holders(members: int) -> dict[str, int]:
    """Role (= key name) -> index of the member whose home holds its key."""
    return {role: MEMBER_ORGS.index(DEFAULT_ROLE_ORGS[role]) % members for role in ROLE_NAMES}


def _roles_of(index: int, holders: Mapping[str, int]) -> tuple[str, ...]:
    return tuple(role for role in ROLE_NAMES if holders[role] == index)


def _check_new_dir(directory: Path) -> None:
    if NetLayout(directory).exists() or (directory.exists() and any(directory.iterdir())):
        raise NetError(f"{directory} is not empty; choose another --dir")


def _check_plans(plans: Sequence[MemberPlan]) -> None:
    """What ``build_genesis`` would refuse, before any home is made."""
    check_distinct(
        [
            ("name", [plan.name for plan in plans]),
            ("host and p2p port", [host_port(plan.host, plan.p2p_port) for plan in plans]),
        ]
    )


def _build(
    directory: Path,
    plans: Sequence[MemberPlan],
    passwords: Sequence[str],
    chain_id: str,
    options: NetOptions,
    extra_balances: Sequence[Mapping[str, Any]],
) -> list[NodeSpec]:
    """keygen for every member, the genesis from their public files, join for every member."""
    _check_plans(plans)
    directory.mkdir(parents=True, exist_ok=True)
    layout = NetLayout(directory)
    infos: list[MemberInfo] = [
        keygen(layout.node_dir(i), plan, passwords[i], options) for i, plan in enumerate(plans)
    ]
    genesis = build_genesis(infos, chain_id, extra_balances=extra_balances)
    peers = peers_document(chain_id, infos)
    for i in range(len(plans)):
        join(layout.node_dir(i), genesis, peers)
    specs = [
        NodeSpec(
            index=i,
            name=plan.name,
            moniker=moniker_of(plan.name),
            p2p_port=plan.p2p_port,
            rpc_port=plan.rpc_port,
            abci_port=plan.abci_port,
            api_port=plan.api_port,
            node_id=info.node_id,
            host=plan.host,
        )
        for i, (plan, info) in enumerate(zip(plans, infos, strict=True))
    ]
    holders = {role: i for i, info in enumerate(infos) for role in info.roles}
    layout.save(chain_id, specs, roles=holders)
    return specs


def create_network(
    directory: Path,
    validators: int,
    *,
    password: str,
    chain_id: str = "citychain-net",
    base_port: int = DEFAULT_BASE_PORT,
    options: NetOptions | None = None,
    extra_balances: Sequence[Mapping[str, Any]] = (),
) -> list[NodeSpec]:
    """Create DIR with ``validators`` member nodes on this machine's loopback, one genesis.

    ``extra_balances`` are bank genesis entries (``{"address", "denom", "amount"}``) added to
    the members' and role keys' own, e.g. the accounts of ``citychain bench payments``.
    """
    _check_new_dir(directory)
    if not 1 <= validators <= MAX_VALIDATORS:
        raise NetInputError(f"--validators must be 1..{MAX_VALIDATORS}")
    check_chain_id(chain_id)
    holders = default_role_holders(validators)
    plans = []
    for i in range(validators):
        spec = NodeSpec.at(i, base_port)
        plans.append(
            MemberPlan(
                name=spec.name,
                host=LOOPBACK,
                p2p_port=spec.p2p_port,
                roles=_roles_of(i, holders),
                p2p_listen=LOOPBACK,
            )
        )
    return _build(
        directory,
        plans,
        [password] * validators,
        chain_id,
        options or NetOptions(),
        extra_balances,
    )


def create_hosts_network(
    directory: Path,
    plans: Sequence[MemberPlan],
    *,
    passwords: Sequence[str],
    chain_id: str = "citychain-net",
    options: NetOptions | None = None,
    extra_balances: Sequence[Mapping[str, Any]] = (),
) -> list[NodeSpec]:
    """Create DIR/nodeI for each member of ``plans`` (one per host), each home to be copied to
    its member's machine. When no plan names a role, the roles go to ``DEFAULT_ROLE_ORGS``."""
    _check_new_dir(directory)
    if not 1 <= len(plans) <= MAX_VALIDATORS:
        raise NetInputError(f"a network has 1..{MAX_VALIDATORS} members, got {len(plans)}")
    if len(passwords) != len(plans):
        raise NetInputError("each member needs its own password")
    check_chain_id(chain_id)
    if not any(plan.roles for plan in plans):
        holders = default_role_holders(len(plans))
        plans = [replace(plan, roles=_roles_of(i, holders)) for i, plan in enumerate(plans)]
    return _build(directory, plans, passwords, chain_id, options or NetOptions(), extra_balances)


def add_node(
    directory: Path, *, password: str, name: str | None = None, options: NetOptions | None = None
) -> tuple[NodeSpec, str, bytes]:
    """A new, non-validating node for an organisation that is to join: same genesis, peers with
    every node. Returns its spec, operator address and consensus public key, which a member
    proposes for admission (``citychain tx consortium propose admit-member``)."""
    layout = NetLayout(directory)
    chain_id, specs = layout.load()
    if name is not None and any(s.name == name for s in specs):
        raise NetError(f"a node named {name!r} already exists")
    base = specs[0].p2p_port
    spec = NodeSpec.at(len(specs), base, name)
    if any(s.host != LOOPBACK for s in specs):
        raise NetError("add-node adds a node on this machine to a network on loopback")
    plan = MemberPlan(name=spec.name, host=LOOPBACK, p2p_port=spec.p2p_port, p2p_listen=LOOPBACK)
    info = keygen(layout.node_dir(spec.index), plan, password, options)
    genesis = json.loads((layout.cometbft_home(0) / "config" / "genesis.json").read_text())
    everyone = [*specs, replace(spec, node_id=info.node_id)]
    join(layout.node_dir(spec.index), genesis, peers_document(chain_id, everyone))
    layout.save(chain_id, everyone, roles=layout.role_holders())
    return everyone[-1], info.operator, bytes.fromhex(info.validator_public_key)
