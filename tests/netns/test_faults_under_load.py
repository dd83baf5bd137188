"""Faults under load: four validators, each in its own network namespace with latency on every
p2p link, while payments stream from eight funded payers to the nodes' APIs (load.py).

* a 2|2 partition: the chain halts (no new height on either side, no two blocks at one height),
  and goes on once healed;
* a 1|3 partition: the three go on, the one stalls, and catches up once healed;
* one validator's disk made slow (its home on a loop-device ext4, throttled by blkio; the fsync
  latency of a small file measured before, during and after): the network goes on;
* one validator killed with ``kill -9`` five times (its app, its CometBFT or both), restarted,
  caught up each time, while it too takes payments: what it acknowledged before a kill is in
  its ingress journal and reaches a block after the restart.

Each scenario ends the same way: every payment a node acknowledged (admitted, code 0) is
committed exactly once, every node's balances and nonces are what the committed payments make
them, and all four nodes hold the same blocks and app hashes. Payments refused (a node down,
429, a CheckTx timeout) are counted, not asserted away. The figures of each scenario are logged
(logger ``faults``) and, with ``$CITYCHAIN_FAULTS_FIGURES`` set, written there as JSON.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from load import PaymentStream
from netns_harness import NetnsNetwork, netns_network, netns_unavailable
from netutil import Ledger, fixed_key, mint, payees, wait_until
from prometheus_client.parser import text_string_to_metric_families
from slow_disk import (
    IMAGE_PREFIX,
    WRITE_IOPS,
    LoopDisk,
    fsync_ms,
    limits_on,
    loop_devices,
    loop_disk_home,
    median_ms,
    slow_disk_unavailable,
    sweep_stale_disks,
)

from citychain.client import Client
from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.home import Home
from citychain.tx.envelope import MAX_TX_BYTES

pytestmark = [
    pytest.mark.network,
    pytest.mark.slow,
    pytest.mark.xdist_group("network"),
    pytest.mark.timeout(600),
]

log = logging.getLogger("faults")
FIGURES_ENV = "CITYCHAIN_FAULTS_FIGURES"

LATENCY_MS = 30  # one way, on every p2p link
PAYERS = 8
PAYEES = 4
MINTED = 90_000  # under the bank's limit for an unverified account (100,000)
WARM_ACKS = 20  # payments acknowledged before a fault starts: it starts under load
HALT_QUIET_S = 3.0  # no new height for this long: the chain has halted ...
HOLD_S = 5.0  # ... and it stays halted this long more (a fixed hold, to observe)
PROGRESS_BLOCKS = 5
SLOW_BLOCKS = 10
AFTER_HEAL_BLOCKS = 3
HALT_TIMEOUT = 60.0
HEAL_TIMEOUT = 120.0
CATCH_UP_TIMEOUT = 180.0
POLL_S = 0.1

SPLIT = ([0, 1], [2, 3])
ISOLATED = 1
SLOW_NODE = 3
SLOW_WRITE_IOPS = 20  # fsync of a 4 KiB file: ~1 ms unthrottled, 0.6-1.25 s at this limit
FSYNC_SAMPLES = 20
FSYNC_SLOW_SAMPLES = 8
SLOWER_AT_LEAST = 10  # times the unthrottled median
VICTIM = 2
KILLS: list[tuple[str, ...]] = [
    ("app", "cometbft"),
    ("cometbft",),
    ("app",),
    ("app", "cometbft"),
    ("cometbft",),
]
DOWN_BLOCKS = 2  # the others' progress while the victim is down
LEFT_IMAGE_BYTES = 8 << 20
MEMPOOL_BYTES = 128 << 20
MEMPOOL_SIZE = 50_000


@dataclass
class Faults:
    """The module's network, its payers, the slow disk (if this machine can make one) and the
    figures each scenario measured."""

    net: NetnsNetwork
    payers: list[PrivateKey]
    disk: LoopDisk | None
    disk_unavailable: str | None
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)


def _fund(net: NetnsNetwork) -> list[PrivateKey]:
    keys = [fixed_key(f"faults/payer{i}") for i in range(PAYERS)]
    addresses = [address_from_public_key(k.public_key) for k in keys]
    mint(net, Ledger(), addresses, MINTED)
    return keys


def _report(figures: dict[str, dict[str, Any]]) -> None:
    log.info("faults under load: %s", json.dumps(figures, sort_keys=True))
    path = os.environ.get(FIGURES_ENV)
    if path:
        Path(path).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    disk_reason = slow_disk_unavailable()
    started = time.monotonic()
    with (
        netns_network(tmp_path_factory.mktemp("faults"), start=False) as net,
        contextlib.ExitStack() as stack,
    ):
        disk = None
        if disk_reason is None:
            disk = stack.enter_context(loop_disk_home(net.node_dir(SLOW_NODE)))
        state = Faults(net, [], disk, disk_reason)
        try:
            net.start_all()
            net.set_latency(LATENCY_MS)
            state.payers = _fund(net)
            state.figures["setup"] = {"seconds": round(time.monotonic() - started, 1)}
            yield state
        finally:
            net.stop_all()  # before the slow disk is unmounted
            _report(state.figures)


# --- helpers ------------------------------------------------------------------------------------
def _since(mark: float) -> float:
    return round(time.monotonic() - mark, 2)


def _comet_heights(net: NetnsNetwork, nodes: Sequence[int]) -> dict[int, int]:
    return {i: net.comet_height(i) or 0 for i in nodes}


def _top(net: NetnsNetwork, nodes: Sequence[int]) -> int:
    return max((h or 0) for h in net.heights(nodes).values())


@contextlib.contextmanager
def streaming(
    faults: Faults, label: str, nodes: Sequence[int]
) -> Iterator[tuple[PaymentStream, dict[str, Any]]]:
    """Payments stream to ``nodes`` while the block runs (it starts once ``WARM_ACKS`` are
    acknowledged); then every acknowledged payment is checked committed once, the balances on
    every node, and the nodes' agreement. Yields the stream and the scenario's figures."""
    net = faults.net
    stream = PaymentStream(net, faults.payers, nodes, payees(f"faults/{label}", PAYEES))
    figures: dict[str, Any] = {"load_nodes": list(nodes)}
    started = time.monotonic()
    stream.start()
    try:
        wait_until(lambda: stream.acknowledged() >= WARM_ACKS, 60, "payments to be acknowledged")
        yield stream, figures
    finally:
        stream.stop()
    checked = time.monotonic()
    faults.figures[label] = figures  # reported even when a check below fails
    try:
        stream.settle(net.everyone)
        figures.update(stream.figures())
        stream.verify(net.everyone)
    finally:
        stream.close()
    figures["agreed_upto"] = net.assert_agreement(net.everyone)
    figures["check_s"] = _since(checked)
    figures["scenario_s"] = _since(started)
    log.info("%s: %s", label, json.dumps(figures, sort_keys=True))


def _wait_halted(net: NetnsNetwork) -> tuple[dict[int, int], float]:
    """Wait until no node's CometBFT has stored a new block for ``HALT_QUIET_S``; the heights
    then, and when the last one came."""
    heights = _comet_heights(net, net.everyone)
    changed = time.monotonic()

    def quiet() -> bool:
        nonlocal heights, changed
        now = _comet_heights(net, net.everyone)
        if now != heights:
            heights, changed = now, time.monotonic()
        return time.monotonic() - changed >= HALT_QUIET_S

    wait_until(quiet, HALT_TIMEOUT, "the partitioned chain to halt", POLL_S)
    return heights, changed


def _assert_no_fork(net: NetnsNetwork, low: int, high: int) -> None:
    """At every height low..high, all nodes that have a block have the same one."""
    views = {i: net.block_metas(i, low, high) for i in net.everyone}
    for height in range(low, high + 1):
        hashes = {
            i: metas[height]["block_id"]["hash"] for i, metas in views.items() if height in metas
        }
        assert len(set(hashes.values())) <= 1, f"two blocks at height {height}: {hashes}"


def _wait_sampling_lag(net: NetnsNetwork, height: int, others: Sequence[int]) -> int:
    """Wait until ``others`` reach ``height``; how many blocks the slow node was behind them
    at most meanwhile."""
    lag = 0

    def reached() -> bool:
        nonlocal lag
        heights = net.heights([*others, SLOW_NODE])
        top = max(heights[i] or 0 for i in others)
        lag = max(lag, top - (heights[SLOW_NODE] or 0))
        return min(heights[i] or 0 for i in others) >= height

    wait_until(reached, CATCH_UP_TIMEOUT, f"nodes {list(others)} to reach height {height}")
    return lag


def _journal_figures(net: NetnsNetwork, index: int) -> dict[str, float]:
    """What node ``index``'s ingress journal handed to CometBFT again since its last start, by
    outcome, and what it holds (its ``/metrics``, with the operator token of its home)."""
    client = Client(net.api_url(index), operator_token=Home(net.node_dir(index)).operator_token())
    with client:
        text = client.metrics()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("citychain_ingress_journal_") and family.type != "histogram":
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                outcome = sample.labels.get("outcome")
                out[f"{sample.name}{'/' + outcome if outcome else ''}"] = sample.value
    return out


# --- the scenarios ------------------------------------------------------------------------------
def test_each_members_mempool_rechecks_and_bounds_its_bytes(faults: Faults) -> None:
    """What the members' own homes (``net keygen``) give CometBFT's mempool: recheck on (a
    transaction a block made invalid is evicted, not left for ever), at most one transaction's
    worth of bytes each and 128 MiB in all."""
    for home in faults.net.homes:
        with open(home / "cometbft" / "config" / "config.toml", "rb") as config:
            mempool = tomllib.load(config)["mempool"]
        assert mempool["recheck"] is True
        assert mempool["max_tx_bytes"] == MAX_TX_BYTES
        assert mempool["max_txs_bytes"] == MEMPOOL_BYTES
        assert (mempool["size"], mempool["cache_size"]) == (MEMPOOL_SIZE, 4 * MEMPOOL_SIZE)


def test_a_2_2_partition_halts_without_a_fork_and_heals(faults: Faults) -> None:
    net = faults.net
    with streaming(faults, "partition_2_2", net.everyone) as (stream, figures):
        before = max(_comet_heights(net, net.everyone).values())
        partitioned = time.monotonic()
        net.partition(*SPLIT)
        acked = stream.acknowledged()
        halted, last_block = _wait_halted(net)
        figures["halt_s"] = round(last_block - partitioned, 2)  # last new block after the cut
        time.sleep(HOLD_S)  # a fixed hold: a halted chain stays halted
        held = _comet_heights(net, net.everyone)
        assert held == halted, f"a block was made during the 2|2 partition: {halted} -> {held}"
        top = max(held.values())
        assert top <= before + 1, f"the halted chain went from {before} to {top}"
        _assert_no_fork(net, max(1, before - 1), top)
        figures["acked_while_halted"] = stream.acknowledged() - acked
        figures["halted_at"] = held
        figures["partitioned_s"] = _since(partitioned)
        healed = time.monotonic()
        net.heal()
        net.wait_for_height(top + 1, net.everyone, HEAL_TIMEOUT)
        figures["heal_to_next_block_s"] = _since(healed)
        net.wait_for_height(top + AFTER_HEAL_BLOCKS, net.everyone, HEAL_TIMEOUT)
        _assert_no_fork(net, max(1, before - 1), top + AFTER_HEAL_BLOCKS)


def test_a_1_3_partition_lets_the_three_go_on_and_the_one_catch_up(faults: Faults) -> None:
    net = faults.net
    others = [i for i in net.everyone if i != ISOLATED]
    with streaming(faults, "partition_1_3", net.everyone) as (stream, figures):
        top = max(_comet_heights(net, net.everyone).values())
        isolated = time.monotonic()
        net.isolate(ISOLATED)
        acked = stream.acknowledged()
        net.wait_for_height(top + PROGRESS_BLOCKS, others, HALT_TIMEOUT)
        figures["three_made_blocks_s"] = _since(isolated)
        alone = net.comet_height(ISOLATED) or 0
        assert alone <= top + 1, f"the isolated validator went from {top} to {alone}"
        figures["acked_while_isolated"] = stream.acknowledged() - acked
        figures["isolated_s"] = _since(isolated)
        target = _top(net, others)
        figures["behind_at_heal"] = target - (net.height(ISOLATED) or 0)
        healed = time.monotonic()
        net.heal()
        net.wait_for_height(target, [ISOLATED], CATCH_UP_TIMEOUT)
        figures["catch_up_s"] = _since(healed)


def test_a_validator_with_a_slow_disk_does_not_stop_the_network(faults: Faults) -> None:
    if faults.disk is None:
        pytest.skip(f"no slow disk here: {faults.disk_unavailable}")
    net, disk, home = faults.net, faults.disk, faults.net.node_dir(SLOW_NODE)
    others = [i for i in net.everyone if i != SLOW_NODE]
    with streaming(faults, "slow_disk", net.everyone) as (stream, figures):
        fast = fsync_ms(home, FSYNC_SAMPLES)
        figures["fsync_ms_other_node_disk"] = median_ms(fsync_ms(net.node_dir(0), FSYNC_SAMPLES))
        disk.throttle(write_iops=SLOW_WRITE_IOPS)
        try:
            slow = fsync_ms(home, FSYNC_SLOW_SAMPLES)
            figures.update(fsync_ms_before=median_ms(fast), fsync_ms_slow=median_ms(slow))
            figures["write_iops_limit"] = SLOW_WRITE_IOPS
            assert median_ms(slow) >= SLOWER_AT_LEAST * median_ms(fast), (fast, slow)
            top, own = _top(net, others), net.height(SLOW_NODE) or 0
            throttled = time.monotonic()
            figures["slow_node_max_behind"] = _wait_sampling_lag(net, top + SLOW_BLOCKS, others)
            elapsed = time.monotonic() - throttled
            made = _top(net, others) - top
            figures["others_blocks_per_s"] = round(made / elapsed, 2)
            figures["slow_node_blocks_per_s"] = round(
                ((net.height(SLOW_NODE) or 0) - own) / elapsed, 2
            )
            figures["slow_s"] = round(elapsed, 1)
            figures["slow_node_behind"] = _top(net, others) - (net.height(SLOW_NODE) or 0)
        finally:
            disk.unthrottle()
        figures["fsync_ms_after"] = median_ms(fsync_ms(home, FSYNC_SAMPLES))
        target = _top(net, others)
        lifted = time.monotonic()
        net.wait_for_height(target, [SLOW_NODE], CATCH_UP_TIMEOUT)
        figures["catch_up_s"] = _since(lifted)
        assert stream.acknowledged() > WARM_ACKS


def test_a_validator_killed_again_and_again_catches_up_each_time(faults: Faults) -> None:
    net = faults.net
    others = [i for i in net.everyone if i != VICTIM]
    # To the victim too: what it acknowledged is in its ingress journal, on disk, and goes to
    # CometBFT again after a restart (citychain/node/ingress_journal.py).
    with streaming(faults, "kill_loop", net.everyone) as (stream, figures):
        rounds = []
        for which in KILLS:
            top = _top(net, others)
            killed = time.monotonic()
            net.kill(VICTIM, which)
            net.wait_for_height(top + DOWN_BLOCKS, others, HALT_TIMEOUT)
            down_s = _since(killed)
            restarting = time.monotonic()
            started = net.restart(VICTIM)
            restart_s = _since(restarting)
            target = _top(net, others)
            net.wait_for_height(target, [VICTIM], CATCH_UP_TIMEOUT)
            rounds.append(
                {
                    "killed": list(which),
                    "restarted": started,
                    "down_s": down_s,
                    "restart_s": restart_s,
                    "catch_up_s": _since(restarting),
                }
            )
        figures["rounds"] = rounds
        by_victim = sum(s.acked and s.node == VICTIM for s in stream.all_sent())
        assert by_victim > 0, "the victim acknowledged nothing: the loop proved nothing"
        figures["victim_journal"] = _journal_figures(net, VICTIM)


def test_a_dead_runs_slow_disk_is_released(tmp_path: Path) -> None:
    """A loop device that a dead run left mounted and throttled is unmounted, its limit lifted,
    and detached by the next run; a live run's is left alone."""
    reason = slow_disk_unavailable()
    if reason is not None:
        pytest.skip(reason)
    with loop_disk_home(_home(tmp_path / "live")) as live:
        live.throttle(write_iops=SLOW_WRITE_IOPS)
        gone = subprocess.Popen(["true"])
        gone.wait()  # its pid names the dead run's image
        image = tmp_path / f"{IMAGE_PREFIX}{gone.pid}-0.img"
        with open(image, "wb") as out:
            out.truncate(LEFT_IMAGE_BYTES)
        loop = _sh("losetup", "--find", "--show", str(image))
        left = LoopDisk(image, loop, _home(tmp_path / "left"))
        try:
            _sh("mkfs.ext4", "-q", "-F", loop)
            _sh("mount", loop, str(left.mountpoint))
            left.throttle(write_iops=SLOW_WRITE_IOPS)
            assert loop in sweep_stale_disks()
            assert loop not in dict(loop_devices())
            assert not os.path.ismount(left.mountpoint)
            assert WRITE_IOPS not in limits_on(left.device)
            assert live.loop in dict(loop_devices())  # its pid, this test's, is alive
            assert os.path.ismount(live.mountpoint)
            assert limits_on(live.device) == {WRITE_IOPS: SLOW_WRITE_IOPS}
        finally:
            subprocess.run(["umount", str(left.mountpoint)], capture_output=True, check=False)
            subprocess.run(["losetup", "-d", loop], capture_output=True, check=False)
    assert live.loop not in dict(loop_devices())
    assert (tmp_path / "live" / "config.json").read_text() == "{}"  # the home is back


def _sh(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


def _home(path: Path) -> Path:
    path.mkdir()
    (path / "config.json").write_text("{}")
    return path
