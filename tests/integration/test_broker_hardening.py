"""The telemetry broker as configured by citychain.telemetry.broker, against a real Mosquitto
(issue 13, "Gateway"): no anonymous client; a device publishes on its own topic only and reads
nothing; messages longer than a report are refused; and what a device got a PUBACK for while the
gateway was away survives a SIGKILL of the broker."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from netutil import wait_until
from paho.mqtt.enums import CallbackAPIVersion

from citychain.crypto.keys import PrivateKey
from citychain.sim.devices import Publisher, SimDevice
from citychain.telemetry.broker import MosquittoBroker, mosquitto_binary
from citychain.telemetry.broker_access import (
    CONNACK_ACCEPTED,
    CONNACK_NOT_AUTHORIZED,
    MAX_PACKET_SIZE,
    MqttLogin,
    connack_code,
)
from citychain.telemetry.gateway.topics import BUCKETED_TOPIC, report_topic
from citychain.telemetry.report import MAX_WIRE_BYTES, report_id

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian mosquitto")


def _device(name: str) -> SimDevice:
    return SimDevice(PrivateKey.from_seed(hashlib.sha256(b"broker test/" + name.encode()).digest()))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker") as running:
        yield running


class Listener:
    """An MQTT client that subscribes to every report topic and keeps what it receives: the
    gateway's account, or another's to show what that one may read."""

    def __init__(
        self, broker: MosquittoBroker, login: MqttLogin, client_id: str, *, keep: bool = False
    ) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not keep,
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(login.username, login.password)
        self.client.on_connect = lambda c, *_: c.subscribe("citychain/devices/#", qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.broker = broker

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, msg.payload))

    def start(self) -> Listener:
        self._subscribed.clear()
        self.client.connect(self.broker.host, self.broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [payload for _, payload in self.received]


def test_anonymous_and_wrong_passwords_are_refused(broker: MosquittoBroker) -> None:
    device = _device("login")
    assert connack_code(broker.host, broker.port, None) == CONNACK_NOT_AUTHORIZED
    assert connack_code(broker.host, broker.port, device.mqtt_login) == CONNACK_NOT_AUTHORIZED
    broker.add_devices([device.mqtt_login])  # a running broker reloads its accounts
    assert connack_code(broker.host, broker.port, device.mqtt_login) == CONNACK_ACCEPTED
    wrong = MqttLogin(device.mqtt_login.username, "not its password")
    assert connack_code(broker.host, broker.port, wrong) == CONNACK_NOT_AUTHORIZED
    assert connack_code(broker.host, broker.port, broker.gateway_login) == CONNACK_ACCEPTED
    assert connack_code(broker.host, broker.port, broker.relay_login) == CONNACK_ACCEPTED


def _publish_once(broker: MosquittoBroker, login: MqttLogin, topic: str, payload: bytes) -> None:
    """One connection, one QoS 1 PUBLISH, until its PUBACK (Mosquitto acknowledges a denied
    one too, then closes the connection)."""
    acked = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="once", protocol=mqtt.MQTTv311)
    client.username_pw_set(login.username, login.password)
    client.on_publish = lambda *_: acked.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1)
        assert acked.wait(10), f"no PUBACK for {topic}"
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_device_publishes_on_its_own_topic_only_and_reads_nothing(
    broker: MosquittoBroker,
) -> None:
    """Device A's reports on B's topic, on its own id under another bucket, and on a made-up
    topic are not delivered; its own report is. Mosquitto forwards a PUBLISH to subscribers in
    the loop turn it handles it, so once A's later report has reached the gateway, the earlier
    ones (each acknowledged before it was sent) would have too. Device B, subscribed to every
    report topic, receives nothing."""
    a, b = _device("a"), _device("b")
    broker.add_devices([a.mqtt_login, b.mqtt_login])
    gateway = Listener(broker, broker.gateway_login, "gateway").start()
    snoop = Listener(broker, b.mqtt_login, b.id.hex()).start()
    try:
        other_bucket = BUCKETED_TOPIC.replace("+/+", f"{(a.id[0] >> 4) ^ 1:x}/{a.id.hex()}")
        for topic in (report_topic(b.id), other_bucket, "citychain/anything"):
            _publish_once(broker, a.mqtt_login, topic, a.report())
        own = a.report()
        _publish_once(broker, a.mqtt_login, report_topic(a.id), own)
        wait_until(lambda: own in gateway.payloads(), 30, "A's own report at the gateway")
        assert gateway.received == [(report_topic(a.id), own)]
        assert snoop.payloads() == [], "device B read another device's report"
    finally:
        snoop.stop()
        gateway.stop()


def test_messages_longer_than_a_report_are_refused(broker: MosquittoBroker) -> None:
    """One byte over MAX_WIRE_BYTES is dropped (message_size_limit: acknowledged, not
    forwarded, the connection closed); a payload of MAX_WIRE_BYTES, sent after it, passes; a
    packet over MAX_PACKET_SIZE ends the connection before any PUBACK."""
    device = _device("size")
    broker.add_devices([device.mqtt_login])
    gateway = Listener(broker, broker.gateway_login, "gateway-size").start()
    topic = report_topic(device.id)
    try:
        largest, too_long = b"L" * MAX_WIRE_BYTES, b"T" * (MAX_WIRE_BYTES + 1)
        _publish_once(broker, device.mqtt_login, topic, too_long)
        _publish_once(broker, device.mqtt_login, topic, largest)
        wait_until(lambda: largest in gateway.payloads(), 30, "the largest report delivered")
        assert gateway.payloads() == [largest]

        disconnected, acked = threading.Event(), threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="big", protocol=mqtt.MQTTv311)
        client.username_pw_set(device.mqtt_login.username, device.mqtt_login.password)
        client.on_disconnect = lambda *_: disconnected.set()
        client.on_publish = lambda *_: acked.set()
        client.reconnect_delay_set(60, 60)  # stay away: what matters is the first answer
        client.connect(broker.host, broker.port)
        client.loop_start()
        try:
            client.publish(topic, b"H" * MAX_PACKET_SIZE, qos=1)
            assert disconnected.wait(10), "an oversize packet did not end the connection"
            assert not acked.is_set()
        finally:
            client.loop_stop()
        assert gateway.payloads() == [largest]
    finally:
        gateway.stop()


def _device_with_gateway_away(
    broker: MosquittoBroker, name: str
) -> tuple[SimDevice, Listener, Publisher]:
    """A device with its account and its publisher, and the gateway's persistent session with
    the gateway away: its subscription stays, and the broker queues the reports for it."""
    device = _device(name)
    broker.add_devices([device.mqtt_login])
    gateway = Listener(broker, broker.gateway_login, f"gateway-{name}", keep=True).start()
    gateway.stop()
    publisher = Publisher(
        broker.host, broker.port, client_id=device.id.hex(), login=device.mqtt_login
    )
    return device, gateway, publisher


def _publish_acknowledged(publisher: Publisher, device: SimDevice, count: int) -> list[bytes]:
    """``count`` reports of ``device``, each acknowledged by the broker."""
    raws = [device.report() for _ in range(count)]
    for raw in raws:
        publisher.publish(device.id, raw)
    assert publisher.wait_all_acked(30)
    return raws


def _gateway_receives(
    gateway: Listener, condition: Callable[[], bool], timeout: float, what: str
) -> None:
    """The gateway back on its session until ``condition`` holds."""
    gateway.start()
    try:
        wait_until(condition, timeout, what)
    finally:
        gateway.stop()


def test_acknowledged_messages_survive_a_sigkill(broker: MosquittoBroker) -> None:
    """The gateway away (its persistent session holds its subscription), a device publishes
    300 reports with QoS 1 and gets every PUBACK; the broker is SIGKILLed at once and
    restarted; the device reconnects (and sends its last DEVICE_RESEND reports again); the
    gateway comes back and receives all 300. With the former ``autosave_interval 1``
    (seconds) the broker lost those of its last second, more than a device sends again."""
    device, gateway, publisher = _device_with_gateway_away(broker, "durable")
    try:
        raws = _publish_acknowledged(publisher, device, 300)
        broker.kill()
        broker.start()
        wait_until(lambda: publisher.resent > 0, 30, "the device reconnected")
        publisher.publish(device.id, device.report())  # after the resent ones
        assert publisher.wait_all_acked(30)
    finally:
        publisher.close()
    _gateway_receives(
        gateway,
        lambda: set(raws) <= set(gateway.payloads()),
        30,
        "the acknowledged reports delivered",
    )


def test_written_after_every_change_the_broker_alone_keeps_what_it_acknowledged(
    tmp_path: Path,
) -> None:
    """``autosave_changes=1``: Mosquitto writes its database at the end of the loop turn that
    sent a PUBACK, so a device's next packet after the last PUBACK (one more report) is
    answered only after that write. Killed then, the broker loses none of the 300, with no
    help from the device (which here never reconnects)."""
    with MosquittoBroker(tmp_path / "broker", autosave_changes=1) as broker:
        device, gateway, publisher = _device_with_gateway_away(broker, "every change")
        try:
            raws = _publish_acknowledged(publisher, device, 300)
            publisher.publish(device.id, device.report())  # the write of the 300th is done
            assert publisher.wait_all_acked(30)
        finally:
            publisher.close()  # before the kill: nothing is sent again
        broker.kill()
        broker.start()
        _gateway_receives(
            gateway, lambda: set(raws) <= set(gateway.payloads()), 30, "the reports delivered"
        )


def test_a_publisher_loses_nothing_across_sigkills_mid_stream(broker: MosquittoBroker) -> None:
    """Three SIGKILLs of the broker while a device streams: everything it got a PUBACK for
    reaches the gateway's session (the simulated device sends its last reports again after
    reconnecting, which covers what the broker acknowledged but had not written; duplicates
    are the gateway's to recognise)."""
    device, gateway, publisher = _device_with_gateway_away(broker, "stream")
    try:
        for _ in range(3):
            for _i in range(300):
                publisher.publish(device.id, device.report())
            # Reports are still in flight: kill now.
            assert len(publisher.acked()) < len(publisher.sent)
            broker.kill()
            broker.start()
        assert publisher.wait_all_acked(60)
        acked = set(publisher.acked())
        assert len(acked) == 900
    finally:
        publisher.close()
    _gateway_receives(
        gateway,
        lambda: acked <= {report_id(p) for p in gateway.payloads()},
        60,
        "every acknowledged report delivered",
    )
