"""Devices message handlers (docs/modules/devices.md §2): check everything, then write.

Anyone may register a device: a fleet operator, a factory or a household registers the devices
it owns and pays the fee, as with any account; a consortium role per device owner would put a
governance vote in front of every meter. What the ledger does guarantee is that the owner holds
the device key (possession signature) and that only the owner changes the record.
"""

from __future__ import annotations

from msgspec import structs

from citychain.crypto.keys import verify
from citychain.modules.base import Context
from citychain.modules.devices import errors
from citychain.modules.devices.errors import DevicesError
from citychain.modules.devices.messages import (
    MsgAnchorBatch,
    MsgDecommission,
    MsgRegisterDevice,
    MsgRotateKey,
    possession_statement,
)
from citychain.modules.devices.state import (
    KIND_GATEWAY,
    STATUS_ACTIVE,
    STATUS_DECOMMISSIONED,
    Anchor,
    Device,
    batch_id_of,
    bind_key,
    device_id_of,
    get_anchor,
    get_device,
    get_key_binding,
    index_owner,
    set_anchor,
    set_device,
)


def _check_possession(ctx: Context, device_id: bytes, public_key: bytes, sig: bytes) -> None:
    statement = possession_statement(ctx.chain_id, ctx.sender, device_id, public_key)
    if not verify(public_key, statement, sig):
        raise DevicesError(
            errors.BAD_POSSESSION,
            f"key {public_key.hex()} did not sign the possession statement for device "
            f"{device_id.hex()} under this sender and chain",
        )


def _check_key_unused(ctx: Context, public_key: bytes) -> None:
    bound = get_key_binding(ctx.state, public_key)
    if bound is not None:
        raise DevicesError(
            errors.KEY_IN_USE, f"key {public_key.hex()} is bound to device {bound.hex()}"
        )


def _owned_active(ctx: Context, device_id: bytes) -> Device:
    device = get_device(ctx.state, device_id)
    if device is None:
        raise DevicesError(errors.DEVICE_NOT_FOUND, f"no device {device_id.hex()}")
    if device.owner != ctx.sender:
        raise DevicesError(errors.NOT_OWNER, f"device {device_id.hex()} has another owner")
    if device.status != STATUS_ACTIVE:
        raise DevicesError(errors.DECOMMISSIONED, f"device {device_id.hex()} is decommissioned")
    return device


def handle_register(ctx: Context, msg: MsgRegisterDevice) -> bytes:
    """Register a device under the sender; returns its id (the transaction's data)."""
    device_id = device_id_of(msg.public_key)
    if get_device(ctx.state, device_id) is not None:
        raise DevicesError(errors.DEVICE_EXISTS, f"device {device_id.hex()} already exists")
    _check_key_unused(ctx, msg.public_key)
    _check_possession(ctx, device_id, msg.public_key, msg.possession)
    set_device(
        ctx.state,
        device_id,
        Device(
            owner=ctx.sender,
            kind=msg.kind,
            public_key=msg.public_key,
            metadata=msg.metadata,
            status=STATUS_ACTIVE,
            key_version=1,
            registered_height=ctx.height,
            updated_height=ctx.height,
        ),
    )
    bind_key(ctx.state, msg.public_key, device_id)
    index_owner(ctx.state, ctx.sender, device_id)
    ctx.emit(
        "device_registered",
        device_id=device_id,
        owner=ctx.sender,
        kind=msg.kind,
        public_key=msg.public_key,
    )
    return device_id


def handle_rotate_key(ctx: Context, msg: MsgRotateKey) -> None:
    """Make ``new_public_key`` the device's key; the old key stays bound (never reused)."""
    device = _owned_active(ctx, msg.device_id)
    _check_key_unused(ctx, msg.new_public_key)
    _check_possession(ctx, msg.device_id, msg.new_public_key, msg.possession)
    set_device(
        ctx.state,
        msg.device_id,
        structs.replace(
            device,
            public_key=msg.new_public_key,
            key_version=device.key_version + 1,
            updated_height=ctx.height,
        ),
    )
    bind_key(ctx.state, msg.new_public_key, msg.device_id)
    ctx.emit(
        "device_key_rotated",
        device_id=msg.device_id,
        public_key=msg.new_public_key,
        key_version=device.key_version + 1,
    )


def handle_decommission(ctx: Context, msg: MsgDecommission) -> None:
    device = _owned_active(ctx, msg.device_id)
    set_device(
        ctx.state,
        msg.device_id,
        structs.replace(device, status=STATUS_DECOMMISSIONED, updated_height=ctx.height),
    )
    ctx.emit("device_decommissioned", device_id=msg.device_id, owner=ctx.sender)


def handle_anchor(ctx: Context, msg: MsgAnchorBatch) -> None:
    """Record a gateway's batch root; a batch id is anchored once, ever."""
    gateway = _owned_active(ctx, msg.gateway)
    if gateway.kind != KIND_GATEWAY:
        raise DevicesError(
            errors.NOT_A_GATEWAY, f"device {msg.gateway.hex()} is a {gateway.kind}, not a gateway"
        )
    expected = batch_id_of(msg.gateway, msg.root, msg.count)
    if msg.batch_id != expected:
        raise DevicesError(
            errors.BAD_BATCH_ID,
            f"batch id {msg.batch_id.hex()} is not sha256(domain, gateway, root, count) = "
            f"{expected.hex()}",
        )
    existing = get_anchor(ctx.state, msg.batch_id)
    if existing is not None:
        raise DevicesError(
            errors.BATCH_EXISTS,
            f"batch {msg.batch_id.hex()} was anchored at height {existing.height}",
        )
    set_anchor(
        ctx.state,
        msg.batch_id,
        Anchor(
            root=msg.root,
            count=msg.count,
            gateway=msg.gateway,
            owner=ctx.sender,
            height=ctx.height,
            time_ms=ctx.time_ms,
        ),
    )
    ctx.emit(
        "batch_anchored",
        batch_id=msg.batch_id,
        root=msg.root,
        count=msg.count,
        gateway=msg.gateway,
    )
