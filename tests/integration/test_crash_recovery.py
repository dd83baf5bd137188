"""Crash safety (issue 2, "Must show"): SIGKILL a real node at random moments while payments
stream in, restart it each time, then check that nothing acknowledged was lost.

This is sqlite.org/testing.html's crash test applied to the whole node: the store promises one
atomic write per block with ``synchronous=FULL`` (citychain/store/sqlite.py), and the node
answers ``mode=commit`` only after that write, so an acknowledged payment must survive any kill.
A second test edits the stored state of a stopped node and expects it to refuse to start.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from citychain.app import Application, TxResult
from citychain.block import Header, header_hash, header_signature_valid, list_hash
from citychain.client import ApiError, Client, Wallet
from citychain.codec import decode
from citychain.crypto.address import address_from_public_key, address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.genesis import Genesis
from citychain.init_home import ROLE_KEY_FEE_FLOAT, ROLE_KEYS, init_home
from citychain.modules.auth.state import get_nonce
from citychain.modules.bank.messages import MsgSend
from citychain.modules.bank.state import balance_key, get_supply
from citychain.net.ports import claim_ports
from citychain.sim.localnode import LocalNode
from citychain.state import MerkleTree
from citychain.store.sqlite import BlockStore
from citychain.tx.envelope import decode_tx

pytestmark = pytest.mark.slow

SEED = 20_240_601
CHAIN_ID = "citychain-crash"
PASSWORD = "pw"
FAST_KDF = (1, 8192)  # keystore encryption cost is not what this test is about
KILL_ROUNDS = 12
KILL_DELAY_S = (0.05, 0.8)  # how long the node runs between restart and SIGKILL
SINGLE_SENDERS = 3  # threads posting one transaction per request
WALLETS_PER_SINGLE_SENDER = 8
BATCH_WALLETS = 40  # one thread posting batches: >= 32 sends them through the verifier workers
START_BALANCE = 50_000  # cents; tier 0 (limits 100 000 / 20 000) with room for the random walk
MAX_AMOUNT = 100
MIN_ACKED = 500  # a run that acknowledges fewer payments than this did not stress anything
API_SAMPLE = 300  # acknowledged payments also read back through the restarted node's API
CHILD_EXIT_TIMEOUT_S = 10.0


def _free_port() -> int:
    # Below the ephemeral range and ours until this process exits (another xdist worker or an
    # outgoing connection never gets it), so it stays free while the node is down between kills.
    return claim_ports()


def _keys(count: int, label: str) -> list[PrivateKey]:
    rng = random.Random(f"{SEED}/{label}")
    return [PrivateKey.from_seed(rng.randbytes(32)) for _ in range(count)]


# --- processes ---------------------------------------------------------------------------------
def _proc_state(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of a live process, or None once it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name sits in parentheses and may contain spaces; the fields after it do not.
    state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
    return None if state in "ZX" else (int(ppid), state)


def _descendants(pid: int) -> list[int]:
    """The node's child processes (verifier workers, multiprocessing's resource tracker)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _proc_state(int(entry.name))
            if info is not None:
                parents[int(entry.name)] = info[0]
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if _proc_state(p) is not None]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _proc_state(p) is not None]
    return alive


def _kill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --- the payment stream ------------------------------------------------------------------------
@dataclass
class Ack:
    height: int
    sender: str


@dataclass
class Stream:
    """Background threads that sign payments and post them with ``mode=commit``."""

    url: str
    groups: list[tuple[list[PrivateKey], bool]]  # (wallet keys, post as one batch?)
    recipients: list[bytes]
    acked: dict[str, Ack] = field(default_factory=dict)
    refused: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    connection_errors: int = 0
    in_flight: int = 0  # requests sent and not yet answered
    http_errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for index, (keys, batch) in enumerate(self.groups):
            thread = threading.Thread(
                target=self._run, args=(index, keys, batch), name=f"payer-{index}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=90)
            assert not thread.is_alive(), f"{thread.name} did not stop"

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)

    def max_acked_height(self) -> int:
        with self.lock:
            return max((a.height for a in self.acked.values()), default=0)

    def _run(self, index: int, keys: list[PrivateKey], batch: bool) -> None:
        rng = random.Random(SEED + 1 + index)
        with Client(self.url, timeout=60.0) as client:
            wallets = [Wallet(k, client, chain_id=CHAIN_ID) for k in keys]
            turn = 0
            while not self.stop.is_set():
                chosen = wallets if batch else [wallets[turn % len(wallets)]]
                turn += 1
                try:
                    # Signing asks the node for a nonce after a resync, so it is inside the try.
                    raws = [
                        w.sign([MsgSend(rng.choice(self.recipients), "ccy", rng.randint(1, 99))])
                        for w in chosen
                    ]
                    with self.lock:
                        self.in_flight += 1
                    try:
                        if batch:
                            results = client.broadcast_batch(raws, wait=True)
                        else:
                            results = [client.broadcast(raws[0], wait=True)]
                    finally:
                        with self.lock:
                            self.in_flight -= 1
                except ApiError as exc:
                    # The node died under us: whatever was in flight may or may not have
                    # committed, so every nonce must come from the restarted node.
                    for wallet in chosen:
                        wallet.resync()
                    with self.lock:
                        if exc.status == 0:
                            self.connection_errors += 1
                        else:
                            self.http_errors.append(str(exc))
                    time.sleep(0.02)
                    continue
                with self.lock:
                    for wallet, result in zip(chosen, results, strict=True):
                        if result["code"] == 0 and result["height"] is not None:
                            self.acked[result["hash"]] = Ack(int(result["height"]), wallet.address)
                        else:
                            self.refused[(str(result["codespace"]), int(result["code"]))] += 1
                            if result["height"] is None:
                                wallet.resync()


# --- checks on a stopped node's store ----------------------------------------------------------
def _copy_store(home: Path, into: Path) -> Path:
    """Copy the database with its WAL, as a crash left them, so the checks cannot disturb it."""
    into.mkdir(parents=True)
    source = home / "data" / "chain.sqlite"
    for suffix in ("", "-wal", "-shm"):
        part = Path(str(source) + suffix)
        if part.exists():
            shutil.copy2(part, into / part.name)
    return into / source.name


def _check_chain(store: BlockStore, genesis: Genesis) -> int:
    """Blocks 1..last are all there, each header links to the one before and matches its
    transactions and results, and the last app hash is the root of the stored state."""
    last = store.last_height()
    newest = store.recent_blocks(1)
    assert newest and newest[0].height == last, "blocks above the committed height"
    prev_hash, prev_time = genesis.hash, 0
    for height in range(1, last + 1):
        record = store.block(height)
        assert record is not None, f"block {height} of {last} is missing"
        header = decode(record.header, Header)
        txs = store.block_txs(height)
        results = [decode(t.result, TxResult) for t in txs]
        assert header.chain_id == CHAIN_ID
        assert header.height == height
        assert header.prev_hash == prev_hash, f"block {height} does not link to block {height - 1}"
        assert header_hash(header) == record.hash
        assert header_signature_valid(header, record.signature)
        assert header.app_hash == record.app_hash
        assert header.time_ms == record.time_ms > prev_time
        assert record.num_txs == len(txs) > 0
        assert header.txs_hash == list_hash([t.hash for t in txs])
        assert header.results_hash == list_hash([r.consensus_hash() for r in results])
        prev_hash, prev_time = record.hash, record.time_ms
    # Recomputed here, independently of Application's own check in its constructor.
    root = MerkleTree.from_items(store.iter_state()).root()
    last_record = store.block(last)
    assert last_record is not None
    assert root == last_record.app_hash == store.app_hash(), "state does not hash to app hash"
    return last


def _check_nonces(store: BlockStore, app: Application, wallets: list[PrivateKey]) -> None:
    """Each wallet's committed nonce counts exactly the transactions that passed its ante step:
    no nonce was consumed twice or skipped across the crashes."""
    used: dict[bytes, list[int]] = defaultdict(list)
    for height in range(1, store.last_height() + 1):
        for record in store.block_txs(height):
            result = decode(record.result, TxResult)
            if result.codespace != "tx":  # the ante step passed: success or a bank failure
                tx = decode_tx(record.raw)
                used[tx.sender].append(tx.body.nonce)
    for key in wallets:
        address = address_to_bytes(address_from_public_key(key.public_key))
        nonce = get_nonce(app.committed, address)
        assert sorted(used[address]) == list(range(nonce)), address_from_public_key(key.public_key)


# --- the crash loop ----------------------------------------------------------------------------
@pytest.mark.timeout(300)
def test_sigkill_while_paying_loses_nothing_acknowledged(tmp_path: Path) -> None:
    single_keys = _keys(SINGLE_SENDERS * WALLETS_PER_SINGLE_SENDER, "single")
    batch_keys = _keys(BATCH_WALLETS, "batch")
    all_keys = single_keys + batch_keys
    addresses = [address_from_public_key(k.public_key) for k in all_keys]
    home_dir = tmp_path / "home"
    _, genesis, _ = init_home(
        home_dir,
        password=PASSWORD,
        chain_id=CHAIN_ID,
        kdf_limits=FAST_KDF,
        extra_balances=[{"address": a, "denom": "ccy", "amount": START_BALANCE} for a in addresses],
    )
    genesis_supply = START_BALANCE * len(all_keys) + ROLE_KEY_FEE_FLOAT * len(ROLE_KEYS)
    groups = [(single_keys[i::SINGLE_SENDERS], False) for i in range(SINGLE_SENDERS)] + [
        (batch_keys, True)
    ]
    # A fixed port, so that the payers reach each restarted node at the same address.
    port = _free_port()
    node = LocalNode(home_dir, api=f"127.0.0.1:{port}")
    stream = Stream(f"http://127.0.0.1:{port}", groups, [address_to_bytes(a) for a in addresses])
    rng = random.Random(SEED)
    leaked: list[int] = []
    # (height after restart, acks so far, in flight at the kill, highest acked height then)
    rounds: list[tuple[int, int, int, int]] = []
    started = time.monotonic()
    try:
        node.start()
        stream.start()
        last_seen = node.client.status()["height"]
        for _ in range(KILL_ROUNDS):
            time.sleep(rng.uniform(*KILL_DELAY_S))
            seen = node.client.status()["height"]
            assert seen >= last_seen
            assert node.process is not None
            children = _descendants(node.process.pid)
            in_flight = stream.in_flight
            node.kill()
            survivors = _wait_gone(children, CHILD_EXIT_TIMEOUT_S)
            leaked.extend(survivors)
            _kill_pids(survivors)
            acked_height = stream.max_acked_height()
            node.start()
            height = node.client.status()["height"]
            assert height >= max(seen, acked_height), (
                f"restarted at height {height}, but {seen} was seen and {acked_height} acked"
            )
            last_seen = height
            rounds.append((height, stream.acked_count(), in_flight, acked_height))
        stream.finish()
        # Finish on a crash too, so the store checked below is one a SIGKILL left behind.
        assert node.process is not None
        children = _descendants(node.process.pid)
        node.kill()
        leaked.extend(_wait_gone(children, CHILD_EXIT_TIMEOUT_S))
        _kill_pids(leaked)
    finally:
        stream.stop.set()
        node.kill()
    loop_seconds = time.monotonic() - started

    acked = dict(stream.acked)
    # A kill with requests in flight and no block above the last acknowledged one came before
    # their block was durable; one that left a block nobody was told about came between the
    # block's write and its answers.
    before_write = sum(1 for r in rounds if r[2] and r[0] == r[3])
    after_write = sum(1 for r in rounds if r[0] > r[3])
    print(
        f"\n{KILL_ROUNDS} kills in {loop_seconds:.1f}s: {len(acked)} payments acknowledged, "
        f"requests in flight at each kill {[r[2] for r in rounds]}, "
        f"{stream.connection_errors} failed requests, refused {dict(stream.refused)}, "
        f"heights after each restart {[r[0] for r in rounds]}, highest acked height at each "
        f"kill {[r[3] for r in rounds]}: {before_write} kills before a block's write, "
        f"{after_write} between a block's write and its answers"
    )
    assert not leaked, f"processes outlived the killed node: {leaked}"
    assert not stream.http_errors, stream.http_errors[:5]
    assert len(acked) >= MIN_ACKED, "too few payments to say anything"
    acks_per_round = [b[1] - a[1] for a, b in itertools.pairwise(rounds)]
    assert sum(1 for n in acks_per_round if n > 0) >= len(acks_per_round) // 2, acks_per_round
    assert sum(1 for r in rounds if r[2]) >= KILL_ROUNDS // 2, "kills rarely hit a request"

    # The store exactly as the last SIGKILL left it (copied with its WAL).
    store = BlockStore(_copy_store(home_dir, tmp_path / "copy"))
    try:
        last = _check_chain(store, genesis)
        app = Application(store)  # raises StateCorruptedError if the state and app hash differ
        assert app.height == last
        assert app.check_invariants() == []
        assert get_supply(app.committed, "ccy") == genesis_supply
        for tx_hash, ack in acked.items():
            record = store.tx(bytes.fromhex(tx_hash))
            assert record is not None, f"acknowledged payment {tx_hash} is not in the store"
            assert record.height == ack.height
            assert decode(record.result, TxResult).code == 0
        _check_nonces(store, app, all_keys)
        balances = {a: app.get(balance_key(address_to_bytes(a), "ccy")) for a in addresses}
    finally:
        store.close()

    # And through the restarted node's own API: the chain goes on from where it stopped. (The
    # ingress journal would first commit what was admitted but unanswered at the kill, a block
    # beyond the store checked above: tests/integration/test_ingress_journal_crash.py.)
    for suffix in ("", "-wal", "-shm"):
        (home_dir / "data" / f"ingress-journal.sqlite{suffix}").unlink(missing_ok=True)
    with node:
        client = node.client
        status = client.status()
        assert (status["height"], status["app_hash"]) == (last, app.app_hash.hex())
        assert client.supply() == {"ccy": genesis_supply}
        # Every acknowledged payment was checked in the store above; through the API, a
        # sample, with every one from the last acknowledged height (the newest block's).
        top = max(ack.height for ack in acked.values())
        sample = sorted(acked)
        sample = [h for h in sample if acked[h].height == top] + random.Random(SEED).sample(
            sample, min(API_SAMPLE, len(sample))
        )
        for tx_hash in sample:
            view = client.tx(tx_hash)
            assert (view["height"], view["result"]["code"]) == (acked[tx_hash].height, 0), tx_hash
        for address in addresses[:5]:
            stored = balances[address]
            expected = int.from_bytes(stored, "big") if stored is not None else 0
            assert client.balance(address)["balance"] == expected
        issuer = Wallet(Keystore(home_dir / "keys").load("issuer", PASSWORD), client)
        receipt = issuer.send(addresses[0], 1)
        assert receipt["code"] == 0 and receipt["height"] == last + 1


# --- tampering ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stopped_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A home with a few committed blocks, its node stopped; returns it and a funded address."""
    home_dir = tmp_path_factory.mktemp("tamper") / "home"
    init_home(home_dir, password=PASSWORD, chain_id=CHAIN_ID, kdf_limits=FAST_KDF)
    payee = address_from_public_key(_keys(1, "payee")[0].public_key)
    with LocalNode(home_dir) as node:
        issuer = Wallet(Keystore(home_dir / "keys").load("issuer", PASSWORD), node.client)
        issuer.send(payee, 1_234)
        issuer.send(payee, 766)
    return home_dir, payee


def _start_node(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citychain.node", "--home", str(home), "--api", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize("tamper", ["change", "delete", "insert"])
def test_node_refuses_to_start_on_tampered_state(
    stopped_home: tuple[Path, str], tmp_path: Path, tamper: str
) -> None:
    source, payee = stopped_home
    home = tmp_path / "home"
    shutil.copytree(source, home)
    # So that a node.json found afterwards can only have come from the tampered node.
    (home / "node.json").unlink(missing_ok=True)
    key = balance_key(address_to_bytes(payee), "ccy")
    with sqlite3.connect(home / "data" / "chain.sqlite") as db:
        (value,) = db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        assert int.from_bytes(value, "big") == 2_000
        if tamper == "change":  # someone gives themselves one more cent
            db.execute("UPDATE state SET value=? WHERE key=?", ((2_001).to_bytes(8, "big"), key))
        elif tamper == "delete":
            db.execute("DELETE FROM state WHERE key=?", (key,))
        else:
            db.execute("INSERT INTO state VALUES (?, ?)", (key[:-1] + b"x", value))
    done = _start_node(home)
    assert done.returncode != 0, f"node ran on tampered state:\n{done.stdout}\n{done.stderr}"
    assert "app hash" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert not (home / "node.json").exists()


@pytest.mark.timeout(120)
def test_untampered_copy_starts(stopped_home: tuple[Path, str], tmp_path: Path) -> None:
    """The control for the test above: the same copy, unedited, starts and serves."""
    source, payee = stopped_home
    home = tmp_path / "home"
    shutil.copytree(source, home)
    with LocalNode(home) as node:
        assert node.client.status()["height"] == 2
        assert node.client.balance(payee)["balance"] == 2_000
