"""Benchmark: citychain's state tree against py-trie's HexaryTrie, measured in the same run.

For each state size N it measures:
  - bulk load: MerkleTree.from_items of N keys;
  - a block: K changes (2/3 new values for existing keys, 1/3 new keys) applied with update()
    and followed by root(), median over several blocks;
  - the same kind of block applied to trie.HexaryTrie (in-memory dict db, keys sha256-hashed
    like Ethereum's secure trie), and its root_hash; median over fewer blocks;
  - the ratio HexaryTrie block time / our block time.

HexaryTrie loads about 7,000 keys a second here, so its N is capped (--trie-cap, default
100,000: about 15 s). Where N is capped the baseline runs on a smaller, shallower trie, which
flatters it: the ratio on that row is a lower bound. Both sides hash the raw key once per change.

Run: python bench/bench_state_tree.py [--sizes 10000,100000,1000000] [--json]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from citychain.state import MerkleTree, verify_proof

try:
    from eth_hash.auto import keccak
    from trie.hexary import HexaryTrie

    keccak(b"")  # eth-hash picks its backend (pycryptodome) on first use
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise SystemExit(
        f"HexaryTrie baseline unavailable ({missing}); it needs trie and "
        "eth-hash[pycryptodome]: pip install 'trie>=3' 'eth-hash[pycryptodome]'"
    ) from missing

Items = list[tuple[bytes, bytes]]
Block = list[tuple[bytes, bytes]]

KEY_PREFIX = b"acct/"
ADDRESS_BYTES = 20
VALUE_BYTES = 24  # about an encoded account: balance, nonce, a little metadata
SEED = 20_240_601


def make_items(count: int, rng: random.Random) -> Items:
    return [
        (KEY_PREFIX + rng.randbytes(ADDRESS_BYTES), rng.randbytes(VALUE_BYTES))
        for _ in range(count)
    ]


def make_blocks(keys: list[bytes], block_size: int, count: int, seed: int) -> list[Block]:
    """Blocks of 2/3 updates to existing keys and 1/3 new keys, deterministic per seed."""
    rng = random.Random(seed)
    updates = block_size * 2 // 3
    blocks = []
    for _ in range(count):
        block = [(rng.choice(keys), rng.randbytes(VALUE_BYTES)) for _ in range(updates)]
        block += make_items(block_size - updates, rng)
        rng.shuffle(block)
        blocks.append(block)
    return blocks


def bench_ours(items: Items, blocks: list[Block], proofs: int) -> dict[str, Any]:
    gc.collect()
    started = time.perf_counter()
    tree = MerkleTree.from_items(items)
    tree.root()
    load_s = time.perf_counter() - started
    gc.collect()  # the build's garbage is not the blocks' cost

    update_ms, root_ms, block_ms = [], [], []
    for block in blocks:
        started = time.perf_counter()
        tree.update(block)
        updated = time.perf_counter()
        tree.root()
        rooted = time.perf_counter()
        update_ms.append((updated - started) * 1e3)
        root_ms.append((rooted - updated) * 1e3)
        block_ms.append((rooted - started) * 1e3)

    rng = random.Random(SEED + 1)
    probe = [rng.choice(items)[0] for _ in range(proofs)]
    root = tree.root()
    current = dict(items)
    for block in blocks:
        current.update(block)
    started = time.perf_counter()
    made = [tree.prove(key) for key in probe]
    prove_us = (time.perf_counter() - started) / proofs * 1e6
    started = time.perf_counter()
    verified = all(
        verify_proof(root, key, current[key], proof) for key, proof in zip(probe, made, strict=True)
    )
    verify_us = (time.perf_counter() - started) / proofs * 1e6
    if not verified:
        raise SystemExit("a proof failed to verify: the tree is broken")
    depth = statistics.mean(len(proof.branches) for proof in made)
    json_bytes = statistics.mean(
        len(json.dumps(proof.to_json(), separators=(",", ":"))) for proof in made
    )
    return {
        "load_s": load_s,
        "block_ms": statistics.median(block_ms),
        "update_ms": statistics.median(update_ms),
        "root_ms": statistics.median(root_ms),
        "block_ms_all": [round(ms, 1) for ms in block_ms],
        "prove_us": prove_us,
        "verify_us": verify_us,
        "proof_branches_mean": depth,
        "proof_json_bytes_mean": json_bytes,
        "keys_after": len(tree),
    }


class TrieBaseline:
    """HexaryTrie loads, cached by size: a larger row reuses a copy of the capped build."""

    def __init__(self) -> None:
        self._built: dict[int, tuple[dict[bytes, bytes], bytes, float]] = {}

    def load(self, items: Items) -> tuple[HexaryTrie, float]:
        count = len(items)
        if count not in self._built:
            db: dict[bytes, bytes] = {}
            trie = HexaryTrie(db=db)
            sha256 = hashlib.sha256
            started = time.perf_counter()
            for key, value in items:
                trie[sha256(key).digest()] = value
            _ = trie.root_hash
            self._built[count] = (db, trie.root_hash, time.perf_counter() - started)
        db, root_hash, load_s = self._built[count]
        return HexaryTrie(db=dict(db), root_hash=root_hash), load_s


def bench_trie(trie: HexaryTrie, blocks: list[Block]) -> dict[str, Any]:
    sha256 = hashlib.sha256
    gc.collect()
    block_ms = []
    for block in blocks:
        started = time.perf_counter()
        # Plain sets: faster here than trie.squash_changes() (3.6 s against 2.3 s a block).
        for key, value in block:
            trie[sha256(key).digest()] = value
        _ = trie.root_hash
        block_ms.append((time.perf_counter() - started) * 1e3)
    return {"block_ms": statistics.median(block_ms), "block_ms_all": [round(ms) for ms in block_ms]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(size) for size in args.sizes.split(",")]
    rng = random.Random(SEED)
    population = make_items(max(sizes), rng)
    baseline = TrieBaseline()
    rows = []
    for size in sizes:
        items = population[:size]
        blocks = make_blocks([key for key, _ in items], args.block_size, args.blocks, SEED + size)
        ours = bench_ours(items, blocks, args.proofs)

        trie_size = min(size, args.trie_cap)
        trie_items = population[:trie_size]
        trie_blocks = make_blocks(
            [key for key, _ in trie_items], args.block_size, args.trie_blocks, SEED + size
        )
        trie, trie_load_s = baseline.load(trie_items)
        theirs = bench_trie(trie, trie_blocks)
        # Its db keeps every node ever written (hundreds of MB after a few blocks); freeing it
        # keeps the next row's measurements from running in a crowded heap.
        del trie
        rows.append(
            {
                "n": size,
                "ours": ours,
                "trie_n": trie_size,
                "trie_capped": trie_size < size,
                "trie": {"load_s": trie_load_s, **theirs},
                "ratio_block": theirs["block_ms"] / ours["block_ms"],
                "ratio_load_per_key": (trie_load_s / trie_size) / (ours["load_s"] / size),
            }
        )
        if not args.json:
            print(f"  done N={size:,}", file=sys.stderr, flush=True)
    return {
        "benchmark": "state_tree",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "block_size": args.block_size,
        "blocks": args.blocks,
        "trie_blocks": args.trie_blocks,
        "trie_cap": args.trie_cap,
        "rows": rows,
    }


def print_table(report: dict[str, Any]) -> None:
    block = report["block_size"]
    print(
        f"citychain MerkleTree vs trie.HexaryTrie (py-trie), block = {block:,} changes "
        "(2/3 updates, 1/3 new keys); block time = apply + root; medians of "
        f"{report['blocks']} (ours) and {report['trie_blocks']} (HexaryTrie) blocks"
    )
    header = (
        f"{'N':>10} | {'load s':>7} {'block ms':>9} {'(upd+root)':>12} | "
        f"{'trie N':>8} {'load s':>7} {'block ms':>9} | {'ratio':>6} | "
        f"{'prove us':>8} {'verify us':>9} {'depth':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in report["rows"]:
        ours, theirs = row["ours"], row["trie"]
        capped = "*" if row["trie_capped"] else " "
        split = f"{ours['update_ms']:.0f}+{ours['root_ms']:.0f}"
        print(
            f"{row['n']:>10,} | {ours['load_s']:>7.2f} {ours['block_ms']:>9.1f} {split:>12} | "
            f"{row['trie_n']:>7,}{capped} {theirs['load_s']:>7.2f} {theirs['block_ms']:>9.0f} | "
            f"{row['ratio_block']:>5.1f}x | {ours['prove_us']:>8.1f} {ours['verify_us']:>9.1f} "
            f"{ours['proof_branches_mean']:>5.1f}"
        )
    print(
        "ratio = HexaryTrie block time / ours, same run. "
        f"* HexaryTrie capped at {report['trie_cap']:,} keys (its load runs at about "
        "7,000 keys/s): on those rows it works on a smaller, shallower trie, so the ratio "
        "is a lower bound."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated N")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--block-size", type=int, default=15_000)
    parser.add_argument("--blocks", type=int, default=7, help="blocks timed on our tree")
    parser.add_argument("--trie-blocks", type=int, default=3, help="blocks timed on HexaryTrie")
    parser.add_argument("--trie-cap", type=int, default=100_000, help="most keys in HexaryTrie")
    parser.add_argument("--proofs", type=int, default=1_000, help="proofs made and verified")
    args = parser.parse_args(argv)
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0
