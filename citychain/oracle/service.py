"""The battery oracle service (docs/fleet.md): anchored BMS telemetry -> health and predictions.

One pass (``Oracle.run_once``):

1. reads the gateway's store (citychain.telemetry.gateway.store, never writing to it) for
   batches marked ``anchored`` it has not processed, checks each on the ledger
   (``dev/b/<batch id>`` holds the same root and count) and recomputes the root from the
   stored reports, decodes their BMS reports, keeps those of the fleet's BMS devices (the
   manifest names each battery's; the ledger keeps the device only in the battery's holding,
   which it does not link to the battery), and stores them in its own
   SQLite file together with the processed batch ids (its cursor), in one transaction;
2. for each battery with reports newer than the last it submitted, aggregates them per
   simulated day (the device's clock: ``time_ms // 86_400_000``) and signs, with the
   ``oracle`` key, a ``battery/update_health`` (fixed-point values; ``telemetry_batch`` = the
   anchored batch of its latest report) and, once 100 cycles are seen, a
   ``battery/attest_prediction``: ``eol_model.predict`` on the (cycle, capacity) series,
   the committed model's hash, the integer EOL cycle, the 80 % interval, and the date from the
   last report's day and the recent cycles per day. ``inputs_ref`` = sha256 of the ids of the
   reports the series was built from, in counter order, so anyone holding the reports can
   check what was predicted from. A battery whose passport's test report carries its lot's
   early-life test curves gets the curve model's prediction instead (basis ``curves``,
   ``inputs_ref`` = the curves' reference) from its first report on, until its own telemetry
   is preferred: the capacity model expected to be better at its cycle count, or its reports
   contradicting its lot (``prediction_basis``).

The test reports are restricted data (Annex XIII point 3) that the oracle role may not read
through the passport service: the manufacturer hands them to the oracle with the fleet manifest,
and the oracle checks each against the ledger's commitment before it uses it.

Restarts are harmless: processed batches are skipped; a battery's submitted counter is only
advanced after its transaction committed, so at worst an update is sent twice (the ledger takes
it: the cumulative fields are equal, not lower).

``python -m citychain.oracle.service --home H --gateway-store DIR --fleet MANIFEST
--from oracle [--state DIR] [--once] [--interval S]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citychain.client import Client, Wallet
from citychain.client.battery import seal_health
from citychain.client.errors import ApiError
from citychain.codec import decode
from citychain.crypto.keystore import Keystore
from citychain.home import Home
from citychain.modules.battery import DAY_MS, HEALTH, Battery, MsgUpdateHealth, battery_key
from citychain.modules.devices import Anchor, anchor_key
from citychain.oracle.curve_data import CurveDataError
from citychain.oracle.curve_model import CurveModel, curve_model_hash, load_curve_params
from citychain.oracle.eol_model import EolModel, PredictionError, load_params, model_hash
from citychain.oracle.health import (
    Day,
    FleetEntry,
    attest_prediction,
    days_of,
    health_values,
)
from citychain.oracle.prediction_basis import (
    CURVES,
    LotPrediction,
    TestReport,
    opened_lot_curves,
    predict_lot,
)
from citychain.passport.lot_curves import LotCurves, lot_curves_ref
from citychain.passport.openings import Opening, health_fields
from citychain.telemetry import merkle
from citychain.telemetry.gateway.store import GatewayStore, store_dirs
from citychain.telemetry.report import BmsReadings, ReportError, parse_report
from citychain.tx.envelope import MAX_MESSAGES, Message

__all__ = ["Oracle", "OracleStats", "load_manifest", "main", "run_oracle"]

log = logging.getLogger("citychain.oracle")

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (id BLOB PRIMARY KEY);
CREATE TABLE IF NOT EXISTS readings (
    device_id BLOB NOT NULL,
    counter INTEGER NOT NULL,
    report_id BLOB NOT NULL,
    batch_id BLOB NOT NULL,
    day INTEGER NOT NULL,
    cycle INTEGER,
    capacity_mah INTEGER,
    throughput_wh INTEGER,
    temperature_dc INTEGER,
    resistance_uohm INTEGER,
    soc_permille INTEGER NOT NULL,
    PRIMARY KEY (device_id, counter)
);
CREATE TABLE IF NOT EXISTS submitted (device_id BLOB PRIMARY KEY, counter INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS health_openings (
    battery_id BLOB NOT NULL,
    commitment BLOB PRIMARY KEY,
    fields TEXT NOT NULL,
    salt BLOB NOT NULL
);
"""


@dataclass
class OracleStats:
    batches: int = 0
    reports: int = 0
    health_updates: int = 0
    predictions: int = 0
    curve_predictions: int = 0  # of the predictions, those from the lot's test curves
    transactions: int = 0
    refused: int = 0
    undelivered: int = 0  # committed health updates whose opening the node did not take


class Oracle:
    def __init__(
        self,
        wallet: Wallet,
        gateway_store: Path,
        state_dir: Path,
        batteries: Sequence[tuple[bytes, bytes]],
        model: EolModel | None = None,
        *,
        test_reports: Mapping[bytes, TestReport] | None = None,
        curve_model: CurveModel | None = None,
    ) -> None:
        """``batteries``: (battery id, BMS device id) pairs, from the manufacturer's manifest;
        each battery must be registered on the ledger. The pairing is the manifest's word: the
        ledger keeps the device in the battery's holding, which the oracle cannot name.
        ``test_reports``: opened test reports by battery id, from the manufacturer; each must
        open the ledger's commitment, and one carrying lot curves gives its battery the curve
        prediction (``curve_model``, default the committed one)."""
        self.wallet = wallet
        self.client: Client = wallet.client
        self.gateway_store = gateway_store
        self.model = model or load_params()
        self.model_hash = bytes.fromhex(model_hash(self.model))
        state_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(state_dir / "oracle.sqlite", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self.fleet: dict[bytes, FleetEntry] = {}
        # the curve prediction of each battery whose test report carries its lot's curves
        self.lots: dict[bytes, LotPrediction] = {}
        self._by_lot: dict[bytes, LotPrediction | None] = {}
        self._curve_model = curve_model
        reports = test_reports or {}
        for battery_id, device_id in batteries:
            value = self.client.state(battery_key(battery_id))["value"]
            if not value:
                raise ValueError(f"battery {battery_id.hex()} is not registered")
            battery = decode(bytes.fromhex(value), Battery)
            self.fleet[device_id] = FleetEntry(
                battery_id,
                device_id,
                battery.passport.rated_capacity_mah,
                battery.passport.capacity_threshold_permille,
            )
            report = reports.get(battery_id)
            lot = None if report is None else opened_lot_curves(battery_id, battery, report)
            prediction = None if lot is None else self._lot_prediction(battery_id, lot)
            if prediction is not None:
                self.lots[device_id] = prediction

    def _lot_prediction(self, battery_id: bytes, lot: LotCurves) -> LotPrediction | None:
        """The curve model's prediction of a battery's lot (one per lot: its batteries share
        it); None when the model cannot use the curves (the battery then waits for the
        capacity model)."""
        ref = lot_curves_ref(lot)
        if ref in self._by_lot:
            return self._by_lot[ref]
        if self._curve_model is None:
            self._curve_model = load_curve_params()
        model = self._curve_model
        try:
            prediction = predict_lot(model, bytes.fromhex(curve_model_hash(model)), lot)
        except (PredictionError, CurveDataError) as exc:
            log.warning("no curve prediction for %s: %s", battery_id.hex(), exc)
            prediction = None
        self._by_lot[ref] = prediction
        return prediction

    def close(self) -> None:
        self.db.close()

    # --- 1. ingest anchored batches -------------------------------------------------------
    def _anchored_on_ledger(self, batch_id: bytes, root: bytes, count: int) -> bool:
        value = self.client.state(anchor_key(batch_id))["value"]
        if not value:
            return False
        anchor = decode(bytes.fromhex(value), Anchor)
        return anchor.root == root and anchor.count == count

    def ingest(self, stats: OracleStats) -> None:
        """Every anchored batch not seen yet, from the gateway's store or, when the gateway
        runs in shards, from each shard's (a device's reports are all in one shard)."""
        for directory in store_dirs(self.gateway_store):
            self._ingest_store(directory, stats)

    def _ingest_store(self, directory: Path, stats: OracleStats) -> None:
        done = {bytes(r[0]) for r in self.db.execute("SELECT id FROM batches")}
        store = GatewayStore(directory)
        try:
            for batch in store.batches():
                if batch.status != "anchored" or batch.id in done:
                    continue
                if not self._anchored_on_ledger(batch.id, batch.root, batch.count):
                    log.warning("batch %s marked anchored but not on the ledger", batch.id.hex())
                    continue
                leaves = store.batch_leaves(batch.id)
                if merkle.root([merkle.leaf_hash(raw) for raw in leaves]) != batch.root:
                    log.warning("batch %s: stored reports do not match its root", batch.id.hex())
                    continue
                rows = self._fleet_rows(batch.id, leaves)
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany(
                    "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
                self.db.execute("INSERT INTO batches (id) VALUES (?)", (batch.id,))
                self.db.execute("COMMIT")
                stats.batches += 1
                stats.reports += len(rows)
        finally:
            store.close()

    def _fleet_rows(self, batch_id: bytes, leaves: list[bytes]) -> list[tuple[Any, ...]]:
        """The ``readings`` rows of a batch's reports from the fleet's BMS devices."""
        rows = []
        for raw in leaves:
            try:
                report = parse_report(raw)
            except ReportError:  # the gateway checked it; never expected
                continue
            body = report.body
            readings = body.readings
            if body.device_id not in self.fleet or not isinstance(readings, BmsReadings):
                continue
            rows.append(
                (
                    body.device_id,
                    body.counter,
                    report.id,
                    batch_id,
                    body.time_ms // DAY_MS,
                    readings.cycle_count,
                    readings.discharge_capacity_mah,
                    readings.energy_throughput_wh,
                    readings.temperature_dc,
                    readings.internal_resistance_uohm,
                    readings.soc_permille,
                )
            )
        return rows

    # --- 2. per battery: aggregate, health, prediction ------------------------------------
    def days(self, device_id: bytes) -> tuple[list[Day], list[bytes]]:
        """The device's reports aggregated per day, and their report ids in counter order."""
        rows = self.db.execute(
            "SELECT counter, report_id, batch_id, day, cycle, capacity_mah, throughput_wh, "
            "temperature_dc, resistance_uohm, soc_permille FROM readings WHERE device_id = ? "
            "ORDER BY counter",
            (device_id,),
        ).fetchall()
        return days_of(rows), [bytes(r[1]) for r in rows]

    def seal_health(self, entry: FleetEntry, days: list[Day]) -> tuple[MsgUpdateHealth, Opening]:
        """The health update for the ledger (a commitment only: the values are Annex XIII
        point 4 data) and its opening, kept here and delivered to the node once committed."""
        fields = health_fields(health_values(entry, days))
        message, salt = seal_health(entry.battery_id, fields, days[-1].batch_id)
        commitment = message.commitment
        self.db.execute(
            "INSERT OR IGNORE INTO health_openings VALUES (?, ?, ?, ?)",
            (entry.battery_id, commitment, json.dumps(fields, sort_keys=True), salt),
        )
        return message, Opening(entry.battery_id, HEALTH, commitment, 0, 0, fields, salt)

    def submit(self, stats: OracleStats) -> None:
        submitted = {
            bytes(d): int(c) for d, c in self.db.execute("SELECT device_id, counter FROM submitted")
        }
        # one transaction per group of batteries; a battery's messages stay in one transaction
        groups: list[tuple[list[Message], list[tuple[bytes, int]], list[Opening]]] = [([], [], [])]
        for device_id, entry in self.fleet.items():
            days, report_ids = self.days(device_id)
            if not days or days[-1].counter <= submitted.get(device_id, 0):
                continue
            update, opening = self.seal_health(entry, days)
            messages: list[Message] = [update]
            lot = self.lots.get(device_id)
            attest = attest_prediction(self.model, self.model_hash, entry, days, report_ids, lot)
            if attest is not None:
                messages.append(attest)
                stats.curve_predictions += attest.basis == CURVES
            if len(groups[-1][0]) + len(messages) > MAX_MESSAGES:
                groups.append(([], [], []))
            groups[-1][0].extend(messages)
            groups[-1][1].append((device_id, days[-1].counter))
            groups[-1][2].append(opening)
            stats.health_updates += 1
            stats.predictions += attest is not None
        groups = [g for g in groups if g[0]]
        if not groups:
            return
        raws = [self.wallet.sign(messages) for messages, _, _ in groups]
        results = self.client.broadcast_batch(raws, wait=True)
        failed = False
        for (_, done, openings), result in zip(groups, results, strict=True):
            if result.get("code", 0) != 0:
                log.error("oracle transaction refused: %s", result.get("log") or result)
                stats.refused += 1
                failed = True
                continue
            stats.transactions += 1
            self.db.executemany(
                "INSERT INTO submitted (device_id, counter) VALUES (?, ?) ON CONFLICT (device_id)"
                " DO UPDATE SET counter = max(counter, excluded.counter)",
                done,
            )
            self.deliver(openings, stats)
        if failed:
            self.wallet.resync()

    def deliver(self, openings: list[Opening], stats: OracleStats) -> None:
        """Hand the node the openings of committed health updates, so that it can serve the
        values to each battery's owner, lessee and manufacturer. The oracle keeps every
        opening (``health_openings``), so a failed delivery can be repeated."""
        if not openings:
            return
        body = [
            {
                "battery_id": o.battery_id.hex(),
                "part": HEALTH,
                "fields": dict(o.fields),
                "salt": o.salt.hex(),
            }
            for o in openings
        ]
        try:
            answer = self.client.deliver_openings(body)
        except ApiError as exc:
            log.error("%d openings not delivered: %s", len(openings), exc)
            stats.undelivered += len(openings)
            return
        for result in answer["results"]:
            if "error" in result:
                log.error("opening of %s refused: %s", result["battery_id"], result["error"])
                stats.undelivered += 1

    def run_once(self) -> OracleStats:
        stats = OracleStats()
        self.ingest(stats)
        self.submit(stats)
        return stats


def load_manifest(path: Path) -> tuple[list[tuple[bytes, bytes]], dict[bytes, TestReport]]:
    """The fleet manifest (``citychain.sim.fleet.Fleet.manifest``): (battery id, BMS device
    id) pairs, and the opened test reports of the batteries that have one."""
    doc = json.loads(path.read_text())
    batteries = []
    reports: dict[bytes, TestReport] = {}
    for b in doc["batteries"]:
        battery_id = bytes.fromhex(b["battery_id"])
        batteries.append((battery_id, bytes.fromhex(b["bms_device_id"])))
        report = b.get("test_report")
        if report is not None:
            reports[battery_id] = (report["fields"], bytes.fromhex(report["salt"]))
    return batteries, reports


def run_oracle(
    wallet: Wallet,
    gateway_store: Path,
    state_dir: Path,
    batteries: Sequence[tuple[bytes, bytes]],
    *,
    test_reports: Mapping[bytes, TestReport] | None = None,
    once: bool = False,
    interval_s: float = 5.0,
    stop: Any = None,
) -> OracleStats:
    """Run passes until ``stop()`` is true (or once); returns the totals."""
    oracle = Oracle(wallet, gateway_store, state_dir, batteries, test_reports=test_reports)
    total = OracleStats()
    try:
        while True:
            stats = oracle.run_once()
            for name in total.__dataclass_fields__:
                setattr(total, name, getattr(total, name) + getattr(stats, name))
            log.info("pass: %s", stats)
            if once or (stop is not None and stop()):
                return total
            time.sleep(interval_s)
    finally:
        oracle.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="citychain oracle",
        description="anchored BMS telemetry -> battery health and end-of-life predictions",
    )
    parser.add_argument("--home", required=True, help="the node's home (keys, node.json)")
    parser.add_argument("--gateway-store", required=True, help="the gateway's --store folder")
    parser.add_argument(
        "--fleet", required=True, help="fleet manifest (JSON): batteries and test reports"
    )
    parser.add_argument("--from", dest="from_key", default="oracle", help="key holding oracle")
    parser.add_argument("--state", help="the oracle's own folder (default HOME/oracle)")
    parser.add_argument("--node", help="node URL (default: the node running from --home)")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between passes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    home = Home(Path(args.home))
    password = os.environ.get("CITYCHAIN_PASSWORD")
    if password is None:
        print("error: set CITYCHAIN_PASSWORD to the key's password", file=sys.stderr)
        return 2
    key = Keystore(home.keys_dir).load(args.from_key, password)
    url = args.node or home.api_url()
    if not url.startswith(("http://", "https://")):
        url = f"http://{url}"
    batteries, test_reports = load_manifest(Path(args.fleet))
    client = Client(url)
    try:
        total = run_oracle(
            Wallet(key, client),
            Path(args.gateway_store),
            Path(args.state) if args.state else home.path / "oracle",
            batteries,
            test_reports=test_reports,
            once=args.once,
            interval_s=args.interval,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        client.close()
    print(json.dumps(total.__dict__))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
