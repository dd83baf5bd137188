"""Where a local network keeps its nodes, and which ports each one listens on.

```
DIR/
  net.json              chain id, the nodes (name, host, ports, node id) and which node's
                        home holds each role key
  node0/ ... nodeN-1/   each a citychain home (config.json engine=cometbft, keys/, data/)
    cometbft/           CometBFT's home: config.toml, genesis.json, validator and node keys
    app.log, cometbft.log, pids.json
```
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from citychain.home import HomeError, cometbft_validator_key

__all__ = [
    "MEMBER_ORGS",
    "NetError",
    "NetLayout",
    "NodeSpec",
    "cometbft_binary",
    "member_name",
    "moniker_of",
    "validator_public_key",
]

# The consortium's member organisations, in the order nodes are created.
MEMBER_ORGS = (
    "City Hall",
    "First City Bank",
    "Voltcell Batteries",
    "Securities Regulator",
    "Citizens Credit Union",
    "Harbour Savings Bank",
    "City Utilities",
    "University Hospital",
)
PORTS_PER_NODE = 10
# From a node's p2p port, its other listeners: CometBFT's RPC, the app's ABCI socket, the HTTP
# API, CometBFT's Prometheus metrics.
RPC_OFFSET, ABCI_OFFSET, API_OFFSET, METRICS_OFFSET = 1, 2, 3, 4


class NetError(Exception):
    """A network folder that is missing, malformed, or a node that cannot be started."""


def cometbft_binary() -> Path:
    """The pinned CometBFT from ``make cometbft``, else $COMETBFT, else one on PATH."""
    explicit = os.environ.get("COMETBFT")
    if explicit:
        return Path(explicit)
    local = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "cometbft"
    if local.exists():
        return local
    found = shutil.which("cometbft")
    if found:
        return Path(found)
    raise NetError("CometBFT is not installed: run `make cometbft` (or set COMETBFT=PATH)")


def member_name(index: int) -> str:
    """The default name of the ``index``-th member: the next member organisation."""
    return MEMBER_ORGS[index] if index < len(MEMBER_ORGS) else f"Member {index}"


def moniker_of(name: str) -> str:
    return "-".join(name.lower().split())


def validator_public_key(cometbft_home: Path) -> bytes:
    """A node's consensus public key, from CometBFT's priv_validator_key.json."""
    try:
        return cometbft_validator_key(cometbft_home)
    except HomeError as exc:
        raise NetError(str(exc)) from None


@dataclass(frozen=True)
class NodeSpec:
    index: int
    name: str  # the member organisation
    moniker: str
    p2p_port: int
    rpc_port: int
    abci_port: int
    api_port: int
    node_id: str = ""
    host: str = "127.0.0.1"  # where the other members reach its p2p port

    @property
    def folder(self) -> str:
        return f"node{self.index}"

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @staticmethod
    def at(index: int, base_port: int, name: str | None = None) -> NodeSpec:
        name = name or member_name(index)
        port = base_port + PORTS_PER_NODE * index
        return NodeSpec(
            index,
            name,
            moniker_of(name),
            port,
            port + RPC_OFFSET,
            port + ABCI_OFFSET,
            port + API_OFFSET,
        )


@dataclass(frozen=True)
class NetLayout:
    path: Path

    @property
    def manifest(self) -> Path:
        return self.path / "net.json"

    def node_dir(self, index: int) -> Path:
        return self.path / f"node{index}"

    def cometbft_home(self, index: int) -> Path:
        return self.node_dir(index) / "cometbft"

    def exists(self) -> bool:
        return self.manifest.exists()

    def load(self) -> tuple[str, list[NodeSpec]]:
        try:
            doc = json.loads(self.manifest.read_text())
            nodes = [NodeSpec(**n) for n in doc["nodes"]]
            return str(doc["chain_id"]), nodes
        except FileNotFoundError:
            raise NetError(
                f"{self.path} holds no network (run: citychain net init --dir {self.path})"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NetError(f"{self.manifest} is malformed: {exc}") from None

    def role_holders(self) -> dict[str, int]:
        """Role key name -> the node whose home holds it. A network made before the role keys
        were spread over the members holds them all in node0."""
        try:
            roles = json.loads(self.manifest.read_text()).get("roles", {})
            return {str(name): int(index) for name, index in roles.items()}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise NetError(f"{self.manifest} is malformed: {exc}") from None

    def role_home(self, name: str) -> Path:
        """The home folder whose keystore holds role key ``name`` (issuer, kyc, ...)."""
        return self.node_dir(self.role_holders().get(name, 0))

    def save(
        self, chain_id: str, nodes: list[NodeSpec], roles: dict[str, int] | None = None
    ) -> None:
        doc: dict[str, Any] = {"chain_id": chain_id, "nodes": [asdict(n) for n in nodes]}
        if roles is not None:
            doc["roles"] = dict(sorted(roles.items()))
        tmp = self.manifest.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        os.replace(tmp, self.manifest)
