"""A private Mosquitto broker on loopback, for the demo, the tests and the benchmark.

Never the system service: each broker gets its own config, port and persistence folder, so
runs do not share queued messages. It is configured as a city's broker should be (docs/modules/
devices.md §6, "The broker"):

- no anonymous clients; accounts in a password file (citychain.telemetry.broker_access): the
  gateway's and a relay's, made here with random passwords (``gateway_login``,
  ``relay_login``), and the devices' added with ``add_devices``; an ACL file lets a device
  publish on its own report topic only (one entry per device);
- ``message_size_limit`` (the longest report) and ``max_packet_size``;
- persistence written after every ``autosave_changes`` changes (``autosave_on_changes true``;
  a change is a message queued for a session, a subscription, a retained message). Mosquitto
  2.0 sends a PUBACK before it writes, so a SIGKILLed broker loses what it acknowledged since
  its last write: fewer than ``autosave_changes`` messages. A device therefore keeps its last
  ``DEVICE_RESEND`` (>= ``AUTOSAVE_CHANGES``) acknowledged reports and sends them again after
  reconnecting (citychain.sim.devices.Publisher); the gateway recognises the ones it has
  (``duplicate``). Each write rewrites the whole database and ends with an fsync, so writing
  after every change (``autosave_changes=1``) costs an fsync per message: measured in
  docs/modules/devices.md §6. ``autosave_s`` (a write every N seconds instead) is for the
  benchmark only: a SIGKILLed broker then loses what it acknowledged in the last N seconds,
  more than a device's resend covers.

A graceful stop (SIGTERM) always writes the database.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from citychain.net.ports import claim_ports
from citychain.telemetry.broker_access import (
    AUTOSAVE_CHANGES,
    CONNACK_ACCEPTED,
    GATEWAY_USER,
    MAX_PACKET_SIZE,
    MESSAGE_SIZE_LIMIT,
    RELAY_USER,
    MqttLogin,
    acl_text,
    connack_code,
    new_login,
    password_entry,
)

__all__ = ["MosquittoBroker", "MqttLogin", "free_port", "mosquitto_binary"]

SEARCH = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
POLL_S = 0.05
PRIVATE = 0o600


def mosquitto_binary() -> str | None:
    for candidate in SEARCH:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def free_port() -> int:
    """A loopback port for a broker or a metrics listener, ours until this process exits (see
    ``citychain.net.ports.claim_ports``): a port taken from the ephemeral range would be free
    again between our check and the listener's bind, and across a restart."""
    return claim_ports()


class MosquittoBroker:
    """``with MosquittoBroker(tmp) as broker: broker.port``; ``restart()`` keeps the port and
    the accounts."""

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        *,
        autosave_changes: int = AUTOSAVE_CHANGES,
        autosave_s: int | None = None,
    ) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto not found: install it (make system-deps)")
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.autosave_changes = autosave_changes
        self.autosave_s = autosave_s
        self.process: subprocess.Popen[bytes] | None = None
        self.gateway_login = new_login(GATEWAY_USER)
        self.relay_login = new_login(RELAY_USER)
        self._entries = {
            login.username: password_entry(login)
            for login in (self.gateway_login, self.relay_login)
        }
        self._devices: list[bytes] = []

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # --- accounts ---------------------------------------------------------------------------
    def add_devices(self, logins: Iterable[MqttLogin], timeout: float = 10.0) -> None:
        """Give devices accounts (username: the device id in hex). A running broker reloads its
        files (SIGHUP); this returns once the last new account is accepted."""
        added = [login for login in logins if login.username not in self._entries]
        for login in added:
            device_id = bytes.fromhex(login.username)  # ValueError: not a device's account
            self._entries[login.username] = password_entry(login)
            self._devices.append(device_id)
        if added and self.process is not None:
            self._write_access()
            self.process.send_signal(signal.SIGHUP)
            self._wait_login(added[-1], timeout)

    def _wait_login(self, login: MqttLogin, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while connack_code(self.host, self.port, login) != CONNACK_ACCEPTED:
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not take the account {login.username}")
            time.sleep(POLL_S)

    def _write_access(self) -> tuple[Path, Path]:
        passwords = self.directory / "passwords"
        acl = self.directory / "acl"
        for path, text in (
            (passwords, "\n".join(self._entries.values()) + "\n"),
            (acl, acl_text(self._devices)),
        ):
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
            with os.fdopen(fd, "w") as out:
                out.write(text)
            tmp.replace(path)
        return passwords, acl

    # --- process ----------------------------------------------------------------------------
    def _persistence(self) -> list[str]:
        if self.autosave_s is None:
            return ["autosave_on_changes true", f"autosave_interval {self.autosave_changes}"]
        return ["autosave_on_changes false", f"autosave_interval {self.autosave_s}"]

    def _write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = self.directory / "data"
        data.mkdir(exist_ok=True)
        passwords, acl = self._write_access()
        config = self.directory / "mosquitto.conf"
        config.write_text(
            "\n".join(
                [
                    f"listener {self.port} {self.host}",
                    "allow_anonymous false",
                    f"password_file {passwords}",
                    f"acl_file {acl}",
                    f"message_size_limit {MESSAGE_SIZE_LIMIT}",
                    f"max_packet_size {MAX_PACKET_SIZE}",
                    # Started as root, Mosquitto would switch to the user "mosquitto", which
                    # cannot write our persistence folder: stay who we are.
                    f"user {getpass.getuser()}",
                    "persistence true",
                    f"persistence_location {data}/",
                    *self._persistence(),
                    # A gateway that is down must not lose its backlog: no queue limit.
                    "max_queued_messages 0",
                    "max_queued_bytes 0",
                    # QoS 1 messages in flight to one client: enough for the gateway to verify
                    # and store a group at a time before it acknowledges them.
                    "max_inflight_messages 1000",
                    "log_type error",
                    "log_type warning",
                    f"log_dest file {self.directory / 'mosquitto.log'}",
                    "",
                ]
            )
        )
        return config

    def start(self, timeout: float = 10.0) -> MosquittoBroker:
        config = self._write_config()
        self.process = subprocess.Popen(
            [self.binary, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=(self.directory / "stderr.log").open("ab"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(POLL_S)
        raise RuntimeError(f"mosquitto did not listen on {self.address} in {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully, so that Mosquitto writes its persistence file."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL: no goodbye, no last write of the database."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
