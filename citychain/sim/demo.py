"""``citychain demo``: a fresh chain with a simulated city's payments flowing, and where to look.

``make demo`` runs it. It creates a fresh home (``./demo-home`` unless ``--home``), starts a node
on it, prints the explorer, API and metrics addresses, runs the city simulator
(``citychain.sim.city``) for ``--seconds``, then checks the node against the simulator's own
ledger and verifies a balance proof offline. Exit status 0 means every check passed.
See docs/demo.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from citychain.client import ClientError
from citychain.crypto.errors import KeystoreError
from citychain.crypto.keystore import Keystore
from citychain.genesis import Genesis
from citychain.home import Home, HomeError
from citychain.init_home import init_home
from citychain.net.layout import NetError, NetLayout
from citychain.net.ports import port_free
from citychain.net.process import running
from citychain.sim.audit import Audit
from citychain.sim.city import CitySimulation
from citychain.sim.config import MERCHANT_KINDS, CityConfig
from citychain.sim.localnode import LocalNode
from citychain.sim.network_demo import run_network_demo
from citychain.sim.stats import Stats
from citychain.sim.transactions import SimulationError

__all__ = ["main"]

DEFAULT_HOME = Path("demo-home")
DEFAULT_API = "127.0.0.1:26680"
DEMO_CHAIN_ID = "citychain-demo"
DEMO_PASSWORD = "demo"  # the demo's keys guard nothing; the password sits in HOME/password.txt
MARKER = "demo.json"  # written into every demo home: only a home carrying it is ever wiped
PROG = "citychain demo"
MAX_FLEET = 5_000  # batteries of --fleet
MAX_SECONDS = 86_400  # a demo runs at most a day
MAX_NETWORK = 16  # validators of --network
MAX_PORT = 65_535  # TCP


class DemoError(Exception):
    """The demo cannot start or go on; the message says why and what to do."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Start a fresh chain and run a simulated city's payments on it.",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=DEFAULT_HOME,
        help="home folder for the demo chain; a previous demo home there is wiped"
        f" (default: ./{DEFAULT_HOME})",
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="how long the city runs (default: 60)"
    )
    parser.add_argument("--citizens", type=int, default=5_000, help="default: 5000")
    parser.add_argument("--merchants", type=int, default=200, help="default: 200")
    parser.add_argument(
        "--api",
        default=DEFAULT_API,
        help=f"HOST:PORT for the node's API and explorer; a free port is used if this one is"
        f" busy (default: {DEFAULT_API})",
    )
    parser.add_argument("--seed", type=int, default=1, help="the city's seed (default: 1)")
    parser.add_argument(
        "--network",
        type=int,
        default=0,
        metavar="N",
        help="run the city on a consortium of N CometBFT validators (0: one solo node)",
    )
    parser.add_argument(
        "--fleet",
        type=int,
        default=40,
        metavar="N",
        help="with --network: N EV batteries send a month of BMS telemetry over MQTT "
        "(0: none; default: 40)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep the node serving after the run, until Ctrl-C",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        host, port = _split_api(args.api)
        config = _checked_config(args)
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.network:
            prepare_home(args.home)
            return run_network_demo(
                args.home,
                args.network,
                config,
                args.seconds,
                DEMO_PASSWORD,
                print_progress=_print_progress,
                print_summary=_print_summary,
                marker={"demo": True},
                fleet_batteries=args.fleet,
            )
        return _run(args.home, host, port, config, args.seconds, args.serve)
    except (
        DemoError,
        HomeError,
        KeystoreError,
        SimulationError,
        ClientError,
        NetError,
        OSError,
    ) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130


def _checked_config(args: argparse.Namespace) -> CityConfig:
    """The city of the arguments; ValueError naming the first argument out of range."""
    if not 0 <= args.fleet <= MAX_FLEET:
        raise ValueError(f"--fleet must be in 0..5000, got {args.fleet}")
    if not 0 < args.seconds <= MAX_SECONDS:
        raise ValueError(f"--seconds must be in (0, 86400], got {args.seconds}")
    if args.seed < 0:
        raise ValueError(f"--seed must not be negative, got {args.seed}")
    config = CityConfig(citizens=args.citizens, merchants=args.merchants, seed=args.seed)
    if not 0 <= args.network <= MAX_NETWORK:
        raise ValueError(f"--network must be 0..16, got {args.network}")
    if args.network and args.serve:
        raise ValueError("--serve is for the solo node; a network keeps running with net start")
    return config


def _split_api(value: str) -> tuple[str, int]:
    host, sep, port = value.removeprefix("http://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= MAX_PORT:
        raise ValueError(f"--api must be HOST:PORT, got {value!r}")
    return host, int(port)


# --- the home folder ---------------------------------------------------------------------------


def prepare_home(path: Path) -> None:
    """Make ``path`` ready for a fresh chain: wipe a previous demo home, refuse anything else."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise DemoError(f"{path} exists and is not a folder; choose another --home")
    if not path.exists() or not any(path.iterdir()):
        return
    if not (path / MARKER).is_file():
        raise DemoError(
            f"{path} exists and is not a demo home (no {MARKER}); choose another --home"
            " or remove it yourself"
        )
    pid = _running_node(Home(path))
    if pid is not None:
        raise DemoError(f"a node (pid {pid}) is still serving {path}; stop it first")
    layout = NetLayout(path / "net")
    if layout.exists():
        _, specs = layout.load()
        if any(any(running(layout, s.index).values()) for s in specs):
            raise DemoError(
                f"the demo network in {layout.path} is running; stop it first: "
                f"citychain net stop --dir {layout.path}"
            )
    shutil.rmtree(path)


def _running_node(home: Home) -> int | None:
    try:
        pid = int(json.loads(home.node_file.read_text())["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid


def _create_home(path: Path, host: str, port: int) -> tuple[Home, Genesis]:
    home, genesis, _ = init_home(
        path, password=DEMO_PASSWORD, chain_id=DEMO_CHAIN_ID, api=f"{host}:{port}"
    )
    (path / MARKER).write_text(
        json.dumps({"demo": True, "created": datetime.now(UTC).isoformat(timespec="seconds")})
    )
    password_file = path / "password.txt"
    password_file.write_text(DEMO_PASSWORD + "\n")
    password_file.chmod(0o600)
    return home, genesis


# --- the run -----------------------------------------------------------------------------------


def _run(path: Path, host: str, port: int, config: CityConfig, seconds: float, serve: bool) -> int:
    prepare_home(path)
    if port and not port_free(port, host):
        print(f"port {port} on {host} is busy; using a free one")
        port = 0
    print(f"creating a fresh chain in {path} ...", flush=True)
    home, genesis = _create_home(path, host, port)
    keystore = Keystore(home.keys_dir)
    issuer = keystore.load("issuer", DEMO_PASSWORD)
    kyc = keystore.load("kyc", DEMO_PASSWORD)
    node = LocalNode(path, api=f"{host}:{port}", log=path / "node.log")
    try:
        node.start()
    except RuntimeError as exc:
        raise DemoError(f"the node did not start: {exc}") from None
    try:
        sim = CitySimulation(node.client, issuer, kyc, config)
        print(f"setting up the city ({config.citizens:,} citizens, {config.merchants} merchants)")
        sim.setup()
        _print_city(sim)
        _print_where_to_look(node.url, sim, path)
        every = max(2.0, min(5.0, seconds / 10))
        print(f"\nthe city runs for {seconds:g} s:", flush=True)
        printed_at = [-1]

        def progress(stats: Stats) -> None:
            printed_at[0] = stats.ticks
            _print_progress(stats)

        stats = sim.run(seconds, progress, every)
        if printed_at[0] != stats.ticks:
            _print_progress(stats)
        trusted = [(v.public_key, v.power) for v in genesis.validators]
        audit = sim.audit(sample=500, trusted_validators=trusted)
        _print_summary(stats, audit, sim)
        payment = stats.example_payment or sim.setup_txs[-1]
        print(f"\nlook at a payment: {node.url}/#/tx/{payment}")
        if serve:
            _serve(node, path, sim.example_account().address)
        else:
            print(f"\nnode stopped; start it again with: citychain start --home {path}")
        return 0 if audit.ok else 1
    finally:
        node.stop()


def _print_city(sim: CitySimulation) -> None:
    kinds = {k: 0 for k in MERCHANT_KINDS}
    for m in sim.merchants:
        kinds[m.kind] += 1
    trades = ", ".join(
        f"{n} {kind.plural if n > 1 else kind.name}" for kind, n in kinds.items() if n
    )
    print(
        f"  {len(sim.citizens):,} citizens ({len(sim.verified):,} verified,"
        f" {len(sim.employees):,} working at the battery factory)\n"
        f"  {len(sim.merchants)} merchants: {trades}\n"
        f"  the issuer minted an opening float of {_ccy(sim.ledger.minted)} and the kyc key"
        f" verified the wallets ({len(sim.setup_txs)} set-up transactions)"
    )


def _print_where_to_look(url: str, sim: CitySimulation, path: Path) -> None:
    merchant = sim.merchants[0].account
    citizen = sim.example_account()
    ws = url.replace("http://", "ws://", 1)
    print(
        "\nwhere to look:\n"
        f"  explorer       {url}/\n"
        f"  API docs       {url}/docs   (OpenAPI: {url}/openapi.json)\n"
        f"  metrics        {url}/metrics   (operator only: Authorization: Bearer"
        f" $(cat <node home>/operator-token))\n"
        f"  event stream   {ws}/ws\n"
        f"  a merchant     {url}/#/account/{merchant.address}   ({merchant.name})\n"
        f"  a citizen      {url}/#/account/{citizen.address}   ({citizen.name})\n"
        f"  a transaction  {url}/#/tx/{sim.setup_txs[-1]}   (part of the opening float)\n"
        f"  node log       {path / 'node.log'}"
    )


def _print_progress(stats: Stats) -> None:
    elapsed = max(stats.elapsed, 1e-9)
    print(
        f"  [{elapsed:5.1f}s] height {stats.height:,}  txs {stats.committed:,}"
        f"  tps {stats.committed / elapsed:,.0f}  requests paid {stats.requests_paid:,}"
        f"  refunds {stats.refunds:,}  refused {stats.refused_total:,}",
        flush=True,
    )


def _ccy(cents: int) -> str:
    return f"{cents // 100:,}.{cents % 100:02d} ccy"


def _print_summary(stats: Stats, audit: Audit, sim: CitySimulation) -> None:
    elapsed = max(stats.elapsed, 1e-9)
    refused = ", ".join(f"{code} x{n:,}" for code, n in sorted(stats.refused.items()))
    print(
        f"\nsummary after {elapsed:.0f} s ({stats.ticks:,} ticks, up to height {stats.height:,}):\n"
        f"  transactions   {stats.committed:,} committed ({stats.committed / elapsed:,.0f} tx/s),"
        f" {stats.refused_total:,} refused ({refused or 'none'})\n"
        f"  requests       {stats.requests_created:,} created, {stats.requests_paid:,} paid,"
        f" {stats.cancelled:,} cancelled; {stats.refunds:,} refunds"
        f" ({_ccy(stats.refunded_cents)})\n"
        f"  transfers      {stats.transfers:,} between citizens;"
        f" {stats.wages_paid:,} wages paid by the battery factory\n"
        f"  money          {_ccy(stats.volume_cents)} moved; {_ccy(stats.minted)} minted"
        f" (top-ups, payroll float), {_ccy(stats.burned)} burnt (merchants' cash-outs)"
    )
    print("\nchecks:")
    for check in audit.checks:
        print(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name:<17} {check.detail}")
    print("all checks passed" if audit.ok else "SOME CHECKS FAILED")


def _serve(node: LocalNode, path: Path, address: str) -> None:
    print(
        f"\nserving {node.url} until Ctrl-C. Try, in another terminal:\n"
        f"  citychain query bank balance {address} --prove --home {path} > proof.json\n"
        "  citychain verify proof proof.json",
        flush=True,
    )
    try:
        while node.process is not None and node.process.poll() is None:
            time.sleep(0.5)
        print("the node exited; see", path / "node.log")
    except KeyboardInterrupt:
        print("\nstopping the node")


if __name__ == "__main__":
    sys.exit(main())
