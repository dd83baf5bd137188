"""The ingress journal: every transaction this node acknowledged, on disk until a block
commits it (docs/api.md, "What code 0 means").

Code 0 from ``POST /txs`` means the engine's mempool took the transaction, and that mempool is
memory: the solo engine's, or the local CometBFT's. So the node writes each admitted
transaction here before it answers: one SQLite transaction per submit call (a batch is one
group commit; calls that arrive while a write is on disk share the next one), in
``data/ingress-journal.sqlite`` (mode 0600, WAL, ``synchronous=FULL``). A block that commits a
journaled transaction removes it (in batches of ``PRUNE_BATCH``: a removal lost to a crash only
costs one refused resubmission). The writes run on one thread of their own, in order, never on
the engine loop.

The journal also hands its transactions to the engine again (``run``), in the order they were
acknowledged, ``RESUBMIT_CHUNK`` at a time:

- after a start, all of them, as soon as the engine takes transactions (while it does not,
  e.g. CometBFT is not up yet, every ``RETRY_S``);
- while running, those not committed ``STALE_BLOCKS`` blocks and ``STALE_S`` seconds after the
  engine last took them (a CometBFT restarted under a running node has lost its mempool), each
  less often every time (``STALE_S`` doubling up to ``MAX_BACKOFF_S``), at most
  ``STALE_PER_SWEEP`` a sweep.

What the engine answers (``classify``):

- still held (code 0, or a duplicate of what its mempool holds): the entry stays;
- refused for good: the nonce is used on chain (the transaction, or another with its nonce,
  committed; a nonce used only by what the mempool holds is not: ``nonce_used``), it expired,
  or it does not decode or verify: the entry goes;
- refused for now (a nonce gap, fees it cannot pay yet): the entry stays for at most
  ``MAX_REFUSALS`` tries, ``RETRY_S`` doubling between them;
- the engine cannot take transactions at all (codespace ``mempool``): asked again.

A transaction the engine had to take back in more than ``MAX_READMISSIONS`` times (its mempool
evicted it again and again) is dropped, so the journal cannot keep one alive for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from citychain.engines.interface import Admission
from citychain.node.metrics import NodeMetrics
from citychain.passport.private_db import connect_private
from citychain.tx import errors as tx_errors

__all__ = [
    "JOURNAL_FILE",
    "IngressJournal",
    "JournalError",
    "JournalFile",
    "Outcome",
    "classify",
]

log = logging.getLogger(__name__)

JOURNAL_FILE = "ingress-journal.sqlite"  # in the node's data folder, beside chain.sqlite
PRUNE_BATCH = 512  # committed entries removed in one write
RESUBMIT_CHUNK = 500  # transactions handed to the engine in one call
SQL_CHUNK = 500  # parameters in one SELECT ... IN (...)
SWEEP_S = 1.0  # how often the journal looks for entries to hand over again
RETRY_S = 1.0  # before asking a busy engine again, or the first retry of a refusal
STALE_BLOCKS = 3  # an entry the engine took is handed over again only after this many blocks ...
STALE_S = 5.0  # ... and this many seconds, doubling each time
STALE_PER_SWEEP = 500
MAX_BACKOFF_S = 300.0
MAX_BACKOFF_STEPS = 8  # 2**8: the doubling stops growing here (well past MAX_BACKOFF_S)
MAX_REFUSALS = 8  # refusals for now before an entry is dropped
MAX_READMISSIONS = 3  # times the engine took an entry in again after losing it
# The engines' codespace for "could not take it now" (CometBFT unreachable, its mempool full,
# no CheckTx answer in time), and CometBFT's refusal of bytes its mempool cache already holds.
ENGINE_CODESPACE = "mempool"
IN_CACHE = "already exists in cache"
# Refusals that no later state can change: the transaction committed (its nonce is used), it
# expired, or its bytes are not a valid transaction.
FOR_GOOD = frozenset(
    (e.codespace, e.code)
    for e in (
        tx_errors.MALFORMED,
        tx_errors.TOO_LARGE,
        tx_errors.BAD_SIGNATURE,
        tx_errors.NONCE_USED,
        tx_errors.EXPIRED,
        tx_errors.UNKNOWN_MESSAGE,
        tx_errors.NO_MESSAGES,
        tx_errors.BAD_MESSAGE,
    )
)
HELD = frozenset({(tx_errors.DUPLICATE.codespace, tx_errors.DUPLICATE.code)})
NONCE_USED = (tx_errors.NONCE_USED.codespace, tx_errors.NONCE_USED.code)


class JournalError(RuntimeError):
    """The journal could not write: what the engine admitted is not on disk."""


class Outcome(enum.Enum):
    ADMITTED = "admitted"  # the engine took it (again)
    HELD = "held"  # the engine's mempool already holds it
    GONE = "gone"  # refused for good: dropped from the journal
    REFUSED = "refused"  # refused for now: asked again later, a few times
    NOT_READY = "not_ready"  # the engine could not take transactions: asked again


def classify(admission: Admission) -> Outcome:
    """What the engine's answer to a resubmitted transaction means for its journal entry."""
    if admission.ok:
        return Outcome.ADMITTED
    key = (admission.codespace, admission.code)
    if key in HELD or (admission.codespace == ENGINE_CODESPACE and IN_CACHE in admission.log):
        return Outcome.HELD
    if key in FOR_GOOD:
        return Outcome.GONE
    if admission.codespace == ENGINE_CODESPACE:
        return Outcome.NOT_READY
    return Outcome.REFUSED


# --- the file ------------------------------------------------------------------------------------
class JournalFile:
    """The SQLite file: entries in the order they were acknowledged. One thread at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect_private(path)
        self._db.execute("PRAGMA synchronous=FULL")
        # Keyed by hash alone (one B-tree to insert into and delete from); ``seq`` orders them.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS entries ("
            " hash BLOB PRIMARY KEY, seq INTEGER NOT NULL, raw BLOB NOT NULL) WITHOUT ROWID"
        )
        (last,) = self._db.execute("SELECT coalesce(max(seq), 0) FROM entries").fetchone()
        self._seq = int(last)

    def apply(self, adds: Sequence[tuple[bytes, bytes]], removes: Sequence[bytes]) -> None:
        """Add ``adds`` (hash, raw) and remove ``removes``, in one durable transaction."""
        db = self._db
        first = self._seq + 1
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR IGNORE INTO entries (hash, seq, raw) VALUES (?, ?, ?)",
                ((h, seq, raw) for seq, (h, raw) in enumerate(adds, first)),
            )
            db.executemany("DELETE FROM entries WHERE hash = ?", ((h,) for h in removes))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self._seq = first + len(adds) - 1

    def hashes(self) -> list[bytes]:
        """Every entry's hash, oldest first."""
        return [bytes(row[0]) for row in self._db.execute("SELECT hash FROM entries ORDER BY seq")]

    def raws(self, hashes: Sequence[bytes]) -> dict[bytes, bytes]:
        """The stored bytes of those of ``hashes`` still in the file."""
        out: dict[bytes, bytes] = {}
        for start in range(0, len(hashes), SQL_CHUNK):
            part = hashes[start : start + SQL_CHUNK]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT hash, raw FROM entries WHERE hash IN ({marks})", part)
            out.update((bytes(h), bytes(r)) for h, r in rows)
        return out

    def close(self) -> None:
        self._db.close()


# --- the writer ---------------------------------------------------------------------------------
@dataclass
class _Write:
    adds: list[tuple[bytes, bytes]]
    removes: list[bytes]
    done: asyncio.Future[None] | None  # None: nobody waits (removals)


class _Writer:
    """The journal's one thread: writes queued while one is on disk go into the next together
    (group commit), in the order they were queued."""

    def __init__(self, file: JournalFile, metrics: NodeMetrics) -> None:
        self.file = file
        self.metrics = metrics
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingress-journal")
        self._lock = threading.Lock()
        self._queued: list[_Write] = []
        self._last: asyncio.Future[None] | None = None

    def write(
        self, adds: list[tuple[bytes, bytes]], removes: list[bytes], wait: bool
    ) -> asyncio.Future[None] | None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] | None = loop.create_future() if wait else None
        with self._lock:
            self._queued.append(_Write(adds, removes, done))
        self._last = asyncio.wrap_future(self._pool.submit(self._drain, loop))
        return done

    async def call(self, work: Callable[[], object]) -> object:
        """``work()`` on the journal's thread, after the writes queued before it."""
        return await asyncio.wrap_future(self._pool.submit(work))

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            batch, self._queued = self._queued, []
        if not batch:
            return
        adds = [item for w in batch for item in w.adds]
        removes = [h for w in batch for h in w.removes]
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            self.file.apply(adds, removes)
        except Exception as exc:
            error = exc
            log.error("ingress journal write failed: %r", exc)
        self.metrics.journal_write_seconds.observe(time.perf_counter() - started)
        for w in batch:
            if w.done is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits
                    loop.call_soon_threadsafe(_settle, w.done, error)

    async def close(self) -> None:
        if self._last is not None:
            with contextlib.suppress(Exception):
                await self._last
        self._pool.shutdown(wait=True)
        self.file.close()


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(JournalError(f"the ingress journal could not write: {error!r}"))


# --- the journal --------------------------------------------------------------------------------
@dataclass(slots=True)
class _Entry:
    """What this process knows of one journaled transaction."""

    height: int | None = None  # the height when the engine last took it; None: not since start
    due: float = 0.0  # monotonic time before which it is not handed over again
    handovers: int = 0
    refusals: int = 0
    readmissions: int = 0


Submit = Callable[[Sequence[bytes], Sequence[bytes]], Awaitable[list[Admission]]]
# What a ``tx/5`` (nonce used) answer means for the journaled (hash, raw): GONE when the chain
# used the nonce, HELD when the mempool's own copy holds it, else REFUSED.
NonceUsed = Callable[[bytes, bytes], Outcome]


def _always_gone(tx_hash: bytes, raw: bytes) -> Outcome:
    return Outcome.GONE


class IngressJournal:
    """The journal of one node; everything but the writer's thread runs on the engine loop."""

    def __init__(
        self, path: Path, metrics: NodeMetrics, nonce_used: NonceUsed = _always_gone
    ) -> None:
        self.metrics = metrics
        self.nonce_used = nonce_used
        file = JournalFile(path)
        self._writer = _Writer(file, metrics)
        # Oldest first; the entries left by the last run are handed over again by ``run``.
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict(
            (h, _Entry()) for h in file.hashes()
        )
        self._inflight: Counter[bytes] = Counter()
        self._committed_early: set[bytes] = set()
        self._prune: list[bytes] = []
        self._gauge()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._entries

    def _gauge(self) -> None:
        self.metrics.journal_entries.set(len(self._entries))

    # --- ingress --------------------------------------------------------------------------
    def expect(self, hashes: Iterable[bytes]) -> None:
        """``hashes`` are about to go to the engine: a block that commits one before
        ``record`` must keep ``record`` from journaling it."""
        self._inflight.update(hashes)

    def release(self, hashes: Iterable[bytes]) -> None:
        """The submit call of ``expect(hashes)`` is over."""
        for tx_hash in hashes:
            left = self._inflight[tx_hash] - 1
            if left > 0:
                self._inflight[tx_hash] = left
                continue
            del self._inflight[tx_hash]
            self._committed_early.discard(tx_hash)

    async def record(self, admitted: Sequence[tuple[bytes, bytes]], height: int) -> None:
        """Make the admitted (hash, raw) durable; return once they are on disk. Raises
        JournalError if the write failed (they stay in the engine, and out of the journal)."""
        now = time.monotonic()
        adds: list[tuple[bytes, bytes]] = []
        for tx_hash, raw in admitted:
            if tx_hash in self._committed_early or tx_hash in self._entries:
                continue
            self._entries[tx_hash] = _Entry(height, now + STALE_S, handovers=1)
            adds.append((tx_hash, raw))
        if not adds:
            return
        self._gauge()
        done = self._writer.write(adds, [], wait=True)
        assert done is not None
        try:
            await asyncio.shield(done)
        except JournalError:
            for tx_hash, _ in adds:
                self._entries.pop(tx_hash, None)
            self._gauge()
            raise

    def committed(self, hashes: Iterable[bytes]) -> None:
        """A block committed ``hashes``: their entries go (removed from the file in batches)."""
        for tx_hash in hashes:
            if self._entries.pop(tx_hash, None) is not None:
                self._prune.append(tx_hash)
            elif tx_hash in self._inflight:
                self._committed_early.add(tx_hash)
        if len(self._prune) >= PRUNE_BATCH:
            self.flush()
        self._gauge()

    def flush(self) -> None:
        """Queue the removal of the entries blocks committed."""
        if self._prune:
            removes, self._prune = self._prune, []
            self._writer.write([], removes, wait=False)

    def _drop(self, tx_hash: bytes) -> None:
        if self._entries.pop(tx_hash, None) is not None:
            self._prune.append(tx_hash)

    # --- handing over again ---------------------------------------------------------------
    def due(self, height: int, now: float) -> list[bytes]:
        """The entries to hand over again now, oldest first: all those the engine has not
        taken since the start, and at most ``STALE_PER_SWEEP`` stale ones (under a backlog
        that a mempool still holds, handing them all over would verify them all again)."""
        out: list[bytes] = []
        stale = 0
        for tx_hash, entry in self._entries.items():
            if entry.due > now:
                continue
            if entry.height is None:
                out.append(tx_hash)
            elif stale < STALE_PER_SWEEP and height >= entry.height + STALE_BLOCKS:
                out.append(tx_hash)
                stale += 1
        return out

    async def run(self, submit: Submit, height: Callable[[], int]) -> None:
        """Hand entries over again (see the module's docstring) until cancelled."""
        while True:
            try:
                await self.sweep(submit, height)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not stop ingress: log it and go on
                log.exception("ingress journal: handing transactions over again failed")
            await asyncio.sleep(SWEEP_S)

    async def sweep(self, submit: Submit, height: Callable[[], int]) -> None:
        """One pass: flush removals, then hand every due entry over, in order (until the
        engine takes none of a chunk because it cannot take transactions)."""
        self.flush()
        due = self.due(height(), time.monotonic())
        for start in range(0, len(due), RESUBMIT_CHUNK):
            chunk = [h for h in due[start : start + RESUBMIT_CHUNK] if h in self._entries]
            if chunk and not await self._resubmit(chunk, submit, height):
                break
        self.flush()
        self._gauge()

    async def _resubmit(
        self, hashes: list[bytes], submit: Submit, height: Callable[[], int]
    ) -> bool:
        """Hand ``hashes`` to the engine; False if it could take none of them."""
        found = await self._writer.call(lambda: self._writer.file.raws(hashes))
        assert isinstance(found, dict)
        for tx_hash in hashes:
            if tx_hash not in found:  # its write failed (the writes queued before are done)
                self._entries.pop(tx_hash, None)
        chunk = [h for h in hashes if h in found and h in self._entries]
        if not chunk:
            return True
        raws = [found[h] for h in chunk]
        admitted = await submit(raws, chunk)
        now, top = time.monotonic(), height()
        ready = False
        for admission, raw in zip(admitted, raws, strict=True):
            outcome = classify(admission)
            if (admission.codespace, admission.code) == NONCE_USED:
                outcome = self.nonce_used(admission.hash, raw)
            ready = ready or outcome is not Outcome.NOT_READY
            self.metrics.journal_resubmitted.labels(outcome.value).inc()
            entry = self._entries.get(admission.hash)
            if entry is not None:  # not committed while the engine looked at it
                self._settle(admission.hash, entry, outcome, now, top)
        return ready

    def _settle(
        self, tx_hash: bytes, entry: _Entry, outcome: Outcome, now: float, top: int
    ) -> None:
        if outcome is Outcome.NOT_READY:
            entry.due = now + RETRY_S
            return
        if outcome is Outcome.REFUSED:
            entry.refusals += 1
            entry.due = now + _backoff(RETRY_S, entry.refusals - 1)
            if entry.refusals >= MAX_REFUSALS:
                self._give_up(tx_hash, "refused")
            return
        if outcome is Outcome.GONE:
            self._drop(tx_hash)
            return
        if outcome is Outcome.ADMITTED and entry.handovers:
            entry.readmissions += 1
            if entry.readmissions > MAX_READMISSIONS:
                self._give_up(tx_hash, "readmitted")
                return
        entry.height = top
        entry.due = now + _backoff(STALE_S, entry.handovers)
        entry.handovers += 1

    def _give_up(self, tx_hash: bytes, why: str) -> None:
        log.warning("ingress journal: gave up on %s (%s)", tx_hash.hex(), why)
        self.metrics.journal_resubmitted.labels(f"dropped_{why}").inc()
        self._drop(tx_hash)

    async def close(self) -> None:
        """Write the pending removals and close the file."""
        self.flush()
        await self._writer.close()


def _backoff(base: float, step: int) -> float:
    return float(min(base * 2 ** min(step, MAX_BACKOFF_STEPS), MAX_BACKOFF_S))
