"""The devices routes on a real node: a device (after a key rotation, after decommissioning) and
an anchored telemetry batch by id, each with a proof bundle that citychain's offline verifier
accepts; an owner's devices page by page; unknown ids 404 and malformed input 4xx, all in the
API's one error shape."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from citychain.client import Wallet, verify_bundle
from citychain.codec import decode
from citychain.crypto.address import address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.init_home import init_home
from citychain.modules.devices import Anchor, Device, anchor_key, device_key
from citychain.modules.devices.messages import (
    MsgAnchorBatch,
    MsgDecommission,
    MsgRotateKey,
    possession_statement,
)
from citychain.sim.devices import SimDevice, register_devices
from citychain.sim.localnode import LocalNode
from citychain.telemetry import merkle
from citychain.telemetry.gateway.store import batch_id_of
from citychain.telemetry.report import BmsReadings, ReportBody, sign_report

pytestmark = pytest.mark.timeout(120)

PASSWORD = "pw"
META = hashlib.sha256(b"devices api metadata").digest()


def _key(name: str) -> PrivateKey:
    return PrivateKey.from_seed(hashlib.sha256(b"test_devices_api/" + name.encode()).digest())


@dataclass
class Env:
    node: LocalNode
    owner: Wallet
    other: Wallet
    trusted: list[tuple[bytes, int]]
    gateway: SimDevice
    rotated: SimDevice  # a BMS whose key was rotated once
    new_key: PrivateKey
    retired: SimDevice  # a meter, decommissioned
    elsewhere: SimDevice  # the other owner's sensor
    batch_id: bytes
    root: bytes

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.node.url}{path}", params=params, timeout=10)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base: Path = tmp_path_factory.mktemp("devices-api")
    home, genesis, _ = init_home(base / "home", password=PASSWORD, kdf_limits=(1, 8192))
    keystore = Keystore(home.keys_dir, opslimit=1, memlimit=8192)
    for name in ("fleet", "other"):
        keystore.add(name, PASSWORD)
    with LocalNode(base / "home") as node:
        issuer = Wallet(keystore.load("issuer", PASSWORD), node.client)
        owner = Wallet(keystore.load("fleet", PASSWORD), node.client)
        other = Wallet(keystore.load("other", PASSWORD), node.client)
        for wallet in (owner, other):
            issuer.send(wallet.address, 20_000, wait=True)

        gateway = SimDevice(_key("gateway"), kind="gateway")
        rotated = SimDevice(_key("bms"))
        retired = SimDevice(_key("meter"), kind="meter")
        elsewhere = SimDevice(_key("sensor"), kind="sensor")
        register_devices(owner, [gateway, rotated, retired], META)
        register_devices(other, [elsewhere], META)

        new_key = _key("bms, second key")
        statement = possession_statement(
            owner.chain_id, address_to_bytes(owner.address), rotated.id, new_key.public_key
        )
        owner.submit([MsgRotateKey(rotated.id, new_key.public_key, new_key.sign(statement))])
        owner.submit([MsgDecommission(retired.id)])

        # A batch as a gateway would cut it: three signed reports, their RFC 6962 root, and
        # the anchor transaction the gateway's owner signs.
        reports = [
            sign_report(new_key, ReportBody(rotated.id, n, n * 1000, BmsReadings(400_000, 0, 500)))
            for n in (1, 2, 3)
        ]
        root = merkle.root([merkle.leaf_hash(r) for r in reports])
        batch_id = batch_id_of(gateway.id, root, len(reports))
        owner.submit([MsgAnchorBatch(batch_id, root, len(reports), gateway.id)])

        trusted = [(v.public_key, v.power) for v in genesis.validators]
        yield Env(
            node, owner, other, trusted, gateway, rotated, new_key, retired, elsewhere,
            batch_id, root,
        )  # fmt: skip


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "codespace", "message"}
    return error


def _verified(env: Env, proof: dict[str, Any], key: bytes) -> bytes:
    """The proven value of ``key``, after citychain's offline verifier accepted the bundle
    against the genesis validators."""
    result = verify_bundle(proof, env.trusted)
    assert result.valid, result.reason
    assert bytes.fromhex(proof["key"]) == key
    assert proof["value"] is not None
    return bytes.fromhex(proof["value"])


def test_device_view_and_proof(env: Env) -> None:
    gateway = env.get(f"/devices/{env.gateway.id.hex()}").json()
    assert gateway["id"] == env.gateway.id.hex()
    assert (gateway["kind"], gateway["status"], gateway["key_version"]) == ("gateway", "active", 1)
    assert gateway["owner"] == env.owner.address
    assert gateway["public_key"] == env.gateway.key.public_key.hex()
    assert gateway["metadata"] == META.hex()
    assert gateway["registered_height"] == gateway["updated_height"] <= gateway["height"]
    assert "proof" not in gateway

    # A rotation keeps the id and shows the new key and version; an id in capitals is the same.
    rotated = env.get(f"/devices/{env.rotated.id.hex().upper()}", prove="true").json()
    assert rotated["id"] == env.rotated.id.hex()
    assert rotated["public_key"] == env.new_key.public_key.hex()
    assert rotated["key_version"] == 2
    assert rotated["updated_height"] > rotated["registered_height"]
    proven = decode(_verified(env, rotated["proof"], device_key(env.rotated.id)), Device)
    assert proven.public_key == env.new_key.public_key and proven.key_version == 2
    assert rotated["proof"]["header"]  # a solo bundle: the signed header of the proven state

    retired = env.get(f"/devices/{env.retired.id.hex()}").json()
    assert (retired["kind"], retired["status"]) == ("meter", "decommissioned")

    # A bundle whose value was changed is refused by the same verifier.
    tampered = {**rotated["proof"], "value": rotated["proof"]["value"][:-2] + "00"}
    assert not verify_bundle(tampered, env.trusted).valid


def test_batch_view_and_proof(env: Env) -> None:
    batch = env.get(f"/devices/batches/{env.batch_id.hex()}", prove=True).json()
    assert batch["batch_id"] == env.batch_id.hex()
    assert (batch["root"], batch["count"]) == (env.root.hex(), 3)
    assert batch["gateway"] == env.gateway.id.hex()
    assert batch["owner"] == env.owner.address
    assert 0 < batch["height"] <= batch["ledger_height"]
    block = env.node.client.block(batch["height"])
    assert batch["time_ms"] == block["header"]["time_ms"]
    anchor = decode(_verified(env, batch["proof"], anchor_key(env.batch_id)), Anchor)
    assert (anchor.root, anchor.count, anchor.gateway) == (env.root, 3, env.gateway.id)
    assert "proof" not in env.get(f"/devices/batches/{env.batch_id.hex()}").json()


def test_devices_of_an_owner(env: Env) -> None:
    mine = sorted(d.id.hex() for d in (env.gateway, env.rotated, env.retired))
    listed = env.get("/devices", owner=env.owner.address).json()
    assert [d["id"] for d in listed["devices"]] == mine
    assert listed["next"] is None and listed["owner"] == env.owner.address
    assert {d["status"] for d in listed["devices"]} == {"active", "decommissioned"}
    assert listed["height"] > 0

    # Page by page with the cursor, nothing skipped or repeated.
    first = env.get("/devices", owner=env.owner.address, limit=2).json()
    assert [d["id"] for d in first["devices"]] == mine[:2] and first["next"] == mine[1]
    rest = env.get("/devices", owner=env.owner.address, limit=2, after=first["next"]).json()
    assert [d["id"] for d in rest["devices"]] == mine[2:] and rest["next"] is None

    theirs = env.get("/devices", owner=env.other.address).json()["devices"]
    assert [d["id"] for d in theirs] == [env.elsewhere.id.hex()]
    nobody = Wallet(_key("nobody"), env.node.client).address
    assert env.get("/devices", owner=nobody).json()["devices"] == []


def test_unknown_and_malformed_input(env: Env) -> None:
    unknown = "ab" * 32
    assert unknown in _error(env.get(f"/devices/{unknown}"), 404)["message"]
    assert unknown in _error(env.get(f"/devices/batches/{unknown}", prove="true"), 404)["message"]
    # A device id is not a batch id, nor the other way round.
    assert _error(env.get(f"/devices/batches/{env.gateway.id.hex()}"), 404)
    assert _error(env.get(f"/devices/{env.batch_id.hex()}"), 404)

    for bad in ("xyz", "g" * 64, "a" * 63, "a" * 65, "batches"):
        assert _error(env.get(f"/devices/{bad}"), 422), bad
        assert _error(env.get(f"/devices/batches/{bad}"), 422), bad
    assert _error(env.get(f"/devices/{env.gateway.id.hex()}", prove="maybe"), 422)

    owner = env.owner.address
    assert "invalid address" in _error(env.get("/devices", owner="city1nope"), 400)["message"]
    bad_checksum = owner[:-1] + ("q" if owner[-1] != "q" else "p")
    assert _error(env.get("/devices", owner=bad_checksum), 400)
    assert _error(env.get("/devices"), 422)  # the owner is required
    assert _error(env.get("/devices", owner=owner, limit=0), 422)
    assert _error(env.get("/devices", owner=owner, limit=101), 422)
    assert _error(env.get("/devices", owner=owner, after="zz"), 422)
    assert _error(env.get("/devices", owner="x" * 101), 422)
