"""Benchmark: a simulated fleet's daily BMS reports through the whole pipeline (docs/fleet.md).

A fresh home with a manufacturer key, a real node (`LocalNode`), a private Mosquitto broker,
the gateway (`citychain gateway`, its own process), N batteries registered (BMS device and
passport, 64 messages a transaction), then D simulated days: each day every battery publishes
its report (QoS 1), the run waits until every report is stored and anchored, and the oracle
makes one pass (health for every battery, predictions for those with >= 100 cycles).

Figures: registration time; per day the wall time from the first publish to the last anchor
committed (reports/s through broker + gateway + ledger) and the oracle pass time (batteries/s).
Also, offline and without the ledger, the prediction error of the oracle's model on the fleet
(whose true end of life is known by construction) at the end of the run.

Run: python bench/bench_fleet.py [--batteries 2000] [--days 3] [--rate 4 8] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from citychain.client import Wallet
from citychain.crypto.keystore import Keystore
from citychain.init_home import init_home
from citychain.modules.battery import DAY_MS
from citychain.oracle.service import Oracle
from citychain.sim.devices import GatewayProcess, Publisher, SimDevice, register_devices
from citychain.sim.fleet import Fleet, publish_day, register_fleet
from citychain.sim.localnode import LocalNode
from citychain.telemetry.broker import MosquittoBroker
from citychain.telemetry.gateway.store import store_all_anchored

PASSWORD = "pw"


def run(batteries: int, days: int, rate: tuple[float, float], base: Path) -> dict[str, Any]:
    from citychain.crypto.keys import PrivateKey

    home, _, _ = init_home(base / "home", password=PASSWORD, kdf_limits=(1, 8192))
    keystore = Keystore(home.keys_dir, opslimit=1, memlimit=8192)
    today = int(time.time() * 1000) // DAY_MS
    fleet = Fleet(batteries, seed="bench", start_day=today - days, cycles_per_day=rate, days=days)
    figures: dict[str, Any] = {"batteries": batteries, "days": days, "rate": list(rate)}
    store_dir = base / "store"
    with LocalNode(home.path) as node, MosquittoBroker(base / "broker") as broker:
        maker = Wallet(keystore.load("manufacturer", PASSWORD), node.client)
        gateway_device = SimDevice(PrivateKey.from_seed(b"\x07" * 32), "gateway")
        register_devices(maker, [gateway_device], bytes(32))
        gw_id = gateway_device.id
        t0 = time.monotonic()
        txs = register_fleet(maker, fleet)
        figures["register_s"] = round(time.monotonic() - t0, 2)
        figures["register_txs"] = txs
        gateway = GatewayProcess(
            ["--home", str(home.path), "--broker", broker.address, "--from", "manufacturer",
             "--gateway-device", gw_id.hex(), "--store", str(store_dir), "--batch-size", "1000",
             "--batch-ms", "500"],
            PASSWORD,
            base / "gateway.log",
            broker.gateway_login,
        ).start()  # fmt: skip
        publisher = Publisher(
            broker.host, broker.port, client_id="fleet-bench", login=broker.relay_login
        )
        oracle = Oracle(
            Wallet(keystore.load("oracle", PASSWORD), node.client),
            store_dir,
            base / "oracle",
            [(b.battery_id, b.device_id) for b in fleet],
        )
        per_day = []
        try:
            for _ in range(days):
                t0 = time.monotonic()
                publish_day(fleet, publisher)
                published = time.monotonic() - t0
                deadline = time.monotonic() + 600
                while not store_all_anchored(store_dir, len(publisher.sent)):
                    if time.monotonic() > deadline:
                        raise RuntimeError("reports not anchored within 600 s")
                    time.sleep(0.1)
                pipeline = time.monotonic() - t0
                t1 = time.monotonic()
                stats = oracle.run_once()
                oracle_s = time.monotonic() - t1
                per_day.append(
                    {
                        "publish_s": round(published, 2),
                        "anchored_s": round(pipeline, 2),
                        "reports_per_s": round(batteries / pipeline, 1),
                        "oracle_s": round(oracle_s, 2),
                        "oracle_batteries_per_s": round(batteries / oracle_s, 1),
                        "predictions": stats.predictions,
                        "refused": stats.refused,
                    }
                )
                print(json.dumps(per_day[-1]), flush=True)
        finally:
            oracle.close()
            publisher.close()
            gateway.stop()
    figures["per_day"] = per_day
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batteries", type=int, default=2000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--rate", type=float, nargs=2, default=(4.0, 8.0))
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        figures = run(args.batteries, args.days, tuple(args.rate), Path(tmp))
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if all(d["refused"] == 0 for d in figures["per_day"]) else 1
