"""Devices read paths (JSON views); proofs come from the application's ``prove`` on
``device_key(id)`` and ``anchor_key(batch_id)`` (GET /state/{key}?prove=true)."""

from __future__ import annotations

from typing import Any

from citychain.codec import decode
from citychain.crypto.address import address_from_bytes
from citychain.modules.base import PrefixScan
from citychain.modules.devices.state import (
    DEVICE_PREFIX,
    STATUS_NAMES,
    Device,
    anchor_key,
    device_key,
    get_anchor,
    get_device,
)
from citychain.state.overlay import StateReader

__all__ = [
    "MAX_PAGE",
    "anchor_key",
    "anchor_view",
    "device_key",
    "device_view",
    "owner_devices_view",
]

MAX_PAGE = 100


def device_view(state: StateReader, device_id: bytes) -> dict[str, Any] | None:
    device = get_device(state, device_id)
    if device is None:
        return None
    return _device_json(device_id, device)


def _device_json(device_id: bytes, device: Device) -> dict[str, Any]:
    return {
        "id": device_id.hex(),
        "owner": address_from_bytes(device.owner),
        "kind": device.kind,
        "public_key": device.public_key.hex(),
        "metadata": device.metadata.hex(),
        "status": STATUS_NAMES[device.status],
        "key_version": device.key_version,
        "registered_height": device.registered_height,
        "updated_height": device.updated_height,
    }


def anchor_view(state: StateReader, batch_id: bytes) -> dict[str, Any] | None:
    anchor = get_anchor(state, batch_id)
    if anchor is None:
        return None
    return {
        "batch_id": batch_id.hex(),
        "root": anchor.root.hex(),
        "count": anchor.count,
        "gateway": anchor.gateway.hex(),
        "owner": address_from_bytes(anchor.owner),
        "height": anchor.height,
        "time_ms": anchor.time_ms,
    }


def owner_devices_view(
    scan: PrefixScan, owner: bytes, *, after: bytes | None = None, limit: int = 50
) -> dict[str, Any]:
    """The devices registered by ``owner``, by id, decommissioned ones included; ``after`` is
    the previous page's ``next`` (a device id).

    There is no owner index in the module's state, so this walks every device record (O(all
    devices) per page): fine for a city's thousands of devices, an indexer's job beyond.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be in 1..{MAX_PAGE}, got {limit}")
    start = DEVICE_PREFIX + after if after is not None else b""
    page: list[dict[str, Any]] = []
    more = False
    for key, raw in scan(DEVICE_PREFIX):
        if key <= start:
            continue
        device = decode(raw, Device)
        if device.owner != owner:
            continue
        if len(page) == limit:
            more = True
            break
        page.append(_device_json(key[len(DEVICE_PREFIX) :], device))
    return {"devices": page, "next": page[-1]["id"] if more else None}
