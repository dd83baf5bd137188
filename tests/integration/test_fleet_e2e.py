"""Issue 5 end to end on a real broker: a simulated fleet's BMS devices -> Mosquitto -> gateway
-> anchored batches -> the oracle -> passports updated on a real node; predictions attested with
the committed model's hash; a battery near its end of life announced as due; one report proven
anchored and checked offline. Issue 12: each passport's test report carries its lot's test
curves, and from the first pass the oracle attests the curve model's prediction from them
(basis curves), whose inputs_ref names the curves the test report read through the node
holds."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path

import httpx
import pytest
from netutil import wait_until

from citychain.cli.main import main as citychain_main
from citychain.client import Client, Wallet
from citychain.client.battery import (
    ReadTarget,
    fleet_read_request,
    part_read_request,
    read_request,
)
from citychain.codec import decode
from citychain.crypto.keystore import Keystore
from citychain.init_home import init_home
from citychain.modules.battery.commitment import commit_part
from citychain.modules.battery.messages import HealthValues
from citychain.modules.battery.state import (
    BASIS_NAMES,
    DAY_MS,
    Health,
    Prediction,
    health_key,
    prediction_key,
)
from citychain.modules.devices import anchor_key
from citychain.oracle.curve_model import curve_model_hash, load_curve_params
from citychain.oracle.eol_model import load_params, model_hash
from citychain.oracle.service import Oracle
from citychain.passport.lot_curves import lot_curves_of, lot_curves_ref
from citychain.sim.devices import GatewayProcess, Publisher
from citychain.sim.fleet import Fleet, publish_day, register_fleet
from citychain.sim.localnode import LocalNode
from citychain.telemetry.broker import MosquittoBroker, mosquitto_binary
from citychain.telemetry.gateway.store import GatewayStore, store_all_anchored, store_dirs

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian mosquitto")

PASSWORD = "pw"
BATTERIES = 20
DAYS = 30
# An oracle pass every third simulated day, after the anchors of those days' reports: each pass
# ingests several days of every battery (as a real oracle that runs less often than its fleet
# reports), and the month still gives every battery a health update per pass and a prediction.
ORACLE_EVERY = 3
assert DAYS % ORACLE_EVERY == 0, "the last day's reports must reach a pass"
# The gateway cuts a batch after this long even when it is not full (--batch-ms).
BATCH_MS = 50


def _cli_json(argv: list[str]) -> tuple[int, str]:
    os.environ["CITYCHAIN_PASSWORD"] = PASSWORD
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = citychain_main([*argv, "--json"])
    return code, buffer.getvalue()


def _check_curve_predictions(
    client: Client, maker: Wallet, fleet: Fleet, curve_hash: bytes
) -> None:
    """Before 100 cycles every battery's prediction comes from its lot's test curves: the
    manufacturer reads the test report through the node, it opens the ledger's commitment,
    and its curves are what the attestation's inputs_ref names."""
    target = ReadTarget.of(client)
    for battery in fleet:
        raw = client.state(prediction_key(battery.battery_id))["value"]
        assert raw, f"no prediction for {battery.identifier} after the first pass"
        prediction = decode(bytes.fromhex(raw), Prediction)
        assert BASIS_NAMES[prediction.basis] == "curves"
        assert prediction.model_hash == curve_hash
        header = part_read_request(maker.key, target, battery.battery_id, "test_reports")
        served = client.battery_part(battery.battery_id.hex(), "test_reports", header)
        committed = client.battery_passport(battery.battery_id.hex())["commitments"]
        salt = bytes.fromhex(served["salt"])
        assert (
            commit_part("test_reports", served["fields"], salt).hex() == committed["test_reports"]
        )
        lot = lot_curves_of(served["fields"])
        assert lot is not None and lot.cell_id == battery.cell_id
        assert lot_curves_ref(lot) == prediction.inputs_ref


def test_fleet_telemetry_updates_passports_end_to_end(tmp_path: Path) -> None:
    started = time.monotonic()
    home, _, _ = init_home(tmp_path / "home", password=PASSWORD, kdf_limits=(1, 8192))
    keystore = Keystore(home.keys_dir, opslimit=1, memlimit=8192)
    today = int(time.time() * 1000) // DAY_MS
    # The simulated month ends today, so that predicted dates mean the same as the block clock.
    fleet = Fleet(
        BATTERIES, seed="e2e", start_day=today - DAYS, cycles_per_day=(4.0, 8.0), due=1, days=DAYS
    )
    store_dir = tmp_path / "gateway-store"
    with LocalNode(home.path) as node, MosquittoBroker(tmp_path / "broker") as broker:
        maker = Wallet(keystore.load("manufacturer", PASSWORD), node.client)
        oracle_wallet = Wallet(keystore.load("oracle", PASSWORD), node.client)
        code, out = _cli_json(
            ["device", "register", "--kind", "gateway", "--key-file", str(tmp_path / "gw.key"),
             "--create-key", "--metadata", "00" * 32, "--from", "manufacturer", "--home",
             str(home.path)],
        )  # fmt: skip
        assert code == 0, out
        gateway_id = json.loads(out)["device_id"]
        maker.resync()
        register_fleet(maker, fleet)
        gateway = GatewayProcess(
            ["--home", str(home.path), "--broker", broker.address, "--from", "manufacturer",
             "--gateway-device", gateway_id, "--store", str(store_dir), "--batch-size", "100",
             "--batch-ms", str(BATCH_MS), "--shards", "2"],
            PASSWORD,
            tmp_path / "gateway.log",
            broker.gateway_login,
        ).start()  # fmt: skip
        publisher = Publisher(
            broker.host, broker.port, client_id="fleet-e2e", login=broker.relay_login
        )
        oracle = Oracle(
            oracle_wallet,
            store_dir,
            tmp_path / "oracle",
            [(b.battery_id, b.device_id) for b in fleet],
            test_reports=fleet.test_reports(),
        )
        curve_hash = bytes.fromhex(curve_model_hash(load_curve_params()))
        passes = []
        try:
            for day in range(1, DAYS + 1):
                publish_day(fleet, publisher)
                if day % ORACLE_EVERY == 0:
                    assert publisher.wait_all_acked(60)
                    wait_until(
                        lambda: store_all_anchored(store_dir, len(publisher.sent)),
                        60,
                        "anchors",
                        interval=0.05,
                    )
                    passes.append(oracle.run_once())
                    if len(passes) == 1:
                        _check_curve_predictions(node.client, maker, fleet, curve_hash)
            # A restarted oracle finds nothing new to submit: its cursor is on disk.
            oracle.close()
            oracle = Oracle(
                oracle_wallet,
                store_dir,
                tmp_path / "oracle",
                [(b.battery_id, b.device_id) for b in fleet],
                test_reports=fleet.test_reports(),
            )
            again = oracle.run_once()
        finally:
            oracle.close()
            publisher.close()
            gateway.stop()

        assert all(p.refused == 0 and p.undelivered == 0 for p in passes), passes
        assert passes[0].curve_predictions == passes[0].predictions == BATTERIES
        assert sum(p.reports for p in passes) == BATTERIES * DAYS
        assert all(p.health_updates == BATTERIES for p in passes)
        assert (again.batches, again.health_updates, again.transactions) == (0, 0, 0)

        client = node.client
        target = ReadTarget.of(client)
        committed_hash = bytes.fromhex(model_hash(load_params()))
        # the gateway ran in two shards: take a report from the second's store
        store = GatewayStore(store_dirs(store_dir)[1])
        predicted = 0
        for battery in fleet:
            health = decode(bytes.fromhex(client.state(health_key(battery.battery_id))["value"]),
                            Health)  # fmt: skip
            # the health comes from anchored telemetry: its batch is on the ledger
            assert client.state(anchor_key(health.telemetry_batch))["value"]
            # the ledger holds a commitment; the node serves the oracle's opening of it to the
            # manufacturer, and the values open the ledger's commitment
            header = read_request(maker.key, target, battery.battery_id, "health")
            opened = client.battery_health(battery.battery_id.hex(), header)["health"]
            assert opened["opened"] and opened["commitment"] == health.commitment.hex()
            values = {name: opened[name] for name in HealthValues.__struct_fields__}
            salt = bytes.fromhex(opened["salt"])
            assert commit_part("health", values, salt) == health.commitment
            assert values["equivalent_full_cycles_x100"] == int(battery.cycles) * 100
            expected = battery.capacity_fraction(battery.cycles) * 10_000
            assert abs(values["soh_permyriad"] - expected) < 150
            value = client.state(prediction_key(battery.battery_id))["value"]
            if value:
                prediction = decode(bytes.fromhex(value), Prediction)
                basis = BASIS_NAMES[prediction.basis]
                # the basis says in words which model's hash the attestation names
                assert (
                    prediction.model_hash
                    == {"capacity": committed_hash, "curves": curve_hash}[basis]
                )
                assert (
                    prediction.interval_low_cycles
                    <= prediction.eol_cycle
                    <= prediction.interval_high_cycles
                )
                predicted += 1
        # every battery has >= 100 cycles after 30 days at >= 4 a day
        assert predicted == BATTERIES

        # the battery built to wear out is announced, by its battery id (the ledger does not
        # know its owner)...
        due = fleet.batteries[0]
        found = []
        for tx in httpx.get(f"{node.url}/events/battery_replacement_due/txs?limit=100").json()[
            "txs"
        ]:
            found.append(json.dumps(client.tx(tx["hash"])))
        assert any(due.battery_id.hex() in doc for doc in found), "no replacement_due event"
        # ... and its owner (the maker here) finds it among the holdings of its fleet, and
        # reads the prediction with the battery's holding secret
        holdings = client.battery_fleet(fleet_read_request(maker.key, target), limit=100)
        assert due.holding_id.hex() in {h["holding_id"] for h in holdings["holdings"]}
        header = read_request(
            maker.key, target, due.battery_id, "prediction", holding=due.holding_secret
        )
        assert client.battery_prediction(due.battery_id.hex(), header)["prediction"]["due"]

        # one of its reports proven anchored, checked offline
        report_id = store.report_ids()[-1]
        proof = tmp_path / "proof.json"
        code, out = _cli_json(
            ["device", "prove", report_id.hex(), "--gateway-dir", str(store_dir), "--out",
             str(proof), "--home", str(home.path)]
        )  # fmt: skip
        assert code == 0, out
        assert citychain_main(["verify", "proof", str(proof), "--home", str(home.path)]) == 0
        store.close()
    assert time.monotonic() - started < 120
