"""The battery passport through the ``citychain battery`` command, as a user's script uses it.

A real node process; ``citychain init``'s keys (its ``manufacturer`` key holds the role) plus a
fleet operator and a stranger with a fee float.

register (public record, then the holding, and the holding file handed over and imported) →
show → history (owner yes, stranger no) → the oracle's health and prediction (through the SDK:
the oracle is a service, not a person at a prompt) → fleet with its due marker → lease → status
→ transfer (the former owner loses access) → read-request file accepted by the node; bad input
exits 2, refused transactions exit 1.

Commands run in this process through ``citychain.cli.main.main`` (cliutil.in_process); a few
in ``test_bad_input`` run as real ``citychain`` processes, for the exit status a shell sees (2 for
bad input, 1 for a refused transaction) and for ``citychain battery --help`` listing both the
oracle's ``predict`` and the passport commands (registered by citychain/cli/battery_passport.py).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cliutil import PASSWORD, Run, cli, in_process, in_process_ok, node_process
from helpers import fund_in_genesis
from telemetry import anchor_batch

from citychain.client import Client, Wallet
from citychain.client.battery import submit_health
from citychain.crypto.keystore import Keystore
from citychain.home import Home
from citychain.modules.battery.messages import MsgAttestPrediction
from citychain.modules.battery.state import DAY_MS, battery_id_of

pytestmark = pytest.mark.timeout(300)

HEALTH_VALUES = {
    "soh_permyriad": 9_400,
    "remaining_capacity_mah": 141_000,
    "capacity_fade_permille": 60,
    "resistance_increase_permille": 80,
    "energy_throughput_wh": 9_000_000,
    "equivalent_full_cycles_x100": 30_000,
    "extreme_temperature_s": 0,
    "deep_discharge_events": 0,
}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Env:
    home: Path
    work: Path
    addresses: dict[str, str]

    def run(self, *args: str | Path) -> Run:
        return in_process("battery", *args, "--home", self.home)

    def process(self, *args: str | Path) -> Run:
        """``citychain battery ARGS`` as a real process, for the exit status a shell sees."""
        return cli("battery", *args, "--home", self.home)

    def ok(self, *args: str | Path) -> Run:
        run = self.run(*args)
        assert run.returncode == 0, f"battery {args}: {run.stderr}"
        return run


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    work = tmp_path_factory.mktemp("battery-cli")
    home = work / "home"
    init = in_process_ok("init", "--home", home, "--chain-id", "battery-e2e", "--json").json()
    addresses = dict(init["addresses"])
    keystore = Keystore(Home(home).keys_dir)
    for name in ("fleet", "stranger"):
        addresses[name] = keystore.add(name, PASSWORD).address
    fund_in_genesis(home / "genesis.json", (addresses["fleet"], addresses["stranger"]), 100_000)
    with node_process(home, work):
        yield Env(home, work, addresses)


def test_passport_lifecycle_through_the_cli(env: Env) -> None:
    done = env.ok("register", "--data", EXAMPLES / "battery.json", "--from", "manufacturer",
                  "--owner", "fleet", "--json").json()  # fmt: skip
    battery_id = battery_id_of("VC-EV-0001").hex()
    assert done["battery_id"] == battery_id and done["owner"] == env.addresses["fleet"]
    kept = Path(done["restricted_parts"])
    assert done["openings_delivered"] is True
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert json.loads(kept.read_text())["composition"]["fields"]["anode"] == "graphite-SiOx"

    # The holding: opened in a transaction of its own, its secret in a file (0600) that the
    # manufacturer hands to the owner. Here it leaves the home, and comes back by import.
    holding_file = Path(done["holding_file"])
    assert stat.S_IMODE(holding_file.stat().st_mode) == 0o600
    assert done["holding_hash"] != done["hash"]
    handed = env.work / "handed-holding.json"
    shutil.move(holding_file, handed)
    without = env.run("history", "VC-EV-0001", "--from", "fleet")
    assert without.returncode == 2 and "no holding file" in without.stderr, without.stderr
    tampered = json.loads(handed.read_text())
    tampered["secret"] = "00" * 32
    (env.work / "tampered.json").write_text(json.dumps(tampered))
    assert env.run("holding-import", env.work / "tampered.json").returncode == 2
    imported = env.ok("holding-import", handed, "--json").json()
    assert imported["holding_id"] == done["holding_id"] and Path(imported["file"]) == holding_file
    assert env.run("holding-import", handed).returncode == 2  # kept already

    # Anyone: by identifier or id, text or JSON; no owner in it.
    shown = env.ok("show", "VC-EV-0001", "--json").json()
    assert shown["id"] == battery_id and shown["model"] == "Voltcell EV60"
    assert env.addresses["fleet"] not in json.dumps(shown)
    assert "Voltcell EV60" in env.ok("show", battery_id).stdout

    # Point 4: the owner and the manufacturer, not a stranger.
    history = env.ok("history", "VC-EV-0001", "--from", "fleet", "--json").json()
    assert history["owner"] == env.addresses["fleet"] and history["status"] == "original"
    assert "registered" in env.ok("history", "VC-EV-0001", "--from", "manufacturer").stdout
    refused = env.run("history", "VC-EV-0001", "--from", "stranger")
    assert refused.returncode == 1 and "HTTP 403" in refused.stderr, refused.stderr

    # The oracle's health update and prediction: due in 5 days, inside the 30-day horizon.
    with Client(Home(env.home).api_url()) as client:
        oracle = Wallet(Keystore(Home(env.home).keys_dir).load("oracle", PASSWORD), client)
        raw_id = bytes.fromhex(battery_id)
        maker = Wallet(Keystore(Home(env.home).keys_dir).load("manufacturer", PASSWORD), client)
        submit_health(oracle, raw_id, HEALTH_VALUES, anchor_batch(maker, b"batch"))
        today = int(time.time() * 1000) // DAY_MS
        oracle.submit([MsgAttestPrediction(raw_id, 1_800, today + 5, 1_500, 2_100,
                                           hashlib.sha256(b"m").digest(),
                                           hashlib.sha256(b"i").digest())])  # fmt: skip
    # The restricted parts in clear, each checked against the ledger's commitment.
    composition = env.ok("part", "VC-EV-0001", "composition", "--from", "fleet", "--json").json()
    assert composition["verified"] and composition["fields"]["anode"] == "graphite-SiOx"
    values = env.ok("part", "VC-EV-0001", "health", "--from", "fleet", "--json").json()
    assert values["fields"] == HEALTH_VALUES
    assert (
        "opens the ledger's commitment"
        in env.ok("part", "VC-EV-0001", "test_reports", "--from", "manufacturer").stdout
    )
    for who, part in (("fleet", "test_reports"), ("stranger", "composition")):
        refused = env.run("part", "VC-EV-0001", part, "--from", who)
        assert refused.returncode == 1 and "HTTP 403" in refused.stderr, refused.stderr
    health = env.ok("health", "VC-EV-0001", "--from", "fleet", "--json").json()
    assert health["health"]["soh_permyriad"] == 9_400 and health["updates"] == 1
    assert health["prediction"]["due"] is True
    fleet = env.ok("fleet", "--from", "fleet", "--json").json()["holdings"]
    assert [(b["identifier"], b["role"], b["prediction"]["due"]) for b in fleet] == [
        ("VC-EV-0001", "owner", True)
    ]
    assert "DUE" in env.ok("fleet", "--from", "fleet").stdout
    assert "no battery" in env.ok("fleet", "--from", "stranger").stdout

    # A lease: the lessee reads and lists it while it runs.
    env.ok("lease", "VC-EV-0001", "--to", "stranger", "--from", "fleet")
    leased = env.ok("fleet", "--from", "stranger", "--json").json()["holdings"]
    assert [(b["identifier"], b["role"]) for b in leased] == [("VC-EV-0001", "lessee")]
    assert env.ok("history", "VC-EV-0001", "--from", "stranger", "--json").json()["lessee"]
    env.ok("lease", "VC-EV-0001", "--end", "--from", "fleet")
    ending = env.run("lease", "VC-EV-0001", "--end", "--until", "9", "--from", "fleet")
    assert ending.returncode == 2

    # Lifecycle and ownership.
    env.ok("status", "VC-EV-0001", "--status", "installed", "--from", "fleet")
    bad = env.run("status", "VC-EV-0001", "--status", "repurposed", "--from", "fleet")
    assert bad.returncode == 1 and "battery/5" in bad.stderr, bad.stderr
    env.ok("transfer", "VC-EV-0001", "--to", env.addresses["stranger"], "--from", "fleet")
    assert env.run("history", "VC-EV-0001", "--from", "fleet").returncode == 1
    history = env.ok("history", "VC-EV-0001", "--from", "stranger", "--json").json()
    assert [c["action"] for c in history["history"]] == [
        "registered", "leased", "lease_ended", "status_changed", "transferred",
    ]  # fmt: skip

    # A read request file for the web pages: the node takes each header value once, on the
    # route it was signed for.
    out = env.work / "req.json"
    env.ok("read-request", "VC-EV-0001", "--from", "stranger", "--out", out)
    request = json.loads(out.read_text())
    assert request["battery_id"] == battery_id and request["reader"] == env.addresses["stranger"]
    url = Home(env.home).api_url()
    health = next(r for r in request["requests"] if r["route"].endswith("/health"))
    assert health["route"] == f"GET /battery/{battery_id}/health"
    headers = {request["header"]: health["request"]}
    response = httpx.get(f"{url}/battery/{battery_id}/health", headers=headers)
    assert response.status_code == 200, response.text
    replayed = httpx.get(f"{url}/battery/{battery_id}/health", headers=headers)
    assert replayed.status_code == 401 and replayed.json()["error"]["code"] == 4
    fleet_out = env.work / "fleet-req.json"
    env.ok("read-request", "--fleet", "--from", "stranger", "--out", fleet_out)
    assert json.loads(fleet_out.read_text())["part"] == "fleet"


def test_bad_input(env: Env) -> None:
    work = env.work
    (work / "not-json.json").write_text("{")
    run = env.process("register", "--data", work / "not-json.json", "--from", "manufacturer")
    assert run.returncode == 2 and "not JSON" in run.stderr
    doc = json.loads((EXAMPLES / "battery.json").read_text())
    doc["passport"]["identifier"] = "VC-EV-UNITS"
    doc["passport"]["rated_energy_wh"] = 60  # kWh given as Wh
    (work / "units.json").write_text(json.dumps(doc))
    run = env.run("register", "--data", work / "units.json", "--from", "manufacturer")
    assert run.returncode == 1 and "battery/3" in run.stderr, run.stderr
    doc["passport"]["manufacturing_day"] = 20230831  # YYYYMMDD given as days
    (work / "day.json").write_text(json.dumps(doc))
    run = env.run("register", "--data", work / "day.json", "--from", "manufacturer")
    assert run.returncode == 2 and "manufacturing_day" in run.stderr, run.stderr
    doc["extra"] = 1
    (work / "extra.json").write_text(json.dumps(doc))
    run = env.run("register", "--data", work / "extra.json", "--from", "manufacturer")
    assert run.returncode == 2 and "unknown keys extra" in run.stderr
    # Only a manufacturer registers.
    doc = json.loads((EXAMPLES / "battery.json").read_text())
    doc["passport"]["identifier"] = "VC-EV-OTHER"
    (work / "other.json").write_text(json.dumps(doc))
    run = env.process("register", "--data", work / "other.json", "--from", "fleet")
    assert run.returncode == 1 and "tx/12" in run.stderr, run.stderr

    # A holding opens once (register opened it; open-holding is for when it could not).
    again = env.run("open-holding", "VC-EV-0001", "--from", "manufacturer")
    assert again.returncode == 1 and "battery/18" in again.stderr, again.stderr
    bad_bms = env.run("open-holding", "VC-EV-0001", "--bms-device-id", "zz", "--from", "fleet")
    assert bad_bms.returncode == 2
    assert env.run("transfer", "NO-HOLDING-1", "--to", "fleet", "--from", "fleet").returncode == 2

    assert env.process("show", "x" * 65).returncode == 2
    assert env.run("show", "x" * 65).returncode == 2
    missing = env.run("show", "NO-SUCH-BATTERY")
    assert missing.returncode == 1 and "not found" in missing.stderr
    assert env.run("status", "VC-EV-0001", "--status", "broken", "--from", "fleet").returncode == 2
    assert env.run("read-request", "--from", "fleet", "--out", work / "r.json").returncode == 2
    assert env.run("fleet", "--from", "fleet", "--limit", "101").returncode == 2
    # predict, registered by citychain/oracle, is still there, beside the passport commands.
    shown = cli("battery", "--help")
    assert shown.returncode == 0
    assert "predict" in shown.stdout and "register" in shown.stdout
