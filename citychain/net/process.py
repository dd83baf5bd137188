"""Start, stop and inspect the two processes of each node: the citychain app and CometBFT.

The app (``python -m citychain.node``) serves ABCI and the HTTP API; CometBFT connects to its
ABCI port, so the app starts first and stops last. Both run in their own sessions, detached
from the shell that started them, with their output in the node folder's app.log and
cometbft.log and their pids in pids.json.
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
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx

from citychain.net.layout import NetError, NetLayout, NodeSpec, cometbft_binary

__all__ = ["log_tail", "node_status", "port_open", "running", "start_node", "stop_node"]

START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
# A CometBFT whose app died while it awaited an answer (say, to Commit) logs "Did the application
# crash?", starts to shut down and never finishes: later SIGTERMs change nothing. Without its app
# it can do nothing worth waiting for, and its stores are made to survive a kill.
ORPHAN_STOP_TIMEOUT = 3.0


def _pids_file(layout: NetLayout, index: int) -> Path:
    return layout.node_dir(index) / "pids.json"


def _read_pids(layout: NetLayout, index: int) -> dict[str, int]:
    try:
        doc = json.loads(_pids_file(layout, index).read_text())
        return {k: int(v) for k, v in doc.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _write_pids(layout: NetLayout, index: int, pids: dict[str, int]) -> None:
    path = _pids_file(layout, index)
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


def running(layout: NetLayout, index: int) -> dict[str, bool]:
    pids = _read_pids(layout, index)
    node_dir = str(layout.node_dir(index))
    return {
        "app": "app" in pids and _alive(pids["app"], node_dir),
        "cometbft": "cometbft" in pids and _alive(pids["cometbft"], node_dir),
    }


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


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
    state = running(layout, spec.index)
    pids = _read_pids(layout, spec.index)
    node_dir = layout.node_dir(spec.index)
    started: list[str] = []
    if not state["app"]:
        if state["cometbft"]:
            # CometBFT cannot reconnect to a new app process; restart it too.
            _terminate(pids["cometbft"], str(node_dir), ORPHAN_STOP_TIMEOUT)
            state["cometbft"] = False
        if port_open(spec.abci_port) or port_open(spec.api_port):
            raise NetError(
                f"port {spec.abci_port} or {spec.api_port} of {spec.name} is in use by another "
                "process"
            )
        log_file = node_dir / "app.log"
        app = _spawn([sys.executable, "-m", "citychain.node", "--home", str(node_dir)], log_file)
        pids["app"] = app.pid
        _write_pids(layout, spec.index, pids)
        _wait_for(lambda: port_open(spec.abci_port), app, f"{spec.name} app", log_file)
        started.append("app")
    if not state["cometbft"]:
        log_file = node_dir / "cometbft.log"
        comet = _spawn(
            [str(cometbft_binary()), "start", "--home", str(layout.cometbft_home(spec.index))],
            log_file,
        )
        pids["cometbft"] = comet.pid
        _write_pids(layout, spec.index, pids)
        try:
            _wait_for(lambda: _rpc_up(spec), comet, f"{spec.name} CometBFT", log_file)
        except NetError:
            # Leave no half node behind: an app that no CometBFT drives would go on serving a
            # state CometBFT may just have refused (its handshake found another app hash).
            _terminate(comet.pid, str(node_dir))
            if "app" in started:
                _terminate(pids["app"], str(node_dir))
            raise
        started.append("cometbft")
    return started


def _rpc_up(spec: NodeSpec) -> bool:
    try:
        return httpx.get(f"{spec.rpc_url}/health", timeout=1.0).status_code == HTTPStatus.OK
    except httpx.HTTPError:
        return False


def _terminate(pid: int, marker: str, timeout: float = STOP_TIMEOUT) -> bool:
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
    pids = _read_pids(layout, spec.index)
    marker = str(layout.node_dir(spec.index))
    orphaned = "app" not in pids or not _alive(pids["app"], marker)
    stopped: list[str] = []
    for name in ("cometbft", "app"):
        timeout = ORPHAN_STOP_TIMEOUT if name == "cometbft" and orphaned else STOP_TIMEOUT
        if name in pids and _terminate(pids[name], marker, timeout):
            stopped.append(name)
    with contextlib.suppress(FileNotFoundError):
        _pids_file(layout, spec.index).unlink()
    return stopped


def node_status(layout: NetLayout, spec: NodeSpec) -> dict[str, Any]:
    """What one node reports: its processes, CometBFT's height and app hash, and its peers."""
    state = running(layout, spec.index)
    out: dict[str, Any] = {
        "name": spec.name,
        "node": spec.index,
        "dir": str(layout.node_dir(spec.index)),
        "running": state["app"] and state["cometbft"],
        "processes": state,
        "height": None,
        "app_hash": None,
        "peers": None,
        "catching_up": None,
        "api": spec.api_url,
        "rpc": spec.rpc_url,
    }
    if not state["cometbft"]:
        return out
    try:
        status = httpx.get(f"{spec.rpc_url}/status", timeout=2.0).json()["result"]
        net = httpx.get(f"{spec.rpc_url}/net_info", timeout=2.0).json()["result"]
    except (httpx.HTTPError, ValueError, KeyError):
        return out
    sync = status["sync_info"]
    out["height"] = int(sync["latest_block_height"])
    out["app_hash"] = str(sync["latest_app_hash"]).lower()
    out["catching_up"] = bool(sync["catching_up"])
    out["peers"] = int(net["n_peers"])
    out["voting_power"] = int(status["validator_info"]["voting_power"])
    return out
