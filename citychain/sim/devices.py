"""Simulated devices and a gateway process, for the tests, the benchmark and the demo.

``Fleet`` registers devices with their own keys under one owner (64 per transaction) and makes
their signed reports; ``Publisher`` sends them to the broker with QoS 1 on a persistent session
and tells which ones the broker acknowledged (PUBACK); ``GatewayProcess`` runs
``citychain gateway`` in a child process so that it can be killed with SIGKILL.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from citychain.client import Wallet
from citychain.crypto.address import address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.modules.devices import MsgRegisterDevice, device_id_of, possession_statement
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
    """One MQTT connection publishing every device's reports with QoS 1.

    At most ``window`` reports wait for their PUBACK at a time: paho walks all of its unacknowledged
    messages on every PUBACK (``_update_inflight``), so a publisher that queues 100,000 spends
    its time there and, in the benchmark, measures itself instead of the gateway."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str = "citychain-sim-devices",
        window: int = 200,
    ) -> None:
        self.window = window
        self.client = BufferedClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(1, 2)
        self.sent: list[tuple[bytes, int]] = []  # (report id, MQTT packet id), in order
        # Packet ids the broker acknowledged, in order. paho never reuses an id still waiting
        # for its PUBACK, so the k-th PUBACK of id M belongs to the k-th message sent with M.
        self._acked_mids: list[int] = []
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = self._on_disconnect
        self._reconnected = False
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: object, props: object
    ) -> None:
        self._acked_mids.append(mid)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self._acked_mids) >= len(self.sent):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class GatewayProcess:
    """``citychain gateway`` in a child process, as an operator runs it."""

    def __init__(self, args: Sequence[str], password: str, log: Path) -> None:
        self.args = list(args)
        self.password = password
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "citychain", "gateway", *self.args],
            stdout=subprocess.PIPE,
            stderr=out,
            env={**os.environ, "CITYCHAIN_PASSWORD": self.password, "PYTHONUNBUFFERED": "1"},
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
