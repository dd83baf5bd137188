"""Simulated devices and a gateway process, for the tests, the benchmark and the demo.

``Fleet`` registers devices with their own keys under one owner (64 per transaction) and makes
their signed reports; ``Publisher`` sends them to the broker with QoS 1 on a persistent session
and tells which ones the broker acknowledged (PUBACK); ``GatewayProcess`` runs
``citychain gateway`` in a child process so that it can be killed with SIGKILL.

Broker accounts (citychain.telemetry.broker_access): a ``SimDevice`` logs in as itself
(``mqtt_login``: its id in hex, a password derived from its key); a ``Publisher`` that sends
for a whole fleet on one connection logs in as a relay (``MosquittoBroker.relay_login``), and
the gateway with ``MosquittoBroker.gateway_login``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from citychain.client import Wallet
from citychain.crypto.address import address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.modules.devices import MsgRegisterDevice, device_id_of, possession_statement
from citychain.telemetry.broker_access import DEVICE_RESEND, MQTT_PASSWORD_ENV, MqttLogin
from citychain.telemetry.gateway.mqtt import BufferedClient
from citychain.telemetry.gateway.service import report_topic
from citychain.telemetry.report import BmsReadings, ReportBody, report_id, sign_report
from citychain.tx.envelope import Message

__all__ = ["Fleet", "GatewayProcess", "Publisher", "SimDevice", "register_devices"]

MESSAGES_PER_TX = 64


@dataclass
class SimDevice:
    key: PrivateKey
    kind: str = "bms"
    counter: int = 0
    id: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.id = device_id_of(self.key.public_key)

    @property
    def mqtt_login(self) -> MqttLogin:
        """The device's broker account: its id in hex, a password derived from its key (a
        simulator's shortcut: a real device is given a password when it is provisioned)."""
        secret = hashlib.sha256(b"citychain/sim/mqtt-password/v1\x00" + self.key.seed).hexdigest()
        return MqttLogin(self.id.hex(), secret)

    def report(self, time_ms: int = 0) -> bytes:
        """The next signed BMS report, with plausible readings derived from the counter."""
        self.counter += 1
        n = self.counter
        readings = BmsReadings(
            pack_voltage_mv=380_000 + n % 20_000,
            current_ma=-50_000 + n % 100_000,
            soc_permille=n % 1_001,
            temperature_dc=200 + n % 150,
            cycle_count=n // 100,
            discharge_capacity_mah=60_000_000 // 1000,
            energy_throughput_wh=n * 10,
            internal_resistance_uohm=1_500,
        )
        return sign_report(self.key, ReportBody(self.id, n, time_ms or n * 1000, readings))


def _seeded(name: str) -> PrivateKey:
    return PrivateKey.from_seed(hashlib.sha256(b"citychain/sim/device/" + name.encode()).digest())


def register_devices(wallet: Wallet, devices: Sequence[SimDevice], metadata: bytes) -> None:
    """Register ``devices`` under the wallet's key, MESSAGES_PER_TX per transaction."""
    owner = address_to_bytes(wallet.address)
    messages: list[Message] = []
    for device in devices:
        statement = possession_statement(wallet.chain_id, owner, device.id, device.key.public_key)
        messages.append(
            MsgRegisterDevice(
                device.key.public_key,
                device.kind,  # type: ignore[arg-type]
                metadata,
                device.key.sign(statement),
            )
        )
    for start in range(0, len(messages), MESSAGES_PER_TX):
        wallet.submit(messages[start : start + MESSAGES_PER_TX], wait=True)


class Fleet:
    def __init__(self, count: int, prefix: str = "bms") -> None:
        self.devices = [SimDevice(_seeded(f"{prefix}-{i}")) for i in range(count)]


class Publisher:
    """One MQTT connection publishing reports with QoS 1: a device's own (``login`` its
    ``mqtt_login``), or a whole fleet's (a relay's login).

    At most ``window`` reports wait for their PUBACK at a time: paho walks all of its unacknowledged
    messages on every PUBACK (``_update_inflight``), so a publisher that queues 100,000 spends
    its time there and, in the benchmark, measures itself instead of the gateway.

    After a lost connection it sends its last ``resend`` acknowledged reports again, before
    anything else (paho itself sends again those still waiting for their PUBACK): Mosquitto
    writes messages to disk after it acknowledges them, up to ``AUTOSAVE_CHANGES`` later, so a
    broker SIGKILLed in between lost messages it acknowledged (citychain.telemetry.broker). The
    gateway recognises a report it already has by its id (``duplicate``)."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str = "citychain-sim-devices",
        window: int = 200,
        *,
        login: MqttLogin | None = None,
        resend: int = DEVICE_RESEND,
    ) -> None:
        self.window = window
        self.client = BufferedClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        if login is not None:
            self.client.username_pw_set(login.username, login.password)
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(1, 2)
        self.sent: list[tuple[bytes, int]] = []  # (report id, MQTT packet id), in order
        # Packet ids the broker acknowledged, in order. paho never reuses an id still waiting
        # for its PUBACK, so the k-th PUBACK of id M belongs to the k-th message sent with M.
        self._acked_mids: list[int] = []
        self.resend = resend
        self._recent: deque[tuple[str, bytes]] = deque(maxlen=window + resend)
        self._recent_lock = threading.Lock()
        self._resent_mids: Counter[int] = Counter()  # PUBACKs of resent reports, not counted
        self.resent = 0
        self.connect_error = ""
        self._connected = threading.Event()  # connected once
        self._online = threading.Event()  # connected now
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = self._on_disconnect
        self._reconnected = False
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: object,
        props: object,
    ) -> None:
        if getattr(reason, "is_failure", False):
            self.connect_error = str(reason)
            return
        self.connect_error = ""
        if self._connected.is_set():
            # A reconnect. Published from here, these go out before paho sends again the
            # messages still waiting for their PUBACK (it does so after this callback), so a
            # device's reports keep their order.
            recent = self._acknowledged_tail()
            for topic, payload in recent:
                self._resent_mids[client.publish(topic, payload, qos=1).mid] += 1
            self.resent += len(recent)
        self._connected.set()
        self._online.set()

    def _acknowledged_tail(self) -> list[tuple[str, bytes]]:
        """The last ``resend`` reports sent before those still unacknowledged (PUBACKs come in
        order), taken out: a report goes again once at most, so one that the broker answers by
        closing the connection (a denied topic) does not do so after every reconnect. A report
        counted unacknowledged too early is sent again needlessly, never missed."""
        unacknowledged = max(0, len(self.sent) - len(self._acked_mids))
        with self._recent_lock:
            recent = list(self._recent)
            cut = max(0, len(recent) - unacknowledged)
            self._recent.clear()
            self._recent.extend(recent[cut:])  # paho sends these again: keep them in the tail
        return recent[max(0, cut - self.resend) : cut]

    def wait_connected(self, timeout: float) -> bool:
        """True once the broker accepted the connection (``connect_error`` says why not)."""
        return self._connected.wait(timeout)

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: object, props: object
    ) -> None:
        if self._resent_mids[mid]:
            self._resent_mids[mid] -= 1
            return
        self._acked_mids.append(mid)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        self._online.clear()
        self._reconnected = True

    def publish(self, device_id: bytes, raw: bytes) -> None:
        self.publish_raw(report_topic(device_id), raw, report_id(raw))

    def publish_raw(self, topic: str, payload: bytes, rid: bytes = b"") -> None:
        # A publish while the broker is away is kept by paho and sent again on reconnect (the
        # window waits for it at most a minute). paho refuses one whose packet id is still
        # waiting for its PUBACK (ids wrap at 65535): wait.
        deadline = time.monotonic() + 60
        if self._reconnected:
            # After a lost connection paho sends its unacknowledged messages again once the
            # broker's CONNACK is in, but a publish() in between can go out first, and a report
            # overtaking earlier ones of its device makes them replays. A device keeps its
            # order: nothing new until the old ones are acknowledged.
            while len(self.sent) > len(self._acked_mids) and time.monotonic() < deadline:
                time.sleep(0.01)
            self._reconnected = False
        while len(self.sent) - len(self._acked_mids) >= self.window:
            if time.monotonic() > deadline:
                break
            time.sleep(0.0005)
        with self._recent_lock:  # before it is sent: a reconnect in between sends it twice
            self._recent.append((topic, payload))
        while True:
            info = self.client.publish(topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_QUEUE_SIZE:
                break
            time.sleep(0.01)
        self.sent.append((rid or report_id(payload), info.mid))

    def acked(self) -> list[bytes]:
        """Ids of the reports the broker acknowledged (PUBACK received), in sending order."""
        remaining: dict[int, int] = {}
        for mid in list(self._acked_mids):
            remaining[mid] = remaining.get(mid, 0) + 1
        out = []
        for rid, mid in self.sent:
            if remaining.get(mid, 0) > 0:
                remaining[mid] -= 1
                out.append(rid)
        return out

    def wait_all_acked(self, timeout: float) -> bool:
        """True once connected with every report acknowledged, those sent again included (a
        lost connection is waited for: its reconnect sends the last reports again)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            settled = len(self._acked_mids) >= len(self.sent) and not any(
                list(self._resent_mids.values())
            )
            if settled and self._online.is_set():
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class GatewayProcess:
    """``citychain gateway`` in a child process, as an operator runs it."""

    def __init__(
        self, args: Sequence[str], password: str, log: Path, mqtt_login: MqttLogin | None = None
    ) -> None:
        self.args = list(args)
        self.password = password
        self.log = log
        self.mqtt_login = mqtt_login
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        out = self.log.open("ab")
        args, env = list(self.args), {"CITYCHAIN_PASSWORD": self.password, "PYTHONUNBUFFERED": "1"}
        if self.mqtt_login is not None:
            args += ["--mqtt-user", self.mqtt_login.username]
            env[MQTT_PASSWORD_ENV] = self.mqtt_login.password
        self.process = subprocess.Popen(
            [sys.executable, "-m", "citychain", "gateway", *args],
            stdout=subprocess.PIPE,
            stderr=out,
            env={**os.environ, **env},
        )
        out.close()
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line or json.loads(line).get("gateway") != "running":
            raise RuntimeError(f"gateway did not start; see {self.log}")
        return self

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
