"""How a block's cost grows with the accounts in state (issue 2, "Must show", Benchmark).

For each state size N: a fresh store and Application, N funded accounts bulk-loaded through
``init_chain`` from a genesis of N balances, then blocks of K signed transfers among those
accounts (the workload of ``citychain.benchmarks``), each driven as the solo engine drives it:
``finalize_block``, a signed header, ``commit``. Signatures are marked verified beforehand
(``Application.mark_verified``) and every transaction passes ``check_tx`` before its block, as
at the node's ingress, so the block time is execution + Merkle update + storage, the quantity
the node's ``citychain_block_commit_seconds`` reports. Medians over the timed blocks, after one
warm-up block.

Also reported per size: the time to build, parse and load the genesis (what a node's first
start costs), ``check_tx`` per transaction, and the time to reopen the store (a restart).

Run: python bench/bench_commit_scaling.py [--sizes 10000,100000,1000000] [--json]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from citychain.app import Application
from citychain.benchmarks import (
    CHAIN_ID,
    GcTimer,
    account_addresses,
    genesis_balances,
    machine_info,
    sign_transfers,
)
from citychain.crypto.keys import PrivateKey
from citychain.engines.solo.engine import signed_block
from citychain.genesis import Genesis
from citychain.modules.bank import DEFAULT_SECTION
from citychain.state import MerkleTree
from citychain.store.sqlite import BlockStore
from citychain.tx.envelope import tx_hash

__all__ = ["main", "run", "run_size"]

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
DEFAULT_BLOCK_TXS = 2_000
DEFAULT_BLOCKS = 5
WARMUP_BLOCKS = 1
FIRST_BLOCK_TIME_MS = 1_700_000_000_000
VALIDATOR = PrivateKey.from_seed(bytes(32))


class _TimedTree(MerkleTree):
    """A MerkleTree that adds the seconds spent in ``update`` and ``root`` to ``seconds``.

    The Application's tree is switched to this class after loading (same slots, so the switch
    is legal), which splits ``finalize_block`` into execution and Merkle time without changing
    the Application.
    """

    __slots__ = ()
    seconds = 0.0

    def update(self, changes: Iterable[tuple[bytes, bytes | None]]) -> None:
        started = time.perf_counter()
        try:
            super().update(changes)
        finally:
            _TimedTree.seconds += time.perf_counter() - started

    def root(self) -> bytes:
        started = time.perf_counter()
        try:
            return super().root()
        finally:
            _TimedTree.seconds += time.perf_counter() - started


def make_genesis(balances: list[dict[str, Any]]) -> Genesis:
    bank = copy.deepcopy(DEFAULT_SECTION)
    bank["balances"] = balances
    return Genesis.from_dict(
        {
            "chain_id": CHAIN_ID,
            "genesis_time": "2024-01-01T00:00:00Z",
            "validators": [{"name": "bench", "public_key": VALIDATOR.public_key.hex(), "power": 1}],
            "app_state": {"consortium": {"roles": {}}, "bank": bank},
        }
    )


def _profile_top(profile: cProfile.Profile, limit: int) -> str:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


def _build_inputs(
    accounts: int, senders: int, txs: int, processes: int | None, row: dict[str, Any], say: Any
) -> tuple[Any, list[bytes]]:
    """The genesis of ``accounts`` funded accounts, and ``txs`` signed transfers."""
    started = time.perf_counter()
    addresses = account_addresses(accounts, senders, processes)
    genesis = make_genesis(genesis_balances(addresses, processes=processes))
    row["genesis_build_s"] = time.perf_counter() - started
    row["genesis_bytes"] = len(genesis.raw)
    say(f"  {accounts:>9,} accounts: genesis built ({len(genesis.raw) / 1e6:.1f} MB)")
    signed = sign_transfers(
        txs, accounts=accounts, sender_addresses=addresses[:senders], processes=processes
    )
    return genesis, signed


def _finalize_and_commit(
    app: Application, txs: list[bytes], prev_hash: bytes
) -> tuple[dict[str, float], bytes, int]:
    """One block as the solo engine makes it: finalize, header, commit. Returns the timings of
    each part, the block's hash and how many of its transactions failed."""
    height = app.height + 1
    time_ms = FIRST_BLOCK_TIME_MS + 1000 * height
    _TimedTree.seconds = 0.0
    t0 = time.perf_counter()
    result = app.finalize_block(height, time_ms, txs)
    t1 = time.perf_counter()
    _, record = signed_block(VALIDATOR, app.chain_id, height, time_ms, prev_hash, result)
    block_hash = record.hash
    t2 = time.perf_counter()
    app.commit(record)
    t3 = time.perf_counter()
    timing = {
        "finalize": t1 - t0,
        "merkle": _TimedTree.seconds,
        "header": t2 - t1,
        "commit": t3 - t2,
        "total": t3 - t0,
    }
    return timing, block_hash, sum(1 for r in result.tx_results if not r.ok)


def _run_blocks(
    app: Application,
    signed: list[bytes],
    block_txs: int,
    total_blocks: int,
    profile: bool,
    row: dict[str, Any],
) -> tuple[list[dict[str, float]], float, int]:
    """Every block (the first WARMUP_BLOCKS untimed): the timed blocks' timings, the seconds
    of check_tx over them, and the failed transactions of all."""
    app.tree.__class__ = _TimedTree
    prev_hash = bytes(32)
    timings: list[dict[str, float]] = []
    check_seconds = 0.0
    failed = 0
    block_profile = cProfile.Profile() if profile else None
    collector = GcTimer()
    for block in range(total_blocks):
        if block == WARMUP_BLOCKS:
            collector.start()
        txs = signed[block * block_txs : (block + 1) * block_txs]
        app.mark_verified(tx_hash(raw) for raw in txs)
        started = time.perf_counter()
        refused = [r for r in map(app.check_tx, txs) if not r.ok]
        check_seconds += time.perf_counter() - started if block >= WARMUP_BLOCKS else 0.0
        if refused:
            raise RuntimeError(f"check_tx refused {len(refused)}: {refused[0].log}")
        if block_profile is not None and block >= WARMUP_BLOCKS:
            block_profile.enable()
        timing, prev_hash, block_failed = _finalize_and_commit(app, txs, prev_hash)
        if block_profile is not None:
            block_profile.disable()
        failed += block_failed
        if block >= WARMUP_BLOCKS:
            timings.append(timing)
    collector.stop()
    row["gc_timed_blocks"] = collector.as_json()
    row["gc_ms_per_block"] = 1000 * sum(collector.seconds) / (total_blocks - WARMUP_BLOCKS)
    if block_profile is not None:
        row["block_profile"] = _profile_top(block_profile, 15)
    return timings, check_seconds, failed


def _reopen_seconds(db_file: Path) -> float:
    """How long a node takes to open the chain again (after a restart)."""
    started = time.perf_counter()
    reopened = Application(BlockStore(db_file))
    seconds = time.perf_counter() - started
    reopened.store.close()
    del reopened
    gc.collect()
    return seconds


def _block_figures(
    timings: list[dict[str, float]], check_seconds: float, blocks: int, block_txs: int
) -> dict[str, float]:
    """Median per-block figures (ms) of the timed blocks, by part."""

    def median_ms(part: str) -> float:
        return 1000 * statistics.median(t[part] for t in timings)

    ms_per_block = median_ms("total")
    return {
        "ms_per_block": ms_per_block,
        "us_per_tx": 1000 * ms_per_block / block_txs,
        "execute_ms": median_ms("finalize") - median_ms("merkle"),
        "merkle_ms": median_ms("merkle"),
        "header_ms": median_ms("header"),
        "store_ms": median_ms("commit"),
        "block_ms_min": 1000 * min(t["total"] for t in timings),
        "block_ms_max": 1000 * max(t["total"] for t in timings),
        "check_tx_us_per_tx": 1e6 * check_seconds / (blocks * block_txs),
    }


def run_size(
    accounts: int,
    *,
    block_txs: int = DEFAULT_BLOCK_TXS,
    blocks: int = DEFAULT_BLOCKS,
    processes: int | None = None,
    profile: bool = False,
    log: Any = None,
) -> dict[str, Any]:
    """Load ``accounts`` accounts, run ``blocks`` timed blocks of ``block_txs`` transfers."""
    say = log or (lambda _msg: None)
    senders = min(accounts, block_txs)
    total_blocks = WARMUP_BLOCKS + blocks
    row: dict[str, Any] = {"accounts": accounts, "block_txs": block_txs, "blocks": blocks}
    genesis, signed = _build_inputs(
        accounts, senders, total_blocks * block_txs, processes, row, say
    )
    load_profile = cProfile.Profile() if profile else None

    with tempfile.TemporaryDirectory(prefix="citychain-commit-scaling-") as tmp:
        db_file = Path(tmp) / "chain.sqlite"
        store = BlockStore(db_file)
        app = Application(store)
        if load_profile is not None:
            load_profile.enable()
        started = time.perf_counter()
        # What a node does on its first start: read the genesis JSON, then init_chain.
        parsed = Genesis.from_bytes(genesis.raw)
        row["genesis_parse_s"] = time.perf_counter() - started
        del genesis
        started = time.perf_counter()
        app.init_chain(parsed)
        row["init_chain_s"] = time.perf_counter() - started
        if load_profile is not None:
            load_profile.disable()
            row["load_profile"] = _profile_top(load_profile, 15)
        del parsed
        say(f"  {accounts:>9,} accounts: loaded in {row['init_chain_s']:.1f} s")
        timings, check_seconds, failed = _run_blocks(
            app, signed, block_txs, total_blocks, profile, row
        )
        store.close()
        del app, store
        gc.collect()
        row["reopen_s"] = _reopen_seconds(db_file)

    row["failed_txs"] = failed
    row.update(_block_figures(timings, check_seconds, blocks, block_txs))
    return row


def run(
    sizes: Iterable[int],
    *,
    block_txs: int = DEFAULT_BLOCK_TXS,
    blocks: int = DEFAULT_BLOCKS,
    processes: int | None = None,
    profile: bool = False,
    log: Any = None,
) -> dict[str, Any]:
    before = machine_info()
    rows = [
        run_size(
            n, block_txs=block_txs, blocks=blocks, processes=processes, profile=profile, log=log
        )
        for n in sizes
    ]
    smallest = rows[0]["ms_per_block"] if rows else 0.0
    for row in rows:
        row["growth_vs_smallest"] = row["ms_per_block"] / smallest if smallest else 0.0
    return {
        "benchmark": "commit_scaling",
        "block_txs": block_txs,
        "blocks": blocks,
        "rows": rows,
        "machine": before,
        "loadavg_after": machine_info()["loadavg"],
    }


def format_table(report: dict[str, Any]) -> str:
    lines = [
        f"Block commit cost vs state size: blocks of {report['block_txs']} transfers, "
        f"median of {report['blocks']} (execution + Merkle + storage; signatures pre-verified)",
        "",
        f"{'accounts':>10} {'ms/block':>9} {'us/tx':>7} {'exec ms':>8} {'merkle ms':>10} "
        f"{'store ms':>9} {'gc ms':>6} {'vs first':>9} {'check_tx us':>12} {'load s':>7} "
        f"{'reopen s':>9}",
    ]
    for r in report["rows"]:
        load = r["genesis_parse_s"] + r["init_chain_s"]
        lines.append(
            f"{r['accounts']:>10,} {r['ms_per_block']:>9.1f} {r['us_per_tx']:>7.1f} "
            f"{r['execute_ms']:>8.1f} {r['merkle_ms']:>10.1f} {r['store_ms']:>9.1f} "
            f"{r['gc_ms_per_block']:>6.1f} "
            f"{r['growth_vs_smallest']:>8.2f}x {r['check_tx_us_per_tx']:>12.1f} "
            f"{load:>7.1f} {r['reopen_s']:>9.1f}"
        )
    machine = report["machine"]
    lines += [
        "",
        "exec, merkle and store split ms/block; gc ms: cyclic garbage collection per block"
        " (inside the others, and in check_tx).",
        "load s: parse the genesis JSON + init_chain (a node's first start, without the API);"
        " reopen s: Application over the stored state (a restart).",
        f"machine: {machine['cpus']} cpus, load average {machine['loadavg']} before, "
        f"{report['loadavg_after']} after (other processes share these cores)",
    ]
    for r in report["rows"]:
        for name in ("load_profile", "block_profile"):
            if name in r:
                lines += ["", f"--- {name} at {r['accounts']:,} accounts ---", r[name]]
    return "\n".join(lines)


def parse_sizes(value: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected sizes like 10000,100000, got {value!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_commit_scaling", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES))
    parser.add_argument("--block-txs", type=int, default=DEFAULT_BLOCK_TXS)
    parser.add_argument("--blocks", type=int, default=DEFAULT_BLOCKS, help="timed blocks")
    parser.add_argument("--processes", type=int, default=None, help="signing processes")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the load and the blocks; print top 15"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.block_txs < 1 or args.blocks < 1:
        print("error: --block-txs and --blocks must be at least 1", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    report = run(
        args.sizes,
        block_txs=args.block_txs,
        blocks=args.blocks,
        processes=args.processes,
        profile=args.profile,
        log=None if args.json else log,
    )
    print(json.dumps(report) if args.json else format_table(report))
    return 0 if all(r["failed_txs"] == 0 for r in report["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
