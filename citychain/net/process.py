"""Start, stop and inspect the two processes of each node: the citychain app and CometBFT.

The app (``python -m citychain.node``) serves ABCI and the HTTP API; CometBFT connects to its
ABCI port, so the app starts first and stops last. Both run in their own sessions, detached
from the shell that started them, with their output in the node folder's app.log and
cometbft.log and their pids in pids.json.

A node is any folder with a citychain home and ``cometbft/`` in it: a node of a local network
(``NodeProcesses.of_spec``) or a member's own home (``NodeProcesses.of_home``, ``net start
--home``). ``launcher`` runs both processes through a prefix command (the tests' network
namespaces: ``ip netns exec NS``), and ``probe`` tells whether a listener is up where they run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from citychain.home import Home, HomeError
from citychain.net.layout import NetError, NetLayout, NodeSpec, cometbft_binary
from citychain.net.member import host_port

__all__ = [
    "NodeProcesses",
    "home_status",
    "log_tail",
    "node_status",
    "port_open",
    "running",
    "running_in",
    "start_node",
    "start_processes",
    "stop_node",
    "stop_processes",
    "terminate",
]

START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
# A CometBFT whose app died while it awaited an answer (say, to Commit) logs "Did the application
# crash?", starts to shut down and never finishes: later SIGTERMs change nothing. Without its app
# it can do nothing worth waiting for, and its stores are made to survive a kill.
ORPHAN_STOP_TIMEOUT = 3.0


ANY_ADDRESSES = ("0.0.0.0", "::", "")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@dataclass(frozen=True)
class NodeProcesses:
    """One node's folder and where its processes can be seen to be up from here."""

    name: str
    node_dir: Path
    abci: tuple[str, int]  # host, port
    api: tuple[str, int]
    rpc_url: str
    launcher: tuple[str, ...] = ()
    probe: Callable[[str, int], bool] = lambda host, port: port_open(port, host)

    @property
    def cometbft_home(self) -> Path:
        return self.node_dir / "cometbft"

    @staticmethod
    def of_spec(layout: NetLayout, spec: NodeSpec) -> NodeProcesses:
        return NodeProcesses(
            spec.name,
            layout.node_dir(spec.index),
            ("127.0.0.1", spec.abci_port),
            ("127.0.0.1", spec.api_port),
            spec.rpc_url,
        )

    @staticmethod
    def of_home(path: Path) -> NodeProcesses:
        """A member's home (``net keygen`` + ``net join``), from its config.json."""
        try:
            config = Home(path).config()
            abci = urlsplit(str(config["abci"]))
            api = urlsplit("http://" + str(config["api"]).removeprefix("http://"))
            rpc = str(config["cometbft_rpc"])
            if abci.port is None or api.port is None:
                raise ValueError("abci and api need a port")
        except HomeError as exc:
            raise NetError(f"{path} is not a member's home: {exc}") from None
        except (KeyError, ValueError) as exc:
            raise NetError(f"{path}/config.json lacks a node's addresses: {exc}") from None
        api_host = api.hostname or "127.0.0.1"
        return NodeProcesses(
            str(config.get("member") or config.get("moniker") or path.name),
            path,
            (abci.hostname or "127.0.0.1", abci.port),
            ("127.0.0.1" if api_host in ANY_ADDRESSES else api_host, api.port),
            rpc,
        )


def _pids_file(node_dir: Path) -> Path:
    return node_dir / "pids.json"


def _read_pids(node_dir: Path) -> dict[str, int]:
    try:
        doc = json.loads(_pids_file(node_dir).read_text())
        return {k: int(v) for k, v in doc.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _write_pids(node_dir: Path, pids: dict[str, int]) -> None:
    path = _pids_file(node_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(pids))
    os.replace(tmp, path)


def _alive(pid: int, marker: str) -> bool:
    """The process exists and is ours (its command line names ``marker``), not a reused pid."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return marker.encode() in cmdline


def running_in(node_dir: Path) -> dict[str, bool]:
    pids = _read_pids(node_dir)
    marker = str(node_dir)
    return {
        "app": "app" in pids and _alive(pids["app"], marker),
        "cometbft": "cometbft" in pids and _alive(pids["cometbft"], marker),
    }


def running(layout: NetLayout, index: int) -> dict[str, bool]:
    return running_in(layout.node_dir(index))


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _spawn(args: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for(ready: Any, process: subprocess.Popen[bytes], what: str, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NetError(
                f"{what} exited with status {process.returncode}; {log_file}:\n"
                + log_tail(log_file)
            )
        if ready():
            return
        time.sleep(0.1)
    raise NetError(f"{what} did not come up within {START_TIMEOUT:.0f}s; see {log_file}")


def start_node(layout: NetLayout, spec: NodeSpec) -> list[str]:
    """Start whichever of the node's processes is not running; returns what was started."""
    return start_processes(NodeProcesses.of_spec(layout, spec))


def start_processes(node: NodeProcesses) -> list[str]:
    """Start whichever of the node's processes is not running; returns what was started."""
    node_dir = node.node_dir
    state = running_in(node_dir)
    pids = _read_pids(node_dir)
    started: list[str] = []
    if not state["app"]:
        if state["cometbft"]:
            # CometBFT cannot reconnect to a new app process; restart it too.
            terminate(pids["cometbft"], str(node_dir), ORPHAN_STOP_TIMEOUT)
            state["cometbft"] = False
        if node.probe(*node.abci) or node.probe(*node.api):
            raise NetError(
                f"port {node.abci[1]} or {node.api[1]} of {node.name} is in use by another process"
            )
        log_file = node_dir / "app.log"
        app = _spawn(
            [*node.launcher, sys.executable, "-m", "citychain.node", "--home", str(node_dir)],
            log_file,
        )
        pids["app"] = app.pid
        _write_pids(node_dir, pids)
        _wait_for(lambda: node.probe(*node.abci), app, f"{node.name} app", log_file)
        started.append("app")
    if not state["cometbft"]:
        log_file = node_dir / "cometbft.log"
        comet = _spawn(
            [*node.launcher, str(cometbft_binary()), "start", "--home", str(node.cometbft_home)],
            log_file,
        )
        pids["cometbft"] = comet.pid
        _write_pids(node_dir, pids)
        try:
            _wait_for(lambda: _rpc_up(node.rpc_url), comet, f"{node.name} CometBFT", log_file)
        except NetError:
            # Leave no half node behind: an app that no CometBFT drives would go on serving a
            # state CometBFT may just have refused (its handshake found another app hash).
            terminate(comet.pid, str(node_dir))
            if "app" in started:
                terminate(pids["app"], str(node_dir))
            raise
        started.append("cometbft")
    return started


def _rpc_up(rpc_url: str) -> bool:
    try:
        return httpx.get(f"{rpc_url}/health", timeout=1.0).status_code == HTTPStatus.OK
    except httpx.HTTPError:
        return False


def terminate(pid: int, marker: str, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; True if the process was running."""
    if not _alive(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid, marker):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while _alive(pid, marker):
        time.sleep(0.05)
    return True


def stop_node(layout: NetLayout, spec: NodeSpec) -> list[str]:
    """Stop CometBFT, then the app; returns what was running."""
    return stop_processes(layout.node_dir(spec.index))


def stop_processes(node_dir: Path) -> list[str]:
    """Stop CometBFT, then the app, of the node in ``node_dir``; returns what was running."""
    pids = _read_pids(node_dir)
    marker = str(node_dir)
    orphaned = "app" not in pids or not _alive(pids["app"], marker)
    stopped: list[str] = []
    for name in ("cometbft", "app"):
        timeout = ORPHAN_STOP_TIMEOUT if name == "cometbft" and orphaned else STOP_TIMEOUT
        if name in pids and terminate(pids[name], marker, timeout):
            stopped.append(name)
    with contextlib.suppress(FileNotFoundError):
        _pids_file(node_dir).unlink()
    return stopped


def node_status(layout: NetLayout, spec: NodeSpec) -> dict[str, Any]:
    """What one node reports: its processes, CometBFT's height and app hash, and its peers."""
    out = _status(layout.node_dir(spec.index), spec.rpc_url, spec.api_url)
    return {"name": spec.name, "node": spec.index, **out}


def home_status(path: Path) -> dict[str, Any]:
    """``node_status`` of a member's own home."""
    node = NodeProcesses.of_home(path)
    api = f"http://{host_port(*node.api)}"
    return {"name": node.name, "node": None, **_status(path, node.rpc_url, api)}


def _status(node_dir: Path, rpc_url: str, api_url: str) -> dict[str, Any]:
    state = running_in(node_dir)
    out: dict[str, Any] = {
        "dir": str(node_dir),
        "running": state["app"] and state["cometbft"],
        "processes": state,
        "height": None,
        "app_hash": None,
        "peers": None,
        "catching_up": None,
        "api": api_url,
        "rpc": rpc_url,
    }
    if not state["cometbft"]:
        return out
    try:
        status = httpx.get(f"{rpc_url}/status", timeout=2.0).json()["result"]
        net = httpx.get(f"{rpc_url}/net_info", timeout=2.0).json()["result"]
    except (httpx.HTTPError, ValueError, KeyError):
        return out
    sync = status["sync_info"]
    out["height"] = int(sync["latest_block_height"])
    out["app_hash"] = str(sync["latest_app_hash"]).lower()
    out["catching_up"] = bool(sync["catching_up"])
    out["peers"] = int(net["n_peers"])
    out["voting_power"] = int(status["validator_info"]["voting_power"])
    return out
