"""A battery's label leads to its public passport only (docs/modules/battery.md §7): its owner,
lessee, status and history are in its holding, which nothing in the committed state or the
stored blocks links to the battery. Also: the remanufacture rule, the history one key per
change and paged, and the owner and lessee indexes read without a walk of the state."""

from __future__ import annotations

from bisect import bisect_right
from pathlib import Path
from typing import Any

import pytest
from battery_chain import (
    DRIVER,
    FLEET,
    HOLDING_SECRET,
    MAKER,
    ORACLE,
    OTHER_MAKER,
    RECYCLER,
    STRANGER,
    TELEMETRY_BATCH,
    anchor_messages,
    battery_chain,
    bid,
    hid,
    register,
    register_msg,
)
from battery_chain import (
    health_values as values,
)
from helpers import CHAIN_ID, Chain, addr, assert_fails_paying_fee

from citychain.codec import decode, encode
from citychain.modules.battery import errors
from citychain.modules.battery.access import HEALTH
from citychain.modules.battery.commitment import commit_part
from citychain.modules.battery.holding import holding_commitment
from citychain.modules.battery.messages import (
    MsgAttestPrediction,
    MsgLease,
    MsgSetStatus,
    MsgTransfer,
    MsgUpdateHealth,
)
from citychain.modules.battery.queries import fleet_view, history_view
from citychain.modules.battery.state import (
    Battery,
    get_holding,
    holding_key,
)
from citychain.passport import OpeningStore, PassportService, RestrictedReadError
from citychain.passport import errors as read_errors
from citychain.passport.restricted import point4_route, sign_read_request

IDENTIFIER = "VC-EV-0001"
NOW_MS = 1_800_000_000_000
PEOPLE = (FLEET, DRIVER, RECYCLER)  # the owners and the lessee of the battery's life


def lived(tmp_path: Path) -> Chain:
    """A battery's life: registered, its holding opened for FLEET, leased to DRIVER,
    installed, lease ended, transferred to RECYCLER, health and a prediction attested, and a
    second battery beside it."""
    chain = battery_chain(tmp_path)
    assert chain.run(MAKER, *anchor_messages()).ok
    register(chain)
    register(chain, "VC-EV-0002", owner=addr(STRANGER))
    steps = [
        (FLEET, MsgLease(hid(), addr(DRIVER), None)),
        (FLEET, MsgSetStatus(hid(), "installed")),
        (FLEET, MsgLease(hid(), None, None)),
        (FLEET, MsgTransfer(hid(), addr(RECYCLER))),
        (ORACLE, MsgUpdateHealth(bid(), commit_part(HEALTH, values(), bytes(32)), TELEMETRY_BATCH)),
        (ORACLE, MsgAttestPrediction(bid(), 1_800, 20_000, 1_600, 2_000, bytes(32), bytes(32))),
    ]
    for signer, message in steps:
        result = chain.run(signer, message)
        assert result.ok, result.log
    return chain


def test_the_label_leads_to_no_owner_lessee_status_or_history(tmp_path: Path) -> None:
    chain = lived(tmp_path)
    battery_id = bid(IDENTIFIER)  # what anyone computes from the printed identifier
    holding_id = hid()
    people = [addr(p) for p in PEOPLE]
    state = chain.app.committed.values

    # The committed state: every key or value that holds the battery id is the public record,
    # its health or its prediction; none of them holds a person or the holding id.
    linked = {k: v for k, v in state.items() if battery_id in k or battery_id in v}
    assert {k[:6] for k in linked} == {b"bat/b/", b"bat/h/", b"bat/x/"}
    for key, value in linked.items():
        for secret in (*people, holding_id, HOLDING_SECRET):
            assert secret not in key and secret not in value, key
    # The holding holds them, under a key that does not contain the battery id.
    holding = get_holding(chain.app.committed, holding_id)
    assert holding is not None and holding.owner == addr(RECYCLER)
    assert battery_id not in holding_key(holding_id) and battery_id not in state[holding_key(hid())]
    # The public record's commitment is blinded: the holding id alone does not give it.
    record = decode(state[b"bat/b/" + battery_id], Battery)
    assert record.holding_commitment == holding_commitment(battery_id, HOLDING_SECRET)
    assert holding_id not in encode(record)

    # The stored blocks: no transaction (body or result and events) that names the battery
    # names the holding, a person of its life or its secret; and every transaction that names
    # the holding leaves the battery out.
    store = chain.app.store
    named = 0
    for height in range(1, chain.height + 1):
        for tx in store.block_txs(height):
            stored = tx.raw + tx.result
            if battery_id in stored:
                named += 1
                for secret in (*people, holding_id, HOLDING_SECRET):
                    assert secret not in stored, (height, tx.index)
            if holding_id in stored:
                assert battery_id not in stored
    assert named == 3  # the registration, the health update and the prediction


def test_history_needs_the_holding_secret(tmp_path: Path) -> None:
    chain = lived(tmp_path)
    view = history_view(chain.app.committed, bid(), HOLDING_SECRET, addr(RECYCLER), chain.height)
    assert [c["action"] for c in view["history"]] == [
        "registered",
        "leased",
        "status_changed",
        "lease_ended",
        "transferred",
    ]


def test_no_manufacturer_but_the_holder_marks_a_battery_remanufactured(tmp_path: Path) -> None:
    chain = battery_chain(tmp_path)
    register(chain)
    assert chain.run(FLEET, MsgSetStatus(hid(), "installed")).ok
    assert chain.run(FLEET, MsgSetStatus(hid(), "swapped")).ok
    # Any holder of the manufacturer role used to be able to: neither another manufacturer
    # nor the battery's own, while they do not hold it.
    for maker in (OTHER_MAKER, MAKER):
        assert_fails_paying_fee(
            chain, maker, MsgSetStatus(hid(), "remanufactured"), error=errors.NOT_OWNER
        )
    # A lapsed lease is no hold either.
    end = chain.height + 1
    assert chain.run(FLEET, MsgLease(hid(), addr(OTHER_MAKER), end)).ok
    chain.advance(2)
    assert_fails_paying_fee(
        chain, OTHER_MAKER, MsgSetStatus(hid(), "remanufactured"), error=errors.NOT_OWNER
    )
    # The owner hands it over (here: transfers it) to the remanufacturer, which declares it.
    assert chain.run(FLEET, MsgTransfer(hid(), addr(OTHER_MAKER))).ok
    result = chain.run(OTHER_MAKER, MsgSetStatus(hid(), "remanufactured"))
    assert result.ok, result.log


def test_history_is_one_key_per_change_and_paged(tmp_path: Path) -> None:
    chain = battery_chain(tmp_path)
    register(chain)
    holding_value = chain.app.committed.values[holding_key(hid())]
    for _ in range(10):
        assert chain.run(FLEET, MsgLease(hid(), addr(DRIVER), None)).ok
        assert chain.run(FLEET, MsgLease(hid(), None, None)).ok
    state = chain.app.committed
    # 21 changes, 21 keys, and the holding's value no larger than when it had one.
    changes = [k for k in state.values if k.startswith(b"bat/c/" + hid())]
    assert len(changes) == 21
    assert len(state.values[holding_key(hid())]) == len(holding_value)
    seen: list[int] = []
    after = None
    while True:
        page = history_view(
            state, bid(), HOLDING_SECRET, addr(FLEET), chain.height, after=after, limit=8
        )
        seen += [c["seq"] for c in page["history"]]
        assert len(page["history"]) <= 8
        after = page["next"]
        if after is None:
            break
    assert seen == list(range(21))
    with pytest.raises(ValueError, match="limit"):
        history_view(state, bid(), HOLDING_SECRET, addr(FLEET), chain.height, limit=101)


class RecordedReads:
    """A state that answers point reads and the store's range read of keys (``keys_after``,
    as ``BlockStore.state_keys_after``) only, and records every key it gives: no walk of the
    state is possible."""

    def __init__(self, values: dict[bytes, bytes]) -> None:
        self.values = dict(values)
        self.ordered = sorted(values)
        self.keys: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        self.keys.append(key)
        return self.values.get(key)

    def keys_after(self, prefix: bytes, after: bytes | None, limit: int) -> list[bytes]:
        first = bisect_right(self.ordered, after) if after is not None else 0
        found = [key for key in self.ordered[first:] if key.startswith(prefix)][:limit]
        self.keys.extend(found)
        return found


def test_the_fleet_reads_the_owner_and_lessee_indexes_only(tmp_path: Path) -> None:
    chain = battery_chain(tmp_path)
    names = [f"B-{i}" for i in range(6)]
    for name in names:
        register(chain, name)
    register(chain, "B-OTHER", owner=addr(STRANGER))
    # FLEET: owns B-0..B-5, hands B-1 to RECYCLER, leases B-2 to DRIVER; DRIVER leases one.
    assert chain.run(FLEET, MsgTransfer(hid("B-1"), addr(RECYCLER))).ok
    assert chain.run(FLEET, MsgLease(hid("B-2"), addr(DRIVER), None)).ok
    assert chain.run(STRANGER, MsgLease(hid("B-OTHER"), addr(FLEET), None)).ok
    for i in range(100):  # unrelated state the fleet must not walk
        assert chain.run(MAKER, register_msg(f"NOISE-{i}")).ok
    reads = RecordedReads(chain.app.committed.values)
    first = fleet_view(reads, reads.keys_after, addr(FLEET), chain.height, limit=3)
    rest = fleet_view(
        reads, reads.keys_after, addr(FLEET), chain.height, after=first["next"], limit=3
    )
    entries = first["holdings"] + rest["holdings"]
    assert rest["next"] is None
    expected = {hid(n).hex() for n in names if n != "B-1"}
    owned = {e["holding_id"] for e in entries if e["role"] == "owner"}
    assert owned == expected
    assert [e["holding_id"] for e in entries if e["role"] == "lessee"] == [hid("B-OTHER").hex()]
    # Every key read is an index entry or a listed holding: a dozen, not 100+.
    allowed = (b"bat/o/", b"bat/l/", b"bat/k/")
    assert all(k.startswith(allowed) for k in reads.keys), reads.keys
    assert len(reads.keys) <= 2 * len(entries) + 4
    # The lessee sees its lease; the one it ended is gone from the index.
    driver = fleet_view(reads, reads.keys_after, addr(DRIVER), chain.height)["holdings"]
    assert [(e["holding_id"], e["role"]) for e in driver] == [(hid("B-2").hex(), "lessee")]
    assert chain.run(FLEET, MsgLease(hid("B-2"), None, None)).ok
    after = RecordedReads(chain.app.committed.values)
    assert fleet_view(after, after.keys_after, addr(DRIVER), chain.height)["holdings"] == []


def test_a_fleet_page_survives_a_transfer_of_an_entry_before_it(tmp_path: Path) -> None:
    """The cursor names the page's last holding, so a holding leaving the index between two
    pages shifts nothing (before, the last entry took the freed slot and the next page
    missed it)."""
    chain = battery_chain(tmp_path)
    by_hid = {hid(name).hex(): name for name in ("B-0", "B-1", "B-2")}
    for name in by_hid.values():
        register(chain, name)

    def page(after: str | None, limit: int) -> dict[str, Any]:
        keys_after = chain.app.store.state_keys_after
        return fleet_view(
            chain.app.committed, keys_after, addr(FLEET), chain.height, after=after, limit=limit
        )

    first = page(None, 1)
    [listed] = [entry["holding_id"] for entry in first["holdings"]]
    assert chain.run(FLEET, MsgTransfer(hid(by_hid[listed]), addr(RECYCLER))).ok
    rest = [entry["holding_id"] for entry in page(first["next"], 10)["holdings"]]
    assert sorted([listed, *rest]) == sorted(by_hid)


def test_status_without_the_holding_secret_is_refused_before_its_nonce_is_spent(
    tmp_path: Path,
) -> None:
    chain = battery_chain(tmp_path / "chain")
    register(chain)
    service = PassportService(OpeningStore(tmp_path / "data" / "openings.sqlite"))

    def admit(route: str, holding: bytes) -> bytes:
        signed = sign_read_request(
            MAKER, chain_id=CHAIN_ID, node_id=service.node_id,
            route=point4_route(bid(), route), battery_id=bid(), part=HEALTH,
            issued_at_ms=NOW_MS, holding=holding,
        )  # fmt: skip
        return service.admit(
            signed, chain.app.committed, chain.height, NOW_MS,
            chain_id=CHAIN_ID, battery_id=bid(), route=route,
        ).reader  # fmt: skip

    # The manufacturer reads the prediction without the holding, the status only with it.
    assert admit("prediction", b"") == addr(MAKER)
    spent = len(service.nonces)
    with pytest.raises(RestrictedReadError) as raised:
        admit("status", b"")
    assert raised.value.error == read_errors.NOT_AUTHORISED
    assert len(service.nonces) == spent
    assert admit("status", HOLDING_SECRET) == addr(MAKER)
    service.close()
