"""Running the ``citychain`` command in the end-to-end CLI tests (tests/e2e/), two ways.

* ``in_process`` / ``in_process_ok``: ``citychain.cli.main.main(argv)`` in this interpreter, with
  ``$CITYCHAIN_PASSWORD`` set, stdin empty (no terminal), stdout and stderr captured. No
  interpreter start and no imports: hundredths of a second where a process costs about a third;
  used wherever a call sets up or reads state, or checks what a command prints.
* ``cli`` / ``ok``: ``python -m citychain.cli.main`` as a subprocess with no terminal, exactly as
  a user's script runs it. Kept where the process boundary is the point: the exit status a shell
  sees, and that no traceback reaches it (tests/unit/cli/test_cli_errors.py has more of these).

Both return a ``Run`` and fail the test if a traceback reached stderr. ``in_process`` also fails
it on main()'s "error: unexpected ..." (a crash turned into one line), and if the command left
the process changed (environment, working directory), since the next in-process call would
then not start from what a fresh process sees; it restores the root logger's handlers and
level, which a command may configure. Node processes
(``citychain start``) are always real processes (``node_process``).

tests/ is on ``sys.path`` (conftest.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from citychain.cli.main import main

PASSWORD = "correct horse battery staple"
PASSWORD_ENV = "CITYCHAIN_PASSWORD"
STARTUP_TIMEOUT = 60.0
API_ANY_PORT = ("--api", "127.0.0.1:0")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


# --- in this process -----------------------------------------------------------------------


@contextmanager
def _environment(changes: Mapping[str, str | None]) -> Iterator[None]:
    """Apply ``changes`` to os.environ (None removes a variable); afterwards put back exactly
    what was there, and fail if the command changed anything else."""
    before = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    expected = dict(os.environ)
    try:
        yield
    finally:
        after = dict(os.environ)
        os.environ.clear()
        os.environ.update(before)
    changed = sorted(k for k in after.keys() | expected.keys() if after.get(k) != expected.get(k))
    assert not changed, f"the command changed the environment: {changed}"


def _exit_status(exc: SystemExit) -> tuple[int, str]:
    """What the interpreter makes of an uncaught SystemExit: (status, text for stderr)."""
    if exc.code is None:
        return 0, ""
    if isinstance(exc.code, int):
        return exc.code, ""
    return 1, f"{exc.code}\n"


def in_process(
    *args: str | Path, env: Mapping[str, str | None] | None = None, stdin: str = ""
) -> Run:
    """``citychain ARGS`` through ``main(argv)`` in this process; never a traceback.

    The environment is os.environ plus ``$CITYCHAIN_PASSWORD`` (as for ``cli``), with ``env``
    applied on top (a None value removes a variable); stdin reads ``stdin`` and is no terminal.
    """
    changes: dict[str, str | None] = {PASSWORD_ENV: PASSWORD, **(env or {})}
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    cwd = os.getcwd()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with (
            _environment(changes),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # as the interpreter would end the process
                code, text = _exit_status(exc)
                sys.stderr.write(text)
    finally:
        sys.stdin = old_stdin
        root.handlers[:] = handlers
        root.setLevel(level)
    assert os.getcwd() == cwd, f"the command changed the working directory to {os.getcwd()}"
    run = Run(code, out.getvalue(), err.getvalue())
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout, run.stderr
    # main()'s last line of defence turns a crash into one line; here it is a test failure.
    assert "error: unexpected " not in run.stderr, run.stderr
    return run


def in_process_ok(*args: str | Path) -> Run:
    run = in_process(*args)
    assert run.returncode == 0, f"citychain {' '.join(map(str, args))}: {run.stderr}"
    return run


# --- a real process --------------------------------------------------------------------------


def cli(*args: str | Path, env: dict[str, str] | None = None, stdin: str = "") -> Run:
    """Run ``python -m citychain.cli.main ARGS`` with no terminal; never a traceback."""
    completed = subprocess.run(
        [sys.executable, "-m", "citychain.cli.main", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        env=env if env is not None else {**os.environ, PASSWORD_ENV: PASSWORD},
        timeout=120,
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return Run(completed.returncode, completed.stdout, completed.stderr)


def ok(*args: str | Path) -> Run:
    run = cli(*args)
    assert run.returncode == 0, f"citychain {' '.join(map(str, args))}: {run.stderr}"
    return run


# --- the node --------------------------------------------------------------------------------


def _answers_status(home: Path, pid: int) -> bool:
    """node.json names this process and its API answers ``GET /status``."""
    try:
        node = json.loads((home / "node.json").read_text())
    except (OSError, ValueError):
        return False
    if node.get("pid") != pid:
        return False
    try:
        return httpx.get(f"{node['api']}/status", timeout=5.0).status_code == 200
    except (httpx.HTTPError, KeyError):
        return False


def wait_for_node(home: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"citychain start exited with {process.returncode}")
        if _answers_status(home, process.pid):
            return
        time.sleep(0.05)
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
