"""Devices read paths (JSON views); proofs come from the application's ``prove`` on
``device_key(id)`` and ``anchor_key(batch_id)`` (GET /state/{key}?prove=true)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from citychain.crypto.address import address_from_bytes
from citychain.modules.devices.state import (
    STATUS_NAMES,
    Device,
    anchor_key,
    device_key,
    get_anchor,
    get_device,
    owner_index_prefix,
)
from citychain.state.overlay import StateReader

__all__ = [
    "MAX_PAGE",
    "KeyRange",
    "anchor_key",
    "anchor_view",
    "device_key",
    "device_view",
    "owner_devices_view",
]

MAX_PAGE = 100

KeyRange = Callable[[bytes, bytes | None, int], list[bytes]]
"""``(prefix, after, limit)``: up to ``limit`` keys of the committed state that start with
``prefix`` and sort after the key ``after`` (from the first when None), in key order. The node
answers it with a seek on its store's ordered state table (``BlockStore.state_keys_after``),
so a page costs O(log n + limit), not a walk of the state."""


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
    state: StateReader,
    keys_after: KeyRange,
    owner: bytes,
    *,
    after: bytes | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """The devices registered by ``owner``, by id, decommissioned ones included; ``after`` is
    the previous page's ``next`` (a device id).

    A range read of the owner index ``dev/o/<owner>`` (one entry per device, written at
    registration) gives the page's ids, then one read per device: the cost depends on the page,
    not on how many devices or keys the state holds.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be in 1..{MAX_PAGE}, got {limit}")
    prefix = owner_index_prefix(owner)
    start = prefix + after if after is not None else None
    keys = keys_after(prefix, start, limit + 1)
    page: list[dict[str, Any]] = []
    for key in keys[:limit]:
        device_id = key[len(prefix) :]
        device = get_device(state, device_id)
        if device is not None:  # the owner-index invariant says it always is
            page.append(_device_json(device_id, device))
    more = len(keys) > limit
    return {"devices": page, "next": keys[limit - 1][len(prefix) :].hex() if more else None}
