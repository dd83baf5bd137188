"""The devices module on an in-process chain: register (with possession), rotate, decommission,
anchor; one test_invalid_* per rule, each refused with its code and changing nothing but the
fee and the nonce."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import ALICE, BOB, CHAIN_ID, Chain, addr, assert_fails_paying_fee, code_of, key

from citychain.crypto.keys import PrivateKey
from citychain.modules.devices import errors, get_anchor, get_device
from citychain.modules.devices.messages import (
    MsgAnchorBatch,
    MsgDecommission,
    MsgRegisterDevice,
    MsgRotateKey,
    possession_statement,
)
from citychain.modules.devices.state import STATUS_DECOMMISSIONED, batch_id_of, device_id_of

METER = key("device/meter")
GATEWAY = key("device/gateway")
NEW_KEY = key("device/meter-2")
META = hashlib.sha256(b"model X, serial 1").digest()
ROOT = hashlib.sha256(b"root").digest()
BATCH = batch_id_of(device_id_of(GATEWAY.public_key), ROOT, 7)


def register_msg(device: PrivateKey, owner: PrivateKey, kind: str = "meter") -> MsgRegisterDevice:
    device_id = device_id_of(device.public_key)
    statement = possession_statement(CHAIN_ID, addr(owner), device_id, device.public_key)
    return MsgRegisterDevice(device.public_key, kind, META, device.sign(statement))  # type: ignore[arg-type]


def rotate_msg(device_id: bytes, new: PrivateKey, owner: PrivateKey) -> MsgRotateKey:
    statement = possession_statement(CHAIN_ID, addr(owner), device_id, new.public_key)
    return MsgRotateKey(device_id, new.public_key, new.sign(statement))


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    chain = Chain.create(tmp_path)
    assert chain.run(ALICE, register_msg(METER, ALICE)).ok
    assert chain.run(ALICE, register_msg(GATEWAY, ALICE, "gateway")).ok
    return chain


def test_register_derives_the_id_and_binds_the_key(chain: Chain) -> None:
    device_id = device_id_of(METER.public_key)
    device = get_device(chain.app.committed, device_id)
    assert device is not None
    assert (device.owner, device.kind, device.public_key, device.key_version) == (
        addr(ALICE), "meter", METER.public_key, 1,
    )  # fmt: skip


def test_rotate_then_decommission(chain: Chain) -> None:
    device_id = device_id_of(METER.public_key)
    assert chain.run(ALICE, rotate_msg(device_id, NEW_KEY, ALICE)).ok
    device = get_device(chain.app.committed, device_id)
    assert device is not None and (device.public_key, device.key_version) == (NEW_KEY.public_key, 2)
    assert chain.run(ALICE, MsgDecommission(device_id)).ok
    device = get_device(chain.app.committed, device_id)
    assert device is not None and device.status == STATUS_DECOMMISSIONED


def test_anchor_records_root_and_count(chain: Chain) -> None:
    gateway_id = device_id_of(GATEWAY.public_key)
    result = chain.run(ALICE, MsgAnchorBatch(BATCH, ROOT, 7, gateway_id))
    assert result.ok, result.log
    anchor = get_anchor(chain.app.committed, BATCH)
    assert anchor is not None
    assert (anchor.root, anchor.count, anchor.height) == (ROOT, 7, chain.height)


def test_invalid_register_twice(chain: Chain) -> None:
    assert_fails_paying_fee(chain, ALICE, register_msg(METER, ALICE), error=errors.DEVICE_EXISTS)


def test_invalid_possession_for_another_owner(chain: Chain) -> None:
    # Alice's statement signed by the device, replayed by Bob: bound to the owner, so refused.
    assert_fails_paying_fee(
        chain, BOB, register_msg(key("device/other"), ALICE), error=errors.BAD_POSSESSION
    )


def test_invalid_rotate_to_a_used_key(chain: Chain) -> None:
    device_id = device_id_of(METER.public_key)
    msg = rotate_msg(device_id, GATEWAY, ALICE)
    assert_fails_paying_fee(chain, ALICE, msg, error=errors.KEY_IN_USE)


def test_invalid_rotate_by_another_owner(chain: Chain) -> None:
    device_id = device_id_of(METER.public_key)
    assert_fails_paying_fee(chain, BOB, rotate_msg(device_id, NEW_KEY, BOB), error=errors.NOT_OWNER)


def test_invalid_decommission_unknown(chain: Chain) -> None:
    assert_fails_paying_fee(chain, ALICE, MsgDecommission(BATCH), error=errors.DEVICE_NOT_FOUND)


def test_invalid_anchor_whose_id_is_not_its_hash(chain: Chain) -> None:
    gateway_id = device_id_of(GATEWAY.public_key)
    for msg in (
        MsgAnchorBatch(hashlib.sha256(b"batch").digest(), ROOT, 7, gateway_id),
        MsgAnchorBatch(BATCH, ROOT, 8, gateway_id),  # the id of 7 reports, claiming 8
    ):
        assert_fails_paying_fee(chain, ALICE, msg, error=errors.BAD_BATCH_ID)
    assert get_anchor(chain.app.committed, BATCH) is None


def test_invalid_anchor_by_a_non_gateway(chain: Chain) -> None:
    meter_id = device_id_of(METER.public_key)
    msg = MsgAnchorBatch(BATCH, ROOT, 7, meter_id)
    assert_fails_paying_fee(chain, ALICE, msg, error=errors.NOT_A_GATEWAY)


def test_invalid_anchor_twice_and_by_another_owner(chain: Chain) -> None:
    gateway_id = device_id_of(GATEWAY.public_key)
    assert chain.run(ALICE, MsgAnchorBatch(BATCH, ROOT, 7, gateway_id)).ok
    msg = MsgAnchorBatch(BATCH, ROOT, 7, gateway_id)
    assert_fails_paying_fee(chain, ALICE, msg, error=errors.BATCH_EXISTS)
    other = MsgAnchorBatch(ROOT, ROOT, 7, gateway_id)
    assert_fails_paying_fee(chain, BOB, other, error=errors.NOT_OWNER)


def test_invalid_anchor_from_decommissioned_gateway(chain: Chain) -> None:
    gateway_id = device_id_of(GATEWAY.public_key)
    assert chain.run(ALICE, MsgDecommission(gateway_id)).ok
    msg = MsgAnchorBatch(BATCH, ROOT, 7, gateway_id)
    result = assert_fails_paying_fee(chain, ALICE, msg, error=errors.DECOMMISSIONED)
    assert code_of(errors.DECOMMISSIONED) == (result.codespace, result.code) == ("devices", 4)
