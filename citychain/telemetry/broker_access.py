"""Who may connect to the telemetry broker and what each may do (docs/modules/devices.md §6,
"The broker").

Mosquitto's own files, no plugin: a ``password_file`` (PBKDF2-SHA512 entries, the ``$7$`` format
``mosquitto_passwd`` writes) and an ``acl_file``:

- a device logs in with its id in hex as its username and may publish only on its own report
  topic, bucket included (a ``user`` section each: a ``pattern`` with ``%u`` could not pin the
  bucket level); it may read nothing;
- the gateway may read every report topic and publish nothing;
- a relay may publish on every report topic: a process that forwards the reports of devices
  which do not speak MQTT themselves (a LoRaWAN network server, a fleet's telematics backend,
  the simulator's one connection for a whole fleet). Reports stay signed by their devices, so
  a relay can withhold reports but not forge one.

Anonymous clients are refused, and a message longer than the longest report is refused too
(``message_size_limit``; a packet over ``MAX_PACKET_SIZE`` ends the connection).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from citychain.telemetry.gateway.topics import BUCKETED_TOPIC, report_topic
from citychain.telemetry.report import MAX_WIRE_BYTES

__all__ = [
    "AUTOSAVE_CHANGES",
    "CONNACK_ACCEPTED",
    "CONNACK_NOT_AUTHORIZED",
    "DEVICE_RESEND",
    "GATEWAY_USER",
    "MAX_PACKET_SIZE",
    "MESSAGE_SIZE_LIMIT",
    "MQTT_PASSWORD_ENV",
    "RELAY_USER",
    "MqttLogin",
    "acl_text",
    "connack_code",
    "new_login",
    "password_entry",
]

GATEWAY_USER = "citychain-gateway"
MQTT_PASSWORD_ENV = "CITYCHAIN_MQTT_PASSWORD"  # `citychain gateway --mqtt-user`'s password
RELAY_USER = "citychain-relay"
# A report PUBLISH: fixed header (<= 5 bytes), topic (2 + 89), packet id (2), payload (<= 1,104);
# a CONNECT or the SUBSCRIBE of a shard (16 filters) is smaller. Larger packets end the
# connection; larger payloads below it are dropped (and still acknowledged, per MQTT 3.1.1).
MESSAGE_SIZE_LIMIT = MAX_WIRE_BYTES
MAX_PACKET_SIZE = 2_048
# Durability of acknowledged reports (docs/modules/devices.md §6, "The broker"): the broker
# writes its database after this many changes, and a device sends its last DEVICE_RESEND
# acknowledged reports again after a reconnect, so a broker SIGKILLed before its write loses
# nothing a device relied on. 100 keeps the broker's fsyncs to about one per 100 messages.
AUTOSAVE_CHANGES = 100
DEVICE_RESEND = 128
assert AUTOSAVE_CHANGES <= DEVICE_RESEND, "a device must resend what a broker can lose"
PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.0 writes
SALT_BYTES = 12
HASH_BYTES = 64

CONNACK_ACCEPTED = 0
CONNACK_NOT_AUTHORIZED = 5
_CONNACK = 0x20
_CONNECT = 0x10
_PROTOCOL_LEVEL = 4  # MQTT 3.1.1
_FLAG_USERNAME = 0x80
_FLAG_PASSWORD = 0x40
_FLAG_CLEAN = 0x02
_VARINT_BITS = 7
_VARINT_MORE = 0x80


@dataclass(frozen=True)
class MqttLogin:
    username: str
    password: str = field(repr=False)


def new_login(username: str) -> MqttLogin:
    return MqttLogin(username, secrets.token_hex(16))


def password_entry(login: MqttLogin, salt: bytes | None = None) -> str:
    """A ``password_file`` line: ``user:$7$101$<salt>$<PBKDF2-SHA512>`` in base64."""
    if ":" in login.username or "\n" in login.username:
        raise ValueError(f"MQTT username {login.username!r} may not hold ':' or a newline")
    salt = salt or secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac(
        "sha512", login.password.encode(), salt, PBKDF2_ITERATIONS, HASH_BYTES
    )
    b64 = base64.b64encode
    return f"{login.username}:$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def acl_text(
    devices: Iterable[bytes] = (),
    gateways: Iterable[str] = (GATEWAY_USER,),
    relays: Iterable[str] = (RELAY_USER,),
) -> str:
    """The ``acl_file``: each device its own report topic; gateways read and relays write
    every report topic. Anyone else, anonymous clients included (refused anyway): nothing."""
    lines = ["# Devices (username: the device id in hex) publish on their own report topic."]
    for device_id in devices:
        lines += ["", f"user {device_id.hex()}", f"topic write {report_topic(device_id)}"]
    for user in gateways:
        lines += ["", f"user {user}", f"topic read {BUCKETED_TOPIC}"]
    for user in relays:
        lines += ["", f"user {user}", f"topic write {BUCKETED_TOPIC}"]
    return "\n".join(lines) + "\n"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> _VARINT_BITS
        out.append(byte | (_VARINT_MORE if n else 0))
        if not n:
            return bytes(out)


def _field(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def connack_code(host: str, port: int, login: MqttLogin | None, timeout: float = 5.0) -> int:
    """Connect once (MQTT 3.1.1, a clean session) and return the broker's CONNACK code:
    0 accepted, 5 not authorized. No client library, so that nothing retries behind us."""
    flags = _FLAG_CLEAN
    payload = _field(b"citychain-probe-" + secrets.token_hex(4).encode())
    if login is not None:
        flags |= _FLAG_USERNAME | _FLAG_PASSWORD
        payload += _field(login.username.encode()) + _field(login.password.encode())
    variable = _field(b"MQTT") + bytes([_PROTOCOL_LEVEL, flags]) + struct.pack("!H", 10)
    body = variable + payload
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(bytes([_CONNECT]) + _varint(len(body)) + body)
        answer = b""
        while len(answer) < 4:  # noqa: PLR2004 - a CONNACK is 4 bytes
            chunk = sock.recv(4 - len(answer))
            if not chunk:
                raise ConnectionError("the broker closed the connection before its CONNACK")
            answer += chunk
    if answer[0] != _CONNACK:
        raise ConnectionError(f"expected a CONNACK, got packet type {answer[0] >> 4}")
    return answer[3]
