"""Devices module: devices with their own Ed25519 keys, owned by accounts; key rotation and
decommissioning; gateways anchoring Merkle roots of telemetry batches (docs/modules/devices.md).
The names below are its public surface (docs/modules/README.md).
"""

from citychain.modules.base import MessageRoute, Module
from citychain.modules.devices import handlers, invariants
from citychain.modules.devices.errors import DevicesError
from citychain.modules.devices.genesis import init_genesis
from citychain.modules.devices.keeper import get_anchor, get_device, is_anchored
from citychain.modules.devices.messages import (
    MAX_BATCH_REPORTS,
    MsgAnchorBatch,
    MsgDecommission,
    MsgRegisterDevice,
    MsgRotateKey,
    possession_statement,
)
from citychain.modules.devices.queries import (
    MAX_PAGE,
    KeyRange,
    anchor_view,
    device_view,
    owner_devices_view,
)
from citychain.modules.devices.state import (
    BATCH_DOMAIN,
    KIND_GATEWAY,
    KINDS,
    STATUS_ACTIVE,
    STATUS_DECOMMISSIONED,
    STATUS_NAMES,
    Anchor,
    Device,
    anchor_key,
    batch_id_of,
    device_id_of,
    device_key,
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
        invariants.owner_index,
    ),
    genesis_order=40,
)

__all__ = [
    "BATCH_DOMAIN",
    "KINDS",
    "KIND_GATEWAY",
    "MAX_BATCH_REPORTS",
    "MAX_PAGE",
    "MODULE",
    "STATUS_ACTIVE",
    "STATUS_DECOMMISSIONED",
    "STATUS_NAMES",
    "Anchor",
    "Device",
    "DevicesError",
    "KeyRange",
    "MsgAnchorBatch",
    "MsgDecommission",
    "MsgRegisterDevice",
    "MsgRotateKey",
    "anchor_key",
    "anchor_view",
    "batch_id_of",
    "device_id_of",
    "device_key",
    "device_view",
    "get_anchor",
    "get_device",
    "is_anchored",
    "owner_devices_view",
    "possession_statement",
]
