"""The battery factory's part of the demo (docs/fleet.md): the manufacturer registers a fleet of
EV batteries with their BMS devices, the BMSs publish a month of daily signed reports to a
real Mosquitto broker, the telemetry gateway verifies, stores and anchors them, and the oracle
commits each battery's health and attests its predicted end of life through a member's node.

Each battery's passport carries its lot's early-life test curves in the test report, so the
oracle attests a prediction from them from the first pass on (basis ``curves``), until the
capacity model is expected to be better at the battery's cycle count (basis ``capacity``).

The audit then checks what an operator, an owner and an auditor would: every report is
anchored; every battery's health on the ledger is a commitment whose opening the node serves
to the manufacturer and which opens it; after the first pass every battery's prediction comes
from its lot's curves, which the test report read through the node opens and re-runs to the
same integers; the owner's fleet (the ledger's owner index) lists every battery's holding, and
the batteries built to wear out are among those whose prediction is due; and one report is
proven anchored, offline, against the genesis validators.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citychain.client import Client, Wallet
from citychain.client.battery import (
    ReadTarget,
    fleet_read_request,
    part_read_request,
    read_request,
)
from citychain.crypto.keys import PrivateKey
from citychain.modules.battery import DAY_MS, HEALTH, TEST_REPORTS, HealthValues, commit_part
from citychain.oracle.curve_model import curve_model_hash, load_curve_params
from citychain.oracle.prediction_basis import CAPACITY, CURVES, predict_lot
from citychain.oracle.service import Oracle, OracleStats
from citychain.passport.lot_curves import lot_curves_of, lot_curves_ref
from citychain.sim.audit import Audit
from citychain.sim.devices import GatewayProcess, Publisher, SimDevice, register_devices
from citychain.sim.fleet import Fleet, publish_day, register_fleet
from citychain.telemetry.broker import MosquittoBroker
from citychain.telemetry.gateway.prove import prove_report
from citychain.telemetry.gateway.store import GatewayStore, store_all_anchored
from citychain.telemetry.proof import verify_report_proof

__all__ = ["FleetScene", "describe", "run_fleet_scene"]

ORACLE_EVERY = 10  # days between oracle passes: a month gives three
ANCHOR_TIMEOUT_S = 120.0


@dataclass
class FleetScene:
    batteries: int
    days: int
    reports: int
    batches: int
    health_updates: int
    predictions: int
    curve_predictions: int  # attested from the lot's test curves, over all passes
    switched: int  # batteries whose latest prediction is the capacity model's
    due: list[str]
    seconds: float


def _wait_anchored(store_dir: Path, sent: int) -> None:
    deadline = time.monotonic() + ANCHOR_TIMEOUT_S
    while not store_all_anchored(store_dir, sent):
        if time.monotonic() > deadline:
            raise RuntimeError(f"reports not anchored within {ANCHOR_TIMEOUT_S:g} s")
        time.sleep(0.1)


def _register_gateway(maker: Wallet) -> bytes:
    # A fixed key: the demo's gateway is the same device on every run of a fresh network.
    gateway = SimDevice(PrivateKey.from_seed(b"citychain-demo-gateway-device-01"), "gateway")
    register_devices(maker, [gateway], bytes(32))
    return gateway.id


def _prove_one(client: Client, store_dir: Path, out: Path) -> dict[str, object]:
    """The offline proof of the newest report, as ``citychain device prove`` makes it."""
    store = GatewayStore(store_dir)
    try:
        report_id = store.report_ids()[-1]
    finally:
        store.close()
    proven = prove_report(store_dir, report_id, client)
    out.write_text(json.dumps(proven.bundle, indent=2) + "\n")
    return proven.bundle


@dataclass
class _Month:
    """What a month of the fleet left: reports sent, stored and anchored, oracle passes."""

    sent: int
    stored: int
    batches: int
    passes: list[OracleStats]


def _run_month(
    client: Client,
    home: Path,
    work: Path,
    password: str,
    maker: Wallet,
    oracle_wallet: Wallet,
    fleet: Fleet,
    days: int,
    after_first_pass: Callable[[], None],
) -> _Month:
    """A broker, the gateway and the oracle; the fleet publishes ``days`` days of reports,
    the oracle passing every ORACLE_EVERY days once they are anchored (the manufacturer hands
    it the test reports)."""
    store_dir = work / "gateway-store"
    passes: list[OracleStats] = []
    with MosquittoBroker(work / "broker") as broker:
        gateway_id = _register_gateway(maker)
        register_fleet(maker, fleet)
        gateway = GatewayProcess(
            ["--home", str(home), "--node", client.url, "--broker", broker.address,
             "--from", "manufacturer",
             "--gateway-device", gateway_id.hex(), "--store", str(store_dir),
             "--batch-size", "500", "--batch-ms", "300"],
            password,
            work / "gateway.log",
            broker.gateway_login,
        ).start()  # fmt: skip
        publisher = Publisher(
            broker.host, broker.port, client_id="demo-fleet", login=broker.relay_login
        )
        oracle = Oracle(
            oracle_wallet,
            store_dir,
            work / "oracle",
            [(b.battery_id, b.device_id) for b in fleet],
            test_reports=fleet.test_reports(),
        )
        try:
            for day in range(1, days + 1):
                publish_day(fleet, publisher)
                if day % ORACLE_EVERY == 0 or day == days:
                    if not publisher.wait_all_acked(60):
                        raise RuntimeError("the broker did not acknowledge every report")
                    _wait_anchored(store_dir, len(publisher.sent))
                    passes.append(oracle.run_once())
                    if len(passes) == 1:
                        after_first_pass()
            sent = len(publisher.sent)
        finally:
            oracle.close()
            publisher.close()
            gateway.stop()
        store = GatewayStore(store_dir)
        try:
            batches = len([b for b in store.batches() if b.status == "anchored"])
            stored = len(store.report_ids())
        finally:
            store.close()
    return _Month(sent, stored, batches, passes)


def _check_health(
    client: Client,
    fleet: Fleet,
    maker_key: PrivateKey,
    target: ReadTarget,
    passes: list[OracleStats],
    audit: Audit,
) -> None:
    """Each battery's health: a commitment on the ledger that the values the node serves to
    the manufacturer open."""
    opened = 0
    for battery in fleet.batteries:
        answer = client.battery_health(
            battery.battery_id.hex(), read_request(maker_key, target, battery.battery_id, "health")
        )["health"]
        if answer is None or not answer.get("opened"):
            continue
        values = {name: answer[name] for name in HealthValues.__struct_fields__}
        salt = bytes.fromhex(answer["salt"])
        opened += commit_part(HEALTH, values, salt).hex() == answer["commitment"]
    batteries = len(fleet.batteries)
    audit.add(
        "battery health off the ledger",
        opened == batteries and all(p.undelivered == 0 for p in passes),
        f"{opened} of {batteries} batteries: the ledger holds a commitment, the node serves the "
        "values to the manufacturer, and they open it",
    )


def _predictions(
    client: Client, fleet: Fleet, maker_key: PrivateKey, target: ReadTarget
) -> list[dict[str, Any] | None]:
    """Each battery's latest prediction on the ledger (None where none yet)."""
    out = []
    for battery in fleet.batteries:
        header = read_request(maker_key, target, battery.battery_id, "prediction")
        out.append(client.battery_prediction(battery.battery_id.hex(), header)["prediction"])
    return out


def _check_lot_predictions(
    client: Client, fleet: Fleet, maker_key: PrivateKey, target: ReadTarget
) -> tuple[bool, str]:
    """After the first pass (before 100 cycles), every battery's prediction comes from its
    lot's test curves, and an auditor who may read test reports (here the manufacturer)
    reproduces it: the test report served by the node opens the ledger's commitment, its
    curves are what the attestation's inputs_ref names, and the curve model re-run on them
    gives the attested integers. The check's outcome and its detail."""
    model = load_curve_params()
    model_hash = bytes.fromhex(curve_model_hash(model))
    reproduced = 0
    for battery in fleet.batteries:
        raw, hex_id = battery.battery_id, battery.battery_id.hex()
        prediction = client.battery_prediction(
            hex_id, read_request(maker_key, target, raw, "prediction")
        )["prediction"]
        served = client.battery_part(
            hex_id, TEST_REPORTS, part_read_request(maker_key, target, raw, TEST_REPORTS)
        )
        committed = client.battery_passport(hex_id)["commitments"][TEST_REPORTS]
        fields, salt = served["fields"], bytes.fromhex(served["salt"])
        lot = lot_curves_of(fields)
        if prediction is None or lot is None or prediction["basis"] != CURVES:
            continue
        again = predict_lot(model, model_hash, lot).prediction
        reproduced += (
            commit_part(TEST_REPORTS, fields, salt).hex() == committed
            and lot_curves_ref(lot).hex() == prediction["inputs_ref"]
            and prediction["model_hash"] == model_hash.hex()
            and (again.eol_cycle, again.low, again.high)
            == (
                prediction["eol_cycle"],
                prediction["interval_low_cycles"],
                prediction["interval_high_cycles"],
            )
        )
    batteries = len(fleet.batteries)
    return reproduced == batteries, (
        f"after the first oracle pass, {reproduced} of {batteries} batteries predicted from "
        "their lot's early-life test curves (basis curves): the test report read through the "
        "node opens the ledger's commitment, holds the curves the attestation names and "
        "re-runs to its integers"
    )


def _check_due(
    client: Client,
    fleet: Fleet,
    maker_key: PrivateKey,
    target: ReadTarget,
    predictions: list[dict[str, Any] | None],
    due: int,
    audit: Audit,
) -> list[str]:
    """The owner's fleet (the ledger's owner index: here the manufacturer owns every battery)
    lists every holding, and, joined with the holding files (the simulator's secrets), the
    batteries built to wear out are among those whose prediction is due."""
    listed: set[str] = set()
    after = None
    while True:
        page = client.battery_fleet(fleet_read_request(maker_key, target), limit=100, after=after)
        listed |= {h["holding_id"] for h in page["holdings"]}
        after = page["next"]
        if after is None:
            break
    flagged = [
        b.identifier
        for b, prediction in zip(fleet.batteries, predictions, strict=True)
        if b.holding_id.hex() in listed and prediction is not None and prediction.get("due")
    ]
    built_due = [b.identifier for b in fleet.batteries[:due]]
    audit.add(
        "replacement due",
        set(built_due) <= set(flagged) and listed == {b.holding_id.hex() for b in fleet},
        f"{len(listed)} holdings in the owner's index; predicted due: "
        f"{', '.join(flagged) or 'none'} (built to wear out: {', '.join(built_due)})",
    )
    return flagged


def run_fleet_scene(
    client: Client,
    home: Path,
    work: Path,
    password: str,
    maker_key: PrivateKey,
    oracle_key: PrivateKey,
    trusted: Iterable[tuple[bytes, int]],
    audit: Audit,
    *,
    batteries: int = 40,
    days: int = 30,
    due: int = 2,
) -> FleetScene:
    """Run the fleet for ``days`` simulated days through ``client``'s node (``home`` holds
    the manufacturer's key) and add the checks to ``audit``."""
    started = time.monotonic()
    validators = list(trusted)
    work.mkdir(parents=True, exist_ok=True)
    maker = Wallet(maker_key, client)
    oracle_wallet = Wallet(oracle_key, client)
    today = int(time.time() * 1000) // DAY_MS
    # The simulated month ends today, so predicted dates mean the same as the block clock.
    fleet = Fleet(
        batteries, seed="demo", start_day=today - days, cycles_per_day=(4.0, 8.0), due=due,
        days=days,
    )  # fmt: skip
    target = ReadTarget.of(client)  # the node the read requests are signed for
    lot_check: list[tuple[bool, str]] = []
    month = _run_month(
        client, home, work, password, maker, oracle_wallet, fleet, days,
        lambda: lot_check.append(_check_lot_predictions(client, fleet, maker_key, target)),
    )  # fmt: skip
    passes = month.passes
    audit.add(
        "fleet telemetry",
        month.stored == month.sent == batteries * days and all(p.refused == 0 for p in passes),
        f"{month.sent:,} signed BMS reports through Mosquitto, {month.stored:,} stored and "
        f"anchored by the gateway in {month.batches} batch transactions; oracle transactions "
        f"refused: {sum(p.refused for p in passes)}",
    )
    passed, detail = lot_check[0] if lot_check else (False, "no oracle pass ran")
    audit.add("lot curve prediction", passed, detail)
    _check_health(client, fleet, maker_key, target, passes, audit)
    predictions = _predictions(client, fleet, maker_key, target)
    bases = ["" if p is None else str(p["basis"]) for p in predictions]
    flagged = _check_due(client, fleet, maker_key, target, predictions, due, audit)
    proof = _prove_one(client, work / "gateway-store", work / "report-proof.json")
    checked = verify_report_proof(proof, validators)
    audit.add(
        "report proven offline",
        checked.valid,
        "a BMS report proven part of an anchored batch, checked against the genesis validators"
        if checked.valid
        else checked.reason,
    )
    return FleetScene(
        batteries=batteries,
        days=days,
        reports=month.sent,
        batches=month.batches,
        health_updates=sum(p.health_updates for p in passes),
        predictions=sum(p.predictions for p in passes),
        curve_predictions=sum(p.curve_predictions for p in passes),
        switched=bases.count(CAPACITY),
        due=flagged,
        seconds=time.monotonic() - started,
    )


def describe(scene: FleetScene) -> str:
    return (
        f"battery fleet: {scene.batteries} batteries x {scene.days} days, {scene.reports:,} BMS "
        f"reports in {scene.batches} anchored batches, {scene.health_updates} health updates "
        f"and {scene.predictions} predictions attested ({scene.curve_predictions} from the "
        f"lots' test curves; at the end the capacity model had taken over for "
        f"{scene.switched} of {scene.batteries} batteries); due for replacement: "
        f"{', '.join(scene.due) or 'none'} ({scene.seconds:.0f} s)"
    )
