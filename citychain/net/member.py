"""Members on separate hosts: each makes its own keys, the genesis is built from public files.

The three steps of ``citychain net keygen``, ``net genesis`` and ``net join`` (docs/network.md):

1. ``keygen`` (on the member's machine): ``cometbft init`` in ``HOME/cometbft`` (validator and
   node keys), the member's ``operator`` key and the keys of the roles it holds in ``HOME/keys``
   under the member's own password, config.json and config.toml; the public part in
   ``HOME/member.json`` (name, host, p2p port, node id, consensus public key, addresses).
2. ``build_genesis`` (a coordinator, from the members' public files only): CometBFT's
   genesis.json whose ``app_state`` is the citychain genesis, and a peers file.
3. ``join`` (on each member's machine): installs the genesis and the peers in ``HOME``.

``net init`` runs the same three steps for every member on one machine.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import ipaddress
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citychain.app import Application
from citychain.crypto.address import address_to_bytes
from citychain.crypto.keystore import Keystore
from citychain.genesis import Genesis, GenesisError
from citychain.home import Home
from citychain.init_home import ROLE_KEY_FEE_FLOAT, ROLE_KEYS
from citychain.modules.bank import DEFAULT_SECTION
from citychain.net.layout import NetError, cometbft_binary, validator_public_key
from citychain.net.toml_edit import TomlValue, set_toml_values
from citychain.store.sqlite import BlockStore
from citychain.tx.envelope import MAX_TX_BYTES

__all__ = [
    "DEFAULT_P2P_PORT",
    "LOOPBACK",
    "MAX_FILE_BYTES",
    "MAX_GENESIS_BYTES",
    "MEMBER_FILE",
    "OPERATOR_KEY",
    "PEERS_FORMAT",
    "ROLE_NAMES",
    "JoinResult",
    "MemberInfo",
    "MemberPlan",
    "NetInputError",
    "NetOptions",
    "build_genesis",
    "check_chain_id",
    "host_port",
    "join",
    "keygen",
    "load_json_file",
    "moniker_of",
    "peers_document",
    "read_member",
]

DEFAULT_P2P_PORT = 26656  # CometBFT's; RPC, ABCI and the API take the next three
RPC_OFFSET, ABCI_OFFSET, API_OFFSET, METRICS_OFFSET = 1, 2, 3, 4
MIN_PORT, MAX_PORT = 1024, 65_535 - METRICS_OFFSET
VALIDATOR_POWER = 10
OPERATOR_KEY = "operator"
ROLE_NAMES = tuple(name for _, name in ROLE_KEYS)
MEMBER_FILE = "member.json"
MEMBER_FORMAT = "citychain-member/1"
PEERS_FORMAT = "citychain-peers/1"
MAX_FILE_BYTES = 1 << 20  # a member or peers file; a genesis may be larger
MAX_GENESIS_BYTES = 256 << 20
MAX_NAME = 64
# CometBFT's [mempool]: a transaction larger than the app would decode is refused before CheckTx,
# and all waiting transactions together hold at most 128 MiB.
MEMPOOL_MAX_TX_BYTES = MAX_TX_BYTES
MEMPOOL_MAX_TXS_BYTES = 128 << 20
ANY_ADDRESS = "0.0.0.0"
LOOPBACK = "127.0.0.1"
_NAME = re.compile(r"[!-~]+( [!-~]+)*")  # as the consortium module's genesis takes names
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_NODE_ID = re.compile(r"[0-9a-f]{40}")
_CHAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,49}")  # CometBFT: types.MaxChainIDLen 50

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


class NetInputError(NetError):
    """A hosts, member, peers or genesis file (or a command's value) that cannot be used as
    written: the CLI exits 2."""


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


# --- what a member is ------------------------------------------------------------------------
def check_name(name: object) -> str:
    if not isinstance(name, str) or len(name) > MAX_NAME or not _NAME.fullmatch(name):
        raise NetInputError(
            f"member name must be 1..{MAX_NAME} printable ASCII characters, words separated by "
            f"single spaces, got {name!r}"
        )
    return name


def check_host(host: object, what: str = "host") -> str:
    """An IPv4 or IPv6 address or a DNS name."""
    if isinstance(host, str):
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            if _HOSTNAME.fullmatch(host):
                return host
    raise NetInputError(f"{what} must be an IP address or a host name, got {host!r}")


def check_port(port: object, what: str = "p2p_port") -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not MIN_PORT <= port <= MAX_PORT:
        raise NetInputError(f"{what} must be {MIN_PORT}..{MAX_PORT}, got {port!r}")
    return port


def check_chain_id(chain_id: str) -> str:
    if not _CHAIN_ID.fullmatch(chain_id):
        raise NetInputError(
            f"chain id must be 1..50 letters, digits, '.', '_' or '-', got {chain_id!r}"
        )
    return chain_id


def check_roles(roles: object) -> tuple[str, ...]:
    if not isinstance(roles, list | tuple) or not all(isinstance(r, str) for r in roles):
        raise NetInputError(f"roles must be a list of role names, got {roles!r}")
    unknown = sorted(set(roles) - set(ROLE_NAMES))
    if unknown:
        raise NetInputError(f"unknown role {unknown[0]!r}; roles: {', '.join(ROLE_NAMES)}")
    return tuple(r for r in ROLE_NAMES if r in roles)


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def moniker_of(name: str) -> str:
    return "-".join(name.lower().split())


@dataclass(frozen=True)
class MemberPlan:
    """What ``keygen`` makes a member's home for.

    ``host`` is where the other members reach its p2p port; ``*_listen`` are the addresses its
    processes bind (the RPC and the API: loopback unless the operator opens them)."""

    name: str
    host: str
    p2p_port: int = DEFAULT_P2P_PORT
    roles: tuple[str, ...] = ()
    p2p_listen: str = ANY_ADDRESS
    rpc_listen: str = LOOPBACK
    api_listen: str = LOOPBACK

    def __post_init__(self) -> None:
        check_name(self.name)
        check_host(self.host)
        check_port(self.p2p_port)
        check_roles(list(self.roles))
        for what in ("p2p_listen", "rpc_listen", "api_listen"):
            value = getattr(self, what)
            try:
                if not isinstance(value, str):
                    raise ValueError(value)
                ipaddress.ip_address(value)
            except ValueError:
                raise NetInputError(f"{what} must be an IP address, got {value!r}") from None

    @property
    def rpc_port(self) -> int:
        return self.p2p_port + RPC_OFFSET

    @property
    def abci_port(self) -> int:
        return self.p2p_port + ABCI_OFFSET

    @property
    def api_port(self) -> int:
        return self.p2p_port + API_OFFSET

    @property
    def metrics_port(self) -> int:
        """CometBFT's Prometheus listener (loopback: the operator's scraper runs beside it)."""
        return self.p2p_port + METRICS_OFFSET


@dataclass(frozen=True)
class MemberInfo:
    """A member's public file (``HOME/member.json``): nothing in it is secret."""

    name: str
    host: str
    p2p_port: int
    node_id: str
    validator_public_key: str  # hex
    operator: str
    roles: dict[str, str] = field(default_factory=dict)  # role -> address
    power: int = VALIDATOR_POWER

    @property
    def moniker(self) -> str:
        return moniker_of(self.name)

    @property
    def peer(self) -> str:
        return f"{self.node_id}@{host_port(self.host, self.p2p_port)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MEMBER_FORMAT,
            "name": self.name,
            "host": self.host,
            "p2p_port": self.p2p_port,
            "node_id": self.node_id,
            "validator_public_key": self.validator_public_key,
            "power": self.power,
            "operator": self.operator,
            "roles": dict(self.roles),
        }

    @staticmethod
    def from_json(doc: object, where: str) -> MemberInfo:
        if not isinstance(doc, dict) or doc.get("format") != MEMBER_FORMAT:
            raise NetInputError(f"{where} is not a member file ({MEMBER_FORMAT})")
        try:
            roles = doc.get("roles", {})
            if not isinstance(roles, dict):
                raise NetInputError(f"{where}: roles must be an object")
            check_roles(list(roles))
            for address in (doc["operator"], *roles.values()):
                address_to_bytes(str(address))
            key = str(doc["validator_public_key"])
            if len(bytes.fromhex(key)) != 32:  # noqa: PLR2004 - an Ed25519 public key
                raise ValueError("validator_public_key must be 32 bytes of hex")
            if not _NODE_ID.fullmatch(str(doc["node_id"])):
                raise ValueError("node_id must be 40 lowercase hex digits")
            power = doc.get("power", VALIDATOR_POWER)
            if isinstance(power, bool) or not isinstance(power, int) or power <= 0:
                raise ValueError("power must be a positive integer")
            return MemberInfo(
                name=check_name(doc["name"]),
                host=check_host(doc["host"]),
                p2p_port=check_port(doc["p2p_port"]),
                node_id=str(doc["node_id"]),
                validator_public_key=key.lower(),
                operator=str(doc["operator"]),
                roles={r: str(roles[r]) for r in ROLE_NAMES if r in roles},
                power=power,
            )
        except NetInputError as exc:
            raise NetInputError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise NetInputError(f"{where}: missing or malformed field: {exc}") from None


def load_json_file(path: Path, what: str, max_bytes: int = MAX_FILE_BYTES) -> Any:
    try:
        if path.stat().st_size > max_bytes:
            raise NetInputError(f"{what} {path} is larger than {max_bytes} bytes")
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NetInputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise NetInputError(f"{what} {path} is not JSON: {exc}") from None


def read_member(path: Path) -> MemberInfo:
    return MemberInfo.from_json(load_json_file(path, "member file"), str(path))


def _write_json(path: Path, doc: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


# --- 1. keygen ------------------------------------------------------------------------------
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


def _local(listen: str) -> str:
    """Where a process on the same machine reaches a listener bound to ``listen``."""
    return LOOPBACK if listen in (ANY_ADDRESS, "::") else listen


def _node_config(plan: MemberPlan, options: NetOptions) -> dict[str, dict[str, TomlValue]]:
    """config.toml as keygen sets it; ``join`` adds the peers."""
    return {
        "": {
            "moniker": moniker_of(plan.name),
            "proxy_app": f"tcp://{LOOPBACK}:{plan.abci_port}",
            "log_level": "main:info,state:info,consensus:error,p2p:error,*:error",
        },
        "rpc": {
            "laddr": f"tcp://{host_port(plan.rpc_listen, plan.rpc_port)}",
            "max_body_bytes": 16_000_000,
            # The app broadcasts in JSON-RPC batches of
            # citychain.engines.cometbft.engine.RPC_BATCH (500).
            "max_request_batch_size": 500,
        },
        "p2p": {
            "laddr": f"tcp://{host_port(plan.p2p_listen, plan.p2p_port)}",
            # What this node tells its peers to dial: its host, not the address it binds.
            "external_address": host_port(plan.host, plan.p2p_port),
            # The peers are fixed (no PEX), so the address book only holds them; not strict,
            # so that members on a private network (a VPN between buildings) may dial each other.
            "addr_book_strict": False,
            "pex": False,
            "send_rate": 50_000_000,
            "recv_rate": 50_000_000,
        },
        "mempool": {
            "size": options.mempool_size,
            "cache_size": 4 * options.mempool_size,
            # After each block CometBFT asks the app again about every waiting transaction
            # (the app answers from its rebased check state): PrepareProposal leaves out what a
            # block made invalid, so without recheck such a transaction would wait for ever.
            "recheck": True,
            "max_tx_bytes": MEMPOOL_MAX_TX_BYTES,
            "max_txs_bytes": MEMPOOL_MAX_TXS_BYTES,
        },
        "consensus": {
            "timeout_commit": options.timeout_commit,
            "timeout_propose": options.timeout_propose,
        },
        # citychain indexes transactions itself; CometBFT's indexer would do the work twice.
        "tx_index": {"indexer": "null"},
        # The consensus metrics the alert rules watch (docs/prometheus-alerts.yml): height,
        # peers, missing validators.
        "instrumentation": {
            "prometheus": True,
            "prometheus_listen_addr": host_port(LOOPBACK, plan.metrics_port),
        },
    }


def keygen(
    path: Path, plan: MemberPlan, password: str, options: NetOptions | None = None
) -> MemberInfo:
    """Make member ``plan``'s home in ``path`` (which must be empty or absent): every private
    key it will hold, made here and never written anywhere else. Returns its public file."""
    options = options or NetOptions()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise NetError(f"{path} is not empty; choose another --home")
    if not password:
        raise NetInputError("a member's keys need a password")
    binary = str(cometbft_binary())
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    comet_home = path / "cometbft"
    _run([binary, "init", "--home", str(comet_home)])
    node_id = _run([binary, "show-node-id", "--home", str(comet_home)])
    home = Home(path)
    keystore = _keystore(home, options)
    operator = keystore.add(OPERATOR_KEY, password).address
    roles = {role: keystore.add(role, password).address for role in plan.roles}
    home.write_config(
        {
            "moniker": moniker_of(plan.name),
            "member": plan.name,
            "engine": "cometbft",
            "api": host_port(plan.api_listen, plan.api_port),
            "abci": f"tcp://{LOOPBACK}:{plan.abci_port}",
            "cometbft_rpc": f"http://{host_port(_local(plan.rpc_listen), plan.rpc_port)}",
        }
    )
    set_toml_values(comet_home / "config" / "config.toml", _node_config(plan, options))
    info = MemberInfo(
        name=plan.name,
        host=plan.host,
        p2p_port=plan.p2p_port,
        node_id=node_id,
        validator_public_key=validator_public_key(comet_home).hex(),
        operator=operator,
        roles=roles,
    )
    _write_json(path / MEMBER_FILE, info.to_json())
    return info


# --- 2. the genesis, from public files --------------------------------------------------------
def _check_distinct(members: Sequence[MemberInfo]) -> None:
    if not members:
        raise NetInputError("a genesis needs at least one member")
    for what, values in (
        ("name", [m.name for m in members]),
        ("node id", [m.node_id for m in members]),
        ("validator key", [m.validator_public_key for m in members]),
        ("operator", [m.operator for m in members]),
        ("host and p2p port", [host_port(m.host, m.p2p_port) for m in members]),
    ):
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise NetInputError(f"two members have the same {what}: {value}")
            seen.add(value)


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


def _comet_validators(app_genesis: Mapping[str, Any]) -> list[dict[str, Any]]:
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
    _check_distinct(members)
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
        "validators": _comet_validators(app_genesis),
        "app_hash": "",
        "app_state": app_genesis,
    }


def peers_document(chain_id: str, members: Sequence[MemberInfo]) -> dict[str, Any]:
    """Where each member's node is reached: ``net join`` makes them its persistent peers."""
    return {
        "format": PEERS_FORMAT,
        "chain_id": chain_id,
        "peers": [
            {"name": m.name, "node_id": m.node_id, "host": m.host, "p2p_port": m.p2p_port}
            for m in members
        ],
    }


# --- 3. join ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Peer:
    name: str
    node_id: str
    host: str
    p2p_port: int

    @property
    def address(self) -> str:
        return f"{self.node_id}@{host_port(self.host, self.p2p_port)}"


@dataclass(frozen=True)
class JoinResult:
    chain_id: str
    validator: bool
    peers: list[Peer]
    allow_duplicate_ip: bool


def _parse_peers(doc: object, chain_id: str) -> list[Peer]:
    if not isinstance(doc, dict) or doc.get("format") != PEERS_FORMAT:
        raise NetInputError(f"the peers file is not a {PEERS_FORMAT} document")
    if doc.get("chain_id") != chain_id:
        raise NetInputError(
            f"the peers file is for chain {doc.get('chain_id')!r}, the genesis for {chain_id!r}"
        )
    entries = doc.get("peers")
    if not isinstance(entries, list):
        raise NetInputError("the peers file has no list of peers")
    peers: list[Peer] = []
    for i, entry in enumerate(entries):
        try:
            node_id = str(entry["node_id"])
            if not _NODE_ID.fullmatch(node_id):
                raise NetInputError(f"node_id must be 40 lowercase hex digits, got {node_id!r}")
            peers.append(
                Peer(
                    check_name(entry["name"]),
                    node_id,
                    check_host(entry["host"]),
                    check_port(entry["p2p_port"]),
                )
            )
        except (KeyError, TypeError) as exc:
            raise NetInputError(f"peers[{i}] lacks {exc}") from None
        except NetInputError as exc:
            raise NetInputError(f"peers[{i}]: {exc}") from None
    return peers


def _parse_genesis(doc: object) -> tuple[dict[str, Any], Genesis]:
    """The citychain genesis inside CometBFT's genesis.json, checked against its validators."""
    if not isinstance(doc, dict) or not isinstance(doc.get("app_state"), dict):
        raise NetInputError("the genesis is not CometBFT's genesis.json with an app_state")
    app_genesis: dict[str, Any] = doc["app_state"]
    try:
        genesis = Genesis.from_dict(app_genesis)
        expected = _comet_validators(app_genesis)
    except (GenesisError, KeyError, TypeError, ValueError) as exc:
        raise NetInputError(f"the genesis' app_state is not a citychain genesis: {exc}") from None
    if doc.get("chain_id") != genesis.chain_id:
        raise NetInputError("the genesis' chain_id differs from its app_state's")
    theirs = [(v.get("pub_key"), str(v.get("power"))) for v in doc.get("validators") or []]
    if theirs != [(v["pub_key"], v["power"]) for v in expected]:
        raise NetInputError("the genesis' validators differ from its app_state's")
    return app_genesis, genesis


def join(path: Path, comet_genesis: object, peers_doc: object) -> JoinResult:
    """Install a genesis and the members' peers in the home ``keygen`` made in ``path``."""
    home = Home(path)
    me = read_member(path / MEMBER_FILE)
    app_genesis, genesis = _parse_genesis(comet_genesis)
    peers = _parse_peers(peers_doc, genesis.chain_id)
    comet_home = path / "cometbft"
    if validator_public_key(comet_home).hex() != me.validator_public_key:
        raise NetError(f"{path}/{MEMBER_FILE} does not describe this home's validator key")
    raw = Genesis.canonical_json(app_genesis)
    started = home.db_file.exists() and home.genesis_file.exists()
    if started and home.genesis_file.read_bytes() != raw:
        raise NetError(f"{path} already runs a chain from another genesis")
    others = [p for p in peers if p.node_id != me.node_id]
    # CometBFT refuses a second peer from an address it already has a peer from, unless told
    # otherwise: only members that share a host (all on one machine) need that.
    duplicate_ip = len({p.host for p in others}) < len(others)
    set_toml_values(
        comet_home / "config" / "config.toml",
        {
            "p2p": {
                "persistent_peers": ",".join(p.address for p in others),
                "allow_duplicate_ip": duplicate_ip,
            }
        },
    )
    _write_json(comet_home / "config" / "genesis.json", comet_genesis)
    home.genesis_file.write_bytes(raw)
    config = json.loads(home.config_file.read_text())
    config.pop("chain_id", None)
    home.write_config({"chain_id": genesis.chain_id, **config})
    validator = any(v.public_key.hex() == me.validator_public_key for v in genesis.validators)
    return JoinResult(genesis.chain_id, validator, others, duplicate_ip)
