"""Real CometBFT 0.38 nodes (its built-in kvstore app) on loopback, for the light-client tests.

The fixtures in conftest.py start them and always stop them (`Node.stop`: SIGTERM, then SIGKILL
after 5 s). Imported by name (`from light_cometbft_nodes import ...`), since the name
`conftest` is shared with tests/conftest.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from citychain.light.types import validator_address

COMETBFT = Path(__file__).resolve().parents[3] / ".tools" / "bin" / "cometbft"
TIMEOUT_COMMIT = "200ms"


def require_cometbft() -> Path:
    if not (COMETBFT.is_file() and os.access(COMETBFT, os.X_OK)):
        pytest.skip(f"{COMETBFT} is not installed (make setup installs it)")
    return COMETBFT


def tune_config(home: Path) -> None:
    """Fast blocks, and peers on one loopback address allowed."""
    path = home / "config" / "config.toml"
    text = path.read_text()
    for name, value in {
        "timeout_commit": f'"{TIMEOUT_COMMIT}"',
        "allow_duplicate_ip": "true",
        "addr_book_strict": "false",
    }.items():
        text, count = re.subn(rf"(?m)^{name} = .*$", f"{name} = {value}", text)
        assert count == 1, name
    path.write_text(text)


@dataclass
class Node:
    home: Path
    rpc_port: int
    p2p_port: int
    process: subprocess.Popen[bytes] | None = None
    log: Any = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def node_id(self) -> str:
        """The p2p ID: the address of the node key's public key, lower-case hex."""
        key = json.loads((self.home / "config" / "node_key.json").read_text())
        raw = base64.b64decode(key["priv_key"]["value"])
        return validator_address(raw[32:]).hex()

    def start(self, peers: str = "") -> None:
        self.log = (self.home / "node.log").open("ab")
        command = [
            str(COMETBFT), "start", "--home", str(self.home), "--proxy_app=kvstore",
            "--rpc.laddr", f"tcp://127.0.0.1:{self.rpc_port}",
            "--p2p.laddr", f"tcp://127.0.0.1:{self.p2p_port}",
            "--p2p.pex=false", "--log_level", "error",
        ]  # fmt: skip
        if peers:
            command += ["--p2p.persistent_peers", peers]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.log is not None:
            self.log.close()

    def rpc(self, method: str, **params: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.rpc_url}/{method}", params=params, timeout=10).json()
        assert "result" in answer, answer
        return dict(answer["result"])

    def height(self) -> int:
        return int(self.rpc("status")["sync_info"]["latest_block_height"])

    def wait_for_height(self, height: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.tail()
            try:
                if self.height() >= height:
                    return
            except (httpx.HTTPError, AssertionError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"no height {height} after {timeout} s\n{self.tail()}")

    def tail(self) -> str:
        path = self.home / "node.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def broadcast(self, tx: str) -> int:
        """Send `tx` with /broadcast_tx_commit; return the height it was committed at."""
        result = self.rpc("broadcast_tx_commit", tx=f'"{tx}"')
        assert result["tx_result"]["code"] == 0, result
        return int(result["height"])


@dataclass
class Network:
    nodes: list[Node] = field(default_factory=list)

    @property
    def genesis(self) -> dict[str, Any]:
        return dict(json.loads((self.nodes[0].home / "config" / "genesis.json").read_text()))
