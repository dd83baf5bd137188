"""Devices invariants, checked after every block in tests and the simulator."""

from __future__ import annotations

from citychain.codec import decode
from citychain.modules.base import PrefixScan
from citychain.modules.devices.state import (
    BATCH_PREFIX,
    DEVICE_PREFIX,
    KEY_PREFIX,
    KIND_GATEWAY,
    KINDS,
    OWNED,
    OWNER_PREFIX,
    STATUS_NAMES,
    Anchor,
    Device,
)

__all__ = ["anchor_gateways", "device_records", "key_bindings", "owner_index"]

ADDRESS_SIZE = 20


def _devices(scan: PrefixScan) -> dict[bytes, Device]:
    return {key[len(DEVICE_PREFIX) :]: decode(value, Device) for key, value in scan(DEVICE_PREFIX)}


def device_records(scan: PrefixScan) -> list[str]:
    """device-record: known kind and status, key version at least 1."""
    broken = []
    for device_id, d in _devices(scan).items():
        if d.kind not in KINDS or d.status >= len(STATUS_NAMES) or d.key_version < 1:
            broken.append(
                f"device-record: {device_id.hex()} kind {d.kind!r} status {d.status} "
                f"key_version {d.key_version}"
            )
    return broken


def key_bindings(scan: PrefixScan) -> list[str]:
    """key-binding: every device's current key is bound to it, every binding names an existing
    device, and a device has at least one binding per key version."""
    devices = _devices(scan)
    bindings = {key[len(KEY_PREFIX) :]: value for key, value in scan(KEY_PREFIX)}
    broken = []
    for device_id, d in devices.items():
        if bindings.get(d.public_key) != device_id:
            broken.append(f"key-binding: {device_id.hex()}'s key {d.public_key.hex()} unbound")
    per_device: dict[bytes, int] = {}
    for public_key, device_id in bindings.items():
        if device_id not in devices:
            broken.append(f"key-binding: key {public_key.hex()} bound to missing {device_id.hex()}")
        per_device[device_id] = per_device.get(device_id, 0) + 1
    for device_id, d in devices.items():
        if per_device.get(device_id, 0) != d.key_version:
            broken.append(
                f"key-binding: {device_id.hex()} has {per_device.get(device_id, 0)} keys bound, "
                f"key_version {d.key_version}"
            )
    return broken


def anchor_gateways(scan: PrefixScan) -> list[str]:
    """anchor-gateway: every anchor names an existing gateway device owned by its signer."""
    devices = _devices(scan)
    broken = []
    for key, value in scan(BATCH_PREFIX):
        anchor = decode(value, Anchor)
        gateway = devices.get(anchor.gateway)
        if gateway is None or gateway.kind != KIND_GATEWAY or gateway.owner != anchor.owner:
            broken.append(
                f"anchor-gateway: batch {key[len(BATCH_PREFIX) :].hex()} names "
                f"{anchor.gateway.hex()}, not a gateway owned by its signer"
            )
    return broken


def owner_index(scan: PrefixScan) -> list[str]:
    """owner-index: the entries under dev/o/ are exactly (owner, id) of every device, each
    valued 0x01, so a range read of dev/o/<owner> lists exactly the owner's devices."""
    expected = {d.owner + device_id for device_id, d in _devices(scan).items()}
    broken = []
    entries = scan(OWNER_PREFIX)
    found = set()
    for key, value in entries:
        entry = key[len(OWNER_PREFIX) :]
        found.add(entry)
        if entry not in expected or value != OWNED:
            broken.append(
                f"owner-index: entry {entry.hex()} = {value.hex()} is not (owner, id) of a device"
            )
    for entry in sorted(expected - found):
        device_id = entry[ADDRESS_SIZE:]
        broken.append(f"owner-index: device {device_id.hex()} is not indexed under its owner")
    return broken
