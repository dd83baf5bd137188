"""The telemetry gateway (docs/modules/devices.md §5).

Three threads:

- paho's network thread receives QoS 1 PUBLISHes on a persistent session (fixed client id,
  ``clean_session`` false) and queues them; nothing is acknowledged automatically
  (``manual_ack``);
- the ingest thread takes them in groups and checks them (citychain.telemetry.gateway.checks):
  decode, topic and ranges (no lookup yet), then the group's devices (cached from the ledger,
  looked up in parallel and within a budget: citychain.telemetry.gateway.devices), signature,
  status; then here the counter. It stores the accepted ones in one SQLite transaction, and
  only then acknowledges the whole group, in arrival order (MQTT 3.1.1 §4.6). A gateway killed
  before its commit never acknowledged those messages, so the broker delivers them again; one
  killed after its commit but before the PUBACKs gets them again and recognises them by id
  (``duplicate``). A group with a report whose device lookup got no answer (the node slow, down
  or restarting) is neither stored nor acknowledged: it is held and tried again until every
  lookup is answered;
- the anchor thread (``Anchorer``) submits each pending batch as its own transaction
  (``devices/anchor``) and marks it anchored with the committed height. A batch is written as
  pending before it is submitted; after a restart, or any error, its anchor is first looked up
  on the ledger (``dev/b/<id>``), and the ledger refuses a second anchor of the same id
  (``devices/8``), so no batch is anchored twice.

The queue between the first two is bounded (``queue_size``): a QoS 0 message that finds it full
is dropped and counted; a QoS 1 message waits for room (the broker sends at most its
``max_inflight_messages`` unacknowledged ones, so the wait is short and nothing is lost).

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
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import CollectorRegistry, start_http_server

from citychain.client import Client, Wallet
from citychain.telemetry import report as rep
from citychain.telemetry.gateway.anchorer import Anchorer
from citychain.telemetry.gateway.checks import Answers, GroupChecker, Held, Incoming
from citychain.telemetry.gateway.devices import DeviceCache
from citychain.telemetry.gateway.metrics import GatewayMetrics, Stats
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
    "Stats",
    "bucket_of",
    "report_topic",
    "shard_buckets",
    "shard_of",
    "subscriptions",
]

log = logging.getLogger("citychain.telemetry.gateway")

QUEUE_WAIT_S = 0.5  # a QoS 1 message waiting for room in the queue looks at stop() this often
# A group held for an unanswered device lookup is tried again after HOLD_WAIT_S, doubling up to
# HOLD_WAIT_MAX_S while the node stays unreachable.
HOLD_WAIT_S = 0.25
HOLD_WAIT_MAX_S = 2.0
FAIL_WAIT_S = 0.5  # a group whose ingest failed (an exception) is tried again after this


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
    # Bounds (docs/modules/devices.md §6): messages waiting for the ingest thread; devices
    # cached; lookups of ids the cache does not know, per second; the longest a group waits
    # for its lookups.
    queue_size: int = 10_000
    device_cache_size: int = 100_000
    unknown_lookups_per_s: float = 50.0
    lookup_timeout_s: float = 5.0
    # The broker account (Mosquitto's password_file); empty: connect without one.
    mqtt_username: str = ""
    mqtt_password: str = field(default="", repr=False)
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
        devices = DeviceCache(
            client,
            ttl_s=config.device_ttl_s,
            max_known=config.device_cache_size,
            max_missing=max(1, config.device_cache_size // 10),
            unknown_per_s=config.unknown_lookups_per_s,
        )
        self.checker = GroupChecker(devices, config.verify_threads, config.lookup_timeout_s)
        self._counters = store.counters()
        self._queue: queue.Queue[Incoming] = queue.Queue(maxsize=config.queue_size)
        self.metrics = GatewayMetrics(config.queue_size, self._queue.qsize)
        self._in_hand = 0  # messages the ingest thread has taken and not yet settled
        self.connect_error = ""
        self._stop = threading.Event()
        self._anchor_wake = threading.Event()
        self._generation = 0
        self._first_unbatched: float | None = None
        self._unbatched = store.unbatched_count()
        if self._unbatched:
            self._first_unbatched = time.monotonic()
        self._threads: list[threading.Thread] = []
        self.anchorer: Anchorer | None = None
        if config.anchor:
            if wallet is None:
                raise ValueError("a gateway that anchors needs the owner's wallet")
            self.anchorer = Anchorer(
                [store], wallet, client, config.gateway_device, self.registry, self._on_anchored
            )
        self._subscribed = threading.Event()
        self.mqtt = self._mqtt_client()

    @property
    def devices(self) -> DeviceCache:
        """The cache of the ledger's devices the checks look up."""
        return self.checker.devices

    @property
    def stats(self) -> Stats:
        return self.metrics.stats

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry

    def _mqtt_client(self) -> BufferedClient:
        """A persistent session (fixed client id, ``clean_session`` false) that acknowledges
        nothing by itself (``manual_ack``)."""
        config = self.config
        client = BufferedClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=config.mqtt_client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if config.mqtt_username:
            client.username_pw_set(config.mqtt_username, config.mqtt_password)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.reconnect_delay_set(1, 2)
        return client

    def _on_anchored(self, batch: Batch) -> None:
        self.metrics.anchored()

    # --- MQTT -----------------------------------------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: object,
        properties: object,
    ) -> None:
        if isinstance(reason_code, ReasonCode) and reason_code.is_failure:
            self.connect_error = str(reason_code)
            log.error("the broker refused the connection: %s", reason_code)
            return
        self.connect_error = ""
        if self._generation and not flags.session_present:
            # Reconnected to a broker that has no session for us: it restarted without having
            # written it (a SIGKILL before its next save), and delivered reports published
            # before this subscription to no one.
            log.warning("the broker lost this gateway's session: reports may have been lost")
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
        # Anything longer than a report is refused by its length alone: keep no more of it.
        payload = msg.payload[: rep.MAX_WIRE_BYTES + 1]
        item = Incoming(msg.mid, msg.qos, msg.topic, payload, self._generation)
        if msg.qos == 0:
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self.metrics.dropped(item.topic)
            return
        # QoS 1: wait for room. The broker has at most max_inflight_messages of ours unacknowledged,
        # so the queue cannot overflow by much; while paho's thread waits here, it reads nothing.
        try:
            self._queue.put_nowait(item)
            return
        except queue.Full:
            self.metrics.queue_full()
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=QUEUE_WAIT_S)
                return
            except queue.Full:
                continue
        # Stopping: the message stays unacknowledged, and the broker delivers it again.

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
        self.checker.close()
        self.store.close()

    def idle(self) -> bool:
        """Nothing queued or in hand, nothing unbatched, nothing pending (for tests and the
        benchmark)."""
        return (
            self._queue.empty()
            and self._in_hand == 0
            and self._unbatched == 0
            and not self.store.pending_batches(1)
        )

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
            self._in_hand = len(group)
            if not self._ingest_until_settled(group):
                return
            self._in_hand = 0
            self._maybe_cut(time.monotonic())

    def _ingest_until_settled(self, group: list[Incoming]) -> bool:
        """Ingest ``group``, trying again until it is settled; False if stopped meanwhile.

        Its messages are unacknowledged, and a broker redelivers those only on a new
        connection, so dropping them would stall. A group held for a device lookup with no
        answer (the node slow or unreachable) waits briefly and is tried again with what was
        answered so far; so does one whose ingest failed."""
        answers = Answers()
        hold_wait = HOLD_WAIT_S
        while True:
            try:
                self._ingest(group, answers)
                return True
            except Held as held:
                self.metrics.held(len(group), str(held))
                wait_s, hold_wait = hold_wait, min(2 * hold_wait, HOLD_WAIT_MAX_S)
            except Exception:
                log.exception("ingest failed for a group of %d messages", len(group))
                wait_s = FAIL_WAIT_S
            if self._stop.wait(wait_s):
                return False

    def _ingest(self, group: list[Incoming], answers: Answers | None = None) -> None:
        """Check, store and acknowledge ``group``; Held (nothing stored or acknowledged) if a
        device lookup it needs got no answer. ``answers`` carries lookups over between tries."""
        checks = self.checker.check(group, answers or Answers(), vouched=self._counters)
        held = [check for check in checks if check.unanswered]
        if held:
            devices = {check.device_id() for check in held}
            raise Held(f"{len(held)} reports of {len(devices)} devices")
        rows: list[tuple[bytes, bytes, int, bytes]] = []
        seen: set[bytes] = set()
        pending_counters: dict[bytes, int] = {}
        for check in checks:
            try:
                if check.error is not None:
                    raise check.error
                assert check.report is not None
                accepted = self._check_counter(check.report, pending_counters, seen)
            except rep.ReportError as exc:
                self.metrics.rejected(check.item.topic, exc)
                continue
            if accepted is None:
                continue
            seen.add(accepted.id)
            pending_counters[accepted.body.device_id] = accepted.body.counter
            rows.append((accepted.id, accepted.body.device_id, accepted.body.counter, accepted.raw))
        if rows:
            self.store.add_reports(rows)
            self._counters.update(pending_counters)
            self.metrics.accepted(len(rows))
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

    def _check_counter(
        self, report: rep.Report, pending: dict[bytes, int], seen: set[bytes]
    ) -> rep.Report | None:
        """The report if it is to be stored; None for a redelivered one; else ReportError
        (replayed): its counter must be above the device's last accepted one."""
        body = report.body
        last = pending.get(body.device_id, self._counters.get(body.device_id, -1))
        if body.counter <= last:
            if report.id in seen or self.store.has_report(report.id):
                self.metrics.duplicate()
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
