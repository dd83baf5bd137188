"""Builders for the consortium tests: a chain whose genesis has member organisations.

Four members of power 10 each (total 40): a proposal needs yes power > 80/3, that is 30, so the
proposer and two more members. Each member's operator key pays fees, so it holds 1 000 cents.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helpers import DEFAULT_BALANCES, ISSUER, KYC, Chain, addr, key, make_genesis

from citychain.app import Application, TxResult
from citychain.crypto.address import address_from_bytes
from citychain.crypto.keys import PrivateKey
from citychain.genesis import Genesis
from citychain.modules.consortium.messages import (
    Action,
    AdmitMember,
    MsgPropose,
    MsgVote,
)
from citychain.modules.consortium.state import PROPOSAL_EXECUTED, Proposal, get_member, get_proposal
from citychain.store.sqlite import BlockStore


class Org:
    """A member organisation: its operator (governance) key and its validator (consensus) key."""

    def __init__(self, name: str, power: int = 10) -> None:
        self.name = name
        self.power = power
        slug = name.lower().replace(" ", "-")
        self.operator = key(f"operator/{slug}")
        self.validator = key(f"validator/{slug}")

    @property
    def validator_key(self) -> bytes:
        return self.validator.public_key

    def genesis_entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "operator": address_from_bytes(addr(self.operator)),
            "validator_public_key": self.validator_key.hex(),
            "power": self.power,
        }


CITY_HALL = Org("City Hall")
CITY_BANK = Org("City Bank")
BATTERY_WORKS = Org("Battery Works")
REGULATOR = Org("Securities Regulator")
UNIVERSITY = Org("University")  # not a member at genesis: the one admitted by vote
FOUR = (CITY_HALL, CITY_BANK, BATTERY_WORKS, REGULATOR)
VOTING_PERIOD = 10


def consortium_genesis(
    members: Sequence[Org],
    *,
    voting_period_blocks: int | None = VOTING_PERIOD,
    funded: Sequence[PrivateKey] = (),
) -> Genesis:
    balances = {**DEFAULT_BALANCES, **{k: 1_000 for k in funded}}
    for org in (*FOUR, UNIVERSITY, *members):
        balances[org.operator] = 1_000
    base = make_genesis(balances, issuers=(ISSUER,), kyc=(KYC,))
    section: dict[str, Any] = {
        **base.app_state["consortium"],
        "members": [org.genesis_entry() for org in members],
    }
    if voting_period_blocks is not None:
        section["params"] = {"voting_period_blocks": voting_period_blocks}
    return Genesis.from_dict(
        {
            "chain_id": base.chain_id,
            "genesis_time": base.genesis_time,
            "validators": [
                {"name": o.name, "public_key": o.validator_key.hex(), "power": o.power}
                for o in members
            ],
            "app_state": {**base.app_state, "consortium": section},
        }
    )


def governed_chain(directory: Path, members: Sequence[Org] = FOUR, **options: Any) -> Chain:
    directory.mkdir(parents=True, exist_ok=True)
    app = Application(BlockStore(directory / "chain.sqlite"))
    app.init_chain(consortium_genesis(members, **options))
    assert app.check_invariants() == []
    return Chain(app)


def propose(chain: Chain, org: Org | PrivateKey, action: Action) -> tuple[TxResult, int]:
    """Submit ``action`` in its own block; return the result and the proposal id (0 if refused)."""
    signer = org.operator if isinstance(org, Org) else org
    result = chain.run(signer, MsgPropose(action))
    return result, int.from_bytes(result.data, "big") if result.ok else 0


def vote(chain: Chain, org: Org | PrivateKey, proposal_id: int, approve: bool = True) -> TxResult:
    signer = org.operator if isinstance(org, Org) else org
    return chain.run(signer, MsgVote(proposal_id, approve))


def proposal(chain: Chain, proposal_id: int) -> Proposal:
    found = get_proposal(chain.app.committed, proposal_id)
    assert found is not None
    return found


def event_types(result: TxResult) -> list[str]:
    return [e.type for e in result.events]


def event(result: TxResult, type_: str) -> dict[str, Any]:
    (found,) = [dict(e.attributes) for e in result.events if e.type == type_]
    return found


def admit(org: Org) -> AdmitMember:
    return AdmitMember(org.name, addr(org.operator), org.validator_key, org.power)


def member_status(chain: Chain, org: Org) -> int | None:
    member = get_member(chain.app.committed, org.name)
    return member.status if member is not None else None


def pass_proposal(chain: Chain, action: Action) -> int:
    """City Hall proposes, City Bank and Battery Works vote yes: 30 of 40."""
    result, proposal_id = propose(chain, CITY_HALL, action)
    assert result.ok, result.log
    assert vote(chain, CITY_BANK, proposal_id).ok
    last = vote(chain, BATTERY_WORKS, proposal_id)
    assert last.ok, last.log
    assert proposal(chain, proposal_id).status == PROPOSAL_EXECUTED, proposal(chain, proposal_id)
    return proposal_id
