"""``citychain bench payments --network N``: the payments workload on an N-validator CometBFT
network on this machine, against the solo engine and CometBFT's own ``kvstore`` in the same run.

One run (docs/benchmarks.md, "Payments on a CometBFT network"):

1. the workload of the solo benchmark, prepared once: M funded accounts, N transfers signed;
2. **solo**: ``payments.run`` exactly as ``citychain bench payments`` runs it;
3. **citychain network**: ``create_network`` with the M accounts in its genesis, N validators
   (``cluster.Cluster``: ``python -m citychain.node`` and ``cometbft start`` per node); every
   node's transfers posted to its own HTTP API with mode=commit (``network_submit``);
4. **kvstore network**: the same ``create_network`` (same genesis, keys, config.toml), each
   node only ``cometbft start --proxy_app=kvstore``; N ``key=value`` transactions of the same
   sizes in the same batches to the same nodes through CometBFT's JSON-RPC.

The figures of both networks are also taken the same way, from each node's CometBFT
(``blockwatch.BlockWatcher``), and the ratio to kvstore compares those. Every process is
stopped and the folders removed at the end, also after an error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import signal
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx

from citychain.benchmarks import CHAIN_ID, machine_info, percentile
from citychain.benchmarks.blockwatch import BlockWatcher
from citychain.benchmarks.cluster import Cluster, ClusterError
from citychain.benchmarks.network_submit import (
    block_stats,
    block_tally,
    citychain_work,
    kvstore_txs,
    kvstore_work,
    submit_citychain,
    submit_kvstore,
)
from citychain.benchmarks.node_metrics import node_metrics, own_cpu_seconds
from citychain.benchmarks.node_profile import read_profile
from citychain.benchmarks.payments import Options, Workload, prepare
from citychain.benchmarks.payments import run as run_solo
from citychain.benchmarks.submission import Batch, tally
from citychain.client import Client
from citychain.home import Home
from citychain.net.create import NetOptions, create_network
from citychain.net.layout import NodeSpec, cometbft_binary
from citychain.net.ports import reserved_ports

__all__ = ["GOAL_KVSTORE_SHARE", "GOAL_P99_MS", "GOAL_TPS", "NET_OPTIONS", "run"]

# The network `citychain net init` makes, with a cheap keystore KDF (the keys are throwaway).
NET_OPTIONS = NetOptions(timeout_commit="500ms", mempool_size=50_000, kdf_limits=(1, 8192))
GOAL_TPS = 1_000  # the goals for 4 validators on 2 cores
GOAL_P99_MS = 3_000
GOAL_KVSTORE_SHARE = 0.5
CATCH_UP_S = 10.0  # how long the watchers may take to see blocks the API already answered for


def run(options: Options, nodes: int, log: Any = None) -> dict[str, Any]:
    say = log or (lambda _msg: None)
    report: dict[str, Any] = {
        "benchmark": "payments-network",
        "nodes": nodes,
        "txs": options.txs,
        "accounts": options.accounts,
        "senders": options.sender_count,
        "batch": options.batch,
        "concurrency": options.concurrency,
        "cometbft": _cometbft_version(),
        "machine": machine_info(),
    }
    work = prepare(options, say)
    say("--- solo engine")
    # --profile-node profiles the network's apps; the solo node runs as it does without it.
    report["solo"] = run_solo(dataclasses.replace(options, profile_node=None), say, workload=work)
    with tempfile.TemporaryDirectory(prefix="citychain-net-", ignore_cleanup_errors=True) as t:
        say(f"--- citychain, {nodes} validators")
        report["citychain"] = _run_citychain(Path(t) / "citychain", options, nodes, work, say)
        say(f"--- CometBFT kvstore, {nodes} validators")
        report["kvstore"] = _run_kvstore(Path(t) / "kvstore", options, nodes, work, say)
    ours, kv, solo = report["citychain"], report["kvstore"], report["solo"]
    report["network_config"] = ours.pop("config")
    report["network_config"]["same_for_kvstore"] = kv.pop("config") == report["network_config"]
    report["ratios"] = {
        "network_over_solo": _ratio(ours["committed_tps"], solo["committed_tps"]),
        "network_over_kvstore": _ratio(ours["observed"]["committed_tps"], kv["committed_tps"]),
    }
    report["goals"] = {
        "tps": ours["committed_tps"] >= GOAL_TPS,
        "p99": ours["p99_ms"] < GOAL_P99_MS,
        "kvstore_share": report["ratios"]["network_over_kvstore"] >= GOAL_KVSTORE_SHARE,
    }
    report["loadavg_after"] = machine_info()["loadavg"]
    report["ok"] = bool(
        solo["all_committed"]
        and ours["all_committed"]
        and ours["app_hashes_agree"]
        and kv["all_committed"]
        and not ours["watch_errors"]
        and not kv["watch_errors"]
    )
    return report


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _cometbft_version() -> str:
    try:
        done = subprocess.run(
            [str(cometbft_binary()), "version"], capture_output=True, text=True, timeout=30
        )
    except OSError as exc:
        raise ClusterError(f"cannot run CometBFT: {exc}") from None
    return done.stdout.strip()


def _create(
    directory: Path, nodes: int, base_port: int, work: Workload, say: Any
) -> tuple[list[NodeSpec], dict[str, Any]]:
    started = time.perf_counter()
    specs = create_network(
        directory,
        nodes,
        password="bench",
        chain_id=CHAIN_ID,
        base_port=base_port,
        options=NET_OPTIONS,
        extra_balances=work.balances,
    )
    genesis = directory / "node0" / "cometbft" / "config" / "genesis.json"
    setup: dict[str, Any] = {
        "create_s": time.perf_counter() - started,
        "genesis_bytes": genesis.stat().st_size,
        "config": _config(directory / "node0" / "cometbft" / "config" / "config.toml"),
    }
    say(f"created {nodes} nodes in {setup['create_s']:.1f} s (ports from {specs[0].p2p_port})")
    return specs, setup


def _start(cluster: Cluster, setup: dict[str, Any], say: Any) -> list[BlockWatcher]:
    started = time.perf_counter()
    cluster.start()
    setup["start_s"] = time.perf_counter() - started
    say(f"all nodes make blocks after {setup['start_s']:.1f} s; submitting")
    watchers: list[BlockWatcher] = []
    for node in cluster.nodes:
        watchers.append(BlockWatcher(node.spec.rpc_url))
        watchers[-1].start()
    return watchers


def _run_citychain(
    directory: Path, options: Options, nodes: int, work: Workload, say: Any
) -> dict[str, Any]:
    batches = citychain_work(work.signed, options.sender_count, nodes, options.batch)
    profile = options.profile_node
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
    timeout = 120.0 + options.accounts / 1000
    watchers: list[BlockWatcher] = []
    with contextlib.ExitStack() as stack:
        specs, setup = _create(
            directory, nodes, stack.enter_context(reserved_ports(nodes)), work, say
        )
        cluster = stack.enter_context(
            Cluster(directory, specs, profile=profile, start_timeout=timeout)
        )
        try:
            watchers = _start(cluster, setup, say)
            height_before = _height(specs[0])
            cpu_before, own_before = cluster.cpu(), own_cpu_seconds()
            if profile is not None:
                cluster.signal_apps(signal.SIGUSR1)
            submit_citychain([s.api_url for s in specs], batches, options.concurrency)
            cpu_after, own_after = cluster.cpu(), own_cpu_seconds()
            if profile is not None:
                cluster.signal_apps(signal.SIGUSR2)
            cluster.check_alive()
            height_after = _height(specs[0])
            tallied = _tally_api(specs, batches)
            _catch_up(batches, watchers)
            metrics = [_metrics(spec, directory / spec.folder) for spec in specs]
            agree = _app_hashes_agree(specs)
            profiles = _profiles(cluster) if profile is not None else None
        finally:
            for watcher in watchers:
                watcher.stop()
    figures = _figures(batches, tallied, options.txs)
    observed = block_tally(batches, watchers)
    figures.update(
        observed=observed,
        **block_stats(watchers[0]),
        height_span=height_after - height_before,
        tx_bytes=sum(len(raw) for raw in work.signed),
        app_hashes_agree=agree,
        watch_errors=[w.error for w in watchers if w.error],
        cpu_s=_cpu(cpu_before, cpu_after, own_after - own_before),
        node_metrics=metrics,
        config=setup.pop("config"),
        setup=setup,
    )
    if profiles is not None:
        figures["profiles"] = profiles
    return figures


def _run_kvstore(
    directory: Path, options: Options, nodes: int, work: Workload, say: Any
) -> dict[str, Any]:
    txs = kvstore_txs([len(raw) for raw in work.signed])
    batches = kvstore_work(txs, options.sender_count, nodes, options.batch)
    watchers: list[BlockWatcher] = []
    with contextlib.ExitStack() as stack:
        specs, setup = _create(
            directory, nodes, stack.enter_context(reserved_ports(nodes)), work, say
        )
        cluster = stack.enter_context(Cluster(directory, specs, kvstore=True, start_timeout=120.0))
        try:
            watchers = _start(cluster, setup, say)
            cpu_before, own_before = cluster.cpu(), own_cpu_seconds()
            submit_kvstore(
                [s.rpc_url for s in specs],
                batches,
                options.concurrency,
                watchers,
                abort=lambda: bool(cluster.dead()),
            )
            cpu_after, own_after = cluster.cpu(), own_cpu_seconds()
            cluster.check_alive()
        finally:
            for watcher in watchers:
                watcher.stop()
    observed = block_tally(batches, watchers)
    return {
        **observed,
        "all_committed": observed["committed"] == options.txs,
        "tx_bytes": sum(len(tx) for tx in txs),
        **block_stats(watchers[0]),
        "watch_errors": [w.error for w in watchers if w.error],
        "cpu_s": _cpu(cpu_before, cpu_after, own_after - own_before),
        "config": setup.pop("config"),
        "setup": setup,
    }


# The settings of config.toml that shape throughput and latency, as the benchmark's networks
# have them (both must agree; the report says whether they did).
_CONFIG_KEYS = {
    "consensus": ("timeout_propose", "timeout_commit", "create_empty_blocks"),
    "mempool": ("type", "size", "cache_size", "recheck", "broadcast", "max_tx_bytes"),
    "rpc": ("max_request_batch_size", "max_body_bytes"),
    "p2p": ("send_rate", "recv_rate"),
}


def _config(path: Path) -> dict[str, Any]:
    doc = tomllib.loads(path.read_text())
    return {
        f"{section}.{key}": doc.get(section, {}).get(key)
        for section, keys in _CONFIG_KEYS.items()
        for key in keys
    }


def _height(spec: NodeSpec) -> int:
    status = httpx.get(f"{spec.rpc_url}/status", timeout=10).json()["result"]
    return int(status["sync_info"]["latest_block_height"])


def _metrics(spec: NodeSpec, home: Path) -> dict[str, Any]:
    with Client(spec.api_url, operator_token=Home(home).operator_token()) as client:
        return node_metrics(client)


def _tally_api(specs: list[NodeSpec], batches: list[list[Batch]]) -> dict[str, Any]:
    """The solo benchmark's ``tally`` per node (answers, and look-ups of the unanswered), summed."""
    total: dict[str, Any] = {"committed": 0, "committed_late": 0, "not_committed": 0}
    failures: dict[str, int] = {}
    samples: dict[str, str] = {}
    latencies: list[list[float]] = []
    for spec, node_batches in zip(specs, batches, strict=True):
        with Client(spec.api_url) as client:
            one = tally(node_batches, client)
        for key in total:
            total[key] += one[key]
        for key, count in one["failures"].items():
            failures[key] = failures.get(key, 0) + count
        samples.update(one["failure_samples"])
        latencies.append(one["latencies"])
    merged = list(heapq.merge(*latencies))
    return {**total, "failures": failures, "failure_samples": samples, "latencies": merged}


def _figures(batches: list[list[Batch]], tallied: dict[str, Any], txs: int) -> dict[str, Any]:
    """Rate and latency from the API's answers, computed as ``payments.run`` does for solo."""
    sent = [b.sent for node in batches for b in node if b.sent]
    received = [b.received for node in batches for b in node if b.received]
    wall = max(received) - min(sent) if sent and received else 0.0
    latencies = tallied.pop("latencies")
    committed = tallied["committed"]
    return {
        "committed_tps": committed / wall if wall else 0.0,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else 0.0,
        "wall_s": wall,
        "all_committed": committed == txs,
        **tallied,
    }


def _catch_up(batches: list[list[Batch]], watchers: list[BlockWatcher]) -> None:
    """Give each watcher time to see the blocks its node's API has already answered for."""
    for node_batches, watcher in zip(batches, watchers, strict=True):
        answered = [
            bytes.fromhex(r["hash"])
            for b in node_batches
            for r in b.results
            if r["code"] == 0 and r["height"] is not None
        ]
        watcher.wait_for(answered, CATCH_UP_S, abort=lambda: False)


def _app_hashes_agree(specs: list[NodeSpec]) -> bool:
    """Every node has the same block hash and app hash at the lowest of their heights."""
    height = min(_height(spec) for spec in specs)
    seen = set()
    for spec in specs:
        doc = httpx.get(f"{spec.rpc_url}/block", params={"height": height}, timeout=10).json()
        block = doc["result"]
        seen.add((block["block_id"]["hash"], block["block"]["header"]["app_hash"]))
    return len(seen) == 1


def _cpu(
    before: list[dict[str, float]], after: list[dict[str, float]], client: float
) -> dict[str, Any]:
    per_node = [{name: a[name] - b[name] for name in a} for b, a in zip(before, after, strict=True)]
    return {
        "apps": sum(n["app"] for n in per_node),
        "app_workers": sum(n["app_workers"] for n in per_node),
        "cometbft": sum(n["cometbft"] for n in per_node),
        "client": client,
        "per_node": per_node,
    }


def _profiles(cluster: Cluster) -> list[dict[str, Any]]:
    out = []
    for index in range(len(cluster.nodes)):
        stats = cluster.profile_file(index)
        deadline = time.monotonic() + 120
        while not stats.exists():
            if time.monotonic() > deadline:
                raise ClusterError(f"node{index} wrote no profile to {stats}")
            time.sleep(0.1)
        out.append(read_profile(stats))
    return out
