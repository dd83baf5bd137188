"""Devices module: devices with their own Ed25519 keys, owned by accounts; key rotation and
decommissioning; gateways anchoring Merkle roots of telemetry batches (docs/modules/devices.md).
"""

from citychain.modules.base import MessageRoute, Module
from citychain.modules.devices import handlers, invariants
from citychain.modules.devices.genesis import init_genesis
from citychain.modules.devices.messages import (
    MsgAnchorBatch,
    MsgDecommission,
    MsgRegisterDevice,
    MsgRotateKey,
    possession_statement,
)
from citychain.modules.devices.state import (
    Anchor,
    Device,
    anchor_key,
    device_id_of,
    device_key,
    get_anchor,
    get_device,
)

# No role on any route: see handlers.py (anyone may register the devices they own).
MODULE = Module(
    name="devices",
    routes=(
        MessageRoute(MsgRegisterDevice, handlers.handle_register),
        MessageRoute(MsgRotateKey, handlers.handle_rotate_key),
        MessageRoute(MsgDecommission, handlers.handle_decommission),
        MessageRoute(MsgAnchorBatch, handlers.handle_anchor),
    ),
    init_genesis=init_genesis,
    invariants=(
        invariants.device_records,
        invariants.key_bindings,
        invariants.anchor_gateways,
    ),
    genesis_order=40,
)

__all__ = [
    "MODULE",
    "Anchor",
    "Device",
    "anchor_key",
    "device_id_of",
    "device_key",
    "get_anchor",
    "get_device",
    "possession_statement",
]
