"""Devices read paths (JSON views); proofs come from the application's ``prove`` on
``device_key(id)`` and ``anchor_key(batch_id)`` (GET /state/{key}?prove=true)."""

from __future__ import annotations

from typing import Any

from citychain.crypto.address import address_from_bytes
from citychain.modules.devices.state import (
    STATUS_NAMES,
    anchor_key,
    device_key,
    get_anchor,
    get_device,
)
from citychain.state.overlay import StateReader

__all__ = ["anchor_key", "anchor_view", "device_key", "device_view"]


def device_view(state: StateReader, device_id: bytes) -> dict[str, Any] | None:
    device = get_device(state, device_id)
    if device is None:
        return None
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
