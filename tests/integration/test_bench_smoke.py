"""The benchmarks run end to end at tiny sizes and report sane fields.

Never a timed test: nothing here asserts on a speed, only that every figure is present, has the
right sign and agrees with the others (STYLE.md; issue 2, "Must show", Benchmark).
"""

from __future__ import annotations

import json
import math
import pstats
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from citychain.benchmarks import account_addresses, commit_scaling, payments, sign_transfers
from citychain.benchmarks.node_profile import PROFILE_TOP
from citychain.engines.solo.engine import SoloEngine
from citychain.tx.envelope import decode_tx

pytestmark = pytest.mark.timeout(300)

TINY_PAYMENTS = [
    "--txs", "240", "--accounts", "400", "--senders", "60", "--batch", "40",
    "--concurrency", "3", "--verify-seconds", "0.2", "--json",
]  # fmt: skip


def run_json(
    main: Callable[[list[str] | None], int], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    code = main(argv)
    out = capsys.readouterr().out
    report = json.loads(out)  # exactly one JSON object on stdout
    assert isinstance(report, dict)
    assert code == 0, report
    return report


def test_payments_reports_every_field_and_commits_everything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = run_json(payments.main, [*TINY_PAYMENTS, "--processes", "2"], capsys)
    assert (r["txs"], r["accounts"], r["senders"]) == (240, 400, 60)
    assert r["committed"] == 240 and r["all_committed"] is True
    assert r["failures"] == {} and r["not_committed"] == 0
    for name in ("committed_tps", "p50_ms", "p99_ms", "raw_verify_per_s", "ratio", "wall_s"):
        assert isinstance(r[name], float) and r[name] > 0, name
    assert r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
    assert math.isclose(r["ratio"], r["committed_tps"] / r["raw_verify_per_s"])
    assert math.isclose(r["committed_tps"], r["committed"] / r["wall_s"])
    assert r["blocks"] >= 1
    assert math.isclose(r["mean_txs_per_block"], 240 / r["blocks"])
    node = r["node"]
    assert node["txs_committed"]["ok"] == 240
    assert node["block_commit_seconds"]["count"] == r["blocks"]
    assert node["block_commit_seconds"]["mean"] > 0
    assert node["block_txs"]["sum"] == 240
    assert r["setup"]["node_start_s"] > 0 and r["setup"]["genesis_bytes"] > 0
    assert set(r["cpu_s"]) == {"node", "node_workers", "client"}
    assert all(seconds >= 0 for seconds in r["cpu_s"].values())


def test_payments_profiles_the_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = tmp_path / "node.pstats"
    r = run_json(payments.main, [*TINY_PAYMENTS, "--profile-node", str(stats)], capsys)
    assert r["all_committed"] is True and stats.exists()
    profile = r["profile"]
    assert profile["window_s"] > 0 and 0 <= profile["idle_share"] <= 1
    assert 0 < len(profile["top_hot_spots"]) <= PROFILE_TOP
    assert 0 < len(profile["top_cumulative"]) <= PROFILE_TOP + 10
    assert all(0 <= e["cum_share"] <= 1.05 for e in profile["top_cumulative"])
    # The profile covers the node's block making: the solo engine's _produce, which made the
    # window's blocks, is in it (where it ranks among the hot spots depends on the load).
    produce = SoloEngine._produce.__code__
    where = (Path(produce.co_filename), produce.co_firstlineno, produce.co_name)
    entries = pstats.Stats(str(stats)).stats  # type: ignore[attr-defined]
    calls = [
        nc
        for (file, line, name), (_, nc, *_) in entries.items()
        if (Path(file), line, name) == where
    ]
    assert calls and calls[0] >= 1, f"{where} is not in the node's profile"


def test_commit_scaling_reports_each_size(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--sizes", "300,900", "--block-txs", "50", "--blocks", "2", "--json"]
    r = run_json(commit_scaling.main, argv, capsys)
    rows = r["rows"]
    assert [row["accounts"] for row in rows] == [300, 900]
    for row in rows:
        assert row["failed_txs"] == 0
        assert row["ms_per_block"] > 0 and row["check_tx_us_per_tx"] > 0
        assert math.isclose(row["us_per_tx"], 1000 * row["ms_per_block"] / 50)
        assert 0 < row["merkle_ms"] < row["ms_per_block"]
        assert row["store_ms"] > 0 and row["init_chain_s"] > 0 and row["reopen_s"] > 0
    assert rows[0]["growth_vs_smallest"] == 1.0


def test_parallel_signing_gives_the_same_transactions() -> None:
    addresses = account_addresses(50, 7)
    serial = sign_transfers(40, accounts=50, sender_addresses=addresses[:7], processes=1)
    parallel = sign_transfers(40, accounts=50, sender_addresses=addresses[:7], processes=2)
    assert serial == parallel
    later = sign_transfers(14, accounts=50, sender_addresses=addresses[:7], first=35)
    assert [decode_tx(t).body.nonce for t in later[:7]] == [5] * 7
    nonces = [(decode_tx(t).sender, decode_tx(t).body.nonce) for t in serial]
    assert nonces[:8] == [(addresses[i % 7], i // 7) for i in range(8)]
