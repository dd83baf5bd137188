"""``citychain bench payments --network 4`` end to end at a tiny size: every figure is present and
agrees with the others, and no process of the run outlives it.

Never a timed test: nothing here asserts on a speed (STYLE.md; docs/benchmarks.md).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from citychain.benchmarks import payments
from citychain.net.layout import NetError, cometbft_binary


def _cometbft() -> Path | None:
    try:
        path = cometbft_binary()
    except NetError:
        return None
    return path if path.is_file() and os.access(path, os.X_OK) else None


requires_cometbft = pytest.mark.skipif(
    _cometbft() is None, reason="CometBFT is not installed (run `make cometbft`)"
)

# The benchmark starts its own networks (that is what it measures), on the worker that runs the
# other CometBFT tests (tests/xdist_scheduling.py).
pytestmark = pytest.mark.xdist_group("network")

TXS = 240
TINY_NETWORK = [
    "--network", "4", "--txs", str(TXS), "--accounts", "400", "--senders", "240",
    "--batch", "20", "--concurrency", "4", "--verify-seconds", "0.2", "--processes", "1",
    "--json",
]  # fmt: skip


def _children() -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        out.update(int(pid) for pid in (task / "children").read_text().split())
    return out


def _latencies_ordered(r: dict[str, Any]) -> None:
    assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
    assert r["wall_s"] > 0
    assert math.isclose(r["committed_tps"], r["committed"] / r["wall_s"])


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.timeout(600)
@requires_cometbft
def test_network_benchmark_reports_consistent_figures(capsys: pytest.CaptureFixture[str]) -> None:
    before = _children()
    code = payments.main(TINY_NETWORK)
    out = capsys.readouterr().out
    r = json.loads(out)  # exactly one JSON object on stdout
    assert code == 0, r
    assert r["ok"] is True and r["nodes"] == 4 and r["txs"] == TXS
    solo, ours, kv = r["solo"], r["citychain"], r["kvstore"]

    assert solo["all_committed"] is True and solo["committed"] == TXS
    assert ours["all_committed"] is True and ours["committed"] == TXS
    assert ours["failures"] == {} and ours["not_committed"] == 0
    assert kv["all_committed"] is True and kv["committed"] == TXS and kv["failures"] == {}
    for part in (solo, ours, ours["observed"], kv):
        _latencies_ordered(part)
    # What CometBFT saw committed is what the API answered for.
    assert ours["observed"]["committed"] == TXS and ours["observed"]["not_seen"] == 0
    assert ours["app_hashes_agree"] is True
    assert ours["watch_errors"] == [] and kv["watch_errors"] == []

    for part in (ours, kv):
        assert part["blocks"] >= 1
        assert math.isclose(part["mean_txs_per_block"] * part["blocks"], TXS)
        assert part["max_txs_per_block"] >= part["mean_txs_per_block"]
        assert set(part["cpu_s"]) >= {"apps", "app_workers", "cometbft", "client"}
        assert len(part["cpu_s"]["per_node"]) == 4
        assert part["cpu_s"]["cometbft"] > 0
        assert all(seconds >= 0 for seconds in part["cpu_s"]["per_node"][0].values())
    assert ours["cpu_s"]["apps"] > 0 and kv["cpu_s"]["apps"] == 0
    assert len(ours["node_metrics"]) == 4
    assert all(m["txs_committed"].get("ok", 0) == TXS for m in ours["node_metrics"])
    # The kvstore transactions are as many and as large as the transfers.
    assert kv["tx_bytes"] == ours["tx_bytes"] > 0

    ratios = r["ratios"]
    assert math.isclose(ratios["network_over_solo"], ours["committed_tps"] / solo["committed_tps"])
    assert math.isclose(
        ratios["network_over_kvstore"], ours["observed"]["committed_tps"] / kv["committed_tps"]
    )
    assert set(r["goals"]) == {"tps", "p99", "kvstore_share"}
    assert r["network_config"]["same_for_kvstore"] is True
    assert r["network_config"]["consensus.timeout_commit"] and r["machine"]["cpus"] >= 1
    # Every node process was stopped (and reaped).
    assert _children() <= before


def test_network_benchmark_refuses_an_order_it_cannot_keep(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--network", "4", "--txs", "100", "--accounts", "100", "--senders", "40"]
    assert payments.main(argv) == 2
    err = capsys.readouterr().err
    assert "could overtake its previous one" in err and "Traceback" not in err
