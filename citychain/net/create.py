"""``citychain net init`` and ``net add-node``: homes, keys and a shared genesis for N members.

Every node gets a citychain home (engine ``cometbft``) and a CometBFT home made by ``cometbft
init`` (validator and node keys, config.toml). The genesis is built once and copied to all:
CometBFT's ``validators`` are the members' consensus keys, and its ``app_state`` is the
citychain genesis document, which the Application receives in InitChain.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citychain.crypto.keystore import Keystore
from citychain.genesis import Genesis
from citychain.home import Home
from citychain.init_home import ROLE_KEY_FEE_FLOAT, ROLE_KEYS
from citychain.modules.bank import DEFAULT_SECTION
from citychain.net.layout import (
    NetError,
    NetLayout,
    NodeSpec,
    cometbft_binary,
    validator_public_key,
)
from citychain.net.toml_edit import TomlValue, set_toml_values

__all__ = ["DEFAULT_BASE_PORT", "NetOptions", "add_node", "create_network"]

DEFAULT_BASE_PORT = 27000
VALIDATOR_POWER = 10
MAX_VALIDATORS = 64  # the most `--validators` a network is created with
OPERATOR_KEY = "operator"


class NetOptions:
    def __init__(
        self,
        *,
        timeout_commit: str = "500ms",
        timeout_propose: str = "1500ms",
        mempool_size: int = 50_000,
        kdf_limits: tuple[int, int] | None = None,
    ) -> None:
        self.timeout_commit = timeout_commit
        # How long validators wait for a proposal before voting nil: a round whose proposer is
        # down costs this much. CometBFT's default, 3s, is meant for networks wider than loopback.
        self.timeout_propose = timeout_propose
        self.mempool_size = mempool_size
        self.kdf_limits = kdf_limits


def _run(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise NetError(f"cannot run {args[0]}: {exc}") from None
    if done.returncode != 0:
        raise NetError(f"{' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def _keystore(home: Home, options: NetOptions) -> Keystore:
    if options.kdf_limits is None:
        return Keystore(home.keys_dir)
    return Keystore(home.keys_dir, opslimit=options.kdf_limits[0], memlimit=options.kdf_limits[1])


def _init_node(
    layout: NetLayout, spec: NodeSpec, chain_id: str, password: str, options: NetOptions
) -> tuple[NodeSpec, str, bytes]:
    """Create node ``spec``'s folders and keys; returns the spec with its node id, the member's
    operator address and its consensus public key."""
    binary = str(cometbft_binary())
    node_dir = layout.node_dir(spec.index)
    comet_home = layout.cometbft_home(spec.index)
    _run([binary, "init", "--home", str(comet_home)])
    node_id = _run([binary, "show-node-id", "--home", str(comet_home)])
    home = Home(node_dir)
    home.write_config(
        {
            "chain_id": chain_id,
            "moniker": spec.moniker,
            "member": spec.name,
            "engine": "cometbft",
            "api": f"127.0.0.1:{spec.api_port}",
            "abci": f"tcp://127.0.0.1:{spec.abci_port}",
            "cometbft_rpc": spec.rpc_url,
            "cometbft_home": str(comet_home),
        }
    )
    operator = _keystore(home, options).add(OPERATOR_KEY, password)
    pub = validator_public_key(comet_home)
    return NodeSpec(**{**spec.__dict__, "node_id": node_id}), operator.address, pub


def _configure(
    layout: NetLayout, spec: NodeSpec, peers: list[NodeSpec], options: NetOptions
) -> None:
    persistent = ",".join(f"{p.node_id}@127.0.0.1:{p.p2p_port}" for p in peers if p != spec)
    values: dict[str, dict[str, TomlValue]] = {
        "": {
            "moniker": spec.moniker,
            "proxy_app": f"tcp://127.0.0.1:{spec.abci_port}",
            "log_level": "main:info,state:info,consensus:error,p2p:error,*:error",
        },
        "rpc": {
            "laddr": f"tcp://127.0.0.1:{spec.rpc_port}",
            "max_body_bytes": 16_000_000,
            # The app broadcasts in JSON-RPC batches of
            # citychain.engines.cometbft.engine.RPC_BATCH (500).
            "max_request_batch_size": 500,
        },
        "p2p": {
            "laddr": f"tcp://127.0.0.1:{spec.p2p_port}",
            "persistent_peers": persistent,
            "addr_book_strict": False,
            "allow_duplicate_ip": True,
            "pex": False,
            "send_rate": 50_000_000,
            "recv_rate": 50_000_000,
        },
        "mempool": {
            "size": options.mempool_size,
            "cache_size": 4 * options.mempool_size,
            # The app rebases its check state itself after each commit (Application.
            # rebase_check_state): CometBFT's recheck would run every waiting transaction again.
            "recheck": False,
        },
        "consensus": {
            "timeout_commit": options.timeout_commit,
            "timeout_propose": options.timeout_propose,
        },
        # citychain indexes transactions itself; CometBFT's indexer would do the work twice.
        "tx_index": {"indexer": "null"},
    }
    set_toml_values(layout.cometbft_home(spec.index) / "config" / "config.toml", values)


def _app_genesis(
    chain_id: str,
    members: list[tuple[NodeSpec, str, bytes]],
    role_addresses: dict[str, list[str]],
    funded: list[str],
    extra_balances: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    bank = copy.deepcopy(DEFAULT_SECTION)
    bank["wallet_tiers"] = [{"address": a, "tier": 2} for a in funded]
    bank["balances"] = [
        {"address": a, "denom": "ccy", "amount": ROLE_KEY_FEE_FLOAT} for a in funded
    ]
    bank["balances"].extend(dict(entry) for entry in extra_balances)
    return {
        "chain_id": chain_id,
        "genesis_time": datetime.now(UTC).isoformat(timespec="seconds"),
        "validators": [
            {"name": spec.name, "public_key": pub.hex(), "power": VALIDATOR_POWER}
            for spec, _, pub in members
        ],
        "app_state": {
            "consortium": {
                "roles": role_addresses,
                "members": [
                    {
                        "name": spec.name,
                        "operator": operator,
                        "validator_public_key": pub.hex(),
                        "power": VALIDATOR_POWER,
                    }
                    for spec, operator, pub in members
                ],
            },
            "bank": bank,
        },
    }


def _cometbft_genesis(template: Path, app_genesis: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(template.read_text())
    doc["chain_id"] = app_genesis["chain_id"]
    doc["genesis_time"] = (
        datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    )
    doc["validators"] = [
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
    doc["app_state"] = app_genesis
    return doc


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
    """Create DIR with ``validators`` member nodes sharing one genesis.

    ``extra_balances`` are bank genesis entries (``{"address", "denom", "amount"}``) added to
    the members' and role keys' own, e.g. the accounts of ``citychain bench payments``.
    """
    options = options or NetOptions()
    layout = NetLayout(directory)
    if layout.exists() or (directory.exists() and any(directory.iterdir())):
        raise NetError(f"{directory} is not empty; choose another --dir")
    if not 1 <= validators <= MAX_VALIDATORS:
        raise NetError("--validators must be 1..64")
    # CometBFT takes chain ids of at most 50 characters (types.MaxChainIDLen).
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,49}", chain_id):
        raise NetError(f"chain id must be 1..50 letters, digits, '.', '_' or '-', got {chain_id!r}")
    directory.mkdir(parents=True, exist_ok=True)
    members = [
        _init_node(layout, NodeSpec.at(i, base_port), chain_id, password, options)
        for i in range(validators)
    ]
    specs = [spec for spec, _, _ in members]
    # The first member's home holds the role keys `citychain init` creates.
    first = Home(layout.node_dir(0))
    keystore = _keystore(first, options)
    roles: dict[str, list[str]] = {}
    funded = [operator for _, operator, _ in members]
    for role, name in ROLE_KEYS:
        address = keystore.add(name, password).address
        roles.setdefault(role, []).append(address)
        funded.append(address)
    app_genesis = _app_genesis(chain_id, members, roles, funded, extra_balances)
    Genesis.from_dict(app_genesis)  # refuse to write a genesis the Application would refuse
    comet_genesis = _cometbft_genesis(
        layout.cometbft_home(0) / "config" / "genesis.json", app_genesis
    )
    for spec in specs:
        _write_genesis(layout, spec.index, app_genesis, comet_genesis)
        _configure(layout, spec, specs, options)
    layout.save(chain_id, specs)
    return specs


def _write_genesis(
    layout: NetLayout, index: int, app_genesis: dict[str, Any], comet_genesis: dict[str, Any]
) -> None:
    Home(layout.node_dir(index)).genesis_file.write_bytes(Genesis.canonical_json(app_genesis))
    (layout.cometbft_home(index) / "config" / "genesis.json").write_text(
        json.dumps(comet_genesis, indent=2) + "\n"
    )


def add_node(
    directory: Path, *, password: str, name: str | None = None, options: NetOptions | None = None
) -> tuple[NodeSpec, str, bytes]:
    """A new, non-validating node for an organisation that is to join: same genesis, peers with
    every node. Returns its spec, operator address and consensus public key, which a member
    proposes for admission (``citychain tx consortium propose admit-member``)."""
    options = options or NetOptions()
    layout = NetLayout(directory)
    chain_id, specs = layout.load()
    if name is not None and any(s.name == name for s in specs):
        raise NetError(f"a node named {name!r} already exists")
    base = specs[0].p2p_port
    spec = NodeSpec.at(len(specs), base, name)
    new_spec, operator, pub = _init_node(layout, spec, chain_id, password, options)
    app_genesis = json.loads(Home(layout.node_dir(0)).genesis_file.read_text())
    comet_genesis = json.loads((layout.cometbft_home(0) / "config" / "genesis.json").read_text())
    _write_genesis(layout, new_spec.index, app_genesis, comet_genesis)
    everyone = [*specs, new_spec]
    _configure(layout, new_spec, everyone, options)
    layout.save(chain_id, everyone)
    return new_spec, operator, pub
