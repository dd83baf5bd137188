"""The devices owner index ``dev/o/<owner20><id32>`` (docs/modules/devices.md §3): written by
registration, kept exact by the owner-index invariant, and read by ``GET /devices?owner=`` with
a range seek on the store instead of a walk of the whole state; the pages are what the full
scan gave before."""

from __future__ import annotations

import hashlib
from collections.abc import Coroutine
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers import ALICE, BOB, CHAIN_ID, Chain, addr, key

from citychain.codec import decode
from citychain.crypto.address import address_from_bytes
from citychain.crypto.keys import PrivateKey
from citychain.modules.devices import invariants, owner_devices_view
from citychain.modules.devices.messages import (
    MsgDecommission,
    MsgRegisterDevice,
    MsgRotateKey,
    possession_statement,
)
from citychain.modules.devices.state import (
    DEVICE_PREFIX,
    OWNED,
    OWNER_PREFIX,
    Device,
    device_id_of,
    owner_index_key,
)
from citychain.node.api import create_api
from citychain.node.routes.devices import router as devices_router
from citychain.state.overlay import Committed
from citychain.store.sqlite import BlockStore

META = hashlib.sha256(b"owner index metadata").digest()
ALICE_DEVICES = 7
BOB_DEVICES = 3


def _register(chain: Chain, owner: PrivateKey, device: PrivateKey, kind: str) -> bytes:
    device_id = device_id_of(device.public_key)
    statement = possession_statement(CHAIN_ID, addr(owner), device_id, device.public_key)
    msg = MsgRegisterDevice(device.public_key, kind, META, device.sign(statement))  # type: ignore[arg-type]
    assert chain.run(owner, msg).ok
    return device_id


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    """Alice's 7 and Bob's 3 devices, registered in turns; one of Alice's rotated, one of
    hers and one of Bob's decommissioned (a device never changes owner: there is no
    transfer message, so these are the changes a listing must survive)."""
    chain = Chain.create(tmp_path)
    ids: dict[str, list[bytes]] = {"alice": [], "bob": []}
    for n in range(ALICE_DEVICES):
        ids["alice"].append(_register(chain, ALICE, key(f"index/alice/{n}"), "meter"))
        if n < BOB_DEVICES:
            ids["bob"].append(_register(chain, BOB, key(f"index/bob/{n}"), "sensor"))
    new = key("index/alice/0, second key")
    statement = possession_statement(CHAIN_ID, addr(ALICE), ids["alice"][0], new.public_key)
    assert chain.run(ALICE, MsgRotateKey(ids["alice"][0], new.public_key, new.sign(statement))).ok
    assert chain.run(ALICE, MsgDecommission(ids["alice"][1])).ok
    assert chain.run(BOB, MsgDecommission(ids["bob"][2])).ok
    return chain


def _by_full_scan(chain: Chain, owner: bytes) -> list[bytes]:
    """What the route answered before the index: every device record, filtered by owner."""
    return [
        k[len(DEVICE_PREFIX) :]
        for k, raw in chain.app.committed.items_with_prefix(DEVICE_PREFIX)
        if decode(raw, Device).owner == owner
    ]


def test_registration_writes_one_index_entry_per_device(chain: Chain) -> None:
    for owner, count in ((ALICE, ALICE_DEVICES), (BOB, BOB_DEVICES)):
        ids = _by_full_scan(chain, addr(owner))
        assert len(ids) == count
        for device_id in ids:
            assert chain.app.committed.get(owner_index_key(addr(owner), device_id)) == OWNED
    entries = list(chain.app.committed.items_with_prefix(OWNER_PREFIX))
    assert len(entries) == ALICE_DEVICES + BOB_DEVICES


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100])
def test_pages_from_the_index_are_the_full_scans(chain: Chain, limit: int) -> None:
    app = chain.app
    for owner in (ALICE, BOB, key("index/nobody")):
        expected = _by_full_scan(chain, addr(owner))
        listed: list[str] = []
        after: bytes | None = None
        while True:
            page = owner_devices_view(
                app.committed, app.store.state_keys_after, addr(owner), after=after, limit=limit
            )
            assert len(page["devices"]) <= limit
            listed += [d["id"] for d in page["devices"]]
            if page["next"] is None:
                break
            assert page["next"] == listed[-1]
            after = bytes.fromhex(page["next"])
        assert listed == [i.hex() for i in expected]


async def _settled() -> None:
    return None


async def _on_engine(work: Coroutine[Any, Any, Any]) -> Any:
    """The node runs a route's work on its engine's loop; here, the one loop there is."""
    return await work


def test_the_route_reads_a_range_of_the_index_not_the_whole_state(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_full_scan(self: Committed, prefix: bytes) -> Any:
        raise AssertionError(f"GET /devices walked the state under {prefix!r}")

    seeks: list[tuple[bytes, bytes | None, int]] = []
    seek = chain.app.store.state_keys_after

    def recorded(prefix: bytes, after: bytes | None, limit: int) -> list[bytes]:
        seeks.append((prefix, after, limit))
        return seek(prefix, after, limit)

    expected = [i.hex() for i in _by_full_scan(chain, addr(ALICE))]
    monkeypatch.setattr(Committed, "items_with_prefix", no_full_scan)
    monkeypatch.setattr(chain.app.store, "state_keys_after", recorded)
    engine = SimpleNamespace(settled=_settled)
    node: Any = SimpleNamespace(app=chain.app, engine=engine, on_engine=_on_engine)
    api = create_api(node)
    api.include_router(devices_router)
    client = TestClient(api, raise_server_exceptions=True)

    owner = address_from_bytes(addr(ALICE))
    first = client.get("/devices", params={"owner": owner, "limit": 4}).json()
    rest = client.get("/devices", params={"owner": owner, "after": first["next"]}).json()
    assert [d["id"] for d in first["devices"] + rest["devices"]] == expected
    assert rest["next"] is None
    statuses = [d["status"] for d in first["devices"] + rest["devices"]]
    assert statuses.count("decommissioned") == 1
    prefix = OWNER_PREFIX + addr(ALICE)
    assert seeks == [(prefix, None, 5), (prefix, prefix + bytes.fromhex(first["next"]), 51)]


def test_the_invariant_catches_a_missing_or_foreign_entry(chain: Chain) -> None:
    state = dict(chain.app.committed.values)

    def scan(prefix: bytes) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in state.items() if k.startswith(prefix))

    assert invariants.owner_index(scan) == []
    alices = _by_full_scan(chain, addr(ALICE))
    del state[owner_index_key(addr(ALICE), alices[0])]
    state[owner_index_key(addr(BOB), alices[1])] = OWNED
    broken = invariants.owner_index(scan)
    assert any(f"device {alices[0].hex()} is not indexed" in b for b in broken), broken
    assert any("is not (owner, id) of a device" in b for b in broken), broken


def test_state_keys_after_seeks_inside_the_prefix(tmp_path: Path) -> None:
    store = BlockStore(tmp_path / "s.sqlite")
    keys = [b"a", b"a\xff", b"a\xff\x00", b"a\xff\xff", b"b", b"\xff\xff", b"\xff\xff\x01"]
    store.commit(height=0, app_hash=bytes(32), writes=[(k, b"\x01") for k in keys])
    assert store.state_keys_after(b"a", None, 10) == [b"a", b"a\xff", b"a\xff\x00", b"a\xff\xff"]
    assert store.state_keys_after(b"a\xff", None, 10) == [b"a\xff", b"a\xff\x00", b"a\xff\xff"]
    assert store.state_keys_after(b"a", b"a\xff", 10) == [b"a\xff\x00", b"a\xff\xff"]
    assert store.state_keys_after(b"a", b"a", 1) == [b"a\xff"]
    assert store.state_keys_after(b"\xff\xff", None, 10) == [b"\xff\xff", b"\xff\xff\x01"]
    assert store.state_keys_after(b"c", None, 10) == []
    store.close()
