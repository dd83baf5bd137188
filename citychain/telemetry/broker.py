"""A private Mosquitto broker on loopback, for the demo, the tests and the benchmark.

Never the system service: each broker gets its own config, port and persistence folder, so
runs do not share queued messages. ``persistence true`` with a short ``autosave_interval`` keeps
the queued QoS 1 messages of persistent sessions across a restart; a graceful stop (SIGTERM)
always writes them (Mosquitto writes its database on shutdown). A SIGKILLed broker loses what
arrived since its last autosave: Mosquitto acknowledges a PUBLISH before it is on disk.
"""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from citychain.net.ports import claim_ports

__all__ = ["MosquittoBroker", "free_port", "mosquitto_binary"]

SEARCH = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


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
    """``with MosquittoBroker(tmp) as broker: broker.port``; ``restart()`` keeps the port."""

    def __init__(self, directory: Path, port: int | None = None, *, autosave_s: int = 1) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto not found: install it (make system-deps)")
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.autosave_s = autosave_s
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = self.directory / "data"
        data.mkdir(exist_ok=True)
        config = self.directory / "mosquitto.conf"
        config.write_text(
            "\n".join(
                [
                    f"listener {self.port} {self.host}",
                    "allow_anonymous true",
                    # Started as root, Mosquitto would switch to the user "mosquitto", which
                    # cannot write our persistence folder: stay who we are.
                    f"user {getpass.getuser()}",
                    "persistence true",
                    f"persistence_location {data}/",
                    f"autosave_interval {self.autosave_s}",
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
                time.sleep(0.05)
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
