"""Benchmark: signed telemetry reports through Mosquitto and the gateway, anchored on a node.

What it measures (docs/modules/devices.md §9): a fresh home, a real node (`LocalNode`), a
private Mosquitto broker on loopback, N BMS devices registered on the ledger, and the gateway
(`citychain gateway`) as its own process. Every report is signed before the clock starts.

1. **Backlog**: the gateway subscribes once (creating its persistent session) and stops; N × M
   reports are published to the broker, which queues them for the gateway's session; then the
   gateway starts and the clock runs from its "running" line until every report is stored and
   every batch anchored and committed. This is the gateway's own rate: verify, store, batch,
   anchor, with the broker delivering.
2. **Live**: the devices publish while the gateway runs (publisher in this process); the clock
   runs from the first publish to the last anchor committed.

Checks: every acknowledged report stored exactly once; every batch anchored on the ledger with
its root and count; ledger transactions signed by the gateway owner = batches (its nonce).
Baseline in the same run: raw Ed25519 verifications per second on one thread here.

Run: python bench/bench_gateway.py [--devices 50] [--reports 1000] [--batch-size 1000]
     [--batch-ms 500] [--mode backlog|live|both] [--json FILE]
Exit status: 0 if every check held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from citychain.benchmarks import machine_info
from citychain.client import Wallet
from citychain.codec import decode
from citychain.crypto.keys import PrivateKey, verify
from citychain.crypto.keystore import Keystore
from citychain.devices.broker import MosquittoBroker
from citychain.devices.report import REPORT_DOMAIN, parse_report
from citychain.devices.sim import Fleet, GatewayProcess, Publisher, SimDevice, register_devices
from citychain.gateway.store import GatewayStore
from citychain.init_home import init_home
from citychain.modules.devices import Anchor, anchor_key
from citychain.sim.localnode import LocalNode

PASSWORD = "bench"
META = hashlib.sha256(b"bench fleet").digest()


def raw_verify_rate(raws: list[bytes], seconds: float = 1.5) -> float:
    samples = []
    for raw in raws[:1000]:
        report = parse_report(raw)
        samples.append((report.body_bytes, report.signature))
    keys = {}
    done, start = 0, time.perf_counter()
    public = PrivateKey.from_seed(hashlib.sha256(b"x").digest()).public_key
    keys[0] = public
    while time.perf_counter() - start < seconds:
        for body, signature in samples:
            verify(public, REPORT_DOMAIN + body, signature)
        done += len(samples)
    return done / (time.perf_counter() - start)


def _wait_settled(store_dir: Path, expected: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        store = GatewayStore(store_dir)
        try:
            if (
                store.report_count() >= expected
                and store.unbatched_count() == 0
                and not store.pending_batches(1)
            ):
                return time.perf_counter()
        finally:
            store.close()
        time.sleep(0.05)
    raise RuntimeError(f"not every report anchored within {timeout} s")


def _check(node: LocalNode, store_dir: Path, acked: list[bytes]) -> dict[str, Any]:
    store = GatewayStore(store_dir)
    stored = store.report_ids()
    batches = store.batches()
    on_ledger = 0
    for batch in batches:
        value = node.client.state(anchor_key(batch.id))["value"]
        if value:
            anchor = decode(bytes.fromhex(value), Anchor)
            on_ledger += (anchor.root, anchor.count) == (batch.root, batch.count)
    store.close()
    return {
        "stored": len(stored),
        "stored_once": len(stored) == len(set(stored)),
        "acked_all_stored": set(acked) <= set(stored),
        "batches": len(batches),
        "batches_on_ledger": on_ledger,
    }


def run_phase(
    mode: str, base: Path, node: LocalNode, broker: MosquittoBroker, gateway_id: str,
    fleet: Fleet, per_device: int, args: argparse.Namespace, owner: Wallet,
) -> dict[str, Any]:  # fmt: skip
    store_dir = base / f"store-{mode}"
    gw_args = [
        "--home", str(node.home.path), "--broker", broker.address, "--from", "fleet",
        "--gateway-device", gateway_id, "--store", str(store_dir),
        "--batch-size", str(args.batch_size), "--batch-ms", str(args.batch_ms),
    ]  # fmt: skip
    raws = [[d.report() for _ in range(per_device)] for d in fleet.devices]
    # Interleave devices, as a fleet's reports would arrive.
    order = [(d.id, raws[i][j]) for j in range(per_device) for i, d in enumerate(fleet.devices)]
    total = len(order)
    owner.resync()
    nonce_before = owner.next_nonce()
    gateway = GatewayProcess(gw_args, PASSWORD, base / f"gateway-{mode}.log")
    publisher = Publisher(broker.host, broker.port, client_id=f"bench-devices-{mode}")
    if mode == "backlog":
        gateway.start().stop()  # creates the persistent session and its subscription
        for device_id, raw in order:
            publisher.publish(device_id, raw)
        if not publisher.wait_all_acked(600):
            raise RuntimeError("the broker did not acknowledge every report")
        gateway.start()
        start = time.perf_counter()
    else:
        gateway.start()
        start = time.perf_counter()
        for device_id, raw in order:
            publisher.publish(device_id, raw)
        if not publisher.wait_all_acked(600):
            raise RuntimeError("the broker did not acknowledge every report")
    end = _wait_settled(store_dir, total, 600)
    gateway.stop()
    publisher.close()
    owner.resync()
    anchor_txs = owner.next_nonce() - nonce_before
    elapsed = end - start
    checks = _check(node, store_dir, publisher.acked())
    return {
        "mode": mode,
        "reports": total,
        "seconds": round(elapsed, 3),
        "reports_per_s": round(total / elapsed),
        "anchor_txs": anchor_txs,
        **checks,
        "ok": checks["stored"] == total
        and checks["stored_once"]
        and checks["acked_all_stored"]
        and checks["batches_on_ledger"] == checks["batches"] == anchor_txs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--reports", type=int, default=1000, help="reports per device")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batch-ms", type=int, default=500)
    parser.add_argument("--mode", choices=("backlog", "live", "both"), default="both")
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    home, _, _ = init_home(base / "home", password=PASSWORD, kdf_limits=(1, 8192))
    keystore = Keystore(home.keys_dir, opslimit=1, memlimit=8192)
    fleet_address = keystore.add("fleet", PASSWORD).address
    gateway_key = SimDevice(PrivateKey.from_seed(hashlib.sha256(b"bench gateway").digest()))
    gateway_key.kind = "gateway"
    results: list[dict[str, Any]] = []
    # Mosquitto rewrites its whole database at each autosave; with a 100,000-report backlog a
    # 1 s interval would keep it busy writing instead of acknowledging. Stopping saves anyway.
    broker_dir = base / "broker"
    with LocalNode(base / "home") as node, MosquittoBroker(broker_dir, autosave_s=60) as broker:
        Wallet(keystore.load("issuer", PASSWORD), node.client).send(
            fleet_address, 90_000, wait=True
        )
        owner = Wallet(keystore.load("fleet", PASSWORD), node.client)
        fleet = Fleet(args.devices)
        register_devices(owner, [gateway_key, *fleet.devices], META)
        baseline = raw_verify_rate([fleet.devices[0].report() for _ in range(200)])
        modes = ("backlog", "live") if args.mode == "both" else (args.mode,)
        for mode in modes:
            print(f"running {mode} ...", file=sys.stderr, flush=True)
            results.append(
                run_phase(
                    mode,
                    base,
                    node,
                    broker,
                    gateway_key.id.hex(),
                    fleet,
                    args.reports,
                    args,
                    owner,
                )
            )
    report = {
        "machine": machine_info(),
        "devices": args.devices,
        "reports_per_device": args.reports,
        "batch_size": args.batch_size,
        "batch_ms": args.batch_ms,
        "raw_ed25519_verify_per_s_one_thread": round(baseline),
        "phases": results,
    }
    print(f"{'mode':<8} {'reports':>8} {'seconds':>8} {'reports/s':>10} {'ratio':>6} "
          f"{'batches':>8} {'anchor txs':>10} {'ok':>3}")  # fmt: skip
    for r in results:
        print(
            f"{r['mode']:<8} {r['reports']:>8} {r['seconds']:>8} {r['reports_per_s']:>10} "
            f"{r['reports_per_s'] / baseline:>6.2f} {r['batches']:>8} {r['anchor_txs']:>10} "
            f"{'yes' if r['ok'] else 'NO':>3}"
        )
    print(f"baseline: {round(baseline)} raw Ed25519 verifications/s on one thread; "
          f"load {report['machine']['loadavg']}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"kept {base}", file=sys.stderr)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
