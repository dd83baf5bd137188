"""Registry handlers on a chain (docs/modules/registry.md): register, amend, revoke, refusals,
role checks, privacy of state, determinism. Every block checks every module invariant."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ALICE, BOB, Chain, addr, assert_fails_paying_fee, assert_refused_free
from registry_chain import NORTH, SOUTH, commitment, event, registry_chain, rid

from citychain.errors import ErrorCode
from citychain.modules.registry import errors
from citychain.modules.registry.messages import MsgAmend, MsgRegister, MsgRevoke
from citychain.modules.registry.queries import history_view, record_view
from citychain.modules.registry.state import (
    AMENDED,
    REGISTERED,
    REVOKED,
    STATUS_REVOKED,
    STATUS_SUPERSEDED,
    STATUS_VALID,
    SUPERSEDED,
    Record,
    get_record,
)
from citychain.tx import errors as tx_errors

BIRTH = rid("birth/1")
BIRTH_V2 = rid("birth/1/v2")


def birth(record_id: bytes = BIRTH, name: str = "birth/1") -> MsgRegister:
    return MsgRegister("birth", record_id, commitment(name), None, ())


def record(chain: Chain, record_id: bytes) -> Record:
    found = get_record(chain.app.committed, record_id)
    assert found is not None
    return found


@pytest.fixture
def registry(tmp_path: Path) -> Chain:
    return registry_chain(tmp_path)


def test_register_birth_keeps_commitment_office_and_history(registry: Chain) -> None:
    result = registry.run(NORTH, birth())
    assert result.ok, result.log
    stored = record(registry, BIRTH)
    assert (stored.status, stored.commitment, stored.version) == (
        STATUS_VALID,
        commitment("birth/1"),
        1,
    )
    assert stored.office == stored.registrar == addr(NORTH)
    [change] = stored.history
    assert (change.action, change.registrar, change.height) == (REGISTERED, addr(NORTH), 1)
    assert len(change.tx_hash) == 32
    assert event(result, "record_registered") == {
        "record_id": BIRTH,
        "kind": "birth",
        "registrar": addr(NORTH),
        "commitment": commitment("birth/1"),
    }
    view = record_view(registry.app.committed, BIRTH)
    assert view is not None and (view["kind"], view["status"]) == ("birth", "valid")


def test_another_office_amends_old_superseded_new_valid(registry: Chain) -> None:
    registry.run(NORTH, birth())
    result = registry.run(SOUTH, MsgAmend(BIRTH, BIRTH_V2, commitment("birth/1/corrected")))
    assert result.ok, result.log
    old, new = record(registry, BIRTH), record(registry, BIRTH_V2)
    assert (old.status, old.superseded_by) == (STATUS_SUPERSEDED, BIRTH_V2)
    assert (new.status, new.previous, new.version) == (STATUS_VALID, BIRTH, 2)
    assert new.commitment == commitment("birth/1/corrected")
    # The original office stays; the version names the office that signed it.
    assert (new.office, new.registrar) == (addr(NORTH), addr(SOUTH))
    assert [c.action for c in old.history] == [REGISTERED, SUPERSEDED]
    assert old.history[1].registrar == addr(SOUTH)
    assert [(c.action, c.related) for c in new.history] == [(AMENDED, BIRTH)]
    assert event(result, "record_amended")["office"] == addr(NORTH)
    for start in (BIRTH, BIRTH_V2):
        versions = history_view(registry.app.committed, start)
        assert versions is not None
        assert [(v["id"], v["status"]) for v in versions] == [
            (BIRTH.hex(), "superseded"),
            (BIRTH_V2.hex(), "valid"),
        ]


def test_revoke_records_reason_and_signer(registry: Chain) -> None:
    registry.run(NORTH, birth())
    result = registry.run(SOUTH, MsgRevoke(BIRTH, 2))
    assert result.ok, result.log
    stored = record(registry, BIRTH)
    assert (stored.status, stored.revocation_reason) == (STATUS_REVOKED, 2)
    assert (stored.history[-1].action, stored.history[-1].reason) == (REVOKED, 2)
    assert stored.history[-1].registrar == addr(SOUTH)
    assert event(result, "record_revoked")["reason"] == "duplicate"
    view = record_view(registry.app.committed, BIRTH)
    assert view is not None and view["revocation_reason"] == "duplicate"


# --- refusals: each pays the fee and changes nothing else -----------------------------------


def _refused(chain: Chain, message: object, error: ErrorCode) -> None:
    assert_fails_paying_fee(chain, NORTH, message, error=error)  # type: ignore[arg-type]


def test_duplicate_id_refused(registry: Chain) -> None:
    registry.run(NORTH, birth())
    _refused(registry, birth(name="other"), errors.RECORD_EXISTS)
    _refused(registry, MsgRegister("death", BIRTH, commitment("d"), None, ()), errors.RECORD_EXISTS)


def test_amend_refusals(registry: Chain) -> None:
    registry.run(NORTH, birth())
    registry.run(NORTH, birth(rid("birth/2"), "birth/2"))
    _refused(registry, MsgAmend(rid("nobody"), BIRTH_V2, commitment("x")), errors.RECORD_NOT_FOUND)
    _refused(registry, MsgAmend(BIRTH, rid("birth/2"), commitment("x")), errors.RECORD_EXISTS)
    _refused(registry, MsgAmend(BIRTH, BIRTH, commitment("x")), errors.RECORD_EXISTS)
    assert registry.run(NORTH, MsgAmend(BIRTH, BIRTH_V2, commitment("v2"))).ok
    # A superseded record is amended through its newest version only.
    _refused(registry, MsgAmend(BIRTH, rid("v3"), commitment("v3")), errors.RECORD_NOT_VALID)
    _refused(registry, MsgRevoke(BIRTH, 1), errors.RECORD_NOT_VALID)
    assert registry.run(NORTH, MsgRevoke(rid("birth/2"), 1)).ok
    _refused(
        registry, MsgAmend(rid("birth/2"), rid("v3"), commitment("v3")), errors.RECORD_NOT_VALID
    )
    _refused(registry, MsgRevoke(rid("birth/2"), 3), errors.RECORD_NOT_VALID)


@pytest.mark.parametrize("reason", [0, 5, 255])
def test_unknown_reason_refused(registry: Chain, reason: int) -> None:
    registry.run(NORTH, birth())
    _refused(registry, MsgRevoke(BIRTH, reason), errors.UNKNOWN_REASON)


def test_birth_links_nothing_and_freezes_nothing(registry: Chain) -> None:
    registry.run(NORTH, birth())
    other = rid("birth/2")
    _refused(
        registry, MsgRegister("birth", other, commitment("b"), BIRTH, ()), errors.LINK_NOT_ALLOWED
    )
    _refused(
        registry,
        MsgRegister("birth", other, commitment("b"), None, (addr(ALICE),)),
        errors.WALLETS_NOT_ALLOWED,
    )


def test_death_link_refusals(registry: Chain) -> None:
    death = rid("death/1")
    registry.run(NORTH, birth())
    _refused(
        registry,
        MsgRegister("death", death, commitment("d"), rid("nobody"), ()),
        errors.RECORD_NOT_FOUND,
    )
    assert registry.run(NORTH, MsgRegister("death", death, commitment("d"), BIRTH, ())).ok
    _refused(
        registry,
        MsgRegister("death", rid("death/2"), commitment("d2"), BIRTH, ()),
        errors.ALREADY_DECEASED,
    )
    _refused(
        registry,
        MsgRegister("death", rid("death/2"), commitment("d2"), death, ()),
        errors.LINKED_NOT_BIRTH,
    )
    registry.run(NORTH, birth(rid("birth/2"), "birth/2"))
    registry.run(NORTH, MsgAmend(rid("birth/2"), rid("birth/2/v2"), commitment("b2v2")))
    _refused(
        registry,
        MsgRegister("death", rid("death/2"), commitment("d2"), rid("birth/2"), ()),
        errors.RECORD_NOT_VALID,
    )


def test_wallet_refusals(registry: Chain) -> None:
    wallet = addr(BOB)
    _refused(
        registry,
        MsgRegister("death", rid("death/1"), commitment("d"), None, (wallet, wallet)),
        errors.DUPLICATE_WALLET,
    )
    assert registry.run(
        NORTH, MsgRegister("death", rid("death/1"), commitment("d"), None, (wallet,))
    ).ok
    _refused(
        registry,
        MsgRegister("death", rid("death/2"), commitment("d2"), None, (wallet,)),
        errors.WALLET_CLAIMED,
    )


def test_a_sender_without_the_role_is_refused_before_paying(registry: Chain) -> None:
    for message in (birth(), MsgAmend(BIRTH, BIRTH_V2, commitment("x")), MsgRevoke(BIRTH, 1)):
        assert_refused_free(registry, registry.tx(ALICE, message), tx_errors.UNAUTHORIZED)
