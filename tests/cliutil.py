"""Running the ``citychain`` command as a user's script would: a subprocess with no terminal.

Shared by the end-to-end CLI tests (tests/e2e/); tests/ is on ``sys.path`` (conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PASSWORD = "correct horse battery staple"
STARTUP_TIMEOUT = 60.0
API_ANY_PORT = ("--api", "127.0.0.1:0")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli(*args: str | Path, env: dict[str, str] | None = None, stdin: str = "") -> Run:
    """Run ``python -m citychain.cli.main ARGS`` with no terminal; never a traceback."""
    completed = subprocess.run(
        [sys.executable, "-m", "citychain.cli.main", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        env=env if env is not None else {**os.environ, "CITYCHAIN_PASSWORD": PASSWORD},
        timeout=120,
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return Run(completed.returncode, completed.stdout, completed.stderr)


def ok(*args: str | Path) -> Run:
    run = cli(*args)
    assert run.returncode == 0, f"citychain {' '.join(map(str, args))}: {run.stderr}"
    return run


def wait_for_node(home: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    node_file = home / "node.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"citychain start exited with {process.returncode}")
        try:
            started = json.loads(node_file.read_text()).get("pid") == process.pid
        except (OSError, ValueError):
            started = False
        if started and cli("status", "--home", home).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the node did not start within {STARTUP_TIMEOUT}s")


@contextmanager
def node_process(home: Path, work: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``citychain start --home HOME`` on a free port, logging to WORK/node.log; on exit a
    SIGTERM, which must stop it cleanly: exit 0, node.json removed, no traceback logged."""
    log = (work / "node.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "citychain.cli.main", "start", *("--home", home), *API_ANY_PORT],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log.close()
    try:
        wait_for_node(home, process)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert not (home / "node.json").exists()
    assert "Traceback" not in (work / "node.log").read_text()
