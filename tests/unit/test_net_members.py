"""Members on separate hosts, without starting anything: hosts files, public member files, and
the genesis a coordinator builds from them (citychain/net/member.py, coordinator.py, hosts.py)."""

from __future__ import annotations

import json
import random
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from netutil import COMETBFT, requires_cometbft

from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.genesis import Genesis
from citychain.net.coordinator import CONSENSUS_PARAMS, build_genesis, peers_document
from citychain.net.create import default_role_holders
from citychain.net.hosts import parse_hosts
from citychain.net.member import MemberInfo, MemberPlan, NetInputError
from citychain.net.process import home_status


def _address(label: str) -> str:
    key = PrivateKey.from_seed(random.Random(f"members/{label}").randbytes(32))
    return address_from_public_key(key.public_key)


def _member(i: int, **changes: object) -> MemberInfo:
    validator = PrivateKey.from_seed(random.Random(f"members/validator{i}").randbytes(32))
    doc = {
        "format": "citychain-member/1",
        "name": f"Member {i}",
        "host": f"10.0.0.{i + 1}",
        "p2p_port": 26656,
        "node_id": f"{i:040x}",
        "validator_public_key": validator.public_key.hex(),
        "power": 10,
        "operator": _address(f"operator{i}"),
        "roles": {"issuer": _address("issuer")} if i == 0 else {},
        **changes,
    }
    return MemberInfo.from_json(doc, f"member{i}.json")


def test_hosts_lines_name_members_and_default_the_rest(tmp_path: Path) -> None:
    entries = parse_hosts(
        "# the consortium\n10.0.0.1 City Hall\n\n10.0.0.2:26700   First   City Bank\n"
        "[fd00::3]:26656\nnode4.city.example\n",
        tmp_path,
    )
    plans = [e.plan for e in entries]
    assert [(p.name, p.host, p.p2p_port) for p in plans] == [
        ("City Hall", "10.0.0.1", 26656),
        ("First City Bank", "10.0.0.2", 26700),
        ("Voltcell Batteries", "fd00::3", 26656),
        ("Securities Regulator", "node4.city.example", 26656),
    ]
    assert (plans[1].rpc_port, plans[1].abci_port, plans[1].api_port) == (26701, 26702, 26703)
    assert all(p.rpc_listen == p.api_listen == "127.0.0.1" for p in plans)


def test_hosts_json_takes_roles_listen_addresses_and_password_files(tmp_path: Path) -> None:
    text = json.dumps(
        [
            {"host": "10.0.0.1", "roles": ["issuer", "registrar"], "password_file": "pw0"},
            {"host": "10.0.0.2", "name": "Bank", "api_listen": "0.0.0.0"},
        ]
    )
    first, second = parse_hosts(text, tmp_path)
    assert (first.plan.roles, first.password_file) == (("issuer", "registrar"), tmp_path / "pw0")
    assert (second.plan.name, second.plan.api_listen, second.password_file) == (
        "Bank",
        "0.0.0.0",
        None,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no members"),
        ("10.0.0.1:80 City Hall\n", "line 1: p2p_port must be 1024.."),
        ("10.0.0.1 City Hall\nnot_a_host! Bank\n", "line 2: host must be"),
        ("10.0.0.1:port City\n", "the port must be a number"),
        ('[{"host": "10.0.0.1", "colour": "red"}]', "entry 0: unknown field 'colour'"),
        ('[{"host": "10.0.0.1", "roles": ["mayor"]}]', "unknown role 'mayor'"),
        ('[{"host": "10.0.0.1", "api_listen": 7}]', "api_listen must be an IP address"),
        ('[{"name": "x"}]', "must be an object with a host"),
        ("[1, 2", "not JSON"),
    ],
)
def test_a_malformed_hosts_file_says_where(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(NetInputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_hosts(text, tmp_path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "other"}, "is not a member file"),
        ({"node_id": "zz"}, "node_id must be 40 lowercase hex"),
        ({"validator_public_key": "00" * 31}, "validator_public_key must be 32 bytes"),
        ({"operator": "city1nonsense"}, "missing or malformed"),
        ({"power": 0}, "power must be a positive integer"),
        ({"roles": {"mayor": "x"}}, "unknown role 'mayor'"),
        ({"name": "two  spaces"}, "member name must be"),
    ],
)
def test_a_malformed_member_file_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(NetInputError, match=message):
        _member(1, **changes)


def test_the_genesis_is_built_from_public_files_and_lists_every_member() -> None:
    members = [_member(i) for i in range(3)]
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    doc = build_genesis(members, "city-hosts", now=now)
    genesis = Genesis.from_dict(doc["app_state"])
    assert genesis.chain_id == doc["chain_id"] == "city-hosts"
    assert [v.public_key.hex() for v in genesis.validators] == [
        m.validator_public_key for m in members
    ]
    consortium = doc["app_state"]["app_state"]["consortium"]  # CometBFT's, then citychain's
    assert consortium["roles"] == {"issuer": [_address("issuer")]}
    assert [m["operator"] for m in consortium["members"]] == [m.operator for m in members]
    assert doc["consensus_params"] == CONSENSUS_PARAMS
    assert doc["genesis_time"] == "2030-01-02T03:04:05.000000Z"
    assert [v["power"] for v in doc["validators"]] == ["10"] * 3
    peers = peers_document("city-hosts", members)["peers"]
    assert [(p["host"], p["node_id"]) for p in peers] == [(m.host, m.node_id) for m in members]
    # Nothing secret can be in it: it was made from public files only.
    assert "priv" not in json.dumps(doc)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Member 0"}, "same name"),
        ({"host": "10.0.0.1"}, "same host and p2p port"),
        ({"node_id": f"{0:040x}"}, "same node id"),
    ],
)
def test_two_members_that_clash_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(NetInputError, match=message):
        build_genesis([_member(0), _member(1, **changes)], "city-hosts")


def test_a_member_plan_refuses_bad_addresses() -> None:
    with pytest.raises(NetInputError, match="host must be"):
        MemberPlan(name="City Hall", host="bad host")
    with pytest.raises(NetInputError, match="rpc_listen must be an IP address"):
        MemberPlan(name="City Hall", host="10.0.0.1", rpc_listen="everywhere")


def test_role_keys_go_to_the_members_holding_the_roles() -> None:
    assert default_role_holders(4) == {
        "issuer": 0,
        "kyc": 1,
        "registrar": 0,
        "oracle": 2,
        "manufacturer": 2,
    }
    assert default_role_holders(2) == {
        "issuer": 0,
        "kyc": 1,
        "registrar": 0,
        "oracle": 0,
        "manufacturer": 0,
    }


@requires_cometbft
def test_the_consensus_params_are_what_cometbft_init_writes(tmp_path: Path) -> None:
    assert COMETBFT is not None
    subprocess.run([str(COMETBFT), "init", "--home", str(tmp_path)], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    written = json.loads((tmp_path / "config" / "genesis.json").read_text())
    assert written["consensus_params"] == CONSENSUS_PARAMS


def test_a_members_status_names_an_ipv6_api_as_a_url(tmp_path: Path) -> None:
    """``net status --home`` of a member whose API listens on IPv6: a URL with brackets."""
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "member": "City Hall",
                "engine": "cometbft",
                "api": "[::1]:26659",
                "abci": "tcp://127.0.0.1:26658",
                "cometbft_rpc": "http://127.0.0.1:26657",
            }
        )
    )
    (tmp_path / "genesis.json").write_text("{}")
    status = home_status(tmp_path)  # nothing runs there: no process is asked
    assert (status["name"], status["running"]) == ("City Hall", False)
    assert status["api"] == "http://[::1]:26659"
