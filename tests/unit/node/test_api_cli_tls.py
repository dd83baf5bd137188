"""``citychain start --tls-cert FILE --tls-key FILE`` as a real process, and the CLI talking to
it over HTTPS: through the home (node.json names the certificate to trust), through
``--node https://...`` with ``$CITYCHAIN_CA_FILE``, and refused without a CA it trusts. Bad
TLS options end the command with a message, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from apiutil import self_signed
from cliutil import in_process, in_process_ok

from citychain.home import Home

STARTUP_S = 60.0


def test_init_makes_a_private_operator_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    report = in_process_ok("init", "--home", home, "--json").json()
    token = Path(report["operator_token"])
    assert token == Home(home).operator_token_file
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert len(token.read_text().strip()) >= 40


def test_start_serves_https_and_the_cli_follows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    in_process_ok("init", "--home", home)
    cert, key = self_signed(tmp_path)
    log = (tmp_path / "node.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "citychain.cli.main", "start", "--home", str(home),
         "--api", "127.0.0.1:0", "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    log.close()
    try:
        node = _wait_for(home / "node.json", process)
        url = node["api"]
        assert url.startswith("https://127.0.0.1:")
        assert node["ca_file"] == str(cert)
        status = in_process_ok("status", "--home", home, "--json").json()
        assert status["height"] == 0
        unverified = in_process("status", "--node", url, env={"CITYCHAIN_CA_FILE": None})
        assert unverified.returncode == 1
        assert "CERTIFICATE_VERIFY_FAILED" in unverified.stderr
        trusted = in_process("status", "--node", url, env={"CITYCHAIN_CA_FILE": str(cert)})
        assert trusted.returncode == 0, trusted.stderr
        again = in_process("start", "--home", home)  # the running node is recognised over TLS
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert process.returncode == 0
    assert not (home / "node.json").exists()
    assert "Traceback" not in (tmp_path / "node.log").read_text()


def test_bad_tls_options_end_with_a_message(tmp_path: Path) -> None:
    home = tmp_path / "home"
    in_process_ok("init", "--home", home)
    cert, _ = self_signed(tmp_path)
    alone = in_process("start", "--home", home, "--tls-cert", cert)
    assert alone.returncode == 2 and "--tls-cert and --tls-key go together" in alone.stderr
    missing = in_process("start", "--home", home, "--tls-cert", cert, "--tls-key", "nope.pem")
    assert missing.returncode == 1 and "TLS: no such file" in missing.stderr
    config = Home(home).config()
    Home(home).write_config({**config, "api_rate_per_second": "fast"})
    bad = in_process("start", "--home", home)
    assert bad.returncode == 1 and "api_rate_per_second" in bad.stderr


def _wait_for(node_file: Path, process: subprocess.Popen[bytes]) -> dict[str, str]:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "the node exited"
        try:
            doc: dict[str, str] = json.loads(node_file.read_text())
        except (OSError, ValueError):
            doc = {}
        if doc.get("pid") == process.pid:
            return doc
        time.sleep(0.05)
    raise AssertionError("the node did not start")
