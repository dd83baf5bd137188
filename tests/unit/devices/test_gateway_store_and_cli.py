"""The gateway store (counters survive a reopen, batches cut in order with their leaves, a report
proof built from them verifies its Merkle path) and the CLI's refusals of bad arguments."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from citychain.cli.main import main as citychain_main
from citychain.crypto.keys import PrivateKey
from citychain.sim.devices import SimDevice
from citychain.telemetry import merkle
from citychain.telemetry.gateway.store import ANCHORED, PENDING, GatewayStore, batch_id_of
from citychain.telemetry.report import report_id

GATEWAY = hashlib.sha256(b"gateway").digest()


def _device(name: str) -> SimDevice:
    return SimDevice(PrivateKey.from_seed(hashlib.sha256(name.encode()).digest()))


def test_store_counters_batches_and_leaves(tmp_path: Path) -> None:
    store = GatewayStore(tmp_path)
    device = _device("a")
    raws = [device.report() for _ in range(5)]
    store.add_reports((report_id(r), device.id, i + 1, r) for i, r in enumerate(raws))
    store.close()
    store = GatewayStore(tmp_path)  # reopened, as after a restart
    assert store.counters() == {device.id: 5}
    assert store.unbatched_count() == 5
    first = store.cut_batch(GATEWAY, 3)
    second = store.cut_batch(GATEWAY, 3)
    assert first is not None and second is not None and store.cut_batch(GATEWAY, 3) is None
    assert (first.count, second.count, first.status) == (3, 2, PENDING)
    assert first.id == batch_id_of(GATEWAY, first.root, 3)
    assert store.batch_leaves(first.id) == raws[:3]
    assert first.root == merkle.root([merkle.leaf_hash(r) for r in raws[:3]])
    assert [b.id for b in store.pending_batches()] == [first.id, second.id]
    store.mark_anchored(first.id, 12, "ab")
    stored = store.report(report_id(raws[4]))
    assert stored is not None and (stored.batch_id, stored.leaf_index) == (second.id, 1)
    assert [b.status for b in store.batches()] == [ANCHORED, PENDING]


def test_duplicate_report_is_refused_by_the_store(tmp_path: Path) -> None:
    store = GatewayStore(tmp_path)
    device = _device("b")
    raw = device.report()
    store.add_reports([(report_id(raw), device.id, 1, raw)])
    with pytest.raises(Exception, match="UNIQUE"):
        store.add_reports([(report_id(raw), device.id, 1, raw)])
    assert store.report_count() == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["device", "show", "xyz"],
        ["device", "register", "--kind", "toaster", "--from", "a", "--metadata", "00" * 32],
        ["device", "prove", "00" * 32],
        ["gateway", "--broker", "nope", "--from", "a", "--gateway-device", "00" * 32,
         "--store", "s"],
        # a broker account with no password: neither a file nor $CITYCHAIN_MQTT_PASSWORD
        ["gateway", "--broker", "127.0.0.1:1", "--from", "a", "--gateway-device", "00" * 32,
         "--store", "s", "--mqtt-user", "gw"],
        ["gateway", "--broker", "127.0.0.1:1", "--from", "a", "--gateway-device", "00" * 32,
         "--store", "s", "--mqtt-user", "gw", "--mqtt-password-file", "/nonexistent"],
    ],
)  # fmt: skip
def test_bad_arguments_are_usage_errors(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITYCHAIN_MQTT_PASSWORD", raising=False)
    assert citychain_main(argv) == 2


def test_prove_without_a_store_and_a_malformed_report_proof(tmp_path: Path) -> None:
    assert citychain_main(["device", "prove", "00" * 32, "--gateway-dir", str(tmp_path)]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "citychain/device-report-proof/v1", "report": "zz"}')
    assert citychain_main(["verify", "proof", str(bad)]) == 1
