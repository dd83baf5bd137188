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
the last answer (signals SIGUSR1/SIGUSR2 to a small wrapper in this module), and prints where
the node's main thread spent that window.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import itertools
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import msgspec

from citychain.benchmarks import (
    CHAIN_ID,
    GcTimer,
    account_addresses,
    genesis_balances,
    machine_info,
    percentile,
    raw_verify_rate,
    sign_transfers,
)
from citychain.client import ApiError, Client
from citychain.init_home import init_home
from citychain.sim.localnode import LocalNode

__all__ = ["main", "profiled_node_main", "run"]

DEFAULT_TXS = 50_000
DEFAULT_ACCOUNTS = 100_000
MAX_DEFAULT_SENDERS = 20_000
DEFAULT_BATCH = 500
DEFAULT_CONCURRENCY = 8  # a wallet server keeps several batches in flight; 4 gives smaller blocks
REQUEST_TIMEOUT = 300.0  # seconds; the node itself stops waiting for a commit after 30
PROFILE_TOP = 15


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
class Batch:
    index: int
    body: bytes  # the JSON request, encoded before the clock starts
    hashes: list[str]
    sent: float = 0.0
    received: float = 0.0
    status: int = 0
    error: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)


def _encode_batches(signed: list[bytes], size: int) -> list[Batch]:
    batches = []
    for index, lo in enumerate(range(0, len(signed), size)):
        raws = signed[lo : lo + size]
        body = msgspec.json.encode({"txs": [r.hex() for r in raws], "mode": "commit"})
        hashes = [hashlib.sha256(r).hexdigest() for r in raws]
        batches.append(Batch(index, body, hashes))
    return batches


def _submit_all(url: str, batches: list[Batch], concurrency: int) -> None:
    """Post every batch, ``concurrency`` at a time, each thread on its own keep-alive client."""
    counter = itertools.count()
    lock = threading.Lock()
    headers = {"content-type": "application/json"}

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT) as http:
            while True:
                with lock:
                    index = next(counter)
                if index >= len(batches):
                    return
                batch = batches[index]
                batch.sent = time.perf_counter()
                try:
                    response = http.post("/txs/batch", content=batch.body, headers=headers)
                except httpx.HTTPError as exc:
                    batch.received = time.perf_counter()
                    batch.error = f"{type(exc).__name__}: {exc}"
                    continue
                batch.received = time.perf_counter()
                batch.status = response.status_code
                if response.status_code == 200:
                    batch.results = msgspec.json.decode(response.content)["results"]
                else:
                    batch.error = response.text[:300]

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _histogram(families: dict[str, Any], name: str) -> dict[str, Any]:
    """count, sum, mean and bucket upper bounds for p50/p99 of a Prometheus histogram."""
    family = families.get(name)
    if family is None:
        return {}
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    for sample in family.samples:
        if sample.name.endswith("_bucket"):
            buckets.append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_sum"):
            total = sample.value
        elif sample.name.endswith("_count"):
            count = sample.value
    buckets.sort()

    def upper_bound(q: float) -> float | None:
        for le, cumulative in buckets:
            if count and cumulative >= q * count:
                return le
        return None

    return {
        "count": int(count),
        "sum": total,
        "mean": total / count if count else 0.0,
        "p50_le": upper_bound(0.5),
        "p99_le": upper_bound(0.99),
    }


def _node_metrics(client: Client) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    response = httpx.get(f"{client.url}/metrics", timeout=30)
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    committed: dict[str, int] = {}
    if "citychain_txs_committed" in families:
        for sample in families["citychain_txs_committed"].samples:
            if sample.name.endswith("_total"):
                committed[sample.labels["result"]] = int(sample.value)
    return {
        "block_commit_seconds": _histogram(families, "citychain_block_commit_seconds"),
        "block_txs": _histogram(families, "citychain_block_txs"),
        "txs_committed": committed,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields 14 and 15 of proc(5), utime and stime, are 12 and 13 after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds(pid: int) -> float:
    """CPU seconds of the live children of ``pid`` (the node's verifier workers)."""
    total = 0.0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        total += sum(_cpu_seconds(int(child)) for child in children)
    return total


def _own_cpu() -> float:
    return time.process_time()


def _tally(batches: list[Batch], client: Client) -> dict[str, Any]:
    """Count what committed; look up every transaction whose fate the answers leave open."""
    committed = 0
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    samples: dict[str, str] = {}
    unknown: list[str] = []  # answered without a height, or in a batch that failed
    for batch in batches:
        if batch.status != 200:
            failures[f"http {batch.status or 'error'}"] += len(batch.hashes)
            samples.setdefault(f"http {batch.status or 'error'}", batch.error)
            unknown.extend(batch.hashes)
            continue
        latency_ms = 1000 * (batch.received - batch.sent)
        for result in batch.results:
            if result["code"] != 0:
                key = f"{result['codespace']}/{result['code']}"
                failures[key] += 1
                samples.setdefault(key, str(result["log"]))
            elif result["height"] is None:
                unknown.append(str(result["hash"]))
            else:
                committed += 1
                latencies.append(latency_ms)
    committed_late = 0
    for tx_hash in unknown:
        try:
            view = client.tx(tx_hash)
        except ApiError:  # not found: not committed
            continue
        if view["result"]["code"] == 0:
            committed_late += 1
    latencies.sort()
    return {
        "committed": committed,
        "committed_late": committed_late,
        "not_committed": len(unknown) - committed_late,
        "failures": dict(failures),
        "failure_samples": samples,
        "latencies": latencies,
    }


class _ProfiledNode(LocalNode):
    """A LocalNode whose process runs the same node under ``profiled_node_main``."""

    def __init__(self, home: Path, stats_file: Path, **kwargs: Any) -> None:
        super().__init__(home, **kwargs)
        self.stats_file = stats_file

    def start(self) -> LocalNode:
        self.home.node_file.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import sys; from citychain.benchmarks.payments import profiled_node_main;"
                    " sys.exit(profiled_node_main(sys.argv[1:]))",
                    str(self.stats_file),
                    "--home",
                    str(self.home.path),
                    "--api",
                    self.api,
                    "--verifier-workers",
                    str(self.verifier_workers),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}; see {self.log}")
            try:
                doc = json.loads(self.home.node_file.read_text())
            except (OSError, ValueError):
                doc = {}
            if doc.get("pid") == self.process.pid:
                self.url = str(doc["api"])
                self._client = Client(self.url)
                try:
                    self._client.health()
                    return self
                except ApiError:  # not listening yet; poll again
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"node did not start within {self.startup_timeout}s; see {self.log}")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait_for_profile(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.stats_file.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the profiled node wrote no statistics; see {self.log}")
            time.sleep(0.05)


def profiled_node_main(argv: list[str]) -> int:
    """Run ``python -m citychain.node ARGV[1:]`` with cProfile switched by signals.

    SIGUSR1 enables the profiler on the node's main thread (the event loop, where the API,
    check_tx and block production run); SIGUSR2 disables it and writes ARGV[0] (pstats) and
    ARGV[0].gc.json (cyclic garbage collections during the window, which cProfile cannot see).
    """
    from citychain.node.__main__ import main as node_main

    stats_file, node_argv = Path(argv[0]), argv[1:]
    profiler = cProfile.Profile()
    collector = GcTimer()
    window = [0.0]

    def enable(_signum: int, _frame: FrameType | None) -> None:
        window[0] = time.perf_counter()
        collector.start()
        profiler.enable()

    def disable(_signum: int, _frame: FrameType | None) -> None:
        profiler.disable()
        collector.stop()
        side = {"window_s": time.perf_counter() - window[0], "gc": collector.as_json()}
        Path(f"{stats_file}.gc.json").write_text(json.dumps(side))
        tmp = stats_file.with_suffix(".tmp")
        profiler.dump_stats(tmp)
        os.replace(tmp, stats_file)

    signal.signal(signal.SIGUSR1, enable)
    signal.signal(signal.SIGUSR2, disable)
    return node_main(node_argv)


def _read_profile(stats_file: Path) -> dict[str, Any]:
    side = json.loads(Path(f"{stats_file}.gc.json").read_text())
    window = float(side["window_s"])
    stats = pstats.Stats(str(stats_file), stream=io.StringIO())
    entries = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename if filename == "~" else f"{_short(filename)}:{line}"
        entries.append(
            {
                "function": f"{where}({name})",
                "calls": calls,
                "tottime_s": tottime,
                "cumtime_s": cumtime,
                "cum_share": cumtime / window if window else 0.0,
                "tot_share": tottime / window if window else 0.0,
            }
        )
    by_cum = sorted(entries, key=lambda e: e["cumtime_s"], reverse=True)
    hot = [e for e in by_cum if not _is_dispatch(str(e["function"]))]
    by_tot = sorted(entries, key=lambda e: e["tottime_s"], reverse=True)
    idle = sum(e["tottime_s"] for e in entries if "poll' of 'select.epoll" in e["function"])
    return {
        "window_s": window,
        "idle_share": idle / window if window else 0.0,
        "gc": side["gc"],
        "top_cumulative": by_cum[: PROFILE_TOP + 10],
        "top_hot_spots": hot[:PROFILE_TOP],
        "top_tottime": by_tot[:PROFILE_TOP],
    }


# Frames that only pass control on (the event loop, ASGI middleware and routing): their
# cumulative time is their callee's, so the printed list of hot spots leaves them out.
_DISPATCH = ("asyncio/", "starlette/", "anyio/", "fastapi/middleware/", "selectors.py", "Context")
_DISPATCH_FASTAPI = ("(app)", "(handle)", "(__call__)", "(run_endpoint_function)")


def _is_dispatch(function: str) -> bool:
    if "fastapi/routing.py" in function:
        return function.endswith(_DISPATCH_FASTAPI)
    return any(marker in function for marker in _DISPATCH)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "citychain/", "lib/python3"):
        at = filename.rfind(marker)
        if at >= 0:
            return filename[at:]
    return filename


def run(options: Options, log: Any = None) -> dict[str, Any]:
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
    setup: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="citychain-bench-") as tmp:
        home_dir = Path(tmp) / "home"
        started = time.perf_counter()
        addresses = account_addresses(m, s, options.processes)
        balances = genesis_balances(addresses, processes=options.processes)
        setup["accounts_s"] = time.perf_counter() - started
        started = time.perf_counter()
        home, _, _ = init_home(
            home_dir,
            password="bench",
            chain_id=CHAIN_ID,
            extra_balances=balances,
            kdf_limits=(1, 8192),
            genesis_time="2024-01-01T00:00:00+00:00",
        )
        del balances
        setup["genesis_write_s"] = time.perf_counter() - started
        setup["genesis_bytes"] = home.genesis_file.stat().st_size
        say(f"genesis: {m:,} accounts, {setup['genesis_bytes'] / 1e6:.1f} MB")

        started = time.perf_counter()
        signed = sign_transfers(
            n, accounts=m, sender_addresses=addresses[:s], processes=options.processes
        )
        del addresses
        setup["sign_s"] = time.perf_counter() - started
        batches = _encode_batches(signed, options.batch)
        say(f"signed {n:,} transfers in {setup['sign_s']:.1f} s")

        raw_verify = raw_verify_rate(signed, options.verify_seconds)
        del signed
        say(f"raw Ed25519 verify: {raw_verify:,.0f}/s on one core")

        node: LocalNode
        startup_timeout = 120.0 + m / 1000
        if options.profile_node is not None:
            options.profile_node.unlink(missing_ok=True)
            node = _ProfiledNode(
                home_dir,
                options.profile_node,
                verifier_workers=options.verifier_workers,
                startup_timeout=startup_timeout,
            )
        else:
            node = LocalNode(
                home_dir,
                verifier_workers=options.verifier_workers,
                startup_timeout=startup_timeout,
            )
        started = time.perf_counter()
        node.start()
        try:
            setup["node_start_s"] = time.perf_counter() - started
            say(f"node started in {setup['node_start_s']:.1f} s; submitting")
            height_before = int(node.client.status()["height"])
            assert node.process is not None
            node_pid = node.process.pid
            cpu_before = _cpu_seconds(node_pid), _children_cpu_seconds(node_pid), _own_cpu()
            if isinstance(node, _ProfiledNode):
                node.signal(signal.SIGUSR1)
            _submit_all(node.url, batches, options.concurrency)
            cpu_after = _cpu_seconds(node_pid), _children_cpu_seconds(node_pid), _own_cpu()
            if isinstance(node, _ProfiledNode):
                node.signal(signal.SIGUSR2)
                node.wait_for_profile()
            height_after = int(node.client.status()["height"])
            tally = _tally(batches, node.client)
            metrics = _node_metrics(node.client)
        finally:
            node.stop()

    sent = [b.sent for b in batches if b.sent]
    received = [b.received for b in batches if b.received]
    wall = max(received) - min(sent) if sent and received else 0.0
    latencies = tally.pop("latencies")
    committed = tally["committed"]
    tps = committed / wall if wall else 0.0
    blocks = height_after - height_before
    report.update(
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
        **tally,
        node=metrics,
        setup=setup,
        cpu_s={
            name: after - before
            for name, before, after in zip(
                ("node", "node_workers", "client"), cpu_before, cpu_after, strict=True
            )
        },
        loadavg_after=machine_info()["loadavg"],
    )
    if options.profile_node is not None:
        report["profile"] = _read_profile(options.profile_node)
    return report


def format_report(r: dict[str, Any]) -> str:
    setup, node = r["setup"], r["node"]
    commit = node.get("block_commit_seconds", {})
    machine = r["machine"]
    lines = [
        f"citychain bench payments: {r['txs']:,} transfers among {r['accounts']:,} accounts "
        f"({r['senders']:,} senders), batches of {r['batch']}, {r['concurrency']} in flight, "
        f"{r['verifier_workers']} verifier worker(s)",
        "",
        f"  committed transfers/s      {r['committed_tps']:>12,.0f}",
        f"  latency p50 / p99 / max    {r['p50_ms']:>8,.0f} / {r['p99_ms']:,.0f} / "
        f"{r['max_ms']:,.0f} ms  (submission to commit)",
        f"  raw Ed25519 verify/s       {r['raw_verify_per_s']:>12,.0f}  (one core, same library)",
        f"  ratio                      {r['ratio']:>12.3f}",
        f"  committed / submitted      {r['committed']:>12,} / {r['txs']:,}"
        f"  in {r['wall_s']:.1f} s",
        f"  blocks                     {r['blocks']:>12,}  ({r['mean_txs_per_block']:,.0f} txs"
        " per block)",
        f"  block commit (node metric) {1000 * commit.get('mean', 0.0):>12.1f} ms mean, "
        f"p50 <= {commit.get('p50_le')} s, p99 <= {commit.get('p99_le')} s",
        "",
        f"  CPU during the run: node process {r['cpu_s']['node']:.1f} s, verifier workers "
        f"{r['cpu_s']['node_workers']:.1f} s, this client {r['cpu_s']['client']:.1f} s "
        f"(wall {r['wall_s']:.1f} s)",
        f"  setup: accounts {setup['accounts_s']:.1f} s, genesis write "
        f"{setup['genesis_write_s']:.1f} s ({setup['genesis_bytes'] / 1e6:.1f} MB), "
        f"signing {setup['sign_s']:.2f} s, node start {setup['node_start_s']:.1f} s",
        f"  machine: {machine['cpus']} cpus, load average {machine['loadavg']} before, "
        f"{r['loadavg_after']} after; Python {machine['python']}, PyNaCl {machine['pynacl']}",
    ]
    if not r["all_committed"]:
        lines += ["", "  NOT ALL COMMITTED WITH CODE 0:"]
        lines += [
            f"    {k}: {v} (e.g. {r['failure_samples'].get(k, '')})"
            for k, v in r["failures"].items()
        ]
        lines.append(
            f"    answered without a commit: {r['committed_late'] + r['not_committed']}, "
            f"of which committed later: {r['committed_late']}"
        )
    if "profile" in r:
        lines += ["", *_format_profile(r["profile"])]
    if "commit_scaling" in r:
        from citychain.benchmarks.commit_scaling import format_table

        lines += ["", format_table(r["commit_scaling"])]
    return "\n".join(lines)


def _format_profile(profile: dict[str, Any]) -> list[str]:
    gcs = ", ".join(
        f"{g} {v['collections']}x {v['seconds']:.2f} s" for g, v in profile["gc"].items()
    )
    lines = [
        f"node main thread under cProfile, {profile['window_s']:.1f} s window "
        f"(idle in epoll {100 * profile['idle_share']:.0f}%); garbage collections: {gcs}",
        "  hot spots by cumulative time (event-loop and framework dispatch frames left out):",
        f"  {'cum %':>6} {'cum s':>7} {'own s':>7} {'calls':>9}  function",
    ]
    for e in profile["top_hot_spots"]:
        lines.append(
            f"  {100 * e['cum_share']:>5.1f}% {e['cumtime_s']:>7.2f} {e['tottime_s']:>7.2f} "
            f"{e['calls']:>9}  {e['function']}"
        )
    lines += ["", f"  {'own %':>6} {'own s':>7} {'calls':>9}  function (by own time)"]
    for e in profile["top_tottime"]:
        lines.append(
            f"  {100 * e['tot_share']:>5.1f}% {e['tottime_s']:>7.2f} {e['calls']:>9}  "
            f"{e['function']}"
        )
    return lines


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


def _check(o: Options) -> str:
    if o.txs < 1 or o.accounts < 1 or o.batch < 1 or o.concurrency < 1:
        return "--txs, --accounts, --batch and --concurrency must be at least 1"
    if not 1 <= o.sender_count <= o.accounts:
        return "--senders must be between 1 and --accounts"
    if o.batch > 10_000:
        return "--batch is at most 10,000 (the API's limit)"
    if o.verify_seconds <= 0 or o.verifier_workers < 0:
        return "--verify-seconds must be positive and --verifier-workers not negative"
    return ""


if __name__ == "__main__":
    sys.exit(main())
