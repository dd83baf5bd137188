"""Gateway shards without a broker: buckets partition the devices, topics carry the bucket, a
store keeps its shard layout, a sharded --store lists its shards, and the CLI refuses shard
options that cannot work."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from citychain.cli.main import main as citychain_main
from citychain.telemetry.gateway.service import (
    BUCKETS,
    GatewayConfig,
    bucket_of,
    report_topic,
    shard_buckets,
    shard_of,
    subscriptions,
)
from citychain.telemetry.gateway.shards import write_layout
from citychain.telemetry.gateway.store import GatewayStore, find_report, shard_dir, store_dirs
from citychain.telemetry.report import report_id


def test_buckets_partition_every_device_into_exactly_one_shard() -> None:
    for shards in range(1, BUCKETS + 1):
        owned = [b for k in range(shards) for b in shard_buckets(k, shards)]
        assert sorted(owned) == list(range(BUCKETS))
    device = hashlib.sha256(b"d").digest()
    assert report_topic(device) == f"citychain/devices/{device.hex()[0]}/{device.hex()}/reports"
    assert bucket_of(device) == int(device.hex()[0], 16)
    topic_filter = f"citychain/devices/{bucket_of(device):x}/+/reports"
    mine = shard_of(device, 3)
    assert topic_filter in subscriptions(mine, 3)
    assert all(topic_filter not in subscriptions(k, 3) for k in range(3) if k != mine)
    # Alone, a gateway takes every bucket with one filter.
    assert subscriptions() == ["citychain/devices/+/+/reports"]
    with pytest.raises(ValueError):
        shard_buckets(2, 2)
    with pytest.raises(ValueError):
        GatewayConfig("h", 1, device, shard=0, shards=BUCKETS + 1)
    config = GatewayConfig("h", 1, device, shard=1, shards=2)
    assert config.mqtt_client_id.endswith("-1of2")
    assert GatewayConfig("h", 1, device).mqtt_client_id == f"citychain-gateway-{device.hex()[:16]}"


def test_a_store_keeps_its_shard_layout(tmp_path: Path) -> None:
    store = GatewayStore(tmp_path / "a")
    store.check_layout(1, 2)
    store.check_layout(1, 2)
    with pytest.raises(ValueError, match="shard 1/2"):
        store.check_layout(0, 1)
    # A store from before shards, with reports, is an unsharded gateway's.
    old = GatewayStore(tmp_path / "b")
    old.add_reports([(report_id(b"r"), b"\x01" * 32, 1, b"r")])
    with pytest.raises(ValueError, match="shard 0/1"):
        old.check_layout(0, 2)


def test_sharded_store_root(tmp_path: Path) -> None:
    root = tmp_path / "gw"
    write_layout(root, 2)
    write_layout(root, 2)
    with pytest.raises(ValueError, match="2 shards"):
        write_layout(root, 3)
    with pytest.raises(ValueError, match="sharded"):
        GatewayStore(root)  # would hide the shards behind an empty store
    assert store_dirs(root) == [shard_dir(root, 0), shard_dir(root, 1)]
    raw = b"a report"
    GatewayStore(shard_dir(root, 1)).add_reports([(report_id(raw), b"\x02" * 32, 7, raw)])
    found = find_report(root, report_id(raw))
    assert found is not None and found[0] == shard_dir(root, 1) and found[1].counter == 7
    assert find_report(root, report_id(b"other")) is None
    plain = tmp_path / "plain"
    GatewayStore(plain)
    assert store_dirs(plain) == [plain]
    with pytest.raises(ValueError, match="unsharded"):
        write_layout(plain, 2)


def test_writer_lock_is_exclusive_per_store(tmp_path: Path) -> None:
    import subprocess
    import sys

    GatewayStore(tmp_path).acquire_writer_lock()
    code = (
        "from pathlib import Path; from citychain.telemetry.gateway.store import GatewayStore; "
        f"GatewayStore(Path({str(tmp_path)!r})).acquire_writer_lock(timeout=0.2)"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert other.returncode != 0 and "another gateway runs" in other.stderr


@pytest.mark.parametrize(
    "extra",
    [["--shards", "17"], ["--shard", "2/2"], ["--shard", "x"], ["--shards", "2", "--shard", "0/2"],
     ["--no-anchor"]],
)  # fmt: skip
def test_bad_shard_options_are_usage_errors(extra: list[str]) -> None:
    argv = ["gateway", "--broker", "127.0.0.1:1", "--from", "a", "--gateway-device", "00" * 32,
            "--store", "s", *extra]  # fmt: skip
    assert citychain_main(argv) == 2
