"""Anchored telemetry for tests that need a battery health update: the ledger takes one only
if it names an anchored batch (docs/modules/battery.md §3)."""

from __future__ import annotations

import hashlib

from citychain.client import Wallet
from citychain.crypto.keys import PrivateKey
from citychain.modules.devices.messages import MsgAnchorBatch
from citychain.modules.devices.state import batch_id_of, device_key
from citychain.sim.devices import SimDevice, register_devices


def anchor_batch(wallet: Wallet, label: bytes) -> bytes:
    """Anchor a one-report batch named by ``label`` from a gateway device ``wallet`` owns
    (registered on first use); the batch id."""
    seed = hashlib.sha256(b"test gateway/" + wallet.address.encode()).digest()
    gateway = SimDevice(PrivateKey.from_seed(seed), "gateway")
    if not wallet.client.state(device_key(gateway.id))["value"]:
        register_devices(wallet, [gateway], bytes(32))
    root = hashlib.sha256(label).digest()
    batch_id = batch_id_of(gateway.id, root, 1)
    wallet.submit([MsgAnchorBatch(batch_id, root, 1, gateway.id)])
    return batch_id
