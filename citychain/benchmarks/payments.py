"""``citychain bench payments``: signed transfers through a real node's HTTP ingress.

The run (issue 2, "Must show", Benchmark; docs/benchmarks.md):

1. a fresh home in a temporary folder whose genesis funds M accounts, S of them senders with
   deterministic keys (the workload of ``citychain.benchmarks``);
2. N transfers pre-signed in worker processes, and their request bodies encoded, before any
   clock starts;
3. the baseline: this machine's raw Ed25519 verifications per second on one core, with the
   node's own ``citychain.crypto.keys.verify`` (libsodium through PyNaCl), measured in this run
   while no node is running;
4. a real node (``LocalNode``: ``python -m citychain.node``), its start timed;
5. the transfers posted in batches of B to ``POST /txs/batch`` with ``mode=commit``, C batches
   in flight, each batch answering once all its transactions have committed.

Reported: committed transfers per second (results with code 0 and a height, over the wall time
from the first request sent to the last answer received), latency from submission to commit
per transaction (the answer time of its batch minus the send time), the baseline, their ratio,
blocks and transactions per block, and the node's ``citychain_block_commit_seconds``. At the
end every transfer must have committed with code 0; failures are listed and the exit status is 1.

``--profile-node FILE`` runs the node under cProfile, enabled only from the first request to
the last answer (signals SIGUSR1/SIGUSR2 to a small wrapper in ``node_profile``), and prints
where the node's main thread spent that window.

The parts: ``submission`` (pre-encoded batches, their posting and tally), ``node_metrics`` (CPU
seconds and the node's Prometheus metrics), ``node_profile`` and ``report`` (the text output).

``--network N`` runs the same prepared workload, after this solo run, on an N-validator CometBFT
network and on CometBFT's ``kvstore`` with N validators (``network``; docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citychain.benchmarks import (
    CHAIN_ID,
    account_addresses,
    genesis_balances,
    machine_info,
    percentile,
    raw_verify_rate,
    sign_transfers,
)
from citychain.benchmarks.node_metrics import (
    children_cpu_seconds,
    cpu_seconds,
    node_metrics,
    own_cpu_seconds,
)
from citychain.benchmarks.node_profile import ProfiledNode, profiled_node_main, read_profile
from citychain.benchmarks.report import format_report
from citychain.benchmarks.submission import Batch, encode_batches, submit_all, tally
from citychain.init_home import init_home
from citychain.sim.localnode import LocalNode

__all__ = ["Options", "Workload", "main", "prepare", "profiled_node_main", "run"]

DEFAULT_TXS = 50_000
DEFAULT_ACCOUNTS = 100_000
MAX_DEFAULT_SENDERS = 20_000
DEFAULT_BATCH = 500
DEFAULT_CONCURRENCY = 8  # a wallet server keeps several batches in flight; 4 gives smaller blocks
MAX_BATCH = 5_000  # transactions in one POST /txs/batch: the API's limit (one block)
MAX_NETWORK_VALIDATORS = 10  # --network N: the consortium's ports are a block of 100


@dataclass(frozen=True, slots=True)
class Options:
    txs: int = DEFAULT_TXS
    accounts: int = DEFAULT_ACCOUNTS
    senders: int | None = None  # None: min(accounts, MAX_DEFAULT_SENDERS)
    batch: int = DEFAULT_BATCH
    concurrency: int = DEFAULT_CONCURRENCY
    verifier_workers: int = 1
    verify_seconds: float = 2.0
    processes: int | None = None
    profile_node: Path | None = None

    @property
    def sender_count(self) -> int:
        return self.senders if self.senders is not None else min(self.accounts, MAX_DEFAULT_SENDERS)


@dataclass(slots=True)
class Workload:
    """What a run submits, prepared before any clock starts: the bank genesis entries of the M
    accounts and the N signed transfers (``--network`` submits the same ones to every chain)."""

    balances: list[dict[str, Any]]
    signed: list[bytes]
    setup: dict[str, float]


def prepare(options: Options, log: Any = None) -> Workload:
    """Derive the accounts and their genesis entries, and sign the transfers."""
    say = log or (lambda _msg: None)
    n, m, s = options.txs, options.accounts, options.sender_count
    setup: dict[str, float] = {}
    started = time.perf_counter()
    addresses = account_addresses(m, s, options.processes)
    balances = genesis_balances(addresses, processes=options.processes)
    setup["accounts_s"] = time.perf_counter() - started
    started = time.perf_counter()
    signed = sign_transfers(
        n, accounts=m, sender_addresses=addresses[:s], processes=options.processes
    )
    setup["sign_s"] = time.perf_counter() - started
    say(f"signed {n:,} transfers in {setup['sign_s']:.1f} s")
    return Workload(balances, signed, setup)


def _write_home(home_dir: Path, work: Workload, owned: bool, setup: dict[str, Any]) -> None:
    """A fresh home whose genesis funds the workload's accounts (timed)."""
    started = time.perf_counter()
    home, _, _ = init_home(
        home_dir,
        password="bench",
        chain_id=CHAIN_ID,
        extra_balances=work.balances,
        kdf_limits=(1, 8192),
        genesis_time="2024-01-01T00:00:00+00:00",
    )
    if owned:
        work.balances.clear()  # up to a million dicts; nothing else needs them
    setup["genesis_write_s"] = time.perf_counter() - started
    setup["genesis_bytes"] = home.genesis_file.stat().st_size


def _node(options: Options, home_dir: Path) -> LocalNode:
    """The node to measure, under cProfile with ``--profile-node``."""
    # a node loads its genesis before it answers: a second for every thousand accounts
    startup_timeout = 120.0 + options.accounts / 1000
    if options.profile_node is not None:
        options.profile_node.unlink(missing_ok=True)
        return ProfiledNode(
            home_dir,
            options.profile_node,
            verifier_workers=options.verifier_workers,
            startup_timeout=startup_timeout,
        )
    return LocalNode(
        home_dir, verifier_workers=options.verifier_workers, startup_timeout=startup_timeout
    )


def _submit_measured(node: LocalNode, batches: list[Batch], concurrency: int) -> dict[str, Any]:
    """Post every batch to the running node; what the node did meanwhile: blocks, CPU
    seconds, and afterwards the tally of the answers and the node's metrics."""
    height_before = int(node.client.status()["height"])
    assert node.process is not None
    node_pid = node.process.pid
    cpu_before = cpu_seconds(node_pid), children_cpu_seconds(node_pid), own_cpu_seconds()
    if isinstance(node, ProfiledNode):
        node.signal(signal.SIGUSR1)
    submit_all(node.url, batches, concurrency)
    cpu_after = cpu_seconds(node_pid), children_cpu_seconds(node_pid), own_cpu_seconds()
    if isinstance(node, ProfiledNode):
        node.signal(signal.SIGUSR2)
        node.wait_for_profile()
    height_after = int(node.client.status()["height"])
    return {
        "blocks": height_after - height_before,
        "tallied": tally(batches, node.client),
        "metrics": node_metrics(node.client),
        "cpu_s": {
            name: after - before
            for name, before, after in zip(
                ("node", "node_workers", "client"), cpu_before, cpu_after, strict=True
            )
        },
    }


def _figures(
    batches: list[Batch], measured: dict[str, Any], raw_verify: float, n: int
) -> dict[str, Any]:
    """Throughput, latency and their ratio to the baseline, from the batches' clocks."""
    sent = [b.sent for b in batches if b.sent]
    received = [b.received for b in batches if b.received]
    wall = max(received) - min(sent) if sent and received else 0.0
    tallied = measured["tallied"]
    latencies = tallied.pop("latencies")
    committed = tallied["committed"]
    tps = committed / wall if wall else 0.0
    blocks = measured["blocks"]
    return dict(
        committed_tps=tps,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else 0.0,
        raw_verify_per_s=raw_verify,
        ratio=tps / raw_verify if raw_verify else 0.0,
        wall_s=wall,
        blocks=blocks,
        mean_txs_per_block=committed / blocks if blocks else 0.0,
        all_committed=committed == n,
        **tallied,
    )


def run(options: Options, log: Any = None, workload: Workload | None = None) -> dict[str, Any]:
    say = log or (lambda _msg: None)
    n, m, s = options.txs, options.accounts, options.sender_count
    report: dict[str, Any] = {
        "benchmark": "payments",
        "txs": n,
        "accounts": m,
        "senders": s,
        "batch": options.batch,
        "concurrency": options.concurrency,
        "verifier_workers": options.verifier_workers,
        "machine": machine_info(),
    }
    owned = workload is None
    work = workload if workload is not None else prepare(options, say)
    setup: dict[str, Any] = dict(work.setup)
    with tempfile.TemporaryDirectory(prefix="citychain-bench-") as tmp:
        home_dir = Path(tmp) / "home"
        _write_home(home_dir, work, owned, setup)
        say(f"genesis: {m:,} accounts, {setup['genesis_bytes'] / 1e6:.1f} MB")
        batches = encode_batches(work.signed, options.batch)
        raw_verify = raw_verify_rate(work.signed, options.verify_seconds)
        say(f"raw Ed25519 verify: {raw_verify:,.0f}/s on one core")
        node = _node(options, home_dir)
        started = time.perf_counter()
        node.start()
        try:
            setup["node_start_s"] = time.perf_counter() - started
            say(f"node started in {setup['node_start_s']:.1f} s; submitting")
            measured = _submit_measured(node, batches, options.concurrency)
        finally:
            node.stop()

    report.update(
        **_figures(batches, measured, raw_verify, n),
        node=measured["metrics"],
        setup=setup,
        cpu_s=measured["cpu_s"],
        loadavg_after=machine_info()["loadavg"],
    )
    if options.profile_node is not None:
        report["profile"] = read_profile(options.profile_node)
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="citychain bench payments",
        description="Signed transfers through a real node's HTTP ingress, against this "
        "machine's raw Ed25519 verification rate (docs/benchmarks.md).",
    )
    parser.add_argument("--txs", type=int, default=DEFAULT_TXS, help="transfers (N)")
    parser.add_argument("--accounts", type=int, default=DEFAULT_ACCOUNTS, help="funded (M)")
    parser.add_argument("--senders", type=int, default=None, help="default min(M, 20000)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="txs per request")
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="requests in flight"
    )
    parser.add_argument("--verifier-workers", type=int, default=1, help="node's verifier procs")
    parser.add_argument("--verify-seconds", type=float, default=2.0, help="baseline loop time")
    parser.add_argument("--processes", type=int, default=None, help="signing processes")
    parser.add_argument(
        "--profile-node",
        type=Path,
        default=None,
        metavar="FILE",
        help="cProfile the node during the run; pstats written to FILE",
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="also run the commit-scaling benchmark (10k, 100k, 1M accounts)",
    )
    parser.add_argument("--scaling-sizes", default=None, help="e.g. 10000,100000")
    parser.add_argument(
        "--network",
        type=int,
        default=None,
        metavar="N",
        help="also run the workload on an N-validator CometBFT network and on CometBFT's "
        "kvstore with N validators, on this machine (--profile-node then profiles its apps)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: list[str] | None = None) -> int:
    from citychain.benchmarks import commit_scaling

    args = build_parser().parse_args(argv)
    options = Options(
        txs=args.txs,
        accounts=args.accounts,
        senders=args.senders,
        batch=args.batch,
        concurrency=args.concurrency,
        verifier_workers=args.verifier_workers,
        verify_seconds=args.verify_seconds,
        processes=args.processes,
        profile_node=args.profile_node,
    )
    problem = _check(options)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.network is not None:
        if args.scaling or args.scaling_sizes:
            print("error: --scaling runs without --network", file=sys.stderr)
            return 2
        return _main_network(options, args.network, args.json, log)
    report = run(options, log)
    ok = bool(report["all_committed"])
    if args.scaling or args.scaling_sizes:
        sizes = (
            commit_scaling.parse_sizes(args.scaling_sizes)
            if args.scaling_sizes
            else list(commit_scaling.DEFAULT_SIZES)
        )
        report["commit_scaling"] = commit_scaling.run(sizes, processes=args.processes, log=log)
        ok = ok and all(r["failed_txs"] == 0 for r in report["commit_scaling"]["rows"])
    print(json.dumps(report) if args.json else format_report(report))
    return 0 if ok else 1


def _main_network(options: Options, nodes: int, as_json: bool, log: Any) -> int:
    """``--network N``: exit 0 only if every transfer committed everywhere; 1 on any failure
    (after stopping every process), 130 on Ctrl-C or SIGTERM."""
    from citychain.benchmarks import network
    from citychain.benchmarks.network_report import format_network_report
    from citychain.benchmarks.network_submit import ordering_problem
    from citychain.net.layout import NetError

    problem = ordering_problem(options.sender_count, nodes, options.batch, options.concurrency)
    if not 1 <= nodes <= MAX_NETWORK_VALIDATORS:
        problem = "--network takes 1 to 10 validators (a block of 100 ports)"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    def terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through the finally blocks that stop the nodes

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        report = network.run(options, nodes, log)
    except KeyboardInterrupt:
        print("error: interrupted; every node started was stopped", file=sys.stderr)
        return 130
    except (RuntimeError, NetError, OSError) as exc:
        print(f"error: the network benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(json.dumps(report) if as_json else format_network_report(report))
    return 0 if report["ok"] else 1


def _check(o: Options) -> str:
    if o.txs < 1 or o.accounts < 1 or o.batch < 1 or o.concurrency < 1:
        return "--txs, --accounts, --batch and --concurrency must be at least 1"
    if not 1 <= o.sender_count <= o.accounts:
        return "--senders must be between 1 and --accounts"
    if o.batch > MAX_BATCH:
        return f"--batch is at most {MAX_BATCH:,} (the API's limit)"
    if o.verify_seconds <= 0 or o.verifier_workers < 0:
        return "--verify-seconds must be positive and --verifier-workers not negative"
    return ""


if __name__ == "__main__":
    sys.exit(main())
