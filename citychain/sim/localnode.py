"""Run a real node in a child process (for the demo, benchmarks and tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from citychain.client import Client
from citychain.home import Home

__all__ = ["LocalNode"]


class LocalNode:
    """``with LocalNode(home) as node: node.client.status()``; port 0 picks a free port."""

    def __init__(
        self,
        home: Path,
        api: str = "127.0.0.1:0",
        *,
        verifier_workers: int = 1,
        log: Path | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self.home = Home(home)
        self.api = api
        self.verifier_workers = verifier_workers
        self.log = log or (home / "node.log")
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("node not started")
        return self._client

    def launcher(self) -> list[str]:
        """The command that runs a node; it is given ``--home``, ``--api`` and worker flags."""
        return [sys.executable, "-m", "citychain.node"]

    def start(self) -> LocalNode:
        self.home.node_file.unlink(missing_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                *self.launcher(),
                "--home",
                str(self.home.path),
                "--api",
                self.api,
                "--verifier-workers",
                str(self.verifier_workers),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}; see {self.log}")
            if self.home.node_file.exists():
                try:
                    doc = json.loads(self.home.node_file.read_text())
                except ValueError:
                    doc = {}
                if doc.get("pid") == self.process.pid:
                    self.url = str(doc["api"])
                    self._client = Client(self.url, operator_token=self.home.operator_token())
                    try:
                        self._client.health()
                        return self
                    except Exception:
                        pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"node did not start within {self.startup_timeout}s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run (for crash tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self._close_client()

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_client()

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> LocalNode:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
