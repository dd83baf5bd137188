"""Members on separate hosts: what a member is, and the public file it hands out.

Each member makes its own keys and the genesis is built from the members' public files, in the
three steps of ``citychain net keygen``, ``net genesis`` and ``net join`` (docs/network.md):

1. ``keygen.keygen`` (on the member's machine): its home and every private key it holds; the
   public part in ``HOME/member.json`` (``MemberInfo``: name, host, p2p port, node id,
   consensus public key, addresses).
2. ``coordinator.build_genesis`` (a coordinator, from the members' public files only):
   CometBFT's genesis.json whose ``app_state`` is the citychain genesis, and a peers file.
3. ``join.join`` (on each member's machine): installs the genesis and the peers in ``HOME``.

``net init`` runs the same three steps for every member on one machine (create.py). This module
holds what the three share: a member's plan and public file, and the checks of every value a
hosts, member or peers file may carry.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citychain.crypto.address import address_to_bytes
from citychain.init_home import ROLE_KEYS
from citychain.net.layout import (
    ABCI_OFFSET,
    API_OFFSET,
    METRICS_OFFSET,
    RPC_OFFSET,
    NetError,
)

__all__ = [
    "ANY_ADDRESS",
    "DEFAULT_P2P_PORT",
    "LOOPBACK",
    "MAX_FILE_BYTES",
    "MAX_GENESIS_BYTES",
    "MEMBER_FILE",
    "OPERATOR_KEY",
    "PEERS_FORMAT",
    "ROLE_NAMES",
    "VALIDATOR_POWER",
    "MemberInfo",
    "MemberPlan",
    "NetInputError",
    "check_chain_id",
    "check_distinct",
    "check_host",
    "check_name",
    "check_node_id",
    "check_port",
    "check_roles",
    "host_port",
    "load_json_file",
    "read_member",
    "read_text_file",
    "write_json",
]

DEFAULT_P2P_PORT = 26656  # CometBFT's; RPC, ABCI, the API and the metrics take the next four
MIN_PORT, MAX_PORT = 1024, 65_535 - METRICS_OFFSET
VALIDATOR_POWER = 10
OPERATOR_KEY = "operator"
ROLE_NAMES = tuple(name for _, name in ROLE_KEYS)
MEMBER_FILE = "member.json"
MEMBER_FORMAT = "citychain-member/1"
PEERS_FORMAT = "citychain-peers/1"
MAX_FILE_BYTES = 1 << 20  # a hosts, member or peers file; a genesis may be larger
MAX_GENESIS_BYTES = 256 << 20
MAX_NAME = 64
ED25519_PUBLIC_KEY_BYTES = 32
ANY_ADDRESS = "0.0.0.0"
LOOPBACK = "127.0.0.1"
_NAME = re.compile(r"[!-~]+( [!-~]+)*")  # as the consortium module's genesis takes names
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_NODE_ID = re.compile(r"[0-9a-f]{40}")
_CHAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,49}")  # CometBFT: types.MaxChainIDLen 50


class NetInputError(NetError):
    """A hosts, member, peers or genesis file (or a command's value) that cannot be used as
    written: the CLI exits 2."""


# --- the checks -------------------------------------------------------------------------------
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


def check_node_id(node_id: object) -> str:
    text = str(node_id)
    if not _NODE_ID.fullmatch(text):
        raise NetInputError(f"node_id must be 40 lowercase hex digits, got {text!r}")
    return text


def check_chain_id(chain_id: str) -> str:
    if not _CHAIN_ID.fullmatch(chain_id):
        raise NetInputError(
            f"chain id must be 1..50 letters, digits, '.', '_' or '-', got {chain_id!r}"
        )
    return chain_id


def check_roles(roles: object) -> tuple[str, ...]:
    """Role names, each known; in ``ROLE_NAMES``' order."""
    if not isinstance(roles, list | tuple) or not all(isinstance(r, str) for r in roles):
        raise NetInputError(f"roles must be a list of role names, got {roles!r}")
    unknown = sorted(set(roles) - set(ROLE_NAMES))
    if unknown:
        raise NetInputError(f"unknown role {unknown[0]!r}; roles: {', '.join(ROLE_NAMES)}")
    return tuple(r for r in ROLE_NAMES if r in roles)


def check_distinct(fields: Iterable[tuple[str, list[str]]]) -> None:
    """Refuse two members with the same value of any of ``fields`` (what, each member's)."""
    for what, values in fields:
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise NetInputError(f"two members have the same {what}: {value}")
            seen.add(value)


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- what a member is -------------------------------------------------------------------------
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
            if len(bytes.fromhex(key)) != ED25519_PUBLIC_KEY_BYTES:
                raise ValueError("validator_public_key must be 32 bytes of hex")
            power = doc.get("power", VALIDATOR_POWER)
            if isinstance(power, bool) or not isinstance(power, int) or power <= 0:
                raise ValueError("power must be a positive integer")
            return MemberInfo(
                name=check_name(doc["name"]),
                host=check_host(doc["host"]),
                p2p_port=check_port(doc["p2p_port"]),
                node_id=check_node_id(doc["node_id"]),
                validator_public_key=key.lower(),
                operator=str(doc["operator"]),
                roles={r: str(roles[r]) for r in ROLE_NAMES if r in roles},
                power=power,
            )
        except NetInputError as exc:
            raise NetInputError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise NetInputError(f"{where}: missing or malformed field: {exc}") from None


# --- files ------------------------------------------------------------------------------------
def read_text_file(path: Path, what: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    try:
        if path.stat().st_size > max_bytes:
            raise NetInputError(f"{what} {path} is larger than {max_bytes} bytes")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NetInputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise NetInputError(f"{what} {path} is not UTF-8 text: {exc}") from None


def load_json_file(path: Path, what: str, max_bytes: int = MAX_FILE_BYTES) -> Any:
    text = read_text_file(path, what, max_bytes)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise NetInputError(f"{what} {path} is not JSON: {exc}") from None


def read_member(path: Path) -> MemberInfo:
    return MemberInfo.from_json(load_json_file(path, "member file"), str(path))


def write_json(path: Path, doc: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)
