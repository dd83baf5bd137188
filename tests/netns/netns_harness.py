"""Validators on separate hosts, for tests: each in its own Linux network namespace.

``netns_network(directory, validators)`` (a context manager) gives a started ``NetnsNetwork``:

* a bridge ``ccbr<S>`` in the root namespace with 10.213.<S>.254/24, and per validator i a
  namespace ``ccnet<S>-<i>`` whose ``eth0`` (a veth pair; the host end ``ccv<S>-<i>`` on the
  bridge) has 10.213.<S>.<i+1>. S is a slot 0..255 held by an flock on
  ``$TMPDIR/citychain-netns-<S>.lock`` for the run, so parallel runs never share names or
  addresses; a run first removes what dead runs left (``sweep_stale``), and always removes its
  own namespaces, links and processes on the way out, failed or not.
* each member's home made by the members' own flow, through the CLI: ``net keygen`` on its
  "machine" (``DIR/machines/m<i>/home``, its password in ``DIR/machines/m<i>/password.txt``),
  ``net genesis`` by a coordinator from the public member files only (``DIR/coordinator``),
  ``net join`` with the genesis and peers handed back. No ``allow_duplicate_ip``: every member
  has its own address, and its peers are dialled by address.
* each validator's two processes (``python -m citychain.node`` and ``cometbft start``, as
  ``citychain net start --home`` starts them) run inside its namespace via ``ip netns exec``;
  the test reaches every node's API and RPC at its address from the root namespace.

Faults (methods of ``NetnsNetwork``): ``set_latency`` (``tc netem`` when the kernel has it; else
a delaying TCP relay in front of every validator's p2p port, ``netns_relay.py``; which one is in
``latency_method``), ``limit_bandwidth`` (``tc tbf`` on each namespace's eth0), ``partition`` /
``isolate`` / ``heal`` (blackhole routes inside the namespaces: the test still reaches every
node), ``kill`` (SIGKILL, ``kill -9``), ``pause``/``resume`` (SIGSTOP/SIGCONT), ``restart``.
Reads, payments and agreement checks are those of ``netutil.Network``.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from netutil import (
    CHAIN_ID,
    COMETBFT,
    TIMEOUT_COMMIT,
    TIMEOUT_PROPOSE,
    Network,
    wait_until,
)

from citychain.cli.main import main as cli_main
from citychain.net.create import default_role_holders
from citychain.net.layout import (
    ABCI_OFFSET,
    API_OFFSET,
    MEMBER_ORGS,
    RPC_OFFSET,
    NetLayout,
    NodeSpec,
    moniker_of,
)
from citychain.net.member import DEFAULT_P2P_PORT, MEMBER_FILE, read_member
from citychain.net.ports import hold_lock
from citychain.net.process import (
    NodeProcesses,
    port_open,
    running_in,
    start_processes,
    stop_processes,
    terminate,
)
from citychain.net.toml_edit import set_toml_values

__all__ = [
    "NetnsNetwork",
    "netns_network",
    "netns_unavailable",
    "run_in_namespace",
    "sweep_stale",
]

log = logging.getLogger("netns")
T = TypeVar("T")

SUBNET = "10.213"
SLOTS = 256
GATEWAY_HOST = 254  # the root namespace's address on the bridge: 10.213.S.254
NS_PREFIX, BRIDGE_PREFIX, VETH_PREFIX = "ccnet", "ccbr", "ccv"
_NS_NAME = re.compile(rf"^{NS_PREFIX}(\d+)-(\d+)$")
_LINK_NAME = re.compile(rf"^(?:{BRIDGE_PREFIX}(\d+)|{VETH_PREFIX}(\d+)-\d+)$")
LOCK_FILE = "citychain-netns-{slot}.lock"
DEVICE = "eth0"

# Every member on its own host: the same ports everywhere (net keygen's defaults).
P2P_PORT = DEFAULT_P2P_PORT
RPC_PORT, ABCI_PORT, API_PORT = (P2P_PORT + o for o in (RPC_OFFSET, ABCI_OFFSET, API_OFFSET))
RELAY_BACKEND_PORT = P2P_PORT + 100  # CometBFT's real p2p listener behind the relay
RELAY_ACK_TIMEOUT = 10.0
START_TIMEOUT = 90.0
STOP_GRACE = 5.0
TBF_LATENCY_MS = 400  # how long tbf lets a packet queue
TBF_MIN_BURST = 16_384  # bytes; at least one MTU, and 10 ms at the rate

RELAY = Path(__file__).with_name("netns_relay.py")
LATENCY_ENV = "CITYCHAIN_NETNS_LATENCY"  # "relay" forces the relay on a kernel with netem


# --- the host's tools -----------------------------------------------------------------------
def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run("ip", *args, check=check)


_UNAVAILABLE: list[str | None] = []


def netns_unavailable() -> str | None:
    """Why this machine cannot run the namespaced network, or None."""
    if _UNAVAILABLE:
        return _UNAVAILABLE[0]
    reason: str | None = None
    if sys.platform != "linux":
        reason = "Linux network namespaces only exist on Linux"
    elif os.geteuid() != 0:
        reason = "network namespaces, veth pairs and bridges need root"
    elif shutil.which("ip") is None or shutil.which("tc") is None:
        reason = "iproute2 (ip, tc) is not installed"
    elif COMETBFT is None:
        reason = "CometBFT is not installed (run `make cometbft`)"
    else:
        probe = f"{NS_PREFIX}probe{os.getpid()}"
        made = _ip("netns", "add", probe, check=False)
        if made.returncode != 0:
            reason = f"`ip netns add` fails here: {made.stderr.strip()}"
        else:
            _ip("netns", "del", probe, check=False)
    _UNAVAILABLE.append(reason)
    return reason


_LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def run_in_namespace(namespace: str, fn: Callable[[], T]) -> T:
    """``fn()`` in a thread that entered network namespace ``namespace`` (setns affects only
    the calling thread); sockets it opens live there."""
    box: list[tuple[bool, Any]] = []

    def enter_and_run() -> None:
        try:
            fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
            try:
                if _LIBC.setns(fd, CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns {namespace}: {os.strerror(errno)}")
            finally:
                os.close(fd)
            box.append((True, fn()))
        except BaseException as exc:
            box.append((False, exc))

    thread = threading.Thread(target=enter_and_run, daemon=True)
    thread.start()
    thread.join()
    ok, value = box[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


# --- slots and stale runs -------------------------------------------------------------------
def _lock(slot: int) -> IO[str] | None:
    return hold_lock(Path(tempfile.gettempdir()) / LOCK_FILE.format(slot=slot))


def _namespaces() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _links() -> list[str]:
    out = _ip("-o", "link", "show", check=False).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def _ours() -> dict[int, tuple[list[str], list[str]]]:
    """Slot -> (its namespaces, its links) that exist now."""
    found: dict[int, tuple[list[str], list[str]]] = {}
    for name in _namespaces():
        match = _NS_NAME.match(name)
        if match:
            found.setdefault(int(match.group(1)), ([], []))[0].append(name)
    for name in _links():
        match = _LINK_NAME.match(name)
        if match:
            slot = int(match.group(1) or match.group(2))
            found.setdefault(slot, ([], []))[1].append(name)
    return found


def _remove(namespaces: Sequence[str], links: Sequence[str]) -> None:
    """Kill what runs in ``namespaces`` (our harness started it), then delete them and
    ``links``."""
    for namespace in namespaces:
        pids = _ip("netns", "pids", namespace, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _ip("netns", "del", namespace, check=False)
    for link in links:
        _ip("link", "del", link, check=False)


def sweep_stale() -> list[int]:
    """Remove the namespaces and links of runs that are gone (their slot's lock is free);
    returns their slots."""
    swept = []
    for slot, (namespaces, links) in sorted(_ours().items()):
        lock = _lock(slot)
        if lock is None:
            continue  # a live run holds it
        try:
            _remove(namespaces, links)
            swept.append(slot)
        finally:
            lock.close()
    if swept:
        log.warning("removed stale network namespaces of slots %s", swept)
    return swept


def _subnets_in_use() -> set[int]:
    out = _ip("-o", "-4", "addr", "show", check=False).stdout
    prefix = SUBNET.replace(".", r"\.")
    return {int(m.group(1)) for m in re.finditer(rf"inet {prefix}\.(\d+)\.\d+/", out)}


def claim_slot() -> tuple[int, IO[str]]:
    """A free slot, its lock held by the caller."""
    sweep_stale()
    used = _subnets_in_use()
    for slot in range(SLOTS):
        if slot in used:
            continue
        lock = _lock(slot)
        if lock is None:
            continue
        namespaces, links = _ours().get(slot, ([], []))
        _remove(namespaces, links)
        return slot, lock
    raise RuntimeError(f"no free 10.213.S.0/24 among {SLOTS} slots")


# --- the plumbing -----------------------------------------------------------------------------
@dataclass
class Fabric:
    """A bridge and one namespace per validator; ``create`` and ``destroy``."""

    slot: int
    size: int
    made: list[tuple[str, str]] = field(default_factory=list)  # ("netns"|"link", name)

    @property
    def bridge(self) -> str:
        return f"{BRIDGE_PREFIX}{self.slot}"

    @property
    def gateway(self) -> str:
        return f"{SUBNET}.{self.slot}.{GATEWAY_HOST}"

    def namespace(self, index: int) -> str:
        return f"{NS_PREFIX}{self.slot}-{index}"

    def veth(self, index: int) -> str:
        return f"{VETH_PREFIX}{self.slot}-{index}"

    def address(self, index: int) -> str:
        return f"{SUBNET}.{self.slot}.{index + 1}"

    def create(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        self.made.append(("link", self.bridge))
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i in range(self.size):
            ns, veth, inner = self.namespace(i), self.veth(i), f"ccp{self.slot}-{i}"
            _ip("netns", "add", ns)
            self.made.append(("netns", ns))
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("link", "add", veth, "type", "veth", "peer", "name", inner)
            self.made.append(("link", veth))
            _ip("link", "set", inner, "netns", ns)
            _ip("-n", ns, "link", "set", inner, "name", DEVICE)
            _ip("-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", DEVICE)
            _ip("-n", ns, "link", "set", DEVICE, "up")
            _ip("link", "set", veth, "master", self.bridge)
            _ip("link", "set", veth, "up")

    def destroy(self) -> None:
        namespaces = [name for kind, name in self.made if kind == "netns"]
        links = [name for kind, name in self.made if kind == "link"]
        _remove(namespaces, list(reversed(links)))
        self.made.clear()

    def netem_available(self) -> bool:
        """Whether this kernel has the netem qdisc (tried on a namespace's loopback)."""
        tried = _run("tc", "-n", self.namespace(0), "qdisc", "add", "dev", "lo", "root",
                     "netem", "delay", "1ms", check=False)  # fmt: skip
        if tried.returncode != 0:
            return False
        _run("tc", "-n", self.namespace(0), "qdisc", "del", "dev", "lo", "root", check=False)
        return True

    def shape(self, index: int, delay_ms: int, loss_pct: float, rate_kbit: int | None) -> None:
        """eth0's egress: netem (delay, loss) when ``delay_ms``/``loss_pct`` and netem is
        here, tbf when ``rate_kbit``; netem as root with tbf under it when both."""
        ns = self.namespace(index)
        _run("tc", "-n", ns, "qdisc", "del", "dev", DEVICE, "root", check=False)
        parent = ["root"]
        if delay_ms or loss_pct:
            netem = ["netem", "delay", f"{delay_ms}ms"]
            if loss_pct:
                netem += ["loss", f"{loss_pct}%"]
            _run("tc", "-n", ns, "qdisc", "add", "dev", DEVICE, "root", "handle", "1:", *netem)
            parent = ["parent", "1:1"]
        if rate_kbit:
            burst = max(TBF_MIN_BURST, rate_kbit * 1000 // 8 // 100)
            _run("tc", "-n", ns, "qdisc", "add", "dev", DEVICE, *parent, "handle", "10:", "tbf",
                 "rate", f"{rate_kbit}kbit", "burst", str(burst),
                 "latency", f"{TBF_LATENCY_MS}ms")  # fmt: skip

    def qdiscs(self, index: int) -> str:
        return _run("tc", "-n", self.namespace(index), "qdisc", "show", "dev", DEVICE).stdout

    def blackhole(self, index: int, other: int, *, on: bool) -> None:
        verb = "add" if on else "del"
        _ip("-n", self.namespace(index), "route", verb, "blackhole", f"{self.address(other)}/32",
            check=on)  # fmt: skip


# --- the members' homes, made as separate hosts make them -----------------------------------
def _cli(*args: str | Path) -> dict[str, Any]:
    """``citychain ARGS --json`` in this process; its JSON output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main([*map(str, args), "--json"])
    if code != 0:
        raise RuntimeError(f"citychain {' '.join(map(str, args))}: exit {code}: {err.getvalue()}")
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def make_member_homes(directory: Path, fabric: Fabric) -> list[Path]:
    """``net keygen`` per machine, ``net genesis`` from the public files, ``net join`` per
    machine; returns each member's home."""
    coordinator = directory / "coordinator"
    (coordinator / "members").mkdir(parents=True)
    homes: list[Path] = []
    holders = default_role_holders(fabric.size)  # each role key with its member, as net init
    for i in range(fabric.size):
        machine = directory / "machines" / f"m{i}"
        machine.mkdir(parents=True, mode=0o700)
        password = machine / "password.txt"
        password.write_text(secrets.token_urlsafe(18) + "\n")
        password.chmod(0o600)
        held = ",".join(role for role, member in holders.items() if member == i)
        roles = ["--roles", held] if held else []
        public = coordinator / "members" / f"m{i}.json"  # the one file the member sends out
        _cli("net", "keygen", "--home", machine / "home", "--name", MEMBER_ORGS[i],
             "--host", fabric.address(i), "--p2p-port", str(P2P_PORT), *roles,
             "--rpc-listen", "0.0.0.0", "--api-listen", "0.0.0.0",
             "--timeout-commit", TIMEOUT_COMMIT, "--timeout-propose", TIMEOUT_PROPOSE,
             "--password-file", password, "--out", public)  # fmt: skip
        homes.append(machine / "home")
    members = sorted((coordinator / "members").glob("m*.json"), key=lambda p: int(p.stem[1:]))
    _cli("net", "genesis", "--members", *members, "--chain-id", CHAIN_ID,
         "--out", coordinator / "genesis.json")  # fmt: skip
    for home in homes:
        inbox = home.parent / "inbox"  # what the coordinator hands each member: public files
        inbox.mkdir()
        for name in ("genesis.json", "peers.json"):
            shutil.copy(coordinator / name, inbox / name)
        joined = _cli("net", "join", "--home", home, "--genesis", inbox / "genesis.json",
                      "--peers", inbox / "peers.json")  # fmt: skip
        assert joined["validator"] and not joined["allow_duplicate_ip"], joined
        assert len(joined["peers"]) == fabric.size - 1, joined
    return homes


# --- the network --------------------------------------------------------------------------------
@dataclass
class NetnsNetwork(Network):
    """``netutil.Network`` whose validators run in their own network namespaces."""

    fabric: Fabric | None = None
    homes: list[Path] = field(default_factory=list)
    latency_method: str = "relay"  # or "netem"
    relays: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    shaping: dict[int, tuple[int, float, int | None]] = field(default_factory=dict)
    blackholes: set[tuple[int, int]] = field(default_factory=set)
    _relay_version: int = 0

    @property
    def net(self) -> Fabric:
        assert self.fabric is not None
        return self.fabric

    # --- where things are ---------------------------------------------------------------------
    def node_dir(self, index: int) -> Path:
        return self.homes[index]

    def address(self, index: int) -> str:
        return self.net.address(index)

    def namespace(self, index: int) -> str:
        return self.net.namespace(index)

    def api_url(self, index: int) -> str:
        return f"http://{self.address(index)}:{API_PORT}"

    def rpc_url(self, index: int) -> str:
        return f"http://{self.address(index)}:{RPC_PORT}"

    def password_file(self, index: int) -> Path:
        return self.homes[index].parent / "password.txt"

    def password(self, index: int) -> str:
        return self.password_file(index).read_text().splitlines()[0]

    def role_node(self, name: str) -> int:
        for i, home in enumerate(self.homes):
            if name in read_member(home / MEMBER_FILE).roles:
                return i
        raise KeyError(f"no member holds {name!r}")

    def processes(self, index: int) -> NodeProcesses:
        namespace = self.namespace(index)
        return NodeProcesses(
            name=self.specs[index].name,
            node_dir=self.homes[index],
            abci=("127.0.0.1", ABCI_PORT),
            api=("127.0.0.1", API_PORT),
            rpc_url=self.rpc_url(index),
            launcher=("ip", "netns", "exec", namespace),
            probe=lambda host, port: run_in_namespace(namespace, lambda: port_open(port, host)),
        )

    # --- processes ------------------------------------------------------------------------------
    def running(self, index: int) -> dict[str, bool]:
        return running_in(self.homes[index])

    def start(self, index: int) -> list[str]:
        """Start what of validator ``index`` is not running (its relay too)."""
        started = time.monotonic()
        if self.latency_method == "relay":
            self._start_relay(index)
        try:
            return start_processes(self.processes(index))
        finally:
            log.info("start node%d: %.1fs", index, time.monotonic() - started)

    def start_all(self) -> None:
        with ThreadPoolExecutor(self.size) as pool:
            list(pool.map(self.start, self.everyone))
        self.wait_for_height(1, self.everyone, timeout=START_TIMEOUT)

    def restart(self, index: int) -> list[str]:
        return self.start(index)

    def stop(self, index: int) -> list[str]:
        return stop_processes(self.homes[index])

    def stop_all(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        with ThreadPoolExecutor(max(1, self.size)) as pool:
            list(pool.map(self.stop, range(len(self.homes))))
        for index in list(self.relays):
            self._stop_relay(index)

    def signal(self, index: int, sig: int, which: Sequence[str] = ("app", "cometbft")) -> None:
        pids = self.pids(index)
        for name in which:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pids[name], sig)

    def kill(self, index: int, which: Sequence[str] = ("app", "cometbft")) -> None:
        """``kill -9`` validator ``index``'s processes (both by default); waits until gone."""
        self.signal(index, signal.SIGKILL, which)
        wait_until(
            lambda: not any(self.running(index)[name] for name in which),
            10,
            f"node{index}'s {', '.join(which)} to die",
        )

    def pause(self, index: int) -> None:
        self.signal(index, signal.SIGSTOP)

    def resume(self, index: int) -> None:
        self.signal(index, signal.SIGCONT)

    # --- the relay ------------------------------------------------------------------------------
    def _control(self, index: int) -> Path:
        return self.homes[index].parent / "relay.json"

    def _write_control(self, index: int) -> None:
        delay_ms, loss_pct, _ = self.shaping.get(index, (0, 0.0, None))
        doc = {"version": self._relay_version, "delay_ms": delay_ms, "loss_pct": loss_pct}
        path = self._control(index)
        path.with_suffix(".tmp").write_text(json.dumps(doc))
        path.with_suffix(".tmp").replace(path)

    def _relay_applied(self, index: int) -> bool:
        applied = self._control(index).with_name("relay.json.applied")
        with contextlib.suppress(OSError, ValueError):
            return int(applied.read_text()) >= self._relay_version
        return False

    def _start_relay(self, index: int) -> None:
        relay = self.relays.get(index)
        if relay is not None and relay.poll() is None:
            return
        self._write_control(index)
        with open(self.homes[index].parent / "relay.log", "ab") as out:
            self.relays[index] = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace(index), sys.executable, str(RELAY),
                 "--listen", f"{self.address(index)}:{P2P_PORT}",
                 "--target", f"127.0.0.1:{RELAY_BACKEND_PORT}",
                 "--control", str(self._control(index)), "--seed", str(index)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_until(
            lambda: port_open(P2P_PORT, self.address(index)) and self._relay_applied(index),
            RELAY_ACK_TIMEOUT,
            f"node{index}'s relay",
        )

    def _stop_relay(self, index: int) -> None:
        relay = self.relays.pop(index)
        if relay.poll() is None:
            terminate(relay.pid, str(self._control(index)), STOP_GRACE)
        relay.wait()

    # --- faults ---------------------------------------------------------------------------------
    def _nodes(self, nodes: Sequence[int] | None) -> list[int]:
        return list(self.everyone if nodes is None else nodes)

    def set_latency(
        self, delay_ms: int, loss_pct: float = 0.0, nodes: Sequence[int] | None = None
    ) -> None:
        """One-way latency ``delay_ms`` (and loss) on the p2p links of ``nodes`` (default all).

        netem: on each node's egress, so a link between two shaped nodes has ``delay_ms`` each
        way, and the test's API calls are delayed too. Relay: on every p2p connection into each
        shaped node's relay, both ways (``loss_pct`` as stalls: netns_relay.py); the API is not
        delayed. Returns once it is in force."""
        self._relay_version += 1
        for index in self._nodes(nodes):
            _, _, rate = self.shaping.get(index, (0, 0.0, None))
            self.shaping[index] = (delay_ms, loss_pct, rate)
            self._apply(index)
        if self.latency_method == "relay":
            shaped = self._nodes(nodes)
            wait_until(
                lambda: all(self._relay_applied(i) for i in shaped),
                RELAY_ACK_TIMEOUT,
                f"the relays of nodes {shaped} to apply the latency",
            )

    def limit_bandwidth(self, rate_kbit: int | None, nodes: Sequence[int] | None = None) -> None:
        """tbf at ``rate_kbit`` on each node's egress (None: no limit)."""
        for index in self._nodes(nodes):
            delay_ms, loss_pct, _ = self.shaping.get(index, (0, 0.0, None))
            self.shaping[index] = (delay_ms, loss_pct, rate_kbit)
            self._apply(index)

    def _apply(self, index: int) -> None:
        delay_ms, loss_pct, rate = self.shaping.get(index, (0, 0.0, None))
        if self.latency_method == "netem":
            self.net.shape(index, delay_ms, loss_pct, rate)
        else:
            self.net.shape(index, 0, 0.0, rate)
            self._write_control(index)

    def partition(self, *groups: Sequence[int]) -> None:
        """Nodes in different ``groups`` cannot reach each other (nodes in none keep every
        link); the test still reaches all. Replaces an earlier partition."""
        self.heal()
        for a, group in enumerate(groups):
            for b, other in enumerate(groups):
                if a != b:
                    for i in group:
                        for j in other:
                            self.net.blackhole(i, j, on=True)
                            self.blackholes.add((i, j))

    def isolate(self, index: int) -> None:
        self.partition([index], [i for i in self.everyone if i != index])

    def heal(self) -> None:
        for i, j in sorted(self.blackholes):
            self.net.blackhole(i, j, on=False)
        self.blackholes.clear()

    def p2p_first_byte_ms(self, index: int) -> float:
        """Milliseconds from connecting to node ``index``'s p2p address until CometBFT's first
        handshake byte arrives: at least the latency in force toward the test."""
        started = time.monotonic()
        with socket.create_connection((self.address(index), P2P_PORT), timeout=10) as sock:
            sock.settimeout(10)
            if not sock.recv(1):
                raise AssertionError(f"node{index}'s p2p port closed the connection")
        return (time.monotonic() - started) * 1000


def _spec(index: int, home: Path) -> NodeSpec:
    member = read_member(home / MEMBER_FILE)
    return NodeSpec(
        index=index,
        name=member.name,
        moniker=moniker_of(member.name),
        p2p_port=member.p2p_port,
        rpc_port=RPC_PORT,
        abci_port=ABCI_PORT,
        api_port=API_PORT,
        node_id=member.node_id,
        host=member.host,
    )


def _relay_backend(home: Path) -> None:
    """Behind the relay, CometBFT listens on the namespace's loopback; peers dial the relay
    (the external_address that keygen set stays the member's address)."""
    set_toml_values(
        home / "cometbft" / "config" / "config.toml",
        {"p2p": {"laddr": f"tcp://127.0.0.1:{RELAY_BACKEND_PORT}"}},
    )


@contextlib.contextmanager
def netns_network(
    directory: Path, validators: int = 4, *, start: bool = True
) -> Iterator[NetnsNetwork]:
    """A started network of ``validators`` members, one network namespace each; everything it
    made (processes, namespaces, links, the slot) is gone when the block exits."""
    reason = netns_unavailable()
    if reason is not None:
        raise RuntimeError(f"network namespaces are unavailable: {reason}")
    slot, lock = claim_slot()
    fabric = Fabric(slot, validators)
    net: NetnsNetwork | None = None
    try:
        fabric.create()
        homes = make_member_homes(directory, fabric)
        netem = fabric.netem_available() and os.environ.get(LATENCY_ENV) != "relay"
        if not netem:
            for home in homes:
                _relay_backend(home)
        specs = [_spec(i, home) for i, home in enumerate(homes)]
        net = NetnsNetwork(
            NetLayout(directory / "machines"),
            specs,
            fabric=fabric,
            homes=homes,
            latency_method="netem" if netem else "relay",
        )
        log.info("netns slot %d, latency by %s", slot, net.latency_method)
        if start:
            net.start_all()
        yield net
    finally:
        try:
            if net is not None:
                net.stop_all()
        finally:
            fabric.destroy()
            lock.close()
