"""End to end on a real broker: simulated devices -> Mosquitto -> gateway -> anchored batches
on a real node; a report proven anchored and checked offline (and a tampered one refused);
forged, unsigned, malformed, unknown-device, out-of-range and replayed reports refused and
counted; the broker and the gateway SIGKILLed mid-stream with no acknowledged report lost or
anchored twice; and the same with a gateway of 2 shards (2 processes and their supervisor).
The broker has no anonymous access: the gateway and the simulated fleet log in."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from netutil import wait_until

from citychain.cli.main import main as citychain_main
from citychain.client import Wallet
from citychain.codec import decode, encode
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.init_home import init_home
from citychain.modules.devices import Anchor, anchor_key
from citychain.net.ports import claim_ports
from citychain.sim.devices import Fleet, GatewayProcess, Publisher, SimDevice, register_devices
from citychain.sim.localnode import LocalNode
from citychain.telemetry import report as rep
from citychain.telemetry.broker import MosquittoBroker, free_port, mosquitto_binary
from citychain.telemetry.gateway.service import report_topic, shard_of
from citychain.telemetry.gateway.store import (
    GatewayStore,
    StoredReport,
    find_report,
    shard_dir,
    store_all_anchored,
    store_dirs,
)

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian mosquitto")

PASSWORD = "pw"
META = hashlib.sha256(b"fleet metadata").digest()
REJECTED = 'citychain_gateway_reports_rejected_total{{reason="{}"}}'
BAD_REASONS = ("forged", "unsigned", "malformed", "unknown_device", "out_of_range", "replayed")


@dataclass
class Env:
    base: Path
    node: LocalNode
    broker: MosquittoBroker
    owner: Wallet
    gateway_id: str
    store_dir: Path
    metrics_port: int

    def gateway(
        self, batch_size: int = 40, batch_ms: int = 300, store: Path | None = None
    ) -> GatewayProcess:
        return GatewayProcess(
            [
                "--home", str(self.node.home.path), "--broker", self.broker.address,
                "--from", "fleet", "--gateway-device", self.gateway_id,
                "--store", str(store or self.store_dir), "--batch-size", str(batch_size),
                "--batch-ms", str(batch_ms), "--metrics", f"127.0.0.1:{self.metrics_port}",
            ],
            PASSWORD,
            self.base / "gateway.log",
            self.broker.gateway_login,
        ).start()  # fmt: skip


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base: Path = tmp_path_factory.mktemp("gateway")
    home, _, _ = init_home(base / "home", password=PASSWORD, kdf_limits=(1, 8192))
    keystore = Keystore(home.keys_dir, opslimit=1, memlimit=8192)
    fleet_address = keystore.add("fleet", PASSWORD).address
    with LocalNode(base / "home") as node, MosquittoBroker(base / "broker") as broker:
        issuer = Wallet(keystore.load("issuer", PASSWORD), node.client)
        issuer.send(fleet_address, 50_000, wait=True)
        owner = Wallet(keystore.load("fleet", PASSWORD), node.client)
        # The gateway device goes through the CLI; its key file is made on the spot.
        out = base / "register.json"
        code = _cli_json(
            ["device", "register", "--kind", "gateway", "--key-file", str(base / "gw.key"),
             "--create-key", "--metadata", META.hex(), "--from", "fleet", "--home",
             str(home.path)],
            out,
        )  # fmt: skip
        assert code == 0, out.read_text()
        gateway_id = json.loads(out.read_text())["device_id"]
        yield Env(base, node, broker, owner, gateway_id, base / "store", free_port())


def _cli_json(argv: list[str], out: Path) -> int:
    import contextlib
    import io
    import os

    os.environ["CITYCHAIN_PASSWORD"] = PASSWORD
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = citychain_main([*argv, "--json"])
    out.write_text(buffer.getvalue())
    return code


def _stored_count(root: Path) -> int:
    """How many reports the gateway's stores under ``root`` hold now (opened only to ask)."""
    total = 0
    for directory in store_dirs(root):
        if (directory / "gateway.sqlite").exists():
            store = GatewayStore(directory)
            try:
                total += store.report_count()
            finally:
                store.close()
    return total


def _kill_mid_stream(gateway: GatewayProcess, root: Path, stored_before: int) -> None:
    """SIGKILL ``gateway`` once it has stored a report of this stream: it is taking reports in,
    with more on their way, rather than not yet connected."""
    wait_until(lambda: _stored_count(root) > stored_before, 60, "the gateway storing reports")
    gateway.kill()


def _rejected_at_least_once(port: int, reasons: tuple[str, ...]) -> dict[str, float] | None:
    """The gateway's metrics once every one of ``reasons`` has refused a report, else None."""
    metrics = _metrics(port)
    return metrics if all(metrics.get(REJECTED.format(r), 0) >= 1 for r in reasons) else None


def _metrics(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("citychain_gateway_") and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_stream_with_restarts_loses_nothing_and_anchors_once(env: Env) -> None:
    fleet = Fleet(6)
    register_devices(env.owner, fleet.devices, META)
    unknown = SimDevice(PrivateKey.from_seed(hashlib.sha256(b"never registered").digest()))
    stored_before = _stored_count(env.store_dir)
    gateway = env.gateway()  # subscribed
    # The broker writes the gateway's session to disk, as one that has run with the gateway
    # for a while has. Without this, the SIGKILL below can come before Mosquitto's first save
    # of the new session (autosave_interval changes): the restarted broker forgets it, and the
    # reports published before the gateway subscribes again go to no subscriber (acknowledged
    # all the same) -- the gateway then logs that the broker lost its session.
    env.broker.restart()
    publisher = Publisher(env.broker.host, env.broker.port, login=env.broker.relay_login)
    try:
        for round_ in range(30):
            for device in fleet.devices:
                publisher.publish(device.id, device.report())
            if round_ == 10:
                # Every report so far is the broker's before it goes down, SIGKILLed: it wrote
                # each to disk just after its PUBACK, and the devices send their last few again.
                assert publisher.wait_all_acked(30), "the broker did not acknowledge every report"
                env.broker.kill()
                env.broker.start()
            if round_ == 20:
                _kill_mid_stream(gateway, env.store_dir, stored_before)  # SIGKILL, then back
                gateway = env.gateway()
        # Bad input, each of a different kind.
        victim = fleet.devices[0]
        good = victim.report()
        body = rep.parse_report(good)
        forged = encode(rep.SignedReport(body.body_bytes, PrivateKey.generate().sign(b"x" * 10)))
        publisher.publish_raw(report_topic(victim.id), forged)
        publisher.publish_raw(
            report_topic(victim.id), encode(rep.SignedReport(body.body_bytes, b""))
        )
        publisher.publish_raw(report_topic(victim.id), b"\x93not a report")
        publisher.publish_raw(report_topic(unknown.id), unknown.report())
        absurd = rep.ReportBody(
            victim.id, victim.counter + 100, 0, rep.BmsReadings(400_000, 0, 4_000)
        )
        publisher.publish_raw(report_topic(victim.id), rep.sign_report(victim.key, absurd))
        publisher.publish(victim.id, good)
        wait_until(
            lambda: find_report(env.store_dir, rep.report_id(good)), 60, "the good report stored"
        )
        # The same counter again, re-signed with new readings: a replay, not a redelivery.
        replay = rep.ReportBody(victim.id, victim.counter, 0, rep.BmsReadings(400_000, 0, 500))
        publisher.publish_raw(report_topic(victim.id), rep.sign_report(victim.key, replay))
        assert publisher.wait_all_acked(30), "the broker did not acknowledge every report"
        good_ids = {rid for rid, _ in publisher.sent[: 6 * 30]} | {rep.report_id(good)}
        acked = [rid for rid in publisher.acked() if rid in good_ids]
        wait_until(
            lambda: store_all_anchored(env.store_dir, len(acked)), 60, "every report anchored"
        )
        # The replay is refused after the good reports are stored: wait for its count too.
        metrics = wait_until(
            lambda: _rejected_at_least_once(env.metrics_port, BAD_REASONS),
            30,
            "every kind of bad report refused",
        )
    finally:
        publisher.close()
        gateway.stop()

    store = GatewayStore(env.store_dir)
    stored = store.report_ids()
    assert len(stored) == len(set(stored)), "a report was stored twice"
    assert set(acked) <= set(stored), "an acknowledged report was lost"
    assert len(acked) == 6 * 30 + 1
    batches = store.batches()
    assert sum(b.count for b in batches) == len(stored)
    assert all(b.status == "anchored" for b in batches)
    # Every batch is on the ledger exactly as stored, and the ledger refuses a second anchor.
    for batch in batches:
        value = env.node.client.state(anchor_key(batch.id))["value"]
        anchor = decode(bytes.fromhex(value), Anchor)
        assert (anchor.root, anchor.count) == (batch.root, batch.count)
    anchor_txs = httpx.get(f"{env.node.url}/events/batch_anchored/txs?limit=100").json()["txs"]
    assert len(anchor_txs) == len(batches)
    # The killed gateway's counters died with it; these come from the last run only.
    for reason in BAD_REASONS:
        assert metrics[REJECTED.format(reason)] >= 1

    # A report proven to be anchored, checked offline; a tampered copy refused.
    report_id = acked[37].hex()
    proof = env.base / "proof.json"
    assert _cli_json(["device", "prove", report_id, "--gateway-dir", str(env.store_dir),
                      "--out", str(proof), "--home", str(env.node.home.path)],
                     env.base / "prove.out") == 0  # fmt: skip
    assert citychain_main(["verify", "proof", str(proof), "--home", str(env.node.home.path)]) == 0
    doc = json.loads(proof.read_text())
    other = bytes.fromhex(store.report(bytes.fromhex(acked[38].hex())).raw.hex())  # type: ignore[union-attr]
    tampered = env.base / "tampered.json"
    tampered.write_text(json.dumps({**doc, "report": other.hex()}))
    assert (
        citychain_main(["verify", "proof", str(tampered), "--home", str(env.node.home.path)]) == 1
    )
    bad_path = dict(doc, path=list(reversed(doc["path"])))
    tampered.write_text(json.dumps(bad_path))
    assert (
        citychain_main(["verify", "proof", str(tampered), "--home", str(env.node.home.path)]) == 1
    )


def test_decommissioned_device_is_refused(env: Env) -> None:
    from citychain.modules.devices.messages import MsgDecommission

    (device,) = Fleet(1, prefix="retired").devices
    env.owner.resync()  # the gateway process signed anchors with the same key meanwhile
    register_devices(env.owner, [device], META)
    env.owner.submit([MsgDecommission(device.id)], wait=True)
    gateway = env.gateway()
    publisher = Publisher(
        env.broker.host, env.broker.port, client_id="retired-device", login=env.broker.relay_login
    )
    try:
        publisher.publish(device.id, device.report())
        assert publisher.wait_all_acked(10)
        wait_until(
            lambda: (
                _metrics(env.metrics_port).get(
                    'citychain_gateway_reports_rejected_total{reason="decommissioned"}', 0
                )
                >= 1
            ),
            20,
            "the decommissioned report refused",
        )
    finally:
        publisher.close()
        gateway.stop()
    store = GatewayStore(env.store_dir)
    assert store.report(publisher.sent[0][0]) is None


def test_batch_anchored_before_a_crash_is_not_anchored_again(env: Env) -> None:
    """The gateway died after its anchor committed but before it marked the batch: on restart
    it finds the anchor on the ledger and sends only the batch that really is missing."""
    from citychain.modules.devices.messages import MsgAnchorBatch
    from citychain.telemetry.report import report_id

    (device,) = Fleet(1, prefix="crash").devices
    env.owner.resync()
    register_devices(env.owner, [device], META)
    store_dir = env.base / "store-crash"
    store = GatewayStore(store_dir)
    gateway_id = bytes.fromhex(env.gateway_id)
    raws = [device.report() for _ in range(5)]
    store.add_reports((report_id(r), device.id, i + 1, r) for i, r in enumerate(raws))
    first, second = store.cut_batch(gateway_id, 3), store.cut_batch(gateway_id, 3)
    assert first is not None and second is not None
    store.close()
    committed = env.owner.submit([MsgAnchorBatch(first.id, first.root, 3, gateway_id)])
    nonce = env.node.client.nonce(env.owner.address)

    gateway = env.gateway(store=store_dir)
    try:
        wait_until(lambda: store_all_anchored(store_dir, 5), 30, "the pending batches settled")
    finally:
        gateway.stop()
    store = GatewayStore(store_dir)
    marked = store.batch(first.id)
    assert marked is not None and marked.height == committed["height"]
    assert env.node.client.nonce(env.owner.address) == nonce + 1  # only the second batch
    assert env.node.client.state(anchor_key(second.id))["value"]


def test_two_shards_store_each_report_once_and_anchor_each_batch_once(env: Env) -> None:
    """`citychain gateway --shards 2`: each device's reports all in the store of its shard, each
    exactly once, across a SIGKILL of the supervisor (its shards exit with it); a report copied
    to the other shard's topic refused; one anchor transaction per batch; a report of each shard
    proven from the gateway's --store and from its shard's folder."""
    fleet = Fleet(8, prefix="sharded")
    assert {shard_of(d.id, 2) for d in fleet.devices} == {0, 1}, "the fleet spans both shards"
    env.owner.resync()
    register_devices(env.owner, fleet.devices, META)
    root = env.base / "store-sharded"
    metrics = _consecutive_free_ports(3)  # the supervisor's, then shard k's on +1+k
    argv = [
        "--home", str(env.node.home.path), "--broker", env.broker.address, "--from", "fleet",
        "--gateway-device", env.gateway_id, "--store", str(root), "--shards", "2",
        "--batch-size", "30", "--batch-ms", "300", "--metrics", f"127.0.0.1:{metrics}",
    ]  # fmt: skip
    log = env.base / "gateway-sharded.log"
    nonce_before = env.node.client.nonce(env.owner.address)
    gateway = GatewayProcess(argv, PASSWORD, log, env.broker.gateway_login).start()
    publisher = Publisher(
        env.broker.host, env.broker.port, client_id="sharded-devices", login=env.broker.relay_login
    )
    rounds = 25
    try:
        for round_ in range(rounds):
            for device in fleet.devices:
                publisher.publish(device.id, device.report())
            if round_ == 12:
                # SIGKILL the supervisor mid-stream; its shards follow it
                _kill_mid_stream(gateway, root, 0)
                gateway = GatewayProcess(argv, PASSWORD, log, env.broker.gateway_login).start()
        assert publisher.wait_all_acked(30), "the broker did not acknowledge every report"
        total = rounds * len(fleet.devices)
        assert len(publisher.acked()) == total
        wait_until(lambda: store_all_anchored(root, total), 60, "every report anchored")
        # An accepted report copied to a topic of the other shard: that shard has no counter
        # for the device, so only the topic check stands between it and a second acceptance.
        victim = fleet.devices[0]
        copied = GatewayStore(shard_dir(root, shard_of(victim.id, 2))).report_ids()[0]
        raw = _stored(root, copied).raw
        other_bucket = (victim.id[0] >> 4) ^ 1  # flips the shard of 2
        publisher.publish_raw(f"citychain/devices/{other_bucket:x}/{victim.id.hex()}/reports", raw)
        assert publisher.wait_all_acked(10)
        wrong_shard = metrics + 1 + (shard_of(victim.id, 2) ^ 1)
        wait_until(
            lambda: (
                _metrics(wrong_shard).get(
                    'citychain_gateway_reports_rejected_total{reason="malformed"}', 0
                )
                >= 1
            ),
            20,
            "the copied report refused by the other shard",
        )
        assert _metrics(metrics)["citychain_gateway_batches_anchored_total"] >= 1
        assert _metrics(metrics)["citychain_gateway_batches_pending"] == 0
    finally:
        publisher.close()
        gateway.stop()

    acked = set(publisher.acked()[:total])
    stored: list[bytes] = []
    batches = []
    for k, directory in enumerate(store_dirs(root)):
        assert directory == shard_dir(root, k)
        store = GatewayStore(directory)
        ids = store.report_ids()
        for rid in ids:
            report = store.report(rid)
            assert report is not None and shard_of(report.device_id, 2) == k
        stored += ids
        batches += store.batches()
        store.close()
    assert len(stored) == len(set(stored)) == total, "a report lost or stored twice"
    assert set(stored) == acked
    assert sum(b.count for b in batches) == total
    assert all(b.status == "anchored" for b in batches)
    for batch in batches:
        anchor = decode(bytes.fromhex(env.node.client.state(anchor_key(batch.id))["value"]), Anchor)
        assert (anchor.root, anchor.count) == (batch.root, batch.count)
    # Only the gateway signed with the owner's key meanwhile: one transaction per batch.
    assert env.node.client.nonce(env.owner.address) - nonce_before == len(batches)
    logged = log.read_text()
    assert "the supervising process is gone" in logged

    for k in (0, 1):
        rid = GatewayStore(shard_dir(root, k)).report_ids()[5]
        for gateway_dir in (root, shard_dir(root, k)):
            proof = env.base / f"sharded-proof-{k}.json"
            assert _cli_json(["device", "prove", rid.hex(), "--gateway-dir", str(gateway_dir),
                              "--out", str(proof), "--home", str(env.node.home.path)],
                             env.base / "prove.out") == 0  # fmt: skip
            home = str(env.node.home.path)
            assert citychain_main(["verify", "proof", str(proof), "--home", home]) == 0


def _consecutive_free_ports(count: int) -> int:
    """A port p with p .. p+count-1 free and ours until this process exits (claim_ports)."""
    return claim_ports(count)


def _stored(root: Path, report_id: bytes) -> StoredReport:
    for directory in store_dirs(root):
        found = GatewayStore(directory).report(report_id)
        if found is not None:
            return found
    raise AssertionError(f"no report {report_id.hex()}")
