"""The telemetry gateway (docs/modules/devices.md §5).

Three threads:

- paho's network thread receives QoS 1 PUBLISHes on a persistent session (fixed client id,
  ``clean_session`` false) and queues them; nothing is acknowledged automatically
  (``manual_ack``);
- the ingest thread takes them in groups: decode, device (active, cached from the ledger),
  signature, ranges, counter; stores the accepted ones in one SQLite transaction, and only then
  acknowledges the whole group, in arrival order (MQTT 3.1.1 §4.6). A gateway killed before its
  commit never acknowledged those messages, so the broker delivers them again; one killed after
  its commit but before the PUBACKs gets them again and recognises them by id (``duplicate``);
- the anchor thread (``Anchorer``) submits each pending batch as its own transaction
  (``devices/anchor``) and marks it anchored with the committed height. A batch is written as
  pending before it is submitted; after a restart, or any error, its anchor is first looked up
  on the ledger (``dev/b/<id>``), and the ledger refuses a second anchor of the same id
  (``devices/8``), so no batch is anchored twice.

A gateway can be one shard of several (``GatewayConfig.shard``/``shards``): it then subscribes
only to its buckets of device topics (``subscriptions``), so that every report of a device meets
the same store and counter, and may leave anchoring to the process that runs the shards
(``anchor=False``; citychain.telemetry.gateway.shards).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry, Counter, start_http_server

from citychain.client import Client, Wallet
from citychain.modules.devices import STATUS_ACTIVE, Device
from citychain.telemetry import report as rep
from citychain.telemetry.gateway.anchorer import Anchorer
from citychain.telemetry.gateway.devices import DeviceCache
from citychain.telemetry.gateway.mqtt import BufferedClient
from citychain.telemetry.gateway.store import Batch, GatewayStore
from citychain.telemetry.gateway.topics import (
    BUCKETED_TOPIC,
    BUCKETS,
    bucket_of,
    report_topic,
    shard_buckets,
    shard_of,
    subscriptions,
)

__all__ = [
    "BUCKETED_TOPIC",
    "BUCKETS",
    "Anchorer",
    "Gateway",
    "GatewayConfig",
    "bucket_of",
    "report_topic",
    "shard_buckets",
    "shard_of",
    "subscriptions",
]

log = logging.getLogger("citychain.telemetry.gateway")

COUNTER_LIMIT = 2**63 - 1  # SQLite's INTEGER; a device never counts that far
MIN_CHUNK = 32  # signatures per verifier thread below which a thread is not worth it


@dataclass
class GatewayConfig:
    broker_host: str
    broker_port: int
    gateway_device: bytes
    batch_size: int = 1_000
    batch_ms: int = 1_000
    group_size: int = 500
    client_id: str = ""
    metrics: tuple[str, int] | None = None
    device_ttl_s: float = 30.0
    verify_threads: int = 2
    # Shard ``shard`` of ``shards`` takes the devices of its buckets (shard_buckets); its store
    # is its own. ``anchor`` False leaves the store's pending batches to another process (the
    # supervisor of `citychain gateway --shards N`, which anchors every shard with one key).
    shard: int = 0
    shards: int = 1
    anchor: bool = True

    def __post_init__(self) -> None:
        shard_buckets(self.shard, self.shards)  # ValueError on a shard that cannot be

    @property
    def mqtt_client_id(self) -> str:
        """A persistent session per shard; a lone gateway keeps the id it always had."""
        if self.client_id:
            return self.client_id
        base = f"citychain-gateway-{self.gateway_device.hex()[:16]}"
        return base if self.shards == 1 else f"{base}-{self.shard}of{self.shards}"


@dataclass
class Stats:
    accepted: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(rep.REASONS, 0))
    batches_anchored: int = 0


@dataclass(frozen=True, slots=True)
class _Incoming:
    mid: int
    qos: int
    topic: str
    payload: bytes
    generation: int


class Gateway:
    def __init__(
        self, config: GatewayConfig, store: GatewayStore, wallet: Wallet | None, client: Client
    ) -> None:
        """``wallet`` signs the anchors: the gateway device owner's; None only without
        ``config.anchor``."""
        self.config = config
        self.store = store
        self.wallet = wallet
        self.client = client
        # One gateway per store: a second one (or a restarted one whose predecessor is still
        # dying) would load counters that miss the other's commits.
        store.acquire_writer_lock()
        store.check_layout(config.shard, config.shards)
        self.devices = DeviceCache(client, ttl_s=config.device_ttl_s)
        self.stats = Stats()
        self._counters = store.counters()
        self._queue: queue.Queue[_Incoming] = queue.Queue()
        self._stop = threading.Event()
        self._anchor_wake = threading.Event()
        self._generation = 0
        self._first_unbatched: float | None = None
        self._unbatched = store.unbatched_count()
        if self._unbatched:
            self._first_unbatched = time.monotonic()
        self._threads: list[threading.Thread] = []
        self._pool = ThreadPoolExecutor(max(1, config.verify_threads), "gateway-verify")
        self.registry = CollectorRegistry()
        self._m_accepted = Counter(
            "citychain_gateway_reports_accepted", "reports stored", registry=self.registry
        )
        self._m_rejected = Counter(
            "citychain_gateway_reports_rejected",
            "reports refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        for reason in rep.REASONS:
            self._m_rejected.labels(reason)
        self._m_duplicates = Counter(
            "citychain_gateway_reports_duplicate",
            "redeliveries of stored reports (acknowledged, not stored again)",
            registry=self.registry,
        )
        self.anchorer: Anchorer | None = None
        if config.anchor:
            if wallet is None:
                raise ValueError("a gateway that anchors needs the owner's wallet")
            self.anchorer = Anchorer(
                [store], wallet, client, config.gateway_device, self.registry, self._on_anchored
            )
        self.mqtt = BufferedClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=config.mqtt_client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_message = self._on_message
        self.mqtt.on_subscribe = self._on_subscribe
        self._subscribed = threading.Event()
        self.mqtt.reconnect_delay_set(1, 2)

    def _on_anchored(self, batch: Batch) -> None:
        self.stats.batches_anchored += 1

    # --- MQTT -----------------------------------------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: object,
        properties: object,
    ) -> None:
        self._generation += 1
        client.subscribe(
            [(topic, 1) for topic in subscriptions(self.config.shard, self.config.shards)]
        )
        log.info("connected to the broker (session present: %s)", flags.session_present)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, codes: object, props: object
    ) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(_Incoming(msg.mid, msg.qos, msg.topic, msg.payload, self._generation))

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> Gateway:
        if self.config.metrics is not None:
            host, port = self.config.metrics
            start_http_server(port, host, registry=self.registry)
        self.mqtt.connect_async(self.config.broker_host, self.config.broker_port, keepalive=30)
        self.mqtt.loop_start()
        targets: list[tuple[Callable[[], None], str]] = [(self._ingest_loop, "ingest")]
        if self.anchorer is not None:
            anchorer = self.anchorer
            targets.append((lambda: anchorer.loop(self._stop, self._anchor_wake), "anchor"))
        for target, name in targets:
            thread = threading.Thread(target=target, name=f"gateway-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._anchor_wake.set()
        return self

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the broker has confirmed the subscription (the first SUBACK)."""
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._anchor_wake.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.mqtt.disconnect()
        self.mqtt.loop_stop()
        self._pool.shutdown()
        self.store.close()

    def idle(self) -> bool:
        """Nothing queued, nothing unbatched, nothing pending (for tests and the benchmark)."""
        return self._queue.empty() and self._unbatched == 0 and not self.store.pending_batches(1)

    # --- ingest ---------------------------------------------------------------------------
    def _ingest_loop(self) -> None:
        timeout = self.config.batch_ms / 1000
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=min(timeout, 0.2))
            except queue.Empty:
                self._maybe_cut(time.monotonic())
                continue
            group = [first]
            while len(group) < self.config.group_size:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            # The group is retried until it is stored: its messages are unacknowledged, and a
            # broker redelivers those only on a new connection, so dropping them would stall.
            while True:
                try:
                    self._ingest(group)
                    break
                except Exception:
                    log.exception("ingest failed for a group of %d messages", len(group))
                    if self._stop.wait(0.5):
                        return
            self._maybe_cut(time.monotonic())

    def _ingest(self, group: list[_Incoming]) -> None:
        rows: list[tuple[bytes, bytes, int, bytes]] = []
        seen: set[bytes] = set()
        pending_counters: dict[bytes, int] = {}
        prepared: list[tuple[_Incoming, tuple[rep.Report, Device] | rep.ReportError]] = []
        for item in group:
            try:
                prepared.append((item, self._prepare(item)))
            except rep.ReportError as exc:
                prepared.append((item, exc))
        signatures = iter(
            self._verify_signatures([found for _, found in prepared if isinstance(found, tuple)])
        )
        for item, found in prepared:
            try:
                if isinstance(found, rep.ReportError):
                    raise found
                report, device = found
                accepted = self._check(report, device, next(signatures), pending_counters, seen)
            except rep.ReportError as exc:
                self.stats.rejected[exc.reason] += 1
                self._m_rejected.labels(exc.reason).inc()
                log.warning("rejected report on %s: %s", item.topic, exc)
                continue
            if accepted is None:
                continue
            seen.add(accepted.id)
            pending_counters[accepted.body.device_id] = accepted.body.counter
            rows.append((accepted.id, accepted.body.device_id, accepted.body.counter, accepted.raw))
        if rows:
            self.store.add_reports(rows)
            self._counters.update(pending_counters)
            self.stats.accepted += len(rows)
            self._m_accepted.inc(len(rows))
            if self._first_unbatched is None:
                self._first_unbatched = time.monotonic()
            self._unbatched += len(rows)
        # Only now, with the accepted reports committed, acknowledge every message of the group,
        # in arrival order and as one write. Messages of an earlier connection are not: their
        # packet ids mean nothing on this one, and the broker sends them again anyway.
        generation = self._generation
        self.mqtt.ack_many(
            [item.mid for item in group if item.qos == 1 and item.generation == generation]
        )

    def _prepare(self, item: _Incoming) -> tuple[rep.Report, Device]:
        """Decode the payload and find its device (ReportError: malformed, unsigned, unknown)."""
        report = rep.parse_report(item.payload)
        device_id = report.body.device_id
        if item.topic != report_topic(device_id):
            raise rep.ReportError(rep.MALFORMED, f"device {device_id.hex()} on {item.topic}")
        device = self.devices.get(device_id)
        if device is None:
            raise rep.ReportError(rep.UNKNOWN_DEVICE, f"no device {device_id.hex()}")
        return report, device

    def _verify_signatures(self, pairs: list[tuple[rep.Report, Device]]) -> list[bool]:
        """Check a group's signatures, split over threads: libsodium runs without the GIL, so
        they verify on every core while paho's thread keeps reading the socket."""

        def verify_chunk(chunk: list[tuple[rep.Report, Device]]) -> list[bool]:
            return [report.signature_valid(device.public_key) for report, device in chunk]

        threads = self.config.verify_threads
        if threads <= 1 or len(pairs) < 2 * MIN_CHUNK:
            return verify_chunk(pairs)
        size = max(MIN_CHUNK, -(-len(pairs) // threads))
        chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
        return [ok for result in self._pool.map(verify_chunk, chunks) for ok in result]

    def _check(
        self,
        report: rep.Report,
        device: Device,
        signature_ok: bool,
        pending: dict[bytes, int],
        seen: set[bytes],
    ) -> rep.Report | None:
        """The report if it is to be stored; None for a redelivered one; else ReportError.
        Order: signature, device status and kind, ranges, counter."""
        body = report.body
        if not signature_ok:
            refreshed = self.devices.refresh(body.device_id)  # a rotation we have not seen?
            if refreshed is None or not report.signature_valid(refreshed.public_key):
                raise rep.ReportError(rep.FORGED, f"bad signature for {body.device_id.hex()}")
            device = refreshed
        if device.status != STATUS_ACTIVE:
            refreshed = self.devices.refresh(body.device_id)
            if refreshed is None or refreshed.status != STATUS_ACTIVE:
                raise rep.ReportError(rep.DECOMMISSIONED, f"{body.device_id.hex()} is retired")
        if body.kind != device.kind:
            raise rep.ReportError(
                rep.MALFORMED, f"{body.kind} readings from a {device.kind} device"
            )
        rep.check_ranges(body)
        if body.counter > COUNTER_LIMIT:
            raise rep.ReportError(rep.OUT_OF_RANGE, f"counter {body.counter} > 2^63-1")
        last = pending.get(body.device_id, self._counters.get(body.device_id, -1))
        if body.counter <= last:
            if report.id in seen or self.store.has_report(report.id):
                self.stats.duplicates += 1
                self._m_duplicates.inc()
                return None
            raise rep.ReportError(
                rep.REPLAYED, f"counter {body.counter} of {body.device_id.hex()} <= {last}"
            )
        return report

    def _maybe_cut(self, now: float) -> None:
        cut = False
        while self._unbatched >= self.config.batch_size:
            cut |= self._cut()
        started = self._first_unbatched
        due = started is not None and (now - started) * 1000 >= self.config.batch_ms
        if self._unbatched and due:
            cut |= self._cut()
        if cut:
            self._anchor_wake.set()

    def _cut(self) -> bool:
        batch = self.store.cut_batch(self.config.gateway_device, self.config.batch_size)
        if batch is None:
            self._unbatched = 0
            self._first_unbatched = None
            return False
        self._unbatched -= batch.count
        self._first_unbatched = time.monotonic() if self._unbatched else None
        return True
