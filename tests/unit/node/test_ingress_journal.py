"""The ingress journal (citychain/node/ingress_journal.py): what the node acknowledged is on
disk before the answer, leaves when a block commits it, and is handed to the engine again, in
order, after a restart; what the engine refuses for good is dropped, what it refuses for now
is kept. The crash itself, with a real node process and ``kill -9``:
tests/integration/test_ingress_journal_crash.py."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from apiutil import serving
from netutil import wait_until

from citychain.engines.interface import Admission
from citychain.errors import ErrorCode
from citychain.node import ingress_journal
from citychain.node.ingress_journal import (
    JOURNAL_FILE,
    MAX_REFUSALS,
    STALE_BLOCKS,
    STALE_S,
    IngressJournal,
    JournalError,
    JournalFile,
    Outcome,
    classify,
)
from citychain.node.metrics import NodeMetrics
from citychain.tx import errors as tx_errors

WAIT_S = 30.0


def _tx(i: int) -> tuple[bytes, bytes]:
    raw = f"tx-{i}".encode()
    return hashlib.sha256(raw).digest(), raw


def _admission(tx_hash: bytes, error: ErrorCode | None = None, log: str = "") -> Admission:
    if error is None:
        return Admission(tx_hash, 0, "", "")
    return Admission(tx_hash, error.code, error.codespace, log or error.description)


class FakeEngine:
    """``Engine.submit`` that records what it was handed and answers as told (default: ok)."""

    def __init__(self) -> None:
        self.calls: list[list[bytes]] = []
        self.answer: Callable[[bytes], Admission] = _admission

    async def submit(self, raws: Sequence[bytes], hashes: Sequence[bytes]) -> list[Admission]:
        self.calls.append(list(raws))
        return [self.answer(h) for h in hashes]

    @property
    def handed(self) -> list[bytes]:
        return [raw for call in self.calls for raw in call]


def _stored(path: Path) -> list[bytes]:
    db = sqlite3.connect(path)
    try:
        return [bytes(r[0]) for r in db.execute("SELECT raw FROM entries ORDER BY seq")]
    finally:
        db.close()


def _run(work: Any) -> Any:
    return asyncio.run(work)


# --- the file -----------------------------------------------------------------------------------
def test_the_file_is_private_wal_and_fully_synchronous(tmp_path: Path) -> None:
    path = tmp_path / "data" / JOURNAL_FILE
    file = JournalFile(path)
    try:
        file.apply([_tx(1)], [])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
        db = file._db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        file.close()


def test_entries_keep_their_order_and_leave_by_hash(tmp_path: Path) -> None:
    file = JournalFile(tmp_path / JOURNAL_FILE)
    try:
        txs = [_tx(i) for i in (3, 1, 2)]
        file.apply(txs, [])
        file.apply([txs[0]], [txs[1][0]])  # a repeat is ignored
        assert file.hashes() == [txs[0][0], txs[2][0]]
        assert file.raws([txs[2][0], txs[1][0]]) == {txs[2][0]: txs[2][1]}
    finally:
        file.close()


# --- what the engine's answers mean -------------------------------------------------------------
@pytest.mark.parametrize(
    ("admission", "outcome"),
    [
        (Admission(b"h", 0, "", ""), Outcome.ADMITTED),
        (_admission(b"h", tx_errors.DUPLICATE), Outcome.HELD),
        (Admission(b"h", 1, "mempool", "tx already exists in cache"), Outcome.HELD),
        (_admission(b"h", tx_errors.NONCE_USED), Outcome.GONE),
        (_admission(b"h", tx_errors.EXPIRED), Outcome.GONE),
        (_admission(b"h", tx_errors.BAD_SIGNATURE), Outcome.GONE),
        (_admission(b"h", tx_errors.MALFORMED), Outcome.GONE),
        (_admission(b"h", tx_errors.NONCE_GAP), Outcome.REFUSED),
        (_admission(b"h", tx_errors.FEE_UNPAYABLE), Outcome.REFUSED),
        (_admission(b"h", tx_errors.MEMPOOL_FULL), Outcome.REFUSED),
        (Admission(b"h", 1, "mempool", "CometBFT RPC unreachable: refused"), Outcome.NOT_READY),
        (Admission(b"h", 1, "mempool", "no CheckTx answer in time"), Outcome.NOT_READY),
    ],
)
def test_what_a_resubmission_answer_means(admission: Admission, outcome: Outcome) -> None:
    assert classify(admission) is outcome


# --- recording and pruning ----------------------------------------------------------------------
def test_recorded_is_on_disk_before_record_returns_and_pruned_once_committed(
    tmp_path: Path,
) -> None:
    path = tmp_path / JOURNAL_FILE
    txs = [_tx(i) for i in range(5)]

    async def scenario() -> None:
        journal = IngressJournal(path, NodeMetrics())
        journal.expect(h for h, _ in txs)
        await journal.record(txs, height=7)
        journal.release(h for h, _ in txs)
        # Another connection sees them: they are committed to the file, in order.
        assert _stored(path) == [raw for _, raw in txs]
        journal.committed([txs[1][0], txs[3][0], b"\x00" * 32])
        assert len(journal) == len(txs) - 2
        await journal.close()  # the removals are written on close at the latest

    _run(scenario())
    assert _stored(path) == [txs[i][1] for i in (0, 2, 4)]


def test_removals_are_written_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingress_journal, "PRUNE_BATCH", 3)
    path = tmp_path / JOURNAL_FILE
    txs = [_tx(i) for i in range(5)]

    async def scenario() -> None:
        journal = IngressJournal(path, NodeMetrics())
        await journal.record(txs, height=1)
        journal.committed([txs[0][0], txs[1][0]])
        await journal._writer.call(lambda: None)  # whatever was queued has landed
        assert len(_stored(path)) == len(txs)  # fewer than a batch: not written yet
        journal.committed([txs[2][0]])
        await journal._writer.call(lambda: None)
        assert _stored(path) == [txs[3][1], txs[4][1]]
        await journal.close()

    _run(scenario())


def test_a_transaction_committed_before_its_record_is_not_journaled(tmp_path: Path) -> None:
    """Under CometBFT a block can commit a transaction before the submit call that sent it
    returns; its record must not bring it back after the block removed it."""
    path = tmp_path / JOURNAL_FILE
    early, later = _tx(1), _tx(2)

    async def scenario() -> None:
        journal = IngressJournal(path, NodeMetrics())
        journal.expect([early[0], later[0]])
        journal.committed([early[0]])
        await journal.record([early, later], height=1)
        journal.release([early[0], later[0]])
        assert early[0] not in journal and later[0] in journal
        await journal.close()

    _run(scenario())
    assert _stored(path) == [later[1]]


def test_a_failed_write_is_an_error_and_leaves_nothing_behind(tmp_path: Path) -> None:
    async def scenario() -> None:
        journal = IngressJournal(tmp_path / JOURNAL_FILE, NodeMetrics())

        def broken(*_: Any) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        journal._writer.file.apply = broken  # type: ignore[method-assign]
        with pytest.raises(JournalError, match="disk I/O error"):
            await journal.record([_tx(1)], height=1)
        assert len(journal) == 0
        await journal.close()

    _run(scenario())


# --- handing over again -------------------------------------------------------------------------
def _journal_with(path: Path, txs: list[tuple[bytes, bytes]]) -> None:
    """A journal file as a killed node left it: ``txs`` acknowledged, none committed."""
    file = JournalFile(path)
    file.apply(txs, [])
    file.close()


def test_after_a_restart_everything_is_handed_over_in_order(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    txs = [_tx(i) for i in range(1200)]  # more than one chunk
    _journal_with(path, txs)
    engine = FakeEngine()
    gone, later = txs[5][0], txs[6][0]
    answers = {
        gone: _admission(gone, tx_errors.NONCE_USED),  # committed before the crash
        later: _admission(later, tx_errors.NONCE_GAP),  # waits for something else
    }
    engine.answer = lambda h: answers.get(h) or _admission(h)

    async def scenario() -> IngressJournal:
        journal = IngressJournal(path, NodeMetrics())
        await journal.sweep(engine.submit, lambda: 10)
        await journal.close()
        return journal

    journal = _run(scenario())
    assert engine.handed == [raw for _, raw in txs]
    assert all(len(call) <= ingress_journal.RESUBMIT_CHUNK for call in engine.calls)
    assert gone not in journal and later in journal and txs[0][0] in journal
    assert len(_stored(path)) == len(txs) - 1


def test_an_engine_that_takes_nothing_is_asked_again_from_the_same_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / JOURNAL_FILE
    txs = [_tx(i) for i in range(3)]
    _journal_with(path, txs)
    monkeypatch.setattr(ingress_journal, "RESUBMIT_CHUNK", 2)
    monkeypatch.setattr(ingress_journal, "RETRY_S", 0.0)
    engine = FakeEngine()
    engine.answer = lambda h: Admission(h, 1, "mempool", "CometBFT RPC unreachable")

    async def scenario() -> None:
        journal = IngressJournal(path, NodeMetrics())
        await journal.sweep(engine.submit, lambda: 1)
        assert engine.handed == [txs[0][1], txs[1][1]]  # the second chunk was not tried
        engine.calls.clear()
        engine.answer = _admission
        await journal.sweep(engine.submit, lambda: 1)
        assert engine.handed == [raw for _, raw in txs]
        assert len(journal) == len(txs)
        await journal.close()

    _run(scenario())


def test_refused_for_now_is_retried_then_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / JOURNAL_FILE
    tx = _tx(1)
    _journal_with(path, [tx])
    monkeypatch.setattr(ingress_journal, "RETRY_S", 0.0)
    engine = FakeEngine()
    engine.answer = lambda h: _admission(h, tx_errors.FEE_UNPAYABLE)

    async def scenario() -> None:
        journal = IngressJournal(path, NodeMetrics())
        for _ in range(MAX_REFUSALS - 1):
            await journal.sweep(engine.submit, lambda: 1)
            assert tx[0] in journal
        await journal.sweep(engine.submit, lambda: 1)
        assert tx[0] not in journal
        await journal.close()

    _run(scenario())
    assert _stored(path) == []


def test_a_taken_entry_is_handed_over_again_only_once_stale(tmp_path: Path) -> None:
    """What the engine took is asked about again only after ``STALE_BLOCKS`` blocks and
    ``STALE_S`` seconds (a CometBFT restarted under the node lost its mempool)."""

    async def scenario() -> None:
        journal = IngressJournal(tmp_path / JOURNAL_FILE, NodeMetrics())
        tx = _tx(1)
        await journal.record([tx], height=10)
        now = time.monotonic()
        assert journal.due(10 + STALE_BLOCKS, now) == []  # too soon
        assert journal.due(10 + STALE_BLOCKS - 1, now + STALE_S + 1) == []  # too few blocks
        assert journal.due(10 + STALE_BLOCKS, now + STALE_S + 1) == [tx[0]]
        await journal.close()

    _run(scenario())


# --- the node -----------------------------------------------------------------------------------
def test_the_node_journals_what_it_acknowledges_and_forgets_it_once_committed(
    tmp_path: Path,
) -> None:
    with serving(tmp_path / "home") as served:
        journal_file = served.home.db_file.parent / JOURNAL_FILE
        raw = served.payment()
        with httpx.Client(base_url=served.url, timeout=WAIT_S) as http:
            answer = http.post("/txs", json={"tx": raw.hex(), "mode": "sync"}).json()
            assert answer["code"] == 0
            # Acknowledged: on disk already (a block may have removed it since; then it is
            # committed, which the node's store says).
            committed = http.get(f"/txs/{answer['hash']}").status_code == httpx.codes.OK
            assert committed or _stored(journal_file) == [raw]
            wait_until(
                lambda: http.get(f"/txs/{answer['hash']}").status_code == httpx.codes.OK,
                WAIT_S,
                "the first payment to commit",
            )
            done = http.post("/txs", json={"tx": served.payment().hex(), "mode": "commit"})
            assert done.json()["height"] is not None, done.json()
    assert _stored(journal_file) == []  # both committed; the removals written on stop


def test_the_node_does_not_acknowledge_what_it_could_not_journal(tmp_path: Path) -> None:
    with serving(tmp_path / "home") as served:

        def broken(*_: Any) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        served.node.journal._writer.file.apply = broken  # type: ignore[method-assign]
        with httpx.Client(base_url=served.url, timeout=WAIT_S) as http:
            answer = http.post("/txs", json={"tx": served.payment().hex()}).json()
    assert (answer["codespace"], answer["code"]) == ("node", 1), answer
    assert "send the same bytes again" in answer["log"]


def test_a_nonce_used_only_in_the_mempool_is_not_a_reason_to_drop(tmp_path: Path) -> None:
    """``tx/5`` on a resubmission drops the entry only once the chain used the nonce: after
    a CometBFT restart the app may still count a lost transaction's nonce as pending."""
    with serving(tmp_path / "home") as served:
        node = served.node
        waiting = served.payment()  # the next nonce: nothing on chain used it
        assert node._nonce_used(hashlib.sha256(waiting).digest(), waiting) is Outcome.REFUSED
        with httpx.Client(base_url=served.url, timeout=WAIT_S) as http:
            done = http.post("/txs", json={"tx": waiting.hex(), "mode": "commit"}).json()
        assert done["height"] is not None, done
        assert node._nonce_used(hashlib.sha256(waiting).digest(), waiting) is Outcome.GONE
        assert node._nonce_used(b"\x00" * 32, b"not a transaction") is Outcome.GONE


def test_what_nonce_used_says_decides_the_entry(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    held, gone = _tx(1), _tx(2)
    _journal_with(path, [held, gone])
    engine = FakeEngine()
    engine.answer = lambda h: _admission(h, tx_errors.NONCE_USED)

    async def scenario() -> IngressJournal:
        verdicts = {held[0]: Outcome.HELD, gone[0]: Outcome.GONE}
        journal = IngressJournal(path, NodeMetrics(), lambda h, _raw: verdicts[h])
        await journal.sweep(engine.submit, lambda: 1)
        await journal.close()
        return journal

    journal = _run(scenario())
    assert held[0] in journal and gone[0] not in journal


def test_stale_entries_are_handed_over_a_bounded_number_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a backlog the mempool still holds, a sweep must not verify it all again."""
    monkeypatch.setattr(ingress_journal, "STALE_PER_SWEEP", 2)
    path = tmp_path / JOURNAL_FILE
    left = _tx(0)  # from the last run: always due at once
    _journal_with(path, [left])

    async def scenario() -> list[bytes]:
        journal = IngressJournal(path, NodeMetrics())
        taken = [_tx(i) for i in range(1, 6)]
        await journal.record(taken, height=1)
        due = journal.due(1 + STALE_BLOCKS, time.monotonic() + STALE_S + 1)
        await journal.close()
        return due

    due = _run(scenario())
    assert due == [left[0], _tx(1)[0], _tx(2)[0]]
