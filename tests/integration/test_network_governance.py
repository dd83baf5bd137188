"""Governance end to end on a real 4-validator CometBFT network, through the CLI.

Four members vote a fifth organisation in: its node, started beforehand as a non-validator,
syncs, then CometBFT's validator set grows to five and the new key signs commits. A proposal
without enough votes changes nothing. Later the five vote it out: the set shrinks back to four
and its key stops signing. Blocks keep coming throughout and all nodes agree.

It runs last on the session's shared network (tests/integration/conftest.py): it changes the
validator set's history for good and leaves the fifth node in the network.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

import pytest
from netutil import (
    FAST_KDF,
    PASSWORD,
    TIMEOUT_COMMIT,
    TIMEOUT_PROPOSE,
    Network,
    requires_cometbft,
    wait_until,
)

from citychain.cli.main import main as cli
from citychain.client import verify_bundle
from citychain.genesis import Genesis
from citychain.home import Home
from citychain.net.create import NetOptions, add_node

pytestmark = [
    pytest.mark.network,
    pytest.mark.slow,
    pytest.mark.xdist_group("network"),
    requires_cometbft,
]

NEWCOMER = "University Hospital"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    code = cli([*args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    doc: dict[str, Any] = json.loads(out.out)
    return doc


def validator_addresses(net: Network, node: int) -> dict[str, int]:
    """CometBFT's current validator set on ``node``: address -> power."""
    result = net.rpc(node, "validators", per_page=100)
    return {v["address"]: int(v["voting_power"]) for v in result["validators"]}


def signers(net: Network, node: int, height: int) -> set[str]:
    """Validator addresses whose COMMIT signatures are in the commit of ``height``."""
    commit = net.rpc(node, "commit", height=height)["signed_header"]["commit"]
    return {s["validator_address"] for s in commit["signatures"] if s["block_id_flag"] == 2}


def consensus_address(public_key_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_key_hex)).digest()[:20].hex().upper()


@pytest.mark.consortium("membership")
def test_members_vote_a_fifth_in_and_out(
    consortium: Network, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYCHAIN_PASSWORD", PASSWORD)
    net = consortium

    def on(node: int, *args: str) -> dict[str, Any]:
        """A CLI command pointed at node ``node``; as its member's operator for a tx."""
        sign = ("--from", "operator") if args[0] == "tx" and "--from" not in args else ()
        return run_cli(capsys, *args, *sign, "--node-dir", str(net.node_dir(node)))

    def vote(node: int, proposal: int) -> dict[str, Any]:
        return on(node, "tx", "consortium", "vote", str(proposal), "--yes")

    # The newcomer's node: same genesis, peers with everyone, not yet a validator.
    spec, operator, pub = add_node(
        net.layout.path,
        password=PASSWORD,
        name=NEWCOMER,
        options=NetOptions(
            kdf_limits=FAST_KDF, timeout_commit=TIMEOUT_COMMIT, timeout_propose=TIMEOUT_PROPOSE
        ),
    )
    net.specs.append(spec)
    net.start(4)
    newcomer = consensus_address(pub.hex())
    height = net.common_height(range(4))
    net.wait_for_height(height + 1, [4], timeout=60)  # it synced by replaying blocks
    assert newcomer not in validator_addresses(net, 0)
    # Its operator pays fees for its votes: the issuer sends it some currency.
    on(0, "tx", "bank", "send", operator, "5000", "--from", "issuer")

    # A proposal without enough votes changes nothing.
    grant = ("grant-role", "--role", "registrar", "--address", operator)
    lonely = on(0, "tx", "consortium", "propose", *grant)["proposal_id"]
    vote(1, lonely)
    assert operator not in json.dumps(on(2, "query", "consortium", "roles"))
    assert on(3, "query", "consortium", "proposal", str(lonely))["status"] == "open"

    # Admission: proposed by City Hall, approved by two more of four (30 of 40 > 2/3).
    admit = on(
        0, "tx", "consortium", "propose", "admit-member", "--name", NEWCOMER,
        "--operator", operator, "--validator-key", pub.hex(), "--power", "10",
    )["proposal_id"]  # fmt: skip
    vote(1, admit)
    passed = vote(2, admit)

    def admitted() -> bool:  # the newcomer's node may be a block behind
        members = on(4, "query", "consortium", "members")["members"]
        return NEWCOMER in [m["name"] for m in members if m["status"] == "active"]

    wait_until(admitted, 30, "node4 to see the admission")

    # CometBFT applies the update two blocks later; then the newcomer signs commits.
    wait_until(lambda: newcomer in validator_addresses(net, 3), 30, "the newcomer to validate")
    joined = int(passed["height"]) + 2
    net.wait_for_height(joined + 4, range(5), timeout=60)
    signed = set().union(*(signers(net, 0, h) for h in range(joined + 1, joined + 4)))
    assert newcomer in signed, "the admitted member's validator never signed a commit"

    # Removal: now five members (50); four must approve (40 > 33.3), three are not enough.
    remove = on(1, "tx", "consortium", "propose", "remove-member", "--name", NEWCOMER)
    vote(2, remove["proposal_id"])
    vote(3, remove["proposal_id"])
    assert newcomer in validator_addresses(net, 0), "three of five must not remove a member"
    gone = vote(4, remove["proposal_id"])  # the member itself may vote for its removal
    wait_until(lambda: newcomer not in validator_addresses(net, 2), 30, "the removal")
    left = int(gone["height"]) + 2
    net.wait_for_height(left + 4, range(4), timeout=60)
    later = set().union(*(signers(net, 1, h) for h in range(left + 2, left + 4)))
    assert newcomer not in later, "a removed member's validator still signs"
    assert len(validator_addresses(net, 1)) == 4

    # Everyone, the newcomer's node included, agrees on every block.
    net.assert_agreement(range(5))
    # A proof taken now verifies offline from the genesis validators alone: the bundle
    # carries the headers where the set changed (4 -> 5 -> 4), and the light client
    # follows them.
    genesis = Genesis.load(Home(net.node_dir(0)).genesis_file)
    trusted = [(v.public_key, v.power) for v in genesis.validators]
    bundle = on(4, "query", "bank", "balance", operator, "--prove")["proof"]
    assert len(bundle["trust_chain"]) == 2
    result = verify_bundle(bundle, trusted)
    assert result.valid, result.reason
    assert result.details["validators_from"] == "genesis"
    # The headers of the changes are checked too: a forged signature in one is refused.
    forged = copy.deepcopy(bundle)
    commit = forged["trust_chain"][0]["signed_header"]["commit"]
    slot = next(sig for sig in commit["signatures"] if sig["signature"])
    raw = bytearray(base64.b64decode(slot["signature"]))
    raw[0] ^= 1
    slot["signature"] = base64.b64encode(bytes(raw)).decode()
    refused = verify_bundle(forged, trusted)
    assert not refused.valid and "trust_chain[0]" in refused.reason, refused.reason
    # The admitted key really is the one in the newcomer's CometBFT home.
    key_file = net.layout.cometbft_home(4) / "config" / "priv_validator_key.json"
    assert base64.b64decode(json.loads(key_file.read_text())["pub_key"]["value"]) == pub
