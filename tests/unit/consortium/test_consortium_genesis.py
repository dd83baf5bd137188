"""The consortium's genesis section (citychain/modules/consortium/genesis.py): members become
active validators-to-be, parameters have a default, and every malformed entry stops the chain
from starting with a GenesisError that names it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from governance_chain import CITY_BANK, CITY_HALL, FOUR, consortium_genesis, governed_chain
from helpers import ISSUER, addr

from citychain.app import Application
from citychain.genesis import Genesis, GenesisError
from citychain.modules.consortium import genesis_validators
from citychain.modules.consortium.queries import members_view, roles_view
from citychain.modules.consortium.state import (
    DEFAULT_VOTING_PERIOD_BLOCKS,
    get_params,
    has_role,
)
from citychain.store.sqlite import BlockStore


def test_genesis_members_are_active_with_their_keys_and_powers(tmp_path: Path) -> None:
    chain = governed_chain(tmp_path)
    view = members_view(chain.app.committed)
    assert [m["name"] for m in view["members"]] == sorted(o.name for o in FOUR)
    assert {m["status"] for m in view["members"]} == {"active"}
    assert view["total_power"] == 40
    assert get_params(chain.app.committed).voting_period_blocks == 10
    assert has_role(chain.app.committed, addr(ISSUER), "issuer")
    assert set(roles_view(chain.app.committed)) == {
        "issuer",
        "kyc",
        "registrar",
        "election",
        "manufacturer",
        "regulator",
        "oracle",
    }


def test_genesis_validators_match_the_documents_validators() -> None:
    genesis = consortium_genesis(FOUR)
    listed = genesis_validators(genesis.app_state["consortium"])
    assert listed == sorted(((o.name, o.validator_key, o.power) for o in FOUR), key=lambda v: v[1])
    assert sorted((key, power) for _, key, power in listed) == sorted(
        (v.public_key, v.power) for v in genesis.validators
    )


def test_a_genesis_without_members_or_params_has_none_and_the_default_period(
    tmp_path: Path,
) -> None:
    genesis = consortium_genesis(FOUR, voting_period_blocks=None)
    doc = _doc(genesis)
    del doc["app_state"]["consortium"]["members"]
    app = _init(tmp_path, doc)
    assert members_view(app.committed)["members"] == []
    assert get_params(app.committed).voting_period_blocks == DEFAULT_VOTING_PERIOD_BLOCKS
    assert genesis_validators(doc["app_state"]["consortium"]) == []


def _doc(genesis: Genesis) -> dict[str, Any]:
    return {
        "chain_id": genesis.chain_id,
        "genesis_time": genesis.genesis_time,
        "validators": [
            {"name": v.name, "public_key": v.public_key.hex(), "power": v.power}
            for v in genesis.validators
        ],
        "app_state": copy.deepcopy(genesis.app_state),
    }


def _init(tmp_path: Path, doc: dict[str, Any]) -> Application:
    app = Application(BlockStore(tmp_path / "chain.sqlite"))
    app.init_chain(Genesis.from_dict(doc))
    assert app.check_invariants() == []
    return app


def _member(doc: dict[str, Any], index: int) -> dict[str, Any]:
    member: dict[str, Any] = doc["app_state"]["consortium"]["members"][index]
    return member


BAD_MEMBERS: dict[str, tuple[Any, str]] = {
    "duplicate name": (lambda d: _member(d, 1).update(name=CITY_HALL.name), "share a name"),
    "duplicate operator": (
        lambda d: _member(d, 1).update(operator=_member(d, 0)["operator"]),
        "share a operator",
    ),
    "duplicate validator key": (
        lambda d: _member(d, 1).update(validator_public_key=CITY_HALL.validator_key.hex()),
        "share a validator_public_key",
    ),
    "zero power": (lambda d: _member(d, 0).update(power=0), "power must be an integer"),
    "boolean power": (lambda d: _member(d, 0).update(power=True), "power must be an integer"),
    "power past CometBFT's total": (
        lambda d: [_member(d, i).update(power=2**59) for i in range(4)],
        "exceeds",
    ),
    "uppercase key hex": (
        lambda d: _member(d, 0).update(validator_public_key=CITY_HALL.validator_key.hex().upper()),
        "64 lowercase hex",
    ),
    "short key": (lambda d: _member(d, 0).update(validator_public_key="ab"), "64 lowercase hex"),
    "bad operator": (lambda d: _member(d, 0).update(operator="city1nope"), "operator"),
    "name with two spaces": (lambda d: _member(d, 0).update(name="City  Hall"), "name must be"),
    "missing field": (lambda d: _member(d, 0).pop("power"), "exactly the fields"),
    "extra field": (lambda d: _member(d, 0).update(url="https://x"), "exactly the fields"),
}
BAD = {
    **BAD_MEMBERS,
    "unknown section field": (
        lambda d: d["app_state"]["consortium"].update(member=[]),
        "unknown fields: member",
    ),
    "zero voting period": (
        lambda d: d["app_state"]["consortium"].update(params={"voting_period_blocks": 0}),
        "voting_period_blocks",
    ),
    "unknown parameter": (
        lambda d: d["app_state"]["consortium"].update(params={"quorum": 1}),
        "may only hold",
    ),
    "unknown role": (
        lambda d: d["app_state"]["consortium"]["roles"].update(mayor=[]),
        "unknown role 'mayor'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_invalid_genesis_section(tmp_path: Path, case: str) -> None:
    change, message = BAD[case]
    doc = _doc(consortium_genesis(FOUR))
    change(doc)
    app = Application(BlockStore(tmp_path / "chain.sqlite"))
    with pytest.raises(GenesisError, match=message):
        app.init_chain(Genesis.from_dict(doc))
    assert app.height == -1


@pytest.mark.parametrize("case", sorted(BAD_MEMBERS))
def test_genesis_validators_refuses_what_init_genesis_refuses(case: str) -> None:
    change, message = BAD_MEMBERS[case]
    doc = _doc(consortium_genesis(FOUR))
    change(doc)
    with pytest.raises(ValueError, match=message):
        genesis_validators(doc["app_state"]["consortium"])


def test_one_member_genesis(tmp_path: Path) -> None:
    chain = governed_chain(tmp_path, members=(CITY_BANK,))
    assert members_view(chain.app.committed)["total_power"] == CITY_BANK.power
