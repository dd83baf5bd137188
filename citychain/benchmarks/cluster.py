"""The local networks of ``citychain bench payments --network N``: created, started, watched and
always stopped by the benchmark itself.

Both networks are made by ``citychain.net.create.create_network``, so they have the same keys,
peers and config.toml (timeout_commit, mempool size, p2p rates). A node of the citychain network
runs the same two commands as ``citychain net start`` (``python -m citychain.node --home
DIR/nodeI`` and ``cometbft start --home DIR/nodeI/cometbft``); a node of the kvstore network runs
only ``cometbft start --proxy_app=kvstore``, CometBFT's built-in in-memory key/value application.

The benchmark keeps the ``Popen`` of every process it starts, so ``stop`` ends exactly those,
whatever went wrong before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx

from citychain.benchmarks.node_metrics import cpu_seconds
from citychain.net.layout import NetLayout, NodeSpec, cometbft_binary
from citychain.net.process import log_tail, port_open

__all__ = ["Cluster", "ClusterError", "child_pids"]

STOP_TIMEOUT = 15.0
FIRST_BLOCKS = 2  # a network counts as making blocks from this height, every node peered


class ClusterError(RuntimeError):
    """A network that could not be started, or a process that died during the run."""


@dataclass
class _Node:
    spec: NodeSpec
    app: subprocess.Popen[bytes] | None = None
    comet: subprocess.Popen[bytes] | None = None
    workers: set[int] = field(default_factory=set)  # the app's verifier processes, once seen


class Cluster:
    """The processes of one local network; ``with Cluster(...) as c:`` stops them on exit."""

    def __init__(
        self,
        directory: Path,
        specs: list[NodeSpec],
        *,
        kvstore: bool = False,
        profile: Path | None = None,
        start_timeout: float = 120.0,
    ) -> None:
        self.layout = NetLayout(directory)
        self.nodes = [_Node(spec) for spec in specs]
        self.kvstore = kvstore
        self.profile = profile  # the apps run under cProfile, stats to FILE.nodeI.EXT
        self.start_timeout = start_timeout

    # --- start ----------------------------------------------------------------------------
    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def profile_file(self, index: int) -> Path:
        # FILE.pstats -> FILE.node1.pstats: each node its own temporary file (``with_suffix``)
        assert self.profile is not None
        return self.profile.with_name(f"{self.profile.stem}.node{index}{self.profile.suffix}")

    def _spawn(self, args: list[str], log_name: str, index: int) -> subprocess.Popen[bytes]:
        log_file = self.layout.node_dir(index) / log_name
        with open(log_file, "ab") as log:
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C at the terminal reaches only the benchmark, which then
                # stops CometBFT before its app, as ``citychain net stop`` does.
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def start(self) -> None:
        """Start every app, then every CometBFT; return once all of them make blocks."""
        if not self.kvstore:
            for i, node in enumerate(self.nodes):
                launcher = [sys.executable, "-m", "citychain.node"]
                if self.profile is not None:
                    self.profile_file(i).unlink(missing_ok=True)
                    launcher = [
                        sys.executable,
                        "-c",
                        "import sys; from citychain.benchmarks.node_profile import "
                        "profiled_node_main; sys.exit(profiled_node_main(sys.argv[1:]))",
                        str(self.profile_file(i)),
                    ]
                home = str(self.layout.node_dir(i))
                node.app = self._spawn([*launcher, "--home", home], "app.log", i)
            self._wait(lambda n: port_open(n.spec.abci_port), "ABCI port")
        binary = str(cometbft_binary())
        for i, node in enumerate(self.nodes):
            args = [binary, "start", "--home", str(self.layout.cometbft_home(i))]
            if self.kvstore:
                args.append("--proxy_app=kvstore")
            node.comet = self._spawn(args, "cometbft.log", i)
        self._wait(lambda n: self._making_blocks(n), "blocks")
        if not self.kvstore:
            self._wait(lambda n: _api_up(n.spec), "HTTP API")
        for node in self.nodes:
            if node.app is not None:
                node.workers.update(child_pids(node.app.pid))

    def _making_blocks(self, node: _Node) -> bool:
        try:
            status = httpx.get(f"{node.spec.rpc_url}/status", timeout=2.0).json()["result"]
            peers = httpx.get(f"{node.spec.rpc_url}/net_info", timeout=2.0).json()["result"]
        except (httpx.HTTPError, ValueError, KeyError):
            return False
        height = int(status["sync_info"]["latest_block_height"])
        return height >= FIRST_BLOCKS and int(peers["n_peers"]) == len(self.nodes) - 1

    def _wait(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        waiting = list(self.nodes)
        while waiting:
            self.check_alive()
            waiting = [n for n in waiting if not ready(n)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                names = ", ".join(n.spec.folder for n in waiting)
                raise ClusterError(
                    f"{names}: no {what} within {self.start_timeout:.0f} s; see "
                    f"{self.layout.node_dir(waiting[0].spec.index)}/*.log:\n"
                    + self._log_tail(waiting[0].spec.index)
                )
            time.sleep(0.2)

    # --- during the run -------------------------------------------------------------------
    def dead(self) -> list[str]:
        """The processes that have exited, e.g. ``node2 app (status 1)``."""
        out = []
        for node in self.nodes:
            for name, process in (("app", node.app), ("CometBFT", node.comet)):
                if process is not None and process.poll() is not None:
                    out.append(f"{node.spec.folder} {name} (status {process.returncode})")
        return out

    def check_alive(self) -> None:
        dead = self.dead()
        if dead:
            first = next(n for n in self.nodes if n.spec.folder == dead[0].split()[0])
            raise ClusterError(
                f"exited: {', '.join(dead)}; {self.layout.node_dir(first.spec.index)}:\n"
                + self._log_tail(first.spec.index)
            )

    def _log_tail(self, index: int, lines: int = 12) -> str:
        return "\n".join(
            f"--- {name}\n" + log_tail(self.layout.node_dir(index) / name, lines)
            for name in ("app.log", "cometbft.log")
        )

    def cpu(self) -> list[dict[str, float]]:
        """CPU seconds so far, per node: its app, the app's verifier workers, its CometBFT."""
        out = []
        for node in self.nodes:
            app = workers = 0.0
            if node.app is not None:
                app = cpu_seconds(node.app.pid)
                node.workers.update(child_pids(node.app.pid))
                workers = sum(cpu_seconds(pid) for pid in node.workers)
            comet = cpu_seconds(node.comet.pid) if node.comet is not None else 0.0
            out.append({"app": app, "app_workers": workers, "cometbft": comet})
        return out

    def signal_apps(self, signum: int) -> None:
        for node in self.nodes:
            if node.app is not None and node.app.poll() is None:
                node.app.send_signal(signum)

    # --- stop -----------------------------------------------------------------------------
    def stop(self) -> None:
        """CometBFT first (it calls the app), then the apps; SIGKILL after STOP_TIMEOUT.

        The apps' verifier workers exit by themselves once their app is gone (``exit_with_parent``
        in citychain.node.verifier), even after a SIGKILL.
        """
        for attribute in ("comet", "app"):
            processes = [getattr(n, attribute) for n in self.nodes]
            _terminate_all([p for p in processes if p is not None])


def _terminate_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def child_pids(pid: int) -> set[int]:
    """The live children of ``pid`` (Linux /proc; none elsewhere or once it has exited)."""
    out: set[int] = set()
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out.update(int(c) for c in (task / "children").read_text().split())
    return out


def _api_up(spec: NodeSpec) -> bool:
    try:
        return httpx.get(f"{spec.api_url}/health", timeout=2.0).status_code == HTTPStatus.OK
    except httpx.HTTPError:
        return False
