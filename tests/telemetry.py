"""Anchored telemetry for tests that need a battery health update: the ledger takes one only
if it names an anchored batch (docs/modules/battery.md §3)."""

from __future__ import annotations

import hashlib

from citychain.client import Wallet
from citychain.crypto.address import address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.gateway.store import batch_id_of
from citychain.modules.devices import device_id_of, possession_statement
from citychain.modules.devices.messages import MsgAnchorBatch, MsgRegisterDevice
from citychain.modules.devices.state import device_key


def anchor_batch(wallet: Wallet, label: bytes) -> bytes:
    """Anchor a one-report batch named by ``label`` from a gateway device ``wallet`` owns
    (registered on first use); the batch id."""
    key = PrivateKey.from_seed(hashlib.sha256(b"test gateway/" + wallet.address.encode()).digest())
    gateway_id = device_id_of(key.public_key)
    if not wallet.client.state(device_key(gateway_id))["value"]:
        owner = address_to_bytes(wallet.address)
        statement = possession_statement(wallet.chain_id, owner, gateway_id, key.public_key)
        wallet.submit(
            [MsgRegisterDevice(key.public_key, "gateway", bytes(32), key.sign(statement))]
        )
    root = hashlib.sha256(label).digest()
    batch_id = batch_id_of(gateway_id, root, 1)
    wallet.submit([MsgAnchorBatch(batch_id, root, 1, gateway_id)])
    return batch_id
