"""Deaths freeze wallets through the bank and mark the birth record; a revoked registrar can no
longer issue; state holds commitments, never citizen data; replay gives the same app hashes."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from helpers import (
    ALICE,
    BOB,
    CAROL,
    CCY,
    VALIDATOR,
    Chain,
    addr,
    assert_fails_paying_fee,
    assert_refused_free,
    key,
    make_genesis,
)
from registry_chain import NORTH, REGISTRY_BALANCES, SOUTH, commitment, event, rid

from citychain.app import Application
from citychain.crypto.address import address_from_bytes
from citychain.genesis import Genesis, GenesisError
from citychain.modules.bank import errors as bank_errors
from citychain.modules.bank.messages import MsgSend
from citychain.modules.bank.queries import account_view
from citychain.modules.consortium.messages import MsgPropose, RevokeRole
from citychain.modules.registry import commit
from citychain.modules.registry.messages import MsgAmend, MsgRegister, MsgRevoke
from citychain.modules.registry.state import get_record
from citychain.store.sqlite import BlockStore
from citychain.tx import errors as tx_errors

BIRTH, DEATH, DEATH_V2 = rid("birth/1"), rid("death/1"), rid("death/1/v2")


def frozen(chain: Chain, who: object) -> bool:
    return bool(account_view(chain.app.committed, addr(who))["frozen"])  # type: ignore[arg-type]


def deceased_by(chain: Chain, record_id: bytes) -> bytes:
    found = get_record(chain.app.committed, record_id)
    assert found is not None
    return found.deceased_by


@pytest.fixture
def registry(tmp_path: Path) -> Chain:
    return Chain.create(tmp_path, REGISTRY_BALANCES, registrars=(NORTH, SOUTH))


def test_death_freezes_wallets_keeps_balances_and_marks_birth(registry: Chain) -> None:
    registry.run(NORTH, MsgRegister("birth", BIRTH, commitment("b"), None, ()))
    balances = registry.balance(ALICE), registry.balance(BOB)
    wallets = (addr(ALICE), addr(BOB))
    result = registry.run(NORTH, MsgRegister("death", DEATH, commitment("d"), BIRTH, wallets))
    assert result.ok, result.log
    assert event(result, "death_registered") == {
        "record_id": DEATH,
        "birth_record": BIRTH,
        "wallets": 2,
    }
    assert [dict(e.attributes)["address"] for e in result.events if e.type == "wallet_frozen"] == [
        addr(ALICE),
        addr(BOB),
    ]
    assert frozen(registry, ALICE) and frozen(registry, BOB) and not frozen(registry, CAROL)
    assert (registry.balance(ALICE), registry.balance(BOB)) == balances
    assert deceased_by(registry, BIRTH) == DEATH
    # Nothing moves out of or into a frozen wallet: the bank's own error.
    assert_fails_paying_fee(
        registry, ALICE, MsgSend(addr(CAROL), CCY, 10), error=bank_errors.ACCOUNT_FROZEN
    )
    assert_fails_paying_fee(
        registry, CAROL, MsgSend(addr(BOB), CCY, 10), error=bank_errors.ACCOUNT_FROZEN
    )


def test_amended_death_keeps_freezes_revoked_death_releases_them(registry: Chain) -> None:
    registry.run(NORTH, MsgRegister("birth", BIRTH, commitment("b"), None, ()))
    registry.run(NORTH, MsgRegister("death", DEATH, commitment("d"), BIRTH, (addr(ALICE),)))
    assert registry.run(SOUTH, MsgAmend(DEATH, DEATH_V2, commitment("d2"))).ok
    assert frozen(registry, ALICE) and deceased_by(registry, BIRTH) == DEATH_V2
    result = registry.run(SOUTH, MsgRevoke(DEATH_V2, 1))
    assert result.ok, result.log
    assert event(result, "death_revoked") == {"record_id": DEATH_V2, "birth_record": BIRTH}
    assert event(result, "wallet_unfrozen") == {"address": addr(ALICE), "record_id": DEATH_V2}
    assert not frozen(registry, ALICE) and deceased_by(registry, BIRTH) == b""
    assert registry.run(ALICE, MsgSend(addr(CAROL), CCY, 10)).ok
    # The person may be registered dead again, with the same wallet.
    assert registry.run(
        NORTH, MsgRegister("death", rid("death/2"), commitment("d3"), BIRTH, (addr(ALICE),))
    ).ok


def test_death_mark_follows_an_amended_birth(registry: Chain) -> None:
    registry.run(NORTH, MsgRegister("birth", BIRTH, commitment("b"), None, ()))
    registry.run(NORTH, MsgRegister("death", DEATH, commitment("d"), BIRTH, ()))
    assert registry.run(NORTH, MsgAmend(BIRTH, rid("birth/1/v2"), commitment("b2"))).ok
    assert deceased_by(registry, rid("birth/1/v2")) == DEATH
    assert registry.run(NORTH, MsgRevoke(DEATH, 1)).ok
    assert deceased_by(registry, rid("birth/1/v2")) == b""


def test_a_registrar_whose_role_was_revoked_can_no_longer_issue(tmp_path: Path) -> None:
    operator = key("operator/city-hall")
    base = make_genesis({**REGISTRY_BALANCES, operator: 1_000}, registrars=(NORTH,))
    consortium = {
        **base.app_state["consortium"],
        "members": [
            {
                "name": "City Hall",
                "operator": address_from_bytes(addr(operator)),
                "validator_public_key": VALIDATOR.public_key.hex(),
                "power": 1,
            }
        ],
    }
    genesis = Genesis.from_dict(
        {
            "chain_id": base.chain_id,
            "genesis_time": base.genesis_time,
            "validators": [{"name": "solo", "public_key": VALIDATOR.public_key.hex(), "power": 1}],
            "app_state": {**base.app_state, "consortium": consortium},
        }
    )
    app = Application(BlockStore(tmp_path / "chain.sqlite"))
    app.init_chain(genesis)
    chain = Chain(app)
    assert chain.run(NORTH, MsgRegister("birth", BIRTH, commitment("b"), None, ())).ok
    # One member with all the power: its proposal passes and runs at once.
    assert chain.run(operator, MsgPropose(RevokeRole("registrar", addr(NORTH)))).ok
    for message in (
        MsgRegister("birth", rid("birth/2"), commitment("b2"), None, ()),
        MsgAmend(BIRTH, rid("birth/1/v2"), commitment("b3")),
        MsgRevoke(BIRTH, 1),
    ):
        assert_refused_free(chain, chain.tx(NORTH, message), tx_errors.UNAUTHORIZED)


CITIZEN = {"given_name": "Amira", "family_name": "Okonkwo-Lindqvist", "born": "2024-03-17"}
SALT = bytes.fromhex("5a" * 32)


def test_state_holds_commitments_never_citizen_data(registry: Chain) -> None:
    content = msgspec.json.encode(CITIZEN)
    registry.run(NORTH, MsgRegister("birth", BIRTH, commit(content, SALT), None, ()))
    corrected = msgspec.json.encode({**CITIZEN, "father": "Tomasz Okonkwo"})
    registry.run(NORTH, MsgAmend(BIRTH, rid("birth/1/v2"), commit(corrected, SALT)))
    registry.run(NORTH, MsgRegister("death", DEATH, commit(b"death", SALT), rid("birth/1/v2"), ()))
    values = list(registry.app.committed.values.values())
    assert any(commit(content, SALT) in v for v in values)
    needles = [s.encode() for s in (*CITIZEN.values(), "Tomasz", "Okonkwo", "Amira")]
    for needle in (*needles, SALT, content, corrected):
        assert not any(needle in v for v in values), needle


def test_commitment_needs_a_32_byte_salt() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        commit(b"content", b"short")
    assert commit(b"a", SALT) != commit(b"a", bytes(32)) != commit(b"b", bytes(32))


def _script(chain: Chain) -> list[bytes]:
    hashes = []
    for signer, message in (
        (NORTH, MsgRegister("birth", BIRTH, commitment("b"), None, ())),
        (SOUTH, MsgAmend(BIRTH, rid("birth/1/v2"), commitment("b2"))),
        (NORTH, MsgRegister("death", DEATH, commitment("d"), rid("birth/1/v2"), (addr(BOB),))),
        (SOUTH, MsgRevoke(DEATH, 4)),
    ):
        assert chain.run(signer, message).ok
        hashes.append(chain.app.app_hash)
    return hashes


def test_replaying_the_same_blocks_gives_the_same_app_hashes(tmp_path: Path) -> None:
    first = Chain.create(tmp_path / "a", REGISTRY_BALANCES, registrars=(NORTH, SOUTH))
    second = Chain.create(tmp_path / "b", REGISTRY_BALANCES, registrars=(NORTH, SOUTH))
    assert _script(first) == _script(second)
    assert first.app.committed.values == second.app.committed.values


def test_genesis_section_must_be_empty(tmp_path: Path) -> None:
    base = make_genesis(REGISTRY_BALANCES)
    for section, ok in (({}, True), ({"records": []}, False)):
        genesis = Genesis.from_dict(
            {
                "chain_id": base.chain_id,
                "genesis_time": base.genesis_time,
                "validators": [
                    {"name": "solo", "public_key": VALIDATOR.public_key.hex(), "power": 1}
                ],
                "app_state": {**base.app_state, "registry": section},
            }
        )
        app = Application(BlockStore(tmp_path / f"{ok}.sqlite"))
        if ok:
            app.init_chain(genesis)
        else:
            with pytest.raises(GenesisError, match="registry"):
                app.init_chain(genesis)
