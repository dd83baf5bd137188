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
- the anchor thread submits each pending batch as its own transaction (``devices/anchor``) and
  marks it anchored with the committed height. A batch is written as pending before it is
  submitted; after a restart, or any error, its anchor is first looked up on the ledger
  (``dev/b/<id>``), and the ledger refuses a second anchor of the same id (``devices/8``), so no
  batch is anchored twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from citychain.client import ApiError, Client, Wallet
from citychain.codec import decode
from citychain.devices import report as rep
from citychain.gateway.devices import DeviceCache
from citychain.gateway.store import Batch, GatewayStore
from citychain.modules.devices import Anchor, Device, anchor_key
from citychain.modules.devices.messages import MsgAnchorBatch
from citychain.modules.devices.state import STATUS_ACTIVE

__all__ = ["TOPIC", "Gateway", "GatewayConfig", "report_topic"]

log = logging.getLogger("citychain.gateway")

TOPIC = "citychain/devices/+/reports"
COUNTER_LIMIT = 2**63 - 1  # SQLite's INTEGER; a device never counts that far
BATCH_EXISTS = ("devices", 8)
MAX_TXS_PER_REQUEST = 64
MIN_CHUNK = 32  # signatures per verifier thread below which a thread is not worth it


def report_topic(device_id: bytes) -> str:
    return f"citychain/devices/{device_id.hex()}/reports"


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
        self, config: GatewayConfig, store: GatewayStore, wallet: Wallet, client: Client
    ) -> None:
        self.config = config
        self.store = store
        self.wallet = wallet
        self.client = client
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
        # Batches pending at start-up may have been anchored before a crash: look them up first.
        self._lookup_first = {b.id for b in store.pending_batches()}
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
        self._m_anchored = Counter(
            "citychain_gateway_batches_anchored", "batches anchored", registry=self.registry
        )
        self._m_pending = Gauge(
            "citychain_gateway_batches_pending", "batches awaiting anchor", registry=self.registry
        )
        client_id = config.client_id or f"citychain-gateway-{config.gateway_device.hex()[:16]}"
        self.mqtt = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_message = self._on_message
        self.mqtt.on_subscribe = self._on_subscribe
        self._subscribed = threading.Event()
        self.mqtt.reconnect_delay_set(1, 2)

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
        client.subscribe(TOPIC, qos=1)
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
        self._m_pending.set(len(self.store.pending_batches()))
        self.mqtt.connect_async(self.config.broker_host, self.config.broker_port, keepalive=30)
        self.mqtt.loop_start()
        for target, name in ((self._ingest_loop, "ingest"), (self._anchor_loop, "anchor")):
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
        prepared: list[tuple[_Incoming, rep.Report, Device] | tuple[_Incoming, rep.ReportError]]
        prepared = []
        for item in group:
            try:
                prepared.append((item, *self._prepare(item)))
            except rep.ReportError as exc:
                prepared.append((item, exc))
        signatures = iter(self._verify_signatures([(p[1], p[2]) for p in prepared if len(p) == 3]))
        for entry in prepared:
            try:
                if len(entry) == 2:
                    raise entry[1]
                item, report, device = entry
                accepted = self._check(report, device, next(signatures), pending_counters, seen)
            except rep.ReportError as exc:
                self.stats.rejected[exc.reason] += 1
                self._m_rejected.labels(exc.reason).inc()
                log.warning("rejected report on %s: %s", entry[0].topic, exc)
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
        # Only now, with the accepted reports committed, acknowledge every message of the group.
        for item in group:
            if item.qos > 0 and item.generation == self._generation:
                self.mqtt.ack(item.mid, item.qos)

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
        self._m_pending.inc()
        return True

    # --- anchoring ------------------------------------------------------------------------
    def _anchor_loop(self) -> None:
        while True:
            self._anchor_wake.wait(timeout=1.0)
            self._anchor_wake.clear()
            stopping = self._stop.is_set()
            try:
                self._anchor_pending()
            except Exception:
                log.exception("anchoring failed; retrying")
                self.wallet.resync()
                self._lookup_first.update(b.id for b in self.store.pending_batches())
                time.sleep(1.0)
            if stopping:
                return

    def _ledger_anchor(self, batch: Batch) -> Anchor | None:
        value = self.client.state(anchor_key(batch.id))["value"]
        return decode(bytes.fromhex(value), Anchor) if value else None

    def _anchored(self, batch: Batch, height: int, tx_hash: str) -> None:
        self.store.mark_anchored(batch.id, height, tx_hash)
        self._lookup_first.discard(batch.id)
        self.stats.batches_anchored += 1
        self._m_anchored.inc()
        self._m_pending.dec()

    def _anchor_pending(self) -> None:
        while True:
            pending = self.store.pending_batches(MAX_TXS_PER_REQUEST)
            if not pending:
                return
            to_submit = []
            for batch in pending:
                if batch.id in self._lookup_first:
                    found = self._ledger_anchor(batch)
                    if found is not None:
                        if found.root != batch.root or found.count != batch.count:
                            raise RuntimeError(f"batch {batch.id.hex()} anchored differently")
                        self._anchored(batch, found.height, "")
                        continue
                    self._lookup_first.discard(batch.id)
                to_submit.append(batch)
            if not to_submit:
                continue
            raws = [
                self.wallet.sign(
                    [MsgAnchorBatch(b.id, b.root, b.count, self.config.gateway_device)]
                )
                for b in to_submit
            ]
            try:
                results = self.client.broadcast_batch(raws, wait=True)
            except ApiError:
                # Unknown outcome: some may have committed. Look every one up before resending.
                self._lookup_first.update(b.id for b in to_submit)
                raise
            failed = False
            for batch, result in zip(to_submit, results, strict=True):
                code = (result.get("codespace"), result.get("code"))
                if result.get("code") == 0 and result.get("height") is not None:
                    self._anchored(batch, int(result["height"]), str(result["hash"]))
                elif code == BATCH_EXISTS:
                    self._lookup_first.add(batch.id)
                else:
                    failed = True
                    self._lookup_first.add(batch.id)
                    log.warning("anchor of batch %s refused: %s", batch.id.hex(), result)
            if failed:
                self.wallet.resync()
                raise RuntimeError("an anchor transaction was refused")
