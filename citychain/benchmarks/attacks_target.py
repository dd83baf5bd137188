"""The node(s) ``bench/attacks.py`` and ``bench/soak.py`` load (docs/hardening-bench.md).

Three kinds of target, each a context manager that yields a ``Target`` and stops whatever it
started:

- ``solo_target``: a fresh home in a temporary folder (``init_home``, as ``bench payments``
  makes one) whose genesis funds the honest payers and ``state_keys`` more accounts, and a
  ``LocalNode`` (``python -m citychain.node``);
- ``network_target``: ``create_network`` with the same accounts and N validators, run by
  ``cluster.Cluster`` (``python -m citychain.node`` and ``cometbft start`` per node);
- ``attached_target``: a node already running (``--api URL``), with its home (``--home``) for
  the role keys and the process id; the honest payers are funded by one of the home's keys.

The role keys (manufacturer, oracle, registrar) are the ones ``citychain init`` and ``net init``
make; a target that has none of them runs without the sections that need them.

``register_batteries`` puts a few batteries on the target's ledger before the load starts,
owned by a key of the benchmark and registered by the manufacturer key with the simulator's
``register_fleet``.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citychain.benchmarks import CHAIN_ID, DENOM, genesis_balances, recipient_address
from citychain.benchmarks.attacks_context import BatterySetup, seeded_key
from citychain.benchmarks.attacks_honest import RECIPIENTS, honest_key
from citychain.benchmarks.cluster import Cluster
from citychain.benchmarks.network import NET_OPTIONS
from citychain.client import Client, ClientError, Wallet
from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.home import Home
from citychain.init_home import init_home
from citychain.modules.bank import MAX_OUTPUTS, MsgMultiSend
from citychain.net.create import create_network
from citychain.net.layout import NetLayout
from citychain.net.ports import reserved_ports
from citychain.sim.fleet import Fleet, register_fleet
from citychain.sim.localnode import LocalNode
from citychain.tx.envelope import address_of

__all__ = [
    "PASSWORD",
    "PUBLIC_LOOPBACK",
    "ROLE_NAMES",
    "Target",
    "TargetOptions",
    "attached_target",
    "battery_owner",
    "network_target",
    "register_batteries",
    "solo_target",
]

PASSWORD = "bench"
KDF_LIMITS = (1, 8192)  # throwaway keys: the cheapest Argon2id the keystore accepts
ROLE_NAMES = ("manufacturer", "oracle", "registrar", "issuer")
HONEST_BALANCE = 50_000  # cents each honest payer opens with (tier 0 holds up to 100,000)
ATTACH_TOP_UP = 5_000  # cents the funder sends each honest payer of an attached node
STATE_KEY_BALANCE = 1  # cents: the extra accounts only make the state big
SECONDS_PER_THOUSAND_ACCOUNTS = 1.0  # a node's genesis load, generously
START_TIMEOUT_S = 120.0
PUBLIC_LOOPBACK: dict[str, Any] = {"api_rate_trusted": []}
DAY_S = 86_400
FLEET_SEED = "citychain-bench/attacks"


@dataclass
class TargetOptions:
    honest_keys: int = 32
    state_keys: int = 0
    api: str | None = None  # attach to this API
    home: Path | None = None  # the attached node's home (keys, node.json)
    password: str = PASSWORD
    funder: str = "issuer"  # the attached home's key that funds the honest payers
    pid: int | None = None
    # config.json keys written into the homes this run creates (docs/operations.md); the
    # default makes loopback an ordinary client address, not one exempt from the rate limit
    node_config: dict[str, Any] = field(default_factory=lambda: dict(PUBLIC_LOOPBACK))
    workdir: Path | None = None  # keep the homes (and their logs) here instead of a temp dir
    log: Callable[[str], None] = field(default=lambda _m: None)


@dataclass
class Target:
    engine: str  # "solo" or "cometbft"
    urls: list[str]  # every node's API; urls[0] is the one attacked
    chain_id: str
    processes: dict[str, int]  # name -> pid of each process tree whose memory is sampled
    honest_keys: list[PrivateKey]
    role_keys: dict[str, PrivateKey]
    rpc_urls: list[str] = field(default_factory=list)  # CometBFT's, on a network
    notes: list[str] = field(default_factory=list)
    state_keys: int | None = 0  # None: an attached node's, not known
    homes: list[Path] = field(default_factory=list)  # each node's citychain home, by index

    def operator_token(self, index: int) -> str | None:
        """Node ``index``'s operator token (HOME/operator-token), where its version has one."""
        if index >= len(self.homes):
            return None
        read = getattr(Home(self.homes[index]), "operator_token", None)
        try:
            token = read() if callable(read) else None
        except Exception:  # an unreadable token is a missing one here
            return None
        return str(token) if token else None


def _accounts(options: TargetOptions) -> list[dict[str, Any]]:
    """Genesis entries: the honest payers, their recipients and ``state_keys`` more accounts."""
    honest = [address_of(honest_key(i).public_key) for i in range(options.honest_keys)]
    entries = genesis_balances(honest, amount=HONEST_BALANCE)
    extra = [recipient_address(i) for i in range(max(options.state_keys, RECIPIENTS))]
    entries.extend(genesis_balances(extra, amount=STATE_KEY_BALANCE))
    return entries


def _role_keys(key_dirs: list[Path], password: str) -> dict[str, PrivateKey]:
    """The role keys found in any of ``key_dirs`` (a network's may sit in any member's)."""
    found: dict[str, PrivateKey] = {}
    for directory in key_dirs:
        keystore = Keystore(directory)
        for name in ROLE_NAMES:
            if name in found:
                continue
            with contextlib.suppress(Exception):  # absent, or another password: not this run's
                found[name] = keystore.load(name, password)
    return found


def _configure(home: Home, extra: dict[str, Any]) -> None:
    """Add ``extra`` to the home's config.json (a node of another version ignores a key it
    does not know)."""
    if extra:
        home.write_config({**home.config(), **extra})


@contextlib.contextmanager
def _folder(options: TargetOptions) -> Iterator[Path]:
    """``--workdir`` (must be empty; kept), else a temporary folder (removed)."""
    if options.workdir is not None:
        if options.workdir.exists() and any(options.workdir.iterdir()):
            raise ValueError(f"--workdir {options.workdir} is not empty")
        options.workdir.mkdir(parents=True, exist_ok=True)
        yield options.workdir
        return
    with tempfile.TemporaryDirectory(
        prefix="citychain-attacks-", ignore_cleanup_errors=True
    ) as tmp:
        yield Path(tmp)


def _start_timeout(options: TargetOptions) -> float:
    return START_TIMEOUT_S + SECONDS_PER_THOUSAND_ACCOUNTS * options.state_keys / 1000


@contextlib.contextmanager
def solo_target(options: TargetOptions) -> Iterator[Target]:
    say = options.log
    with _folder(options) as folder:
        home_dir = folder / "home"
        started = time.perf_counter()
        home, _, _ = init_home(
            home_dir,
            password=PASSWORD,
            chain_id=CHAIN_ID,
            extra_balances=_accounts(options),
            kdf_limits=KDF_LIMITS,
        )
        _configure(home, options.node_config)
        say(f"solo home with {options.state_keys:,} extra accounts in {_since(started)}")
        node = LocalNode(home_dir, startup_timeout=_start_timeout(options))
        node.start()
        try:
            assert node.process is not None
            say(f"node started: {node.url}")
            yield Target(
                engine="solo",
                urls=[node.url],
                chain_id=CHAIN_ID,
                processes={"node": node.process.pid},
                honest_keys=[honest_key(i) for i in range(options.honest_keys)],
                role_keys=_role_keys([home.keys_dir], PASSWORD),
                state_keys=options.state_keys,
                homes=[home_dir],
            )
        finally:
            node.stop()


@contextlib.contextmanager
def network_target(options: TargetOptions, validators: int) -> Iterator[Target]:
    say = options.log
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(_folder(options))
        base = stack.enter_context(reserved_ports(validators))
        directory = folder / "net"
        started = time.perf_counter()
        specs = create_network(
            directory,
            validators,
            password=PASSWORD,
            chain_id=CHAIN_ID,
            base_port=base,
            options=NET_OPTIONS,
            extra_balances=_accounts(options),
        )
        say(f"created {validators} validators in {_since(started)}")
        layout = NetLayout(directory)
        for i in range(validators):
            _configure(Home(layout.node_dir(i)), options.node_config)
        cluster = stack.enter_context(
            Cluster(directory, specs, start_timeout=_start_timeout(options))
        )
        cluster.start()
        say(f"all {validators} validators make blocks ({_since(started)})")
        processes: dict[str, int] = {}
        for node in cluster.nodes:
            if node.app is not None:
                processes[f"{node.spec.folder} app"] = node.app.pid
            if node.comet is not None:
                processes[f"{node.spec.folder} cometbft"] = node.comet.pid
        key_dirs = [Home(layout.node_dir(i)).keys_dir for i in range(validators)]
        yield Target(
            engine="cometbft",
            urls=[spec.api_url for spec in specs],
            chain_id=CHAIN_ID,
            processes=processes,
            honest_keys=[honest_key(i) for i in range(options.honest_keys)],
            role_keys=_role_keys(key_dirs, PASSWORD),
            rpc_urls=[spec.rpc_url for spec in specs],
            state_keys=options.state_keys,
            homes=[layout.node_dir(i) for i in range(validators)],
        )


@contextlib.contextmanager
def attached_target(options: TargetOptions) -> Iterator[Target]:
    """A running node: ``--api`` (else the URL in HOME/node.json) and ``--home`` for its keys."""
    if options.home is None:
        raise ValueError("--api needs --home: the node's home, whose keys fund the honest payers")
    home = Home(options.home)
    node_doc: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        node_doc = json.loads(home.node_file.read_text())
    url = options.api or str(node_doc.get("api", ""))
    pid = options.pid if options.pid is not None else node_doc.get("pid")
    notes = [] if pid else ["no process id (--pid, or HOME/node.json): memory not sampled"]
    roles = _role_keys([home.keys_dir], options.password)
    funder = Keystore(home.keys_dir).load(options.funder, options.password)
    honest = [honest_key(i) for i in range(options.honest_keys)]
    with Client(url) as client:
        chain_id = str(client.status()["chain_id"])
        engine = str(client.status().get("engine", "solo"))
        _fund(Wallet(funder, client, chain_id=chain_id), honest)
    options.log(f"attached to {url}; funded {len(honest)} honest payers")
    if options.state_keys:
        notes.append("--state-keys is ignored on an attached node: its state is what it is")
    yield Target(
        engine=engine,
        urls=[url],
        chain_id=chain_id,
        processes={"node": int(pid)} if pid else {},
        honest_keys=honest,
        role_keys=roles,
        notes=notes,
        state_keys=None,
        homes=[options.home],
    )


def _fund(funder: Wallet, keys: list[PrivateKey]) -> None:
    outputs = [(address_of(k.public_key), ATTACH_TOP_UP) for k in keys]
    for i in range(0, len(outputs), MAX_OUTPUTS):
        funder.submit([MsgMultiSend(DENOM, tuple(outputs[i : i + MAX_OUTPUTS]))])


def _since(started: float) -> str:
    return f"{time.perf_counter() - started:.1f} s"


# --- what the run puts on the ledger ----------------------------------------------------------
def battery_owner() -> PrivateKey:
    """The key that owns the benchmark's batteries (it needs no funds to read them)."""
    return seeded_key("battery-owner")


def register_batteries(
    target: Target, count: int, log: Callable[[str], None], *, prefix: str = "BENCH-ATK"
) -> list[BatterySetup]:
    """Register ``count`` batteries owned by ``battery_owner()`` (none, with a note on the
    target, when there is no manufacturer key or the node refused them)."""
    maker = target.role_keys.get("manufacturer")
    if maker is None:
        target.notes.append("no manufacturer key: no battery registered")
        return []
    owner = address_from_public_key(battery_owner().public_key)
    fleet = Fleet(
        count, seed=f"{FLEET_SEED}/{prefix}", start_day=int(time.time()) // DAY_S, prefix=prefix
    )
    with Client(target.urls[0]) as client:
        try:
            register_fleet(Wallet(maker, client, chain_id=target.chain_id), fleet, owner=owner)
        except Exception as exc:  # the simulator's, the node's or the SDK's: not fatal here
            # e.g. the openings of the test reports refused (an operator route) after the
            # batteries were registered: whether they are on the ledger is checked below
            target.notes.append(f"battery registration: {type(exc).__name__}: {exc}")
        registered = []
        for battery in fleet:
            try:
                client.battery_passport(battery.battery_id.hex())
            except ClientError:
                continue
            holding = getattr(battery, "holding_secret", b"")  # where the ledger has holdings
            registered.append(BatterySetup(battery.battery_id, battery_owner(), holding))
    log(f"registered {len(registered)} of {count} batteries")
    return registered
