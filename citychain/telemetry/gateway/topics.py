"""The MQTT topics of device reports and how gateway shards divide them
(docs/modules/devices.md §6, "Topics" and "Shards")."""

from __future__ import annotations

__all__ = [
    "BUCKETED_TOPIC",
    "BUCKETS",
    "bucket_of",
    "report_topic",
    "shard_buckets",
    "shard_of",
    "subscriptions",
]

# Devices publish to citychain/devices/<bucket>/<device id hex>/reports, the bucket being the
# id's first hex digit. The level exists so that a gateway shard can subscribe to a fixed set
# of devices with MQTT wildcards: all of one device's reports then reach the same shard, whose
# store holds its replay counter. (An MQTT shared subscription would spread one device's
# reports over the shards and so split its counter.)
BUCKETS = 16
BUCKETED_TOPIC = "citychain/devices/+/+/reports"


def bucket_of(device_id: bytes) -> int:
    """The topic bucket of a device: its id's first hex digit."""
    return device_id[0] >> 4


def report_topic(device_id: bytes) -> str:
    """Where a device publishes its reports."""
    hex_id = device_id.hex()
    return f"citychain/devices/{hex_id[0]}/{hex_id}/reports"


def shard_buckets(shard: int, shards: int) -> list[int]:
    """The buckets shard ``shard`` of ``shards`` takes: every bucket b with b % shards == shard."""
    if not 1 <= shards <= BUCKETS or not 0 <= shard < shards:
        raise ValueError(f"shard {shard} of {shards}: need 0 <= shard < shards <= {BUCKETS}")
    return [b for b in range(BUCKETS) if b % shards == shard]


def shard_of(device_id: bytes, shards: int) -> int:
    return bucket_of(device_id) % shards


def subscriptions(shard: int = 0, shards: int = 1) -> list[str]:
    """The topic filters of one shard: a lone gateway takes every bucket with one filter."""
    if shards == 1:
        return [BUCKETED_TOPIC]
    return [f"citychain/devices/{b:x}/+/reports" for b in shard_buckets(shard, shards)]
