"""The gateway's cache of the ledger's device registry, read from the node's API.

An entry lives ``ttl_s`` seconds (a miss ``miss_ttl_s``), so a decommissioning or a key rotation
reaches the gateway within that window; a signature that fails against a cached key triggers
one early refresh (at most once a second per device), so a rotation is picked up at once.

Bounded, so that reports naming made-up device ids can neither grow the gateway's memory nor
stall its ingest thread (docs/modules/devices.md §6, "Device lookups"):

- devices the ledger knows are kept in an LRU of ``max_known`` entries; ids it does not know
  in a separate LRU of ``max_missing`` entries, so a flood of unknown ids never evicts a real
  device;
- lookups run on a small thread pool, a group's lookups at once, and the caller waits for them
  at most ``timeout_s``; a lookup still running then is left to finish into the cache;
- lookups of ids the cache does not know as devices take a token from a bucket refilled at
  ``unknown_per_s`` (burst ``unknown_burst``), unless the caller vouches for the id (the
  gateway: a device whose reports it has stored); a lookup that fails gives its token back. At
  most ``max_pending`` lookups run at a time.

``resolve`` tells the two ways an id can be left without an answer apart (``Resolved``): no
lookup allowed (``throttled``: the budget is spent, a flood's doing, and the gateway refuses
the report) and a lookup that got no answer in time or failed (``unanswered``: the node is
slow, down or restarting; the gateway holds the report and asks again). A known device whose
refresh is late or fails keeps its cached record.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Container, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from citychain.client import Client
from citychain.codec import decode
from citychain.modules.devices import Device, device_key

__all__ = ["DeviceCache", "Resolved"]

REFRESH_MIN_S = 1.0  # a forced refresh of one device at most this often


class _Bucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.at = now

    def take(self, now: float) -> bool:
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def give_back(self) -> None:
        self.tokens = min(float(self.burst), self.tokens + 1)


@dataclass(frozen=True, slots=True)
class Resolved:
    """What ``DeviceCache.resolve`` found for a set of ids.

    ``devices``: the ledger's record of each id answered or cached (None: no such device),
    including the cached record of a known device whose refresh is ``unanswered``.
    ``throttled``: ids with no lookup and nothing cached (the budget was spent).
    ``unanswered``: ids looked up with no answer in time, or an error (the node unreachable).
    """

    devices: dict[bytes, Device | None]
    throttled: frozenset[bytes]
    unanswered: frozenset[bytes]


class DeviceCache:
    def __init__(
        self,
        client: Client,
        *,
        ttl_s: float = 30.0,
        miss_ttl_s: float = 2.0,
        max_known: int = 100_000,
        max_missing: int = 10_000,
        unknown_per_s: float = 50.0,
        unknown_burst: int = 200,
        max_pending: int = 256,
        threads: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.miss_ttl_s = miss_ttl_s
        self.max_known = max_known
        self.max_missing = max_missing
        self.max_pending = max_pending
        self._clock = clock
        self._known: OrderedDict[bytes, tuple[Device, float]] = OrderedDict()
        self._missing: OrderedDict[bytes, float] = OrderedDict()
        self._pending: dict[bytes, Future[Device | None]] = {}
        self._lock = threading.Lock()
        self._bucket = _Bucket(unknown_per_s, unknown_burst, clock())
        self._pool = ThreadPoolExecutor(max(1, threads), "gateway-lookup")
        self.lookups = 0  # lookups started
        self.failed = 0  # lookups that ended in an error (the node unreachable)
        self.throttled = 0  # lookups not started: no token, or too many running

    def __len__(self) -> int:
        with self._lock:
            return len(self._known) + len(self._missing)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- the cache ------------------------------------------------------------------------
    def _cached(
        self, device_id: bytes, now: float, max_age: float | None
    ) -> tuple[bool, Device | None]:
        """(True, value) for an entry younger than ``max_age`` (default: its TTL)."""
        with self._lock:
            known = self._known.get(device_id)
            if known is not None:
                device, fetched = known
                if now - fetched < (self.ttl_s if max_age is None else max_age):
                    self._known.move_to_end(device_id)
                    return True, device
                return False, None
            fetched_miss = self._missing.get(device_id)
        miss_ttl = self.miss_ttl_s if max_age is None else max_age
        return (fetched_miss is not None and now - fetched_miss < miss_ttl), None

    def _store(self, device_id: bytes, device: Device | None) -> None:
        now = self._clock()
        with self._lock:
            if device is not None:
                self._missing.pop(device_id, None)
                self._known[device_id] = (device, now)
                self._known.move_to_end(device_id)
                while len(self._known) > self.max_known:
                    self._known.popitem(last=False)
            else:
                self._known.pop(device_id, None)
                self._missing[device_id] = now
                self._missing.move_to_end(device_id)
                while len(self._missing) > self.max_missing:
                    self._missing.popitem(last=False)

    def _stale(self, device_id: bytes) -> Device | None:
        with self._lock:
            known = self._known.get(device_id)
        return known[0] if known is not None else None

    # --- lookups --------------------------------------------------------------------------
    def _fetch(self, device_id: bytes, token: bool) -> Device | None:
        """On a pool thread: the ledger's record (None: no such device), into the cache.
        An error (ApiError: the node unreachable) propagates, the cache keeps what it had, and
        the lookup's ``token`` goes back: the node answered nothing, so the id is asked again."""
        try:
            try:
                value = self.client.state(device_key(device_id))["value"]
                device = decode(bytes.fromhex(value), Device) if value else None
            except Exception:
                with self._lock:
                    self.failed += 1
                    if token:
                        self._bucket.give_back()
                raise
            self._store(device_id, device)
            return device
        finally:
            with self._lock:
                self._pending.pop(device_id, None)

    def _start(self, device_id: bytes, now: float, free: bool) -> Future[Device | None] | None:
        """A lookup of ``device_id`` (the one already running, if any); None if not allowed.
        ``free``: the caller vouches for the id, which takes no token."""
        with self._lock:
            running = self._pending.get(device_id)
            if running is not None:
                return running
            token = not (free or device_id in self._known)
            if len(self._pending) >= self.max_pending or (token and not self._bucket.take(now)):
                self.throttled += 1
                return None
            self.lookups += 1
            future = self._pool.submit(self._fetch, device_id, token)
            self._pending[device_id] = future
            return future

    def resolve(
        self,
        device_ids: Iterable[bytes],
        timeout_s: float,
        *,
        refresh: bool = False,
        vouched: Container[bytes] = frozenset(),
    ) -> Resolved:
        """The ledger's record of each id, looked up in parallel where the cache has no fresh
        entry, waiting at most ``timeout_s``. ``refresh`` looks up again every id whose entry
        is older than REFRESH_MIN_S (a failed signature, a status). Ids in ``vouched`` are
        looked up outside the budget for ids the cache does not know."""
        now = self._clock()
        found: dict[bytes, Device | None] = {}
        waiting: dict[bytes, Future[Device | None]] = {}
        throttled: set[bytes] = set()
        for device_id in dict.fromkeys(device_ids):
            hit, device = self._cached(device_id, now, REFRESH_MIN_S if refresh else None)
            if hit:
                found[device_id] = device
            elif (future := self._start(device_id, now, device_id in vouched)) is not None:
                waiting[device_id] = future
            elif (stale := self._stale(device_id)) is not None:
                found[device_id] = stale
            else:
                throttled.add(device_id)
        unanswered = self._collect(waiting, timeout_s, found)
        return Resolved(found, frozenset(throttled), frozenset(unanswered))

    def _collect(
        self,
        waiting: dict[bytes, Future[Device | None]],
        timeout_s: float,
        found: dict[bytes, Device | None],
    ) -> set[bytes]:
        """Wait for ``waiting`` at most ``timeout_s``; their answers into ``found`` (a cached
        record in place of a missing answer). The ids left without an answer."""
        if waiting:
            wait(list(waiting.values()), timeout=timeout_s)
        unanswered: set[bytes] = set()
        for device_id, future in waiting.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                found[device_id] = future.result()
                continue
            unanswered.add(device_id)
            if (stale := self._stale(device_id)) is not None:
                found[device_id] = stale
        return unanswered
