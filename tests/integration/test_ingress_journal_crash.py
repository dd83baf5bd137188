"""An acknowledgement survives ``kill -9`` (citychain/node/ingress_journal.py): a real solo node
is killed the moment it answers a batch with code 0, long before a block can hold the batch
(executing it takes far longer than the kill), restarted, and every acknowledged transaction
ends up committed exactly once, each sender's nonces without a gap. Twice, so that the second
round starts from a journal the first restart replayed.

Without the journal, code 0 meant only the solo mempool, in memory: the kill lost the batch.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
from collections import Counter
from pathlib import Path

import httpx
import pytest
from netutil import wait_until
from prometheus_client.parser import text_string_to_metric_families

from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.init_home import init_home
from citychain.modules.bank.messages import MsgSend
from citychain.net.ports import claim_ports
from citychain.node.ingress_journal import JOURNAL_FILE
from citychain.sim.localnode import LocalNode
from citychain.store.sqlite import BlockStore
from citychain.tx.envelope import sign_tx

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SEED = 20_250_113
CHAIN_ID = "citychain-journal"
PASSWORD = "pw"
FAST_KDF = (1, 8192)
SENDERS = 600
PER_SENDER = 3  # nonces per sender in each round's batch: 1,800 transactions, under a block
ROUNDS = 2
START_BALANCE = 10_000
FEE = 1
SETTLE_TIMEOUT_S = 120.0
CHILD_EXIT_TIMEOUT_S = 10.0
SINK = bytes(20)


def _keys() -> list[PrivateKey]:
    rng = random.Random(SEED)
    return [PrivateKey.from_seed(rng.randbytes(32)) for _ in range(SENDERS)]


def _batch(keys: list[PrivateKey], round_: int) -> list[bytes]:
    """Each sender's next ``PER_SENDER`` nonces, in nonce order."""
    first = round_ * PER_SENDER
    return [
        sign_tx(
            key,
            chain_id=CHAIN_ID,
            nonce=nonce,
            messages=[MsgSend(SINK, "ccy", 1 + nonce)],
            fee=FEE,
        )
        for key in keys
        for nonce in range(first, first + PER_SENDER)
    ]


def _children(pid: int) -> list[int]:
    """The node's worker processes (they would outlive it by a moment)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _post_then_kill(node: LocalNode, raws: list[bytes]) -> list[str]:
    """POST the batch (mode sync); SIGKILL the node as soon as the answer is read. Returns the
    hashes it acknowledged."""
    assert node.process is not None
    pid = node.process.pid
    workers = _children(pid)
    with httpx.Client(base_url=node.url, timeout=60.0) as http:
        response = http.post("/txs/batch", json={"txs": [r.hex() for r in raws], "mode": "sync"})
        os.kill(pid, signal.SIGKILL)
    node.kill()
    for worker in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)
    response.raise_for_status()
    results = response.json()["results"]
    return [r["hash"] for r in results if r["code"] == 0]


def _journal_entries(node: LocalNode) -> float:
    response = httpx.get(
        f"{node.url}/metrics",
        headers={"Authorization": f"Bearer {node.home.operator_token()}"},
        timeout=30.0,
    )
    response.raise_for_status()
    for family in text_string_to_metric_families(response.text):
        if family.name == "citychain_ingress_journal_entries":
            return float(family.samples[0].value)
    raise AssertionError("no citychain_ingress_journal_entries metric")


def _committed(home: Path) -> tuple[Counter[str], int]:
    """How many times each transaction hash is in a block of the stopped node's store."""
    store = BlockStore(home / "data" / "chain.sqlite")
    try:
        seen: Counter[str] = Counter()
        last = store.last_height()
        for height in range(1, last + 1):
            seen.update(t.hash.hex() for t in store.block_txs(height))
        return seen, last
    finally:
        store.close()


def _journal_rows(home: Path) -> int:
    with contextlib.closing(sqlite3.connect(home / "data" / JOURNAL_FILE)) as db:
        (count,) = db.execute("SELECT count(*) FROM entries").fetchone()
        return int(count)


def test_an_acknowledged_batch_survives_kill_9(tmp_path: Path) -> None:
    keys = _keys()
    addresses = [address_from_public_key(k.public_key) for k in keys]
    home = tmp_path / "home"
    init_home(
        home,
        password=PASSWORD,
        chain_id=CHAIN_ID,
        kdf_limits=FAST_KDF,
        extra_balances=[{"address": a, "denom": "ccy", "amount": START_BALANCE} for a in addresses],
    )
    node = LocalNode(home, api=f"127.0.0.1:{claim_ports()}")
    acked: list[str] = []
    try:
        for round_ in range(ROUNDS):
            node.start()
            # The last round's acknowledged batch committed after the restart, before more.
            wait_until(
                lambda: _journal_entries(node) == 0,
                SETTLE_TIMEOUT_S,
                "the journal to empty",
            )
            batch = _batch(keys, round_)
            ours = _post_then_kill(node, batch)
            assert len(ours) == len(batch), "the node refused part of a valid batch"
            acked.extend(ours)
        node.start()
        wait_until(lambda: _journal_entries(node) == 0, SETTLE_TIMEOUT_S, "the journal to empty")
        nonces = {node.client.nonce(a) for a in random.Random(SEED).sample(addresses, 20)}
        assert nonces == {ROUNDS * PER_SENDER}, nonces
    finally:
        node.stop()  # gracefully: the journal's last removals are written

    seen, last = _committed(home)
    lost = [h for h in acked if seen[h] == 0]
    twice = [h for h in acked if seen[h] > 1]
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged transactions never committed"
    assert not twice, f"{len(twice)} acknowledged transactions committed more than once"
    assert sum(seen.values()) == len(acked) == ROUNDS * PER_SENDER * SENDERS, last
    assert _journal_rows(home) == 0
