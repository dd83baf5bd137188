"""Real CometBFT consortium networks for tests: free ports, processes, payments, agreement.

A ``Network`` is what ``citychain net init`` makes (``create_network``), started with
``start_node`` exactly as ``citychain net start`` does. ``running_network`` always stops every
process it started, whatever the test did. Import with ``from netutil import ...``:
tests/conftest.py puts this directory on ``sys.path``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from citychain.client import Client
from citychain.crypto.address import address_from_public_key, address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.modules.bank.messages import MsgMint, MsgSend
from citychain.modules.bank.state import balance_key
from citychain.net.create import NetOptions, create_network
from citychain.net.layout import NetError, NetLayout, NodeSpec, cometbft_binary
from citychain.net.ports import reserved_ports
from citychain.net.process import running, start_node, stop_node
from citychain.state import MerkleTree
from citychain.tx.envelope import Message, sign_tx

PASSWORD = "net-test-password"
CHAIN_ID = "citychain-nettest"
FAST_KDF = (1, 8192)  # keystore encryption cost is not what these tests are about
# Short enough that waiting for commits is cheap, long enough that 8 processes on 2 cores keep up.
TIMEOUT_COMMIT = "300ms"
# A round whose proposer is down waits this long (CometBFT's default is 3s); the fault tests
# stop validators, so it sets their pace.
TIMEOUT_PROPOSE = "1s"
FEE = 1
# Calls per JSON-RPC batch: CometBFT's [rpc] max_request_batch_size is 10 unless configured.
RPC_BATCH = 10

T = TypeVar("T")
_FINALIZED = re.compile(rb"finalized block\s+module=state height=(\d+)")
log = logging.getLogger("netutil")


def _cometbft_path() -> Path | None:
    try:
        path = cometbft_binary()
    except NetError:
        return None
    return path if path.is_file() and os.access(path, os.X_OK) else None


COMETBFT = _cometbft_path()
requires_cometbft = pytest.mark.skipif(
    COMETBFT is None, reason="CometBFT is not installed (run `make cometbft`)"
)


def wait_until(
    probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1
) -> T:
    """Poll ``probe`` until it returns something other than None/False; fail after ``timeout``."""
    started = time.monotonic()
    deadline = started + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last is not None and last is not False:
            log.info("waited %.1fs for %s", time.monotonic() - started, what)
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


# --- keys and payments -------------------------------------------------------------------------
def fixed_key(label: str) -> PrivateKey:
    """The same key in every run: seed from random.Random("net-test/" + label)."""
    return PrivateKey.from_seed(random.Random(f"net-test/{label}").randbytes(32))


@dataclass
class Account:
    key: PrivateKey
    nonce: int = 0

    @property
    def address(self) -> str:
        return address_from_public_key(self.key.public_key)

    def sign(self, message: Message) -> bytes:
        raw = sign_tx(self.key, chain_id=CHAIN_ID, nonce=self.nonce, messages=[message], fee=FEE)
        self.nonce += 1
        return raw


@dataclass(frozen=True)
class Payment:
    payer: str
    payee: str
    amount: int
    tx_hash: str
    height: int | None  # where it committed, when the node answered after the commit


@dataclass
class Ledger:
    """What balances must be, from the transactions the chain acknowledged with code 0."""

    balances: dict[str, int] = field(default_factory=dict)

    def credit(self, address: str, amount: int) -> None:
        self.balances[address] = self.balances.get(address, 0) + amount

    def transfer(self, payer: str, payee: str, amount: int) -> None:
        self.credit(payer, -(amount + FEE))
        self.credit(payee, amount)

    def record(self, payments: Sequence[Payment]) -> None:
        for payment in payments:
            self.transfer(payment.payer, payment.payee, payment.amount)


def send_payments(
    client: Client, payer: Account, payees: Sequence[str], amounts: Sequence[int], *, wait: bool
) -> tuple[list[Payment], list[dict[str, Any]]]:
    """One batch of signed transfers (consecutive nonces) from ``payer`` through ``client``."""
    raws = [
        payer.sign(MsgSend(address_to_bytes(payee), "ccy", amount))
        for payee, amount in zip(payees, amounts, strict=True)
    ]
    results = client.broadcast_batch(raws, wait=wait)
    payments = [
        Payment(payer.address, payee, amount, str(result["hash"]), result["height"])
        for payee, amount, result in zip(payees, amounts, results, strict=True)
    ]
    return payments, results


# --- the network -------------------------------------------------------------------------------
@dataclass
class Network:
    layout: NetLayout
    specs: list[NodeSpec]
    _clients: dict[int, Client] = field(default_factory=dict)
    _issuer: Account | None = None

    @property
    def size(self) -> int:
        return len(self.specs)

    @property
    def everyone(self) -> list[int]:
        return list(range(self.size))

    def node_dir(self, index: int) -> Path:
        return self.layout.node_dir(index)

    # Where the test reaches each node, and the password of each member's keys: a subclass on
    # other hosts (tests/netns) says otherwise.
    def api_url(self, index: int) -> str:
        return self.specs[index].api_url

    def rpc_url(self, index: int) -> str:
        return self.specs[index].rpc_url

    def password(self, index: int) -> str:
        return PASSWORD

    def role_node(self, name: str) -> int:
        """The node whose home holds role key ``name`` (issuer, kyc, ...)."""
        return self.layout.role_holders().get(name, 0)

    def role_key(self, name: str) -> PrivateKey:
        node = self.role_node(name)
        return Keystore(self.node_dir(node) / "keys").load(name, self.password(node))

    def start(self, index: int) -> list[str]:
        started = time.monotonic()
        try:
            return start_node(self.layout, self.specs[index])
        finally:
            log.info("start node%d: %.1fs", index, time.monotonic() - started)

    def stop(self, index: int) -> list[str]:
        started = time.monotonic()
        try:
            return stop_node(self.layout, self.specs[index])
        finally:
            log.info("stop node%d: %.1fs", index, time.monotonic() - started)

    def start_all(self) -> None:
        """Start every node that is not running; return once all have committed a block."""
        for spec in self.specs:
            start_node(self.layout, spec)
        self.wait_for_height(1, self.everyone)

    def stop_all(self) -> None:
        """Stop every node, each even when stopping another failed."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        errors: list[str] = []
        for spec in self.specs:
            try:
                stop_node(self.layout, spec)
            except Exception as exc:  # teardown reports, and goes on
                errors.append(f"node{spec.index}: {exc!r}")
        if errors:
            raise RuntimeError("could not stop: " + "; ".join(errors))

    def running(self, index: int) -> dict[str, bool]:
        return running(self.layout, index)

    def pids(self, index: int) -> dict[str, int]:
        doc = json.loads((self.node_dir(index) / "pids.json").read_text())
        return {k: int(v) for k, v in doc.items()}

    def kill_app(self, index: int) -> None:
        """SIGKILL node ``index``'s citychain app process (not CometBFT)."""
        os.kill(self.pids(index)["app"], signal.SIGKILL)
        wait_until(lambda: not self.running(index)["app"], 10, f"node{index}'s app to die")

    def freeze_app_mid_block(self, index: int, timeout: float = 30) -> tuple[int, int]:
        """SIGSTOP node ``index``'s app at a moment when CometBFT has its FinalizeBlock answer
        for a block that the app has not yet made durable (it is in Commit, or about to be).

        Watches cometbft.log for "finalized block", stops the app at once, and looks at its
        database; if the block was already durable, lets the app go on and waits for the next
        one. Returns (the block CometBFT finalized, the app's durable height), the app stopped.
        """
        pid = self.pids(index)["app"]
        db = self.node_dir(index) / "data" / "chain.sqlite"
        deadline = time.monotonic() + timeout
        with open(self.node_dir(index) / "cometbft.log", "rb") as log_file:
            log_file.seek(0, os.SEEK_END)
            unread = b""
            while time.monotonic() < deadline:
                chunk = log_file.read()
                if not chunk:
                    time.sleep(0.0005)
                    continue
                unread += chunk
                complete = unread.rfind(b"\n") + 1  # only whole lines: a height may be cut
                found = _FINALIZED.findall(unread[:complete])
                unread = unread[complete:]
                if not found:
                    continue
                os.kill(pid, signal.SIGSTOP)
                finalized, durable = int(found[-1]), stored_height(db)
                if durable < finalized:
                    return finalized, durable
                os.kill(pid, signal.SIGCONT)
        raise AssertionError(f"node{index}'s app was never caught between FinalizeBlock and Commit")

    # --- reads --------------------------------------------------------------------------------
    def client(self, index: int) -> Client:
        if index not in self._clients:
            self._clients[index] = Client(self.api_url(index), timeout=60)
        return self._clients[index]

    def rpc(self, index: int, method: str, **params: Any) -> Any:
        """CometBFT's JSON-RPC on node ``index``; raises on an RPC error."""
        (result,) = self.rpc_batch(index, [(method, params)])
        return result

    def rpc_batch(self, index: int, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Several JSON-RPC calls in JSON-RPC 2.0 batches; the results in order."""
        results: list[Any] = []
        with httpx.Client(timeout=10) as http:
            for start in range(0, len(calls), RPC_BATCH):
                chunk = calls[start : start + RPC_BATCH]
                body = [
                    {
                        "jsonrpc": "2.0",
                        "id": i,
                        "method": method,
                        # CometBFT reads int64 parameters from JSON strings.
                        "params": {k: str(v) for k, v in params.items()},
                    }
                    for i, (method, params) in enumerate(chunk)
                ]
                answers = http.post(self.rpc_url(index), json=body).json()
                if isinstance(answers, dict):  # a batch of one, or an error about the batch
                    answers = [answers]
                by_id = {answer.get("id"): answer for answer in answers}
                for i, (method, _) in enumerate(chunk):
                    answer = by_id.get(i, answers[0])
                    if "error" in answer or "result" not in answer:
                        raise RuntimeError(f"node{index} {method}: {answer.get('error')}")
                    results.append(answer["result"])
        return results

    def comet_height(self, index: int) -> int | None:
        """CometBFT's latest block height on node ``index`` (a block it stored, which its app
        may not have committed yet); None when it does not answer."""
        try:
            return int(self.rpc(index, "status")["sync_info"]["latest_block_height"])
        except (httpx.HTTPError, RuntimeError, ValueError, KeyError):
            return None

    def height(self, index: int) -> int | None:
        """The last block node ``index``'s app committed, durably (GET /status); None when the
        app does not answer."""
        try:
            response = httpx.get(f"{self.api_url(index)}/status", timeout=5)
            return int(response.json()["height"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None

    def heights(self, nodes: Sequence[int]) -> dict[int, int | None]:
        return {i: self.height(i) for i in nodes}

    def wait_for_height(self, height: int, nodes: Sequence[int], timeout: float = 60) -> None:
        def reached() -> bool:
            return all((h or 0) >= height for h in self.heights(nodes).values())

        wait_until(reached, timeout, f"nodes {list(nodes)} to reach height {height}")

    def common_height(self, nodes: Sequence[int]) -> int:
        heights = self.heights(nodes)
        assert None not in heights.values(), f"a node does not answer: {heights}"
        return min(h for h in heights.values() if h is not None)

    def forget_nonces(self) -> None:
        """Read the issuer's nonce from the chain again at its next use: something other than
        ``issuer()`` (the CLI, say) may have signed with its key."""
        self._issuer = None

    def issuer(self) -> Account:
        """The ``issuer`` key (it may mint; in City Hall's home, node0), its nonce read from the
        chain on first use."""
        if self._issuer is None:
            account = Account(self.role_key("issuer"))
            account.nonce = self.client(0).nonce(account.address)
            self._issuer = account
        return self._issuer

    def balance(self, index: int, address: str) -> int:
        return int(self.client(index).balance(address)["balance"])

    # --- agreement ----------------------------------------------------------------------------
    def block_metas(self, index: int, low: int, high: int) -> dict[int, dict[str, Any]]:
        """CometBFT's block metas (block id and header) for heights low..high."""
        calls = [
            ("blockchain", {"minHeight": start, "maxHeight": min(start + 19, high)})
            for start in range(low, high + 1, 20)  # CometBFT returns at most 20 per call
        ]
        return {
            int(meta["header"]["height"]): meta
            for result in self.rpc_batch(index, calls)
            for meta in result["block_metas"]
        }

    def api_blocks(self, index: int, upto: int) -> dict[int, dict[str, Any]]:
        """Our API's view of blocks 1..upto on node ``index`` (GET /blocks, 200 a page)."""
        out: dict[int, dict[str, Any]] = {}
        before = upto + 1
        with httpx.Client(base_url=self.api_url(index), timeout=30) as http:
            while before > 1:
                response = http.get("/blocks", params={"limit": 200, "before": before})
                response.raise_for_status()
                page = response.json()["blocks"]
                assert page, f"node{index} has no blocks below {before}"
                out.update((int(b["height"]), b) for b in page)
                before = min(int(b["height"]) for b in page)
        return out

    def chain_view(self, index: int, upto: int) -> list[tuple[str, str]]:
        """Heights 1..upto on node ``index``: (block hash, app hash its app computed for it).

        The app hash is this node's own: what its app answered to FinalizeBlock (CometBFT's
        ``/block_results``), which must also be what its app stored (our ``/blocks``), not the
        header's, which is whatever the majority signed.
        """
        metas = self.block_metas(index, 1, upto)
        results = self.rpc_batch(
            index, [("block_results", {"height": h}) for h in range(1, upto + 1)]
        )
        ours = self.api_blocks(index, upto)
        view: list[tuple[str, str]] = []
        for height, result in zip(range(1, upto + 1), results, strict=True):
            block_hash = str(metas[height]["block_id"]["hash"])
            app_hash = base64.b64decode(result["app_hash"]).hex().upper()
            stored = ours[height]
            assert (stored["hash"].upper(), stored["app_hash"].upper()) == (block_hash, app_hash), (
                f"node{index} at height {height}: its API says {stored['hash']}/"
                f"{stored['app_hash']}, its CometBFT {block_hash}/{app_hash}"
            )
            view.append((block_hash, app_hash))
        return view

    def assert_agreement(self, nodes: Sequence[int], upto: int | None = None) -> int:
        """Every node in ``nodes`` has the same block and computed the same app hash at every
        height 1..upto, and that app hash is the one the next header carries. Returns upto."""
        started = time.monotonic()
        if upto is None:
            upto = self.common_height(nodes) - 1
        assert upto >= 1
        self.wait_for_height(upto + 1, nodes)
        with ThreadPoolExecutor(len(nodes)) as pool:
            views = dict(
                zip(nodes, pool.map(lambda i: self.chain_view(i, upto), nodes), strict=True)
            )
        reference = views[nodes[0]]
        for index in nodes[1:]:
            for height, (mine, theirs) in enumerate(
                zip(views[index], reference, strict=True), start=1
            ):
                assert mine == theirs, (
                    f"node{index} differs from node{nodes[0]} at height {height}: "
                    f"(block, app hash) {mine} != {theirs}"
                )
        headers = self.block_metas(nodes[0], 2, upto + 1)
        for height, (_, app_hash) in enumerate(reference, start=1):
            signed = headers[height + 1]["header"]["app_hash"]
            assert app_hash == signed, f"header {height + 1} signs {signed}, apps said {app_hash}"
        log.info("nodes %s agree on 1..%d: %.1fs", list(nodes), upto, time.monotonic() - started)
        return upto


def create_test_network(directory: Path, validators: int, base_port: int) -> Network:
    """``citychain net init`` in ``directory`` with the tests' chain id, password, fast keystores
    and short consensus timeouts; nothing started."""
    specs = create_network(
        directory,
        validators,
        password=PASSWORD,
        chain_id=CHAIN_ID,
        base_port=base_port,
        options=NetOptions(
            kdf_limits=FAST_KDF, timeout_commit=TIMEOUT_COMMIT, timeout_propose=TIMEOUT_PROPOSE
        ),
    )
    return Network(NetLayout(directory), specs)


@contextlib.contextmanager
def running_network(
    directory: Path, validators: int = 4, *, room_for: int | None = None
) -> Iterator[Network]:
    """Create a network in ``directory`` on free ports, start all nodes, stop them all after.
    ``room_for``: nodes whose ports must be free (more than ``validators``, for ``add_node``)."""
    with reserved_ports(room_for or validators) as base:
        net = create_test_network(directory, validators, base)
        try:
            net.start_all()
            yield net
        finally:
            net.stop_all()


def read_ledger(net: Network, index: int, addresses: Sequence[str]) -> Ledger:
    """The balances node ``index`` reports now, as the starting point of a test's ledger."""
    return Ledger({a: net.balance(index, a) for a in addresses})


def assert_balances(
    net: Network, ledger: Ledger, nodes: Sequence[int], timeout: float = 30
) -> None:
    """Every node in ``nodes`` reports the ledger's balances (polling: a node may lag a block)."""
    for index in nodes:

        def matches(index: int = index) -> bool:
            return {a: net.balance(index, a) for a in ledger.balances} == ledger.balances

        if not matches():
            with contextlib.suppress(AssertionError):
                wait_until(matches, timeout, f"node{index}'s balances")
            actual = {a: net.balance(index, a) for a in ledger.balances}
            assert actual == ledger.balances, f"node{index}'s balances differ from the ledger"


def payees(label: str, count: int) -> list[str]:
    """``count`` fresh addresses (never funded before ``label``'s test)."""
    return [
        address_from_public_key(fixed_key(f"{label}/payee{j}").public_key) for j in range(count)
    ]


def mint(net: Network, ledger: Ledger, recipients: Sequence[str], amount: int) -> None:
    """The issuer mints ``amount`` to each recipient, through node0, and waits for the commit."""
    issuer = net.issuer()
    raws = [issuer.sign(MsgMint(address_to_bytes(r), "ccy", amount)) for r in recipients]
    results = net.client(0).broadcast_batch(raws, wait=True)
    assert [(r["code"], r["height"] is not None) for r in results] == [(0, True)] * len(raws), (
        results
    )
    for recipient in recipients:
        ledger.credit(recipient, amount)
    ledger.credit(issuer.address, -FEE * len(recipients))


# --- on-disk state ----------------------------------------------------------------------------
def db_file(net: Network, index: int) -> Path:
    return net.node_dir(index) / "data" / "chain.sqlite"


def _read_only(path: Path) -> sqlite3.Connection:
    """Reads that leave a node's database as it is (no WAL checkpoint on close)."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def stored_balance(path: Path, address: str) -> bytes:
    key = balance_key(address_to_bytes(address), "ccy")
    with contextlib.closing(_read_only(path)) as db:
        row = db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
    assert row is not None, f"no balance for {address} in {path}"
    return bytes(row[0])


def write_balance(path: Path, address: str, value: bytes, *, rehash: bool) -> None:
    """Overwrite one stored balance; with ``rehash`` also the stored app hash, set to the root
    of the edited state (a forger who covers their tracks)."""
    key = balance_key(address_to_bytes(address), "ccy")
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE state SET value=? WHERE key=?", (value, key))
        if rehash:
            items = [(bytes(k), bytes(v)) for k, v in db.execute("SELECT key, value FROM state")]
            root = MerkleTree.from_items(items).root()
            db.execute("UPDATE meta SET value=? WHERE key='app_hash'", (root,))


def _meta(path: Path, key: str) -> bytes:
    with contextlib.closing(_read_only(path)) as db:
        (value,) = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return bytes(value)


def stored_height(path: Path) -> int:
    return int(_meta(path, "last_height").decode())


def stored_app_hash(path: Path) -> bytes:
    return _meta(path, "app_hash")


def set_stored_app_hash(path: Path, app_hash: bytes) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE meta SET value=? WHERE key='app_hash'", (app_hash,))


# --- the command line --------------------------------------------------------------------------
def cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m citychain.cli.main ARGS`` with the test password, no terminal."""
    return subprocess.run(
        [sys.executable, "-m", "citychain.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "CITYCHAIN_PASSWORD": PASSWORD},
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
