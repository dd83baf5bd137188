"""The gateway's cache of the ledger's device registry, read from the node's API.

An entry lives ``ttl_s`` seconds (a miss ``miss_ttl_s``), so a decommissioning or a key rotation
reaches the gateway within that window; a signature that fails against a cached key triggers
one early refresh (at most once a second per device), so a rotation is picked up at once.
"""

from __future__ import annotations

import time

from citychain.client import ApiError, Client
from citychain.codec import decode
from citychain.modules.devices import Device, device_key

__all__ = ["DeviceCache"]


class DeviceCache:
    def __init__(self, client: Client, ttl_s: float = 30.0, miss_ttl_s: float = 2.0) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.miss_ttl_s = miss_ttl_s
        self._entries: dict[bytes, tuple[Device | None, float]] = {}

    def _fetch(self, device_id: bytes) -> Device | None:
        try:
            value = self.client.state(device_key(device_id))["value"]
        except ApiError:
            # The node is unreachable: keep what we knew rather than refuse known devices.
            cached = self._entries.get(device_id)
            return cached[0] if cached else None
        device = decode(bytes.fromhex(value), Device) if value else None
        self._entries[device_id] = (device, time.monotonic())
        return device

    def get(self, device_id: bytes) -> Device | None:
        cached = self._entries.get(device_id)
        if cached is not None:
            device, fetched = cached
            ttl = self.ttl_s if device is not None else self.miss_ttl_s
            if time.monotonic() - fetched < ttl:
                return device
        return self._fetch(device_id)

    def refresh(self, device_id: bytes) -> Device | None:
        """Fetch again unless fetched in the last second (forged floods stay cheap)."""
        cached = self._entries.get(device_id)
        if cached is not None and time.monotonic() - cached[1] < 1.0:
            return cached[0]
        return self._fetch(device_id)
