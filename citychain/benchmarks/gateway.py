"""Benchmark: signed telemetry reports through Mosquitto and the gateway, anchored on a node.

What it measures (docs/modules/devices.md §9): a fresh home, a real node (`LocalNode`), a
private Mosquitto broker on loopback, N BMS devices registered on the ledger, and the gateway
(`citychain gateway`) as its own process, or with `--shards 2` as a supervisor and 2 shard
processes. Every report is signed before the clock starts. Each gateway layout given in
`--shards` (default 1 and 2) runs each mode, in one run, so the figures sit side by side.

1. **Backlog**: the gateway subscribes once (creating its persistent session) and stops; N × M
   reports are published to the broker, which queues them for the gateway's session; then the
   gateway starts and the clock runs from its "running" line until every report is stored and
   every batch anchored and committed. This is the gateway's own rate: verify, store, batch,
   anchor, with the broker delivering.
2. **Live**: the devices publish while the gateway runs (publisher in this process); the clock
   runs from the first publish to the last anchor committed.

Also measured: the gateway's CPU time (its processes' user + system seconds, from start to stop)
per 1,000 reports, and the CPU time of the broker, the node and the publisher over the same span,
which depend much less than a rate on what else the machine runs; from them, an estimate of the
rate 2 cores would carry with nothing else running (2 CPU-seconds / CPU-seconds per report).

Checks: every acknowledged report stored exactly once (over all shards); every batch anchored
on the ledger with its root and count; ledger transactions signed by the gateway owner =
batches (its nonce). Timing is reported, never asserted.
Baseline in the same run: raw Ed25519 verifications per second on one thread here.

Run: python bench/bench_gateway.py [--devices 50] [--reports 1000] [--batch-size 1000]
     [--batch-ms 500] [--mode backlog|live|both] [--shards 1,2] [--json FILE]
     python bench/bench_gateway.py --receive-only   # paho's receive path vs the gateway's
Exit status: 0 if every check held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from citychain.benchmarks import machine_info
from citychain.client import Wallet
from citychain.codec import decode
from citychain.crypto.keys import PrivateKey, verify
from citychain.crypto.keystore import Keystore
from citychain.init_home import init_home
from citychain.modules.devices import Anchor, anchor_key
from citychain.sim.devices import Fleet, GatewayProcess, Publisher, SimDevice, register_devices
from citychain.sim.localnode import LocalNode
from citychain.telemetry.broker import MosquittoBroker
from citychain.telemetry.gateway.mqtt import BufferedClient
from citychain.telemetry.gateway.store import GatewayStore, store_all_anchored, store_dirs
from citychain.telemetry.gateway.topics import BUCKETED_TOPIC
from citychain.telemetry.report import REPORT_DOMAIN, parse_report

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


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children, their own children
    included: the gateway, or the supervisor and its shards, once stopped. Unlike a rate, this
    hardly depends on what else the machine runs (start-up imports included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _others_cpu(node: LocalNode, broker: MosquittoBroker) -> float:
    """CPU seconds so far of what serves the gateway: broker, node, and this process (the
    publisher, in live mode)."""
    pids = [p.pid for p in (node.process, broker.process) if p is not None]
    return sum(_proc_cpu(pid) for pid in pids) + time.process_time()


def _wait_settled(store_dir: Path, expected: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store_all_anchored(store_dir, expected):
            return time.perf_counter()
        time.sleep(0.05)
    raise RuntimeError(f"not every report anchored within {timeout} s")


def _check(node: LocalNode, store_dir: Path, acked: list[bytes]) -> dict[str, Any]:
    stored, batches = [], []
    for directory in store_dirs(store_dir):
        store = GatewayStore(directory)
        stored += store.report_ids()
        batches += store.batches()
        store.close()
    on_ledger = 0
    for batch in batches:
        value = node.client.state(anchor_key(batch.id))["value"]
        if value:
            anchor = decode(bytes.fromhex(value), Anchor)
            on_ledger += (anchor.root, anchor.count) == (batch.root, batch.count)
    return {
        "stored": len(stored),
        "stored_once": len(stored) == len(set(stored)),
        "acked_all_stored": set(acked) <= set(stored),
        "batches": len(batches),
        "batches_on_ledger": on_ledger,
    }


def run_phase(
    mode: str, shards: int, base: Path, node: LocalNode, broker: MosquittoBroker,
    gateway_id: str, fleet: Fleet, per_device: int, args: argparse.Namespace, owner: Wallet,
) -> dict[str, Any]:  # fmt: skip
    name = f"{shards}-{mode}"
    store_dir = base / f"store-{name}"
    gw_args = [
        "--home", str(node.home.path), "--broker", broker.address, "--from", "fleet",
        "--gateway-device", gateway_id, "--store", str(store_dir),
        "--batch-size", str(args.batch_size), "--batch-ms", str(args.batch_ms),
        "--shards", str(shards),
    ]  # fmt: skip
    load_before = round(os.getloadavg()[0], 2)
    raws = [[d.report() for _ in range(per_device)] for d in fleet.devices]
    # Interleave devices, as a fleet's reports would arrive.
    order = [(d.id, raws[i][j]) for j in range(per_device) for i, d in enumerate(fleet.devices)]
    total = len(order)
    owner.resync()
    nonce_before = owner.next_nonce()
    gateway = GatewayProcess(
        gw_args, PASSWORD, base / f"gateway-{name}.log", mqtt_login=broker.gateway_login
    )
    publisher = Publisher(
        broker.host, broker.port, client_id=f"bench-devices-{name}", login=broker.relay_login
    )
    if mode == "backlog":
        gateway.start().stop()  # creates the persistent session and its subscription
        for device_id, raw in order:
            publisher.publish(device_id, raw)
        if not publisher.wait_all_acked(600):
            raise RuntimeError("the broker did not acknowledge every report")
        cpu_before, others_before = _children_cpu(), _others_cpu(node, broker)
        gateway.start()
        start = time.perf_counter()
    else:
        cpu_before, others_before = _children_cpu(), _others_cpu(node, broker)
        gateway.start()
        start = time.perf_counter()
        for device_id, raw in order:
            publisher.publish(device_id, raw)
        if not publisher.wait_all_acked(600):
            raise RuntimeError("the broker did not acknowledge every report")
    end = _wait_settled(store_dir, total, 600)
    gateway.stop()
    cpu = _children_cpu() - cpu_before
    others = _others_cpu(node, broker) - others_before
    publisher.close()
    owner.resync()
    anchor_txs = owner.next_nonce() - nonce_before
    elapsed = end - start
    checks = _check(node, store_dir, publisher.acked())
    return {
        "shards": shards,
        "mode": mode,
        "load_before": load_before,
        "reports": total,
        "seconds": round(elapsed, 3),
        "reports_per_s": round(total / elapsed),
        "gateway_cpu_s": round(cpu, 2),
        "gateway_cpu_ms_per_1000": round(cpu / total * 1e6),
        # Broker, node and this process (the publisher in live mode) over the same span.
        "others_cpu_ms_per_1000": round(others / total * 1e6),
        # What 2 cores would carry if these CPU costs were all that ran: an estimate, not a
        # measurement, but one that hardly moves with the machine's other load.
        "estimate_2_cores_per_s": round(2 * total / (cpu + others)),
        "anchor_txs": anchor_txs,
        **checks,
        "ok": checks["stored"] == total
        and checks["stored_once"]
        and checks["acked_all_stored"]
        and checks["batches_on_ledger"] == checks["batches"] == anchor_txs,
    }


def receive_path(messages: int = 50_000, repeats: int = 2) -> list[dict[str, Any]]:
    """The MQTT receive path alone (no gateway): ``messages`` QoS 1 messages queued on a
    persistent session, then drained with manual acknowledgement, by paho's client and by
    citychain.telemetry.gateway.mqtt.BufferedClient in turn; CPU time of this process per
    message."""
    payload = os.urandom(180)  # about a signed BMS report
    results = []
    with MosquittoBroker(Path(tempfile.mkdtemp(prefix="bench-mqtt-")), autosave_s=60) as broker:
        for run in range(repeats):
            for cls in (mqtt.Client, BufferedClient):
                name = f"{cls.__name__}-{run}"
                client = cls(
                    callback_api_version=CallbackAPIVersion.VERSION2,
                    client_id=f"drain-{name}",
                    clean_session=False,
                    protocol=mqtt.MQTTv311,
                    manual_ack=True,
                )
                login = broker.gateway_login
                client.username_pw_set(login.username, login.password)
                results.append(_drain(client, broker, payload, messages, name))
    return results


def _drain(
    client: mqtt.Client, broker: MosquittoBroker, payload: bytes, messages: int, name: str
) -> dict[str, Any]:
    received: list[int] = []
    lock = threading.Lock()
    subscribed = threading.Event()

    def on_message(c: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with lock:
            received.append(msg.mid)

    client.on_connect = lambda c, *_: c.subscribe(BUCKETED_TOPIC, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.loop_start()
    subscribed.wait(10)
    client.disconnect()
    client.loop_stop()
    publisher = Publisher(
        broker.host, broker.port, client_id=f"fill-{name}", login=broker.relay_login
    )
    for i in range(messages):
        publisher.publish_raw(f"citychain/devices/0/{i % 100}/reports", payload, b"-")
    publisher.wait_all_acked(300)
    publisher.close()
    count, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    client.connect(broker.host, broker.port)
    client.loop_start()
    while count < messages:
        time.sleep(0.002)
        with lock:
            mids = received[:]
            received.clear()
        count += len(mids)
        if isinstance(client, BufferedClient):
            client.ack_many(mids)
        else:
            for mid in mids:
                client.ack(mid, 1)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    client.disconnect()
    client.loop_stop()
    return {
        "client": name,
        "cpu_us_per_message": round(cpu / messages * 1e6, 1),
        "messages_per_s": round(messages / wall),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--reports", type=int, default=1000, help="reports per device")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batch-ms", type=int, default=500)
    parser.add_argument("--mode", choices=("backlog", "live", "both"), default="both")
    parser.add_argument(
        "--shards", default="1,2", help="gateway layouts to run, comma-separated (default 1,2)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument(
        "--receive-only",
        action="store_true",
        help="only compare paho's MQTT receive path with the gateway's (no node, no gateway)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    return parser


def _print_results(results: list[dict[str, Any]], baseline: float, loadavg: Any) -> None:
    header = f"{'shards':>6} {'mode':<8} {'load':>5} {'reports':>8} {'seconds':>8}"
    header += f" {'reports/s':>10} {'ratio':>6} {'gw cpu ms/1k':>12} {'rest ms/1k':>10}"
    header += f" {'2-core est/s':>12}"
    print(f"{header} {'batches':>8} {'anchor txs':>10} {'ok':>3}")
    for r in results:
        print(
            f"{r['shards']:>6} {r['mode']:<8} {r['load_before']:>5} {r['reports']:>8} "
            f"{r['seconds']:>8} {r['reports_per_s']:>10} {r['reports_per_s'] / baseline:>6.2f} "
            f"{r['gateway_cpu_ms_per_1000']:>12} {r['others_cpu_ms_per_1000']:>10} "
            f"{r['estimate_2_cores_per_s']:>12} {r['batches']:>8} {r['anchor_txs']:>10} "
            f"{'yes' if r['ok'] else 'NO':>3}"
        )
    print(f"baseline: {round(baseline)} raw Ed25519 verifications/s on one thread; "
          f"load {loadavg}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.receive_only:
        for row in receive_path():
            print(
                f"{row['client']:<18} {row['cpu_us_per_message']:>6} us CPU/message "
                f"{row['messages_per_s']:>8} messages/s; load {os.getloadavg()[0]:.2f}"
            )
        return 0
    layouts = [int(n) for n in args.shards.split(",")]
    base = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    home, _, _ = init_home(base / "home", password=PASSWORD, kdf_limits=(1, 8192))
    keystore = Keystore(home.keys_dir, opslimit=1, memlimit=8192)
    fleet_address = keystore.add("fleet", PASSWORD).address
    gateway_key = SimDevice(PrivateKey.from_seed(hashlib.sha256(b"bench gateway").digest()))
    gateway_key.kind = "gateway"
    results: list[dict[str, Any]] = []
    # Mosquitto rewrites its whole database at each autosave; with a 100,000-report backlog
    # writes every 100 changes (the default) would keep it busy writing instead of
    # acknowledging. Every 60 s is not safe against a SIGKILL, which the benchmark never sends;
    # stopping writes anyway.
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
        for shards in layouts:
            for mode in modes:
                print(f"running {shards} shard(s), {mode} ...", file=sys.stderr, flush=True)
                results.append(
                    run_phase(
                        mode,
                        shards,
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
    _print_results(results, baseline, report["machine"]["loadavg"])
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"kept {base}", file=sys.stderr)
    return 0 if all(r["ok"] for r in results) else 1
