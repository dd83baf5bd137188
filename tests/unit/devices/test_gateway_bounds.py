"""The gateway under a flood (issue 13, "Gateway"): reports naming made-up device ids leave the
device cache at its bound and do not stall the ingest thread; what needs no device is checked
before any lookup; the queue between paho's thread and the ingest thread stays at its bound.
And a node that is slow, down or restarting loses nothing: a report whose device lookup got no
answer is held, not acknowledged, and stored once the node answers."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import paho.mqtt.client as mqtt
import pytest
from netutil import wait_until

from citychain.client import ApiError, Client
from citychain.codec import encode
from citychain.crypto.keys import PrivateKey
from citychain.modules.devices import STATUS_ACTIVE, Device, device_key
from citychain.sim.devices import SimDevice
from citychain.telemetry import report as rep
from citychain.telemetry.gateway import Gateway, GatewayConfig, GatewayStore
from citychain.telemetry.gateway.checks import Answers, Held
from citychain.telemetry.gateway.devices import DeviceCache
from citychain.telemetry.gateway.topics import report_topic

FLOOD = 100_000
GROUP = 500
BURST = 200  # DeviceCache's unknown_burst
NO_CLIENT = cast(mqtt.Client, None)  # Gateway._on_message does not use paho's client


class FakeNode:
    """The node's ``/state`` as the gateway's client sees it: registered devices and a count of
    lookups. A node in trouble: the next ``failures`` lookups raise ApiError (down); while
    ``hang`` is not set, every lookup waits for it (slow); while ``hang_unknown`` is not set,
    lookups of ids it does not know wait for it."""

    def __init__(self) -> None:
        self.devices: dict[bytes, Device] = {}
        self.calls = 0
        self.failures = 0
        self.hang: threading.Event | None = None
        self.hang_unknown: threading.Event | None = None
        self._lock = threading.Lock()

    def register(self, device: SimDevice, key: PrivateKey | None = None) -> None:
        public = (key or device.key).public_key
        self.devices[device.id] = Device(
            b"\x01" * 20, device.kind, public, bytes(32), STATUS_ACTIVE, 1, 1, 1
        )

    def release(self) -> None:
        """Answer again: no more failures, every waiting lookup let go (also a test's teardown:
        no pool thread left blocked)."""
        self.failures = 0
        for event in (self.hang, self.hang_unknown):
            if event is not None:
                event.set()

    def state(self, key: bytes) -> dict[str, str]:
        with self._lock:
            self.calls += 1
            failing = self.failures > 0
            self.failures -= failing
        if failing:
            raise ApiError(0, "cannot reach the node")
        if self.hang is not None:
            self.hang.wait()
        for device_id, device in self.devices.items():
            if device_key(device_id) == key:
                return {"value": encode(device).hex()}
        if self.hang_unknown is not None:
            self.hang_unknown.wait()
        return {"value": ""}


def as_client(node: FakeNode) -> Client:
    return cast(Client, node)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _device(name: str) -> SimDevice:
    return SimDevice(PrivateKey.from_seed(hashlib.sha256(name.encode()).digest()))


def test_a_flood_of_unknown_ids_leaves_the_cache_at_its_bound() -> None:
    """100,000 random ids, each looked up (no lookup budget here): the misses' LRU holds its
    bound, and a real device cached before the flood is still served from the cache."""
    node = FakeNode()
    real = _device("real")
    node.register(real)
    cache = DeviceCache(
        as_client(node),
        max_known=100,
        max_missing=1_000,
        unknown_per_s=1e9,
        unknown_burst=10**9,
        max_pending=GROUP,
    )
    try:
        assert cache.resolve([real.id], 5).devices[real.id] is not None
        for _ in range(FLOOD // GROUP):
            ids = [os.urandom(32) for _i in range(GROUP)]
            found = cache.resolve(ids, 5)
            assert all(found.devices[i] is None for i in ids) and not found.unanswered
            assert len(cache) <= 100 + 1_000
        assert len(cache) == 1 + 1_000
        calls = node.calls
        assert cache.resolve([real.id], 5).devices[real.id] is not None
        assert node.calls == calls, "the flood evicted a real device"
    finally:
        cache.close()


def test_unknown_ids_are_looked_up_within_a_budget() -> None:
    """Lookups of ids the cache does not know take tokens: a burst, then ``unknown_per_s``; the
    ids left without a lookup are ``throttled`` (not ``unanswered``). Known devices are
    refreshed outside the budget, and so are ids the caller vouches for."""
    node = FakeNode()
    real, vouched = _device("budget"), _device("vouched")
    node.register(real)
    node.register(vouched)
    clock = Clock()
    cache = DeviceCache(as_client(node), unknown_per_s=10, unknown_burst=50, clock=clock)
    try:
        assert cache.resolve([real.id], 5).devices[real.id] is not None  # one token
        flood = [os.urandom(32) for _ in range(FLOOD // 10)]
        found = cache.resolve(flood, 5)
        assert len(found.devices) == 49, "only the burst's lookups ran"
        assert len(found.throttled) == len(flood) - 49 and not found.unanswered
        assert cache.throttled == len(flood) - 49
        late = cache.resolve([vouched.id], 5)
        assert late.throttled == {vouched.id}, "no token left"
        found = cache.resolve([vouched.id], 5, vouched={vouched.id})
        assert found.devices[vouched.id] is not None and not found.throttled
        clock.now += 1.0  # 10 more tokens; the misses, cached 2 s, still fresh
        assert len(cache.resolve(flood, 5).devices) == 49 + 10
        clock.now += 60.0  # every entry expired, the bucket full again
        node.calls = 0
        assert cache.resolve([real.id], 5).devices[real.id] is not None
        assert node.calls == 1
    finally:
        cache.close()


def test_an_unreachable_node_keeps_known_devices() -> None:
    """The node down: a known device keeps its cached record, an id the cache does not know is
    ``unanswered`` (not throttled), and its failed lookup gives its token back, so asking again
    needs none: a group held for it is not refused later for want of tokens."""
    node = FakeNode()
    real = _device("down")
    node.register(real)
    clock = Clock()
    cache = DeviceCache(as_client(node), unknown_burst=2, unknown_per_s=0.0, clock=clock)
    try:
        assert cache.resolve([real.id], 5).devices[real.id] is not None  # one token of 2
        clock.now += 60.0
        node.failures = 1_000
        stranger = os.urandom(32)
        for _ in range(10):
            found = cache.resolve([real.id, stranger], 5)
            assert found.devices[real.id] is not None, "the cached record"
            assert stranger not in found.devices and not found.throttled
            assert found.unanswered == {real.id, stranger}
        assert cache.failed == 20 and cache.throttled == 0
    finally:
        cache.close()


MakeGateway = Callable[..., Gateway]


@pytest.fixture
def gateway_for(tmp_path: Path) -> Iterator[MakeGateway]:
    made: list[Gateway] = []

    def make(node: FakeNode, **options: Any) -> Gateway:
        config = GatewayConfig("127.0.0.1", 1, b"\x07" * 32, anchor=False, **options)
        gateway = Gateway(
            config, GatewayStore(tmp_path / f"store-{len(made)}"), None, as_client(node)
        )
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.stop()


def _message(topic: str, payload: bytes, qos: int = 0, mid: int = 1) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(mid=mid, topic=topic.encode())
    msg.payload = payload
    msg.qos = qos
    return msg


def _drain(gateway: Gateway) -> list[Any]:
    items: list[Any] = []
    while not gateway._queue.empty():
        items.append(gateway._queue.get_nowait())
    return items


def test_a_group_of_unknown_devices_does_not_stall_ingest(gateway_for: MakeGateway) -> None:
    """500 signed reports of unregistered devices and one of a device the gateway serves, on a
    node that does not answer lookups of unknown ids until the test lets it: a try of the group
    returns after the lookup timeout, holding the group (its looked-up devices unanswered), and
    has started only the burst's lookups; once the node answers, the group settles: the burst's
    ids refused as unknown, the rest as throttled, the served device's report stored. No
    lookup beyond the burst (time does not move in the cache: no tokens come back)."""
    node = FakeNode()
    real = _device("stall")
    node.register(real)
    gateway = gateway_for(node, lookup_timeout_s=0.2)
    _frozen_cache(gateway, node)
    assert gateway.devices.resolve([real.id], 5).devices[real.id] is not None  # one token
    node.hang_unknown = threading.Event()
    acks = _record_acks(gateway)
    strangers = [SimDevice(PrivateKey.generate()) for _ in range(GROUP)]
    for i, device in enumerate([*strangers, real]):
        msg = _message(report_topic(device.id), device.report(), qos=1, mid=i + 1)
        gateway._on_message(NO_CLIENT, None, msg)
    group = _drain(gateway)
    try:
        with pytest.raises(Held):
            gateway._ingest(group)
        assert gateway.devices.lookups == BURST and gateway.devices.throttled == GROUP - (BURST - 1)
        assert acks == [] and gateway.stats.accepted == 0
        assert sum(gateway.stats.rejected.values()) == 0
    finally:
        node.release()
    answers = Answers()
    wait_until(lambda: _settled(gateway, group, answers), 60, "the group settled")
    assert gateway.stats.accepted == 1
    refused = gateway.stats.rejected
    assert refused[rep.UNKNOWN_DEVICE] == BURST - 1
    assert refused[rep.THROTTLED] == GROUP - (BURST - 1)
    assert node.calls == BURST, "lookups of unknown ids beyond the burst"
    assert len(gateway.devices) == BURST
    assert acks == [[item.mid for item in group]], "the whole group, once, in order"


def _frozen_cache(gateway: Gateway, node: FakeNode) -> Clock:
    """Give ``gateway`` a device cache on a clock that moves only when the test says."""
    clock = Clock()
    gateway.devices.close()
    gateway.checker.devices = DeviceCache(as_client(node), unknown_burst=BURST, clock=clock)
    return clock


def _record_acks(gateway: Gateway) -> list[list[int]]:
    """The packet ids the gateway acknowledges, one list per ack_many (it has no broker)."""
    acks: list[list[int]] = []

    def ack_many(mids: Sequence[int]) -> None:
        acks.append(list(mids))

    gateway.mqtt.ack_many = ack_many  # type: ignore[method-assign]
    return acks


def _settled(gateway: Gateway, group: list[Any], answers: Answers) -> bool:
    """One more try of a held group (what Gateway._ingest_until_settled does): True once in."""
    try:
        gateway._ingest(group, answers)
    except Held:
        return False
    return True


def _held(gateway: Gateway) -> float:
    return gateway.registry.get_sample_value("citychain_gateway_groups_held_total") or 0.0


def _settled_count(gateway: Gateway) -> int:
    """Reports stored or refused so far."""
    return gateway.stats.accepted + sum(gateway.stats.rejected.values())


@pytest.mark.parametrize("trouble", ["down", "slow"])
def test_a_registered_device_waits_for_an_unreachable_node(
    gateway_for: MakeGateway, trouble: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression (issue 13): the node down (its lookups fail) or slow (no answer within the
    lookup timeout) for a registered device the gateway has not cached yet. Its report is
    neither refused nor acknowledged while the node does not answer; the ingest loop holds the
    group, says so in a warning without a traceback, and stores and acknowledges the report
    once the node answers. (Before: refused as unresolved and acknowledged, so lost.)"""
    node = FakeNode()
    device = _device(f"registered-{trouble}")
    node.register(device)
    gateway = gateway_for(node, lookup_timeout_s=0.2)
    acks = _record_acks(gateway)
    if trouble == "down":
        node.failures = 10**6
    else:
        node.hang = threading.Event()
    caplog.set_level(logging.WARNING, logger="citychain.telemetry.gateway")
    loop = threading.Thread(target=gateway._ingest_loop, daemon=True)
    loop.start()
    try:
        gateway._on_message(
            NO_CLIENT, None, _message(report_topic(device.id), device.report(), qos=1, mid=9)
        )
        wait_until(lambda: _held(gateway) >= 2 or _settled_count(gateway) > 0, 60, "two tries")
        assert sum(gateway.stats.rejected.values()) == 0, "refused, not held"
        assert acks == [] and gateway.stats.accepted == 0
    finally:
        node.release()
    wait_until(lambda: _settled_count(gateway) > 0, 60, "the report settled")
    gateway._stop.set()
    loop.join(30)
    assert gateway.stats.accepted == 1 and sum(gateway.stats.rejected.values()) == 0
    assert gateway.store.report_count() == 1
    assert acks == [[9]]
    held = [r for r in caplog.records if "holding a group" in r.getMessage()]
    assert held and all(r.exc_info is None for r in held)


def test_a_rotated_key_waits_for_an_unreachable_node(gateway_for: MakeGateway) -> None:
    """A cached device rotates its key while the node is down: its report fails the cached key
    and the refresh gets no answer, so the report is held, not refused as forged; once the
    node answers with the new key, it is stored."""
    node = FakeNode()
    device = _device("rotating")
    node.register(device, key=_device("old key").key)
    gateway = gateway_for(node, lookup_timeout_s=0.2)
    clock = _frozen_cache(gateway, node)
    assert gateway.devices.resolve([device.id], 5).devices[device.id] is not None
    node.register(device)  # the ledger's key now the device's
    node.failures = 10**6
    clock.now += 2.0  # the cached key old enough to refresh (REFRESH_MIN_S)
    gateway._on_message(NO_CLIENT, None, _message(report_topic(device.id), device.report()))
    group = _drain(gateway)
    answers = Answers()
    for _ in range(3):
        with pytest.raises(Held):
            gateway._ingest(group, answers)
    assert sum(gateway.stats.rejected.values()) == 0
    node.failures = 0
    wait_until(lambda: _settled(gateway, group, answers), 60, "the group settled")
    assert gateway.stats.accepted == 1 and sum(gateway.stats.rejected.values()) == 0


def test_what_needs_no_device_is_refused_before_any_lookup(gateway_for: MakeGateway) -> None:
    """Malformed, oversized, on the wrong topic, out of range: refused with no lookup."""
    node = FakeNode()
    gateway = gateway_for(node)
    stranger = SimDevice(PrivateKey.generate())
    absurd = rep.ReportBody(stranger.id, 1, 0, rep.BmsReadings(400_000, 0, 4_000))
    messages = [
        _message(report_topic(stranger.id), b"\x93not a report"),
        _message(report_topic(stranger.id), b"\x00" * (rep.MAX_WIRE_BYTES + 10_000)),
        _message(report_topic(os.urandom(32)), stranger.report()),
        _message(report_topic(stranger.id), rep.sign_report(stranger.key, absurd)),
    ]
    for msg in messages:
        gateway._on_message(NO_CLIENT, None, msg)
    items = _drain(gateway)
    assert all(len(item.payload) <= rep.MAX_WIRE_BYTES + 1 for item in items)
    gateway._ingest(items)
    assert node.calls == 0
    assert gateway.stats.rejected[rep.MALFORMED] == 3
    assert gateway.stats.rejected[rep.OUT_OF_RANGE] == 1


def test_the_queue_holds_its_bound_under_a_flood(gateway_for: MakeGateway) -> None:
    """QoS 0 messages beyond the bound are dropped and counted; a QoS 1 message waits for room
    (the broker keeps it meanwhile), and stop() releases a waiting one."""
    gateway = gateway_for(FakeNode(), queue_size=100)
    device = _device("queue")
    raw = device.report()
    for i in range(10_000):
        gateway._on_message(NO_CLIENT, None, _message(report_topic(device.id), raw, mid=i))
    assert gateway._queue.qsize() == 100
    assert gateway.stats.dropped == 9_900
    assert gateway.registry.get_sample_value("citychain_gateway_messages_dropped_total") == 9_900
    assert gateway.registry.get_sample_value("citychain_gateway_queue_depth") == 100

    waiting = threading.Thread(
        target=gateway._on_message,
        args=(NO_CLIENT, None, _message(report_topic(device.id), raw, 1, 7)),
    )
    waiting.start()
    wait_until(
        lambda: gateway.registry.get_sample_value("citychain_gateway_queue_full_total") == 1,
        10,
        "the QoS 1 message waiting",
    )
    assert waiting.is_alive() and gateway._queue.qsize() == 100
    gateway._queue.get_nowait()
    waiting.join(10)
    assert not waiting.is_alive() and gateway._queue.qsize() == 100
    assert gateway.stats.dropped == 9_900  # the QoS 1 message was not dropped

    stuck = threading.Thread(
        target=gateway._on_message,
        args=(NO_CLIENT, None, _message(report_topic(device.id), raw, 1, 8)),
    )
    stuck.start()
    gateway._stop.set()
    stuck.join(10)
    assert not stuck.is_alive()


def test_a_device_the_gateway_has_stored_needs_no_token(gateway_for: MakeGateway) -> None:
    """With no lookup budget left (a flood, or a restart meeting a large fleet), a device whose
    reports the gateway has stored before is still looked up (it is real: its reports passed a
    signature under the ledger's key); a device it has never seen is refused as throttled."""
    node = FakeNode()
    seen, new = _device("seen before"), _device("never seen")
    node.register(seen)
    node.register(new)
    gateway = gateway_for(node)
    gateway.devices.close()
    gateway.checker.devices = DeviceCache(as_client(node), unknown_burst=0, clock=Clock())
    gateway._counters[seen.id] = 0  # as loaded from the store after a restart
    raw = seen.report()
    gateway._on_message(NO_CLIENT, None, _message(report_topic(seen.id), raw))
    gateway._on_message(NO_CLIENT, None, _message(report_topic(new.id), new.report()))
    gateway._ingest(_drain(gateway))
    assert gateway.stats.accepted == 1 and gateway.store.has_report(rep.report_id(raw))
    assert gateway.stats.rejected[rep.THROTTLED] == 1
    assert node.calls == 1
