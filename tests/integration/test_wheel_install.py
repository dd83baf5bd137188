"""``pip install`` of citychain's wheel gives a working ``citychain``.

The wheel is built from the files a clone of the repository holds (tracked and untracked, not
git-ignored), installed into a fresh virtualenv with its dependencies from the package index,
and that venv's ``citychain`` script runs from a temporary folder, so nothing of the source
tree is on ``sys.path``: a single node with a payment and a proof checked offline (the ABCI
protobuf types in ``citychain/pb`` are imported by the node and the light client), the web
pages, ``battery predict`` (which reads ``citychain/oracle/eol_params.json``), and the fleet's lot
test curves (``citychain/sim/lot_curves.json``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "wheel test password"
STARTUP_TIMEOUT = 90.0
# Never copied into the build: local environments, caches and build leftovers (a stale build/
# would put files that are gone from the source into the wheel).
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", ".tools", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
    ".hypothesis", "demo-home", "*.db", "*.db-wal", "*.db-shm",
)  # fmt: skip


def _copy_source(dest: Path) -> None:
    """What a clone with the uncommitted work holds: git's non-ignored files (else a copy)."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
    )
    if listed.returncode != 0:
        shutil.copytree(REPO, dest, ignore=IGNORED)
        return
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO / name
        if source.is_file():  # a file deleted or moved away in the working tree is skipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


# What the venv's Python imports: where citychain comes from, the generated protobuf types, and
# what is (not) installed beside it.
PROBE = """
import importlib.metadata, importlib.util, json
import citychain, citychain.pb
from citychain.pb.tendermint.abci import types_pb2
from citychain.sim.fleet import load_sources
print(json.dumps({
    "file": citychain.__file__,
    "cometbft": citychain.pb.COMETBFT_VERSION,
    "info": types_pb2.RequestInfo(version="x").SerializeToString().hex(),
    "grpc_tools": importlib.util.find_spec("grpc_tools") is not None,
    "toplevel": [n for n in ("tendermint", "gogoproto") if importlib.util.find_spec(n)],
    "requires": importlib.metadata.requires("citychain"),
    "lot_curves": sum(s.lot is not None for s in load_sources()),
}))
"""


def _free_port() -> int:
    from citychain.net.ports import claim_ports  # this process's citychain, not the wheel's

    return claim_ports()  # ours until this process exits: no other worker or run gets it


def _capacity_csv() -> str:
    """Two LFP-like cells over 300 and 260 cycles: slow linear fade, then a steepening knee."""
    lines = ["cell_id,cycle,discharge_capacity_ah,temperature_c"]
    for cell, cycles, knee in (("cell-a", 300, 520.0), ("cell-b", 260, 380.0)):
        for n in range(1, cycles + 1):
            q = 1.075 - 2.5e-5 * n - 0.02 * math.exp((n - knee) / 70.0) + 4e-4 * math.sin(n)
            lines.append(f"{cell},{n},{q:.5f},{30 + 2 * math.sin(n / 9):.2f}")
    return "\n".join(lines) + "\n"


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_wheel_installs_a_working_citychain(tmp_path: Path) -> None:
    source, wheels, work = tmp_path / "src", tmp_path / "wheels", tmp_path / "work"
    source.mkdir()
    work.mkdir()
    _copy_source(source)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("citychain-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "CITYCHAIN_HOME", "VIRTUAL_ENV")
    }
    env.update(
        CITYCHAIN_PASSWORD=PASSWORD,
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    citychain = str(venv / "bin" / "citychain")

    def run(*args: str | Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [citychain, *map(str, args)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == expect, (
            f"citychain {' '.join(map(str, args))}: exit {done.returncode}\n{done.stderr}"
        )
        return done

    def answer(*args: str | Path) -> Any:
        return json.loads(run(*args).stdout)

    # The installed package, not the source tree; protobuf but not protoc at run time.
    probe = subprocess.run(
        [str(python), "-c", PROBE],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    facts = json.loads(probe.stdout)
    assert Path(facts["file"]).is_relative_to(venv), facts["file"]
    assert facts["cometbft"] == "v0.38.26"
    assert facts["info"] == "0a0178"  # field 1 (version), length 1, "x"
    assert facts["grpc_tools"] is False
    assert facts["toplevel"] == []
    # the simulated fleet's lot test curves (citychain/sim/lot_curves.json) are package data
    assert facts["lot_curves"] == 84
    runtime = [r for r in facts["requires"] if "extra ==" not in r]
    assert any(r.startswith("protobuf") for r in runtime)
    assert not any(r.startswith("grpcio-tools") for r in runtime)

    home = work / "home"
    init = answer("init", "--home", home, "--json")
    assert Path(init["home"]).resolve() == home.resolve()

    port = _free_port()
    log_path = work / "node.log"
    with log_path.open("wb") as log:
        node = subprocess.Popen(
            [citychain, "start", "--home", str(home), "--api", f"127.0.0.1:{port}"],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert node.poll() is None, f"citychain start exited:\n{log_path.read_text()}"
            try:
                status, body = _get(f"http://127.0.0.1:{port}/health")
                if status == 200 and json.loads(body)["status"] == "ok":
                    break
            except (OSError, ValueError):
                pass
            assert time.monotonic() < deadline, f"no /health in time:\n{log_path.read_text()}"
            time.sleep(0.2)
        assert answer("status", "--home", home, "--json")["chain_id"]

        # The web pages are package data.
        status, page = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and "<html" in page.lower()
        status, page = _get(f"http://127.0.0.1:{port}/verify")
        assert status == 200 and "<html" in page.lower()

        alice = run("keys", "add", "alice", "--home", home).stdout.strip()
        bob = run("keys", "add", "bob", "--home", home).stdout.strip()
        assert alice.startswith("city1") and bob.startswith("city1") and alice != bob

        minted = answer(
            "tx", "bank", "mint", "alice", "50000", "--from", "issuer", "--home", home, "--json"
        )
        assert minted["code"] == 0 and minted["height"] >= 1
        sent = answer(
            "tx", "bank", "send", bob, "1250", "--from", "alice", "--home", home, "--json"
        )
        assert sent["code"] == 0 and sent["height"] > minted["height"]
        tx = answer("query", "tx", sent["hash"], "--home", home)
        assert tx["result"]["code"] == 0

        proven = answer(
            "query", "bank", "balance", bob, "--prove", "--out", "bal.json", "--home", home
        )
        assert proven["address"] == bob and proven["balance"] == 1250
        bundle = json.loads((work / "bal.json").read_text())["proof"]
        assert bundle["claim"]["amount"] == 1250
        payer = answer("query", "bank", "balance", "alice", "--home", home)
        assert payer["balance"] == 50000 - 1250 - 1  # the default fee is 1

        run("verify", "proof", "bal.json", "--home", home)
        bundle["claim"]["amount"] = 1_000_000
        (work / "forged.json").write_text(json.dumps(bundle))
        run("verify", "proof", "forged.json", "--home", home, expect=1)
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
    assert node.returncode == 0, log_path.read_text()
    assert "Traceback" not in log_path.read_text()

    # battery predict reads the model's parameters from the installed package.
    (work / "cells.csv").write_text(_capacity_csv())
    prediction = answer("battery", "predict", "--input", "cells.csv")
    assert len(prediction["model_hash"]) == 64
    cells = {cell["cell_id"]: cell for cell in prediction["cells"]}
    assert set(cells) == {"cell-a", "cell-b"}
    for cell in cells.values():
        low, high = cell["interval"]
        assert isinstance(cell["eol_cycle"], int)
        assert cell["last_cycle"] < low <= cell["eol_cycle"] <= high
    assert cells["cell-a"]["last_cycle"] == 300 and cells["cell-b"]["last_cycle"] == 260
    run("battery", "predict", "--input", "missing.csv", expect=2)  # a usage error
