"""A 4-validator CometBFT consortium of real processes: agreement, faults and recovery.

The tests run on the session's shared network (tests/integration/conftest.py), after the proofs
and before the membership change: first the read-only ones, then the faults, each of which
undoes what it did. Before every test all four nodes run and are caught up; each test reads its
starting balances from the chain and keeps a ledger of what the chain acknowledged, which every
node must then report. Agreement means: at every height 1..H each node has the same block and
its own app returned the same app hash in FinalizeBlock (CometBFT's ``/block_results``), and
that hash is the one the next header carries. With 4 validators of equal power, 3 make a quorum
(> 2/3).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from netutil import (
    Account,
    Ledger,
    Network,
    Payment,
    assert_balances,
    cli,
    db_file,
    fixed_key,
    mint,
    payees,
    read_ledger,
    requires_cometbft,
    send_payments,
    set_stored_app_hash,
    stored_app_hash,
    stored_balance,
    stored_height,
    wait_until,
    write_balance,
)

from citychain.client import ApiError, Client
from citychain.net.layout import MEMBER_ORGS, NetError

pytestmark = [
    pytest.mark.network,
    pytest.mark.slow,
    pytest.mark.xdist_group("network"),
    pytest.mark.timeout(300),  # per test; the fixtures' finally blocks still stop every process
    requires_cometbft,
]

VALIDATORS = 4
ALL = list(range(VALIDATORS))
PAYER_FUNDS = 50_000  # cents each; tier 0 wallets (limits 1,000.00 held, 200.00 a payment)
HALT_WINDOW_S = 4.0  # how long a network without a quorum is watched for a new block
CATCH_UP_S = 60.0
COMMIT_FLAG = 2  # BlockIDFlagCommit in a commit's signatures

logger = logging.getLogger(__name__)


@pytest.fixture
def payers(consortium: Network) -> list[Account]:
    """One funded wallet per node (minted on first use); payer i always submits through node i.
    Their nonces are read from the chain."""
    accounts = [Account(fixed_key(f"payer{i}")) for i in ALL]
    unfunded = [a.address for a in accounts if consortium.balance(0, a.address) == 0]
    if unfunded:
        mint(consortium, Ledger(), unfunded, PAYER_FUNDS)
    for payer in accounts:
        payer.nonce = consortium.client(0).nonce(payer.address)
    return accounts


def _committed(results: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    return [(r["code"], r["height"] is not None) for r in results]


def _pay_through(
    net: Network, index: int, payer: Account, to: list[str], amounts: list[int]
) -> list[Payment]:
    """Send and wait for the commit; every payment must succeed."""
    payments, results = send_payments(net.client(index), payer, to, amounts, wait=True)
    assert _committed(results) == [(0, True)] * len(to), results
    return payments


def _validator_address(net: Network, index: int) -> str:
    doc = json.loads(
        (net.node_dir(index) / "cometbft" / "config" / "priv_validator_key.json").read_text()
    )
    return str(doc["address"])


def _last_logged_height(text: str, event: str) -> int:
    """The height of the last ``event`` line (CometBFT's state module logs) in a cometbft.log."""
    heights = re.findall(rf"{event}\s+module=state height=(\d+)", text)
    assert heights, f"no {event!r} line"
    return int(heights[-1])


def _signed_by(net: Network, reader: int, height: int) -> set[str]:
    """Validator addresses whose precommit for the block is in the commit of ``height``."""
    commit = net.rpc(reader, "commit", height=height)["signed_header"]["commit"]
    return {
        s["validator_address"] for s in commit["signatures"] if s["block_id_flag"] == COMMIT_FLAG
    }


# --- 1. payments through any node, and agreement ------------------------------------------------
@pytest.mark.consortium("read-only")
def test_payments_through_every_node_commit_and_every_node_agrees(
    consortium: Network, payers: list[Account]
) -> None:
    net = consortium
    to = payees("every-node", 3)
    ledger = read_ledger(net, 0, [p.address for p in payers] + to)

    def through(index: int) -> list[Payment]:
        amounts = [100 * (index + 1) + j for j in range(3)]
        # Two batches, so that each node's payments span more than one block.
        return _pay_through(net, index, payers[index], to, amounts) + _pay_through(
            net, index, payers[index], to, amounts
        )

    with ThreadPoolExecutor(VALIDATORS) as pool:
        payments = [p for batch in pool.map(through, ALL) for p in batch]
    assert len(payments) == 6 * VALIDATORS
    ledger.record(payments)

    # Every node holds every payment, at the height it was acknowledged at, as succeeded.
    net.wait_for_height(max(p.height or 0 for p in payments), ALL)
    for payment in payments:
        views = [net.client(i).tx(payment.tx_hash) for i in ALL]
        seen = {(v["height"], v["index"], v["result"]["code"]) for v in views}
        assert seen == {(payment.height, views[0]["index"], 0)}, (payment, views)
    assert_balances(net, ledger, ALL)
    upto = net.assert_agreement(ALL)
    with_txs = [
        h for h, meta in net.block_metas(0, 1, upto).items() if int(meta["num_txs"]) > 0 and h > 1
    ]
    assert len(with_txs) >= 2, "the payments should have filled several blocks"


# --- the command line on a running network ------------------------------------------------------
@pytest.mark.consortium("read-only")
def test_cli_net_status_json_reports_every_node(consortium: Network) -> None:
    net = consortium

    def meshed() -> bool:  # a node started a moment ago may not have dialled every peer yet
        return all(int(net.rpc(i, "net_info")["n_peers"]) == VALIDATORS - 1 for i in ALL)

    wait_until(meshed, CATCH_UP_S, "every node to peer with the three others")
    run = cli("net", "status", "--dir", net.layout.path, "--json")
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [r["node"] for r in rows] == ALL
    keys = {
        "name",
        "node",
        "dir",
        "running",
        "processes",
        "height",
        "app_hash",
        "peers",
        "catching_up",
        "api",
        "rpc",
        "voting_power",
    }
    for index, row in enumerate(rows):
        spec = net.specs[index]
        assert set(row) == keys, row
        assert row["name"] == MEMBER_ORGS[index]
        assert row["dir"] == str(net.node_dir(index))
        assert (row["running"], row["processes"]) == (True, {"app": True, "cometbft": True})
        assert isinstance(row["height"], int) and row["height"] >= 1
        assert isinstance(row["app_hash"], str) and len(bytes.fromhex(row["app_hash"])) == 32
        assert (row["peers"], row["catching_up"], row["voting_power"]) == (3, False, 10)
        assert (row["api"], row["rpc"]) == (spec.api_url, spec.rpc_url)
    assert max(r["height"] for r in rows) - min(r["height"] for r in rows) <= 2


@pytest.mark.consortium("read-only")
def test_cli_net_start_on_a_running_node_starts_nothing(consortium: Network) -> None:
    net = consortium
    pids = net.pids(1)
    run = cli("net", "start", "--dir", net.layout.path, "--node", "1")
    assert (run.returncode, run.stdout.strip()) == (
        0,
        f"node1 {MEMBER_ORGS[1]}: started nothing (already running)",
    ), run.stderr
    assert net.pids(1) == pids


# --- 2. one of four down ------------------------------------------------------------------------
@pytest.mark.consortium("faults")
def test_one_validator_down_chain_goes_on_and_it_catches_up(
    consortium: Network, payers: list[Account]
) -> None:
    net = consortium
    to = payees("one-down", 2)
    ledger = read_ledger(net, 0, [p.address for p in payers[:3]] + to)
    stop = cli("net", "stop", "--dir", net.layout.path, "--node", "3")
    assert (stop.returncode, stop.stdout.strip()) == (
        0,
        f"node3 {MEMBER_ORGS[3]}: stopped cometbft and app",
    ), stop.stderr
    # A second stop is harmless: nothing to stop, and success.
    again = cli("net", "stop", "--dir", net.layout.path, "--node", "3")
    assert (again.returncode, again.stdout.strip()) == (
        0,
        f"node3 {MEMBER_ORGS[3]}: stopped nothing (not running)",
    ), again.stderr
    stopped_at = net.common_height([0, 1, 2])

    payments = []
    for index in (0, 1, 2):
        payments += _pay_through(net, index, payers[index], to, [1_000 + index, 2_000 + index])
    ledger.record(payments)
    assert all((p.height or 0) > stopped_at for p in payments)
    assert net.running(3) == {"app": False, "cometbft": False}
    assert_balances(net, ledger, [0, 1, 2])

    start = cli("net", "start", "--dir", net.layout.path, "--node", "3")
    assert start.returncode == 0 and "started app and cometbft" in start.stdout, start.stderr
    net.wait_for_height(max(p.height or 0 for p in payments), [3], CATCH_UP_S)
    assert_balances(net, ledger, [3])
    for payment in payments:
        view = net.client(3).tx(payment.tx_hash)
        assert (view["height"], view["result"]["code"]) == (payment.height, 0)
    net.assert_agreement(ALL)


# --- 3. two of four down ------------------------------------------------------------------------
@pytest.mark.consortium("faults")
def test_two_validators_down_halts_without_fork_and_resumes_keeping_payments(
    consortium: Network, payers: list[Account]
) -> None:
    net = consortium
    to = payees("two-down", 2)
    ledger = read_ledger(net, 0, [p.address for p in payers[:2]] + to)
    net.stop(2)
    net.stop(3)
    # A block whose precommits were already out may still commit; then nothing more can.
    previous: list[int | None] = []

    def both_heights() -> list[int | None]:
        """The apps' and the CometBFTs' heights of nodes 0 and 1."""
        return [net.height(0), net.height(1), net.comet_height(0), net.comet_height(1)]

    def settled() -> int | None:
        nonlocal previous
        now = both_heights()
        same = now == previous and len(set(now)) == 1
        previous = now
        return now[0] if same else None

    halted = wait_until(settled, 10, "nodes 0 and 1 to agree on a last height", interval=1.0)

    # Payments are still accepted into the mempool (CheckTx), just not committed.
    pending: list[Payment] = []
    for index in (0, 1):
        batch, results = send_payments(
            net.client(index), payers[index], to, [300 + index, 400 + index], wait=False
        )
        assert [(r["code"], r["height"]) for r in results] == [(0, None), (0, None)], results
        pending += batch

    deadline = time.monotonic() + HALT_WINDOW_S
    while time.monotonic() < deadline:
        assert both_heights() == [halted] * 4, "a block without a quorum"
        time.sleep(0.25)
    assert net.client(0).status()["height"] == halted
    for payment in pending:
        with pytest.raises(ApiError) as missing:
            net.client(0).tx(payment.tx_hash)
        assert missing.value.status == 404
    # No fork: the two that kept running hold the same chain.
    net.assert_agreement([0, 1], upto=halted - 1)

    assert net.start(3) == ["app", "cometbft"]
    net.wait_for_height(halted + 1, [0, 1, 3], CATCH_UP_S)

    def all_committed() -> list[dict[str, Any]] | None:
        try:
            return [net.client(0).tx(p.tx_hash) for p in pending]
        except ApiError:  # 404 until its block commits
            return None

    views = wait_until(all_committed, CATCH_UP_S, "the payments accepted during the halt")
    assert [(v["result"]["code"], v["height"] > halted) for v in views] == [(0, True)] * len(
        pending
    )
    ledger.record(pending)
    assert_balances(net, ledger, [0, 1, 3])

    assert net.start(2) == ["app", "cometbft"]
    net.wait_for_height(net.common_height([0, 1, 3]), [2], CATCH_UP_S)
    assert_balances(net, ledger, ALL)
    net.assert_agreement(ALL)


# --- 4. SIGKILL of one node's app while payments stream in -------------------------------------
@pytest.mark.consortium("faults")
def test_killed_app_recovers_through_the_handshake_to_the_same_state(
    consortium: Network, payers: list[Account]
) -> None:
    """Two kills of node2's app while nodes 0 and 1 take payments: one at a random moment, one
    where CometBFT has stored and finalized a block the app has not made durable, so that the
    restart's handshake must replay that block (and the one before, if its write was still
    going) into the app."""
    net = consortium
    victim = 2
    to = payees("sigkill", 3)
    ledger = read_ledger(net, 0, [p.address for p in payers[:2]] + to)
    stop = threading.Event()
    committed: list[list[Payment]] = [[], []]
    failures: list[BaseException] = []

    def stream(index: int) -> None:
        client = Client(net.specs[index].api_url, timeout=60)
        try:
            k = 0
            while not stop.is_set():
                amounts = [10 + (k + j) % 50 for j in range(3)]
                batch, results = send_payments(client, payers[index], to, amounts, wait=True)
                assert _committed(results) == [(0, True)] * 3, results
                committed[index] += batch
                k += 3
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
        finally:
            client.close()

    streamers = [threading.Thread(target=stream, args=(i,), daemon=True) for i in (0, 1)]
    for thread in streamers:
        thread.start()
    comet_log = net.node_dir(victim) / "cometbft.log"
    try:
        for mode in ("at a random moment", "between FinalizeBlock and a durable Commit"):
            target = sum(map(len, committed)) + 6

            def streamed(target: int = target) -> bool:
                return sum(map(len, committed)) >= target or bool(failures)

            wait_until(streamed, 30, "payments to stream in")
            assert not failures, failures
            if mode == "at a random moment":
                time.sleep(random.Random(7).uniform(0.0, 0.5))
            else:
                net.freeze_app_mid_block(victim)
            net.kill_app(victim)
            killed_at = net.height(0) or 0
            # The app answers Commit while the block's write is still going, and waits for it
            # before the next Commit: the disk is at most one block behind what CometBFT saw
            # committed, and the handshake must replay what is missing.
            durable = stored_height(db_file(net, victim))
            text = comet_log.read_text()
            finalized = _last_logged_height(text, "finalized block")
            assert _last_logged_height(text, "committed state") - 1 <= durable <= finalized
            if mode != "at a random moment":
                assert finalized - 2 <= durable <= finalized - 1
            # CometBFT notices; it exits by itself, unless it was awaiting the app's answer.
            with contextlib.suppress(AssertionError):
                wait_until(lambda: not net.running(victim)["cometbft"], 3, "CometBFT to exit")
            assert "Did the application crash? Please restart CometBFT" in comet_log.read_text()
            logger.info(
                "killed %s: app durable at %d, CometBFT finalized %d; CometBFT %s",
                mode,
                durable,
                finalized,
                "hangs" if net.running(victim)["cometbft"] else "exited",
            )
            # The chain goes on without it; the restart brings it back to the same state.
            net.wait_for_height(killed_at + 2, [0, 1, 3], CATCH_UP_S)
            assert net.start(victim) == ["app", "cometbft"]
            net.wait_for_height(net.common_height([0, 1, 3]), [victim], CATCH_UP_S)
    finally:
        stop.set()
        for thread in streamers:
            thread.join(60)
    assert not failures, failures
    payments = committed[0] + committed[1]
    assert len(payments) >= 12
    ledger.record(payments)
    assert_balances(net, ledger, ALL)
    net.assert_agreement(ALL)


# --- 5. state edited on disk --------------------------------------------------------------------
@pytest.mark.consortium("faults")
def test_tampered_state_is_refused_and_the_others_go_on(
    consortium: Network, payers: list[Account]
) -> None:
    net = consortium
    victim = 3
    db = db_file(net, victim)
    target = payers[0].address
    victim_address = _validator_address(net, victim)
    to = payees("tamper", 1)
    ledger = read_ledger(net, 0, [payers[1].address, *to])
    assert net.stop(victim) == ["cometbft", "app"]
    stopped_at = stored_height(db)
    original = stored_balance(db, target)
    forged = (int.from_bytes(original, "big") + 1).to_bytes(len(original), "big")
    original_hash = stored_app_hash(db)
    try:
        # (a) Someone gives payer0 one more cent: the app's own check refuses to start.
        write_balance(db, target, forged, rehash=False)
        with pytest.raises(NetError) as refused:
            net.start(victim)
        message = str(refused.value)
        assert f"{MEMBER_ORGS[victim]} app exited with status 1" in message, message
        assert "Traceback" not in message, message
        assert re.search(
            f"error: state at height {stopped_at} hashes to [0-9a-f]{{64}}, "
            f"but the stored app hash is {original_hash.hex()}",
            message,
        ), message
        assert net.running(victim) == {"app": False, "cometbft": False}

        # (b) The same edit, covered up (the stored app hash recomputed to match): the app
        # starts, and CometBFT's handshake finds that its hash is not the chain's.
        write_balance(db, target, forged, rehash=True)
        with pytest.raises(NetError) as refused:
            net.start(victim)
        message = str(refused.value)
        assert f"{MEMBER_ORGS[victim]} CometBFT exited with status 2" in message, message
        comet_log = (net.node_dir(victim) / "cometbft.log").read_text()
        assert re.search(
            "panic: state.AppHash does not match AppHash after replay. Got\\s+"
            f"{stored_app_hash(db).hex().upper()}, expected {original_hash.hex().upper()}",
            comet_log,
        ), comet_log[-3000:]
        # A failed start leaves no app serving the forged state, and neither wrote a block.
        assert net.running(victim) == {"app": False, "cometbft": False}
        assert stored_height(db) == stopped_at

        # The other three go on, and no block they made since carries the victim's vote.
        payments = _pay_through(net, 1, payers[1], to, [777])
        ledger.record(payments)
        net.wait_for_height(stopped_at + 3, [0, 1, 2], CATCH_UP_S)
        now = net.common_height([0, 1, 2])
        for height in range(stopped_at + 2, now + 1):
            assert victim_address not in _signed_by(net, 0, height), height
        net.assert_agreement([0, 1, 2])
        assert_balances(net, ledger, [0, 1, 2])
    finally:
        write_balance(db, target, original, rehash=False)
        set_stored_app_hash(db, original_hash)
    # The control: the same node, its state as it was, starts and rejoins.
    assert net.start(victim) == ["app", "cometbft"]
    net.wait_for_height(net.common_height([0, 1, 2]), [victim], CATCH_UP_S)
    assert_balances(net, ledger, ALL)
    net.assert_agreement(ALL)
