"""The consortium's HTTP routes (citychain/node/routes/consortium.py) mounted on the node's API,
over an Application driven in process: the views, and bad input answered with the API's JSON
error shape and a 4xx, never a stack trace."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from governance_chain import (
    BATTERY_WORKS,
    CITY_BANK,
    CITY_HALL,
    FOUR,
    governed_chain,
    propose,
    vote,
)
from helpers import CAROL, Chain, addr

from citychain.crypto.address import address_from_bytes
from citychain.modules.consortium.messages import GrantRole, MsgPropose
from citychain.node.api import create_api
from citychain.node.routes.consortium import router as consortium_router
from citychain.tx.envelope import tx_hash


async def _settled() -> None:
    return None


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    return governed_chain(tmp_path)


@pytest.fixture
def client(chain: Chain) -> TestClient:
    # The routes use only node.app and node.engine.settled(); the lifespan (which would start an
    # engine) does not run because the client is not entered as a context manager.
    node: Any = SimpleNamespace(app=chain.app, engine=SimpleNamespace(settled=_settled))
    api = create_api(node)
    api.include_router(consortium_router)
    return TestClient(api, raise_server_exceptions=False)


def test_members(client: TestClient) -> None:
    body = client.get("/consortium/members").json()
    assert body["height"] == 0
    assert body["total_power"] == 40
    assert [m["name"] for m in body["members"]] == sorted(o.name for o in FOUR)
    hall = next(m for m in body["members"] if m["name"] == "City Hall")
    assert hall == {
        "name": "City Hall",
        "operator": address_from_bytes(addr(CITY_HALL.operator)),
        "validator_public_key": CITY_HALL.validator_key.hex(),
        "power": 10,
        "status": "active",
        "term": 1,
        "admitted_height": 0,
        "removed_height": None,
    }


def test_proposals_with_tallies_and_one_proposal(chain: Chain, client: TestClient) -> None:
    _, first = propose(chain, CITY_HALL, GrantRole("registrar", addr(CAROL)))
    assert vote(chain, CITY_BANK, first, approve=False).ok
    _, second = propose(chain, CITY_BANK, GrantRole("election", addr(CAROL)))
    assert vote(chain, CITY_HALL, second).ok
    assert vote(chain, BATTERY_WORKS, second).ok

    listed = client.get("/consortium/proposals").json()["proposals"]
    assert [p["id"] for p in listed] == [second, first]
    assert listed[0]["status"] == "executed"
    assert listed[1]["tally"] == {"yes": 10, "no": 10, "total": 40, "needed": 27}
    assert [p["id"] for p in client.get("/consortium/proposals?limit=1").json()["proposals"]] == [
        second
    ]
    assert [
        p["id"] for p in client.get(f"/consortium/proposals?before={second}").json()["proposals"]
    ] == [first]

    one = client.get(f"/consortium/proposals/{first}").json()
    assert one["action"] == {
        "kind": "grant_role",
        "role": "registrar",
        "address": address_from_bytes(addr(CAROL)),
    }
    assert one["votes"] == [
        {"member": "City Bank", "vote": "no", "height": 2},
        {"member": "City Hall", "vote": "yes", "height": 1},
    ]
    assert one["voting_end_height"] == 10


def test_roles(chain: Chain, client: TestClient) -> None:
    roles = client.get("/consortium/roles").json()["roles"]
    assert list(roles) == [
        "issuer",
        "kyc",
        "registrar",
        "election",
        "manufacturer",
        "regulator",
        "oracle",
    ]
    assert roles["registrar"] == []
    assert len(roles["issuer"]) == 1


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/consortium/proposals/1", 404),
        ("/consortium/proposals/0", 422),
        ("/consortium/proposals/-1", 422),
        ("/consortium/proposals/abc", 422),
        ("/consortium/proposals/18446744073709551616", 422),
        ("/consortium/proposals/%C2%B2", 422),
        ("/consortium/proposals?limit=0", 422),
        ("/consortium/proposals?limit=201", 422),
        ("/consortium/proposals?before=x", 422),
        ("/consortium/nothing", 404),
    ],
)
def test_bad_input_is_a_json_4xx(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"code", "codespace", "message"}
    assert "Traceback" not in error["message"]


def test_a_post_is_refused_with_405(client: TestClient) -> None:
    response = client.post("/consortium/members")
    assert response.status_code == 405
    assert "error" in response.json()


def test_a_propose_transaction_renders_in_the_tx_view(chain: Chain, client: TestClient) -> None:
    raw = chain.tx(CITY_HALL.operator, MsgPropose(GrantRole("registrar", addr(CAROL))))
    assert chain.block(raw).tx_results[0].ok
    response = client.get(f"/txs/{tx_hash(raw).hex()}")
    assert response.status_code == 200, response.text
    action = response.json()["tx"]["messages"][0]["body"]["action"]
    assert action["role"] == "registrar"
