"""``citychain net join``: a member installs the genesis and its peers in the home keygen made.

The genesis' validators must be its app_state's, and the peers file must be for the same chain;
the other members become the node's persistent peers, dialled by address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citychain.genesis import Genesis, GenesisError
from citychain.home import Home
from citychain.net.coordinator import comet_validators
from citychain.net.layout import NetError, validator_public_key
from citychain.net.member import (
    MEMBER_FILE,
    PEERS_FORMAT,
    NetInputError,
    check_host,
    check_name,
    check_node_id,
    check_port,
    host_port,
    read_member,
    write_json,
)
from citychain.net.toml_edit import set_toml_values

__all__ = ["JoinResult", "Peer", "join"]


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
            peers.append(
                Peer(
                    check_name(entry["name"]),
                    check_node_id(entry["node_id"]),
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
        expected = comet_validators(app_genesis)
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
    write_json(comet_home / "config" / "genesis.json", comet_genesis)
    home.genesis_file.write_bytes(raw)
    config = json.loads(home.config_file.read_text())
    config.pop("chain_id", None)
    home.write_config({"chain_id": genesis.chain_id, **config})
    validator = any(v.public_key.hex() == me.validator_public_key for v in genesis.validators)
    return JoinResult(genesis.chain_id, validator, others, duplicate_ip)
