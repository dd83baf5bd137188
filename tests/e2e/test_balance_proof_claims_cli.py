"""``query bank balance --prove`` and ``verify proof`` on a solo node, through the command
(issue 13, "Proof files say more than they prove"): what the command prints and what ``--out``
writes are one document, which ``verify proof`` accepts; the same file with its ``balance``,
its claim's ``amount`` (250 -> 251), an ``address``, the height or a validator's name changed
is refused with exit 1 and the reason. The CometBFT side is in
tests/integration/test_network_proofs.py."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cliutil import in_process, in_process_ok, node_process

CHAIN_ID = "proof-claims-chain"
BALANCE = 250


@dataclass
class Chain:
    home: Path
    work: Path
    bob: str
    issuer: str


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    work = tmp_path_factory.mktemp("proof-claims")
    home = work / "home"
    init = in_process_ok("init", "--home", home, "--chain-id", CHAIN_ID, "--json").json()
    with node_process(home, work):
        bob = in_process_ok("keys", "add", "bob", "--home", home).stdout.strip()
        minted = in_process_ok(
            "tx", "bank", "mint", bob, str(BALANCE), "--from", "issuer", "--home", home, "--json"
        ).json()
        assert minted["code"] == 0
        yield Chain(home, work, bob, init["addresses"]["issuer"])


@pytest.fixture(scope="module")
def answer(chain: Chain) -> dict[str, Any]:
    """The printed answer, after checking that --out wrote the very same document."""
    out = chain.work / "bob.json"
    printed = in_process_ok(
        "query", "bank", "balance", "bob", "--prove", "--out", out, "--home", chain.home
    )
    assert json.loads(out.read_text()) == printed.json()
    assert out.read_text() == printed.stdout
    doc: dict[str, Any] = printed.json()
    assert doc["balance"] == BALANCE and doc["proof"]["claim"]["amount"] == BALANCE
    return doc


def test_the_printed_answer_and_the_out_file_verify(chain: Chain, answer: dict[str, Any]) -> None:
    printed = chain.work / "printed.json"
    printed.write_text(json.dumps(answer))
    for name in (printed, chain.work / "bob.json"):
        run = in_process_ok("verify", "proof", name, "--home", chain.home)
        assert f"valid: {chain.bob} holds {BALANCE} ccy" in run.stdout
    bundle = chain.work / "bundle.json"
    bundle.write_text(json.dumps(answer["proof"]))
    in_process_ok("verify", "proof", bundle, "--home", chain.home)
    piped = in_process("verify", "proof", "-", "--home", chain.home, stdin=json.dumps(answer))
    assert piped.returncode == 0, piped.stderr


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        container: Any = doc
        for step in path[:-1]:
            container = container[step]
        container[path[-1]] = value

    return change


def _both_251(doc: dict[str, Any]) -> None:
    doc["balance"] = BALANCE + 1
    doc["proof"]["claim"]["amount"] = BALANCE + 1


# (what, change, the phrase of the refusal, refused without a trusted genesis too)
TAMPERINGS: list[tuple[str, Callable[[dict[str, Any]], None], str, bool]] = [
    ("balance 250 -> 251", _set(("balance",), BALANCE + 1), "the answer says balance 251", True),
    (
        "claim amount 250 -> 251",
        _set(("proof", "claim", "amount"), BALANCE + 1),
        "claim says balance 251",
        True,
    ),
    ("balance and claim amount", _both_251, "251", True),
    ("height", _set(("height",), 10**6), "the answer says height 1000000", True),
    ("a field more", _set(("verified_by",), "the city"), "the answer states 'verified_by'", True),
    ("bundle height", _set(("proof", "height"), 10**6), "bundle says 1000000", True),
    ("validator name", _set(("proof", "validators", 0, "name"), "mallory"), "'mallory'", False),
]


@pytest.mark.parametrize(
    ("what", "change", "reason", "untrusted_too"), TAMPERINGS, ids=[t[0] for t in TAMPERINGS]
)
def test_a_changed_field_is_refused(
    chain: Chain,
    answer: dict[str, Any],
    what: str,
    change: Callable[[dict[str, Any]], None],
    reason: str,
    untrusted_too: bool,
) -> None:
    doc = copy.deepcopy(answer)
    change(doc)
    _refused(chain, doc, reason, untrusted_too)


@pytest.mark.parametrize("where", ["answer", "claim"])
def test_another_address_is_refused(chain: Chain, answer: dict[str, Any], where: str) -> None:
    doc = copy.deepcopy(answer)
    if where == "answer":
        doc["address"] = chain.issuer
    else:
        doc["proof"]["claim"]["address"] = chain.issuer
    _refused(chain, doc, "address", True)


def _refused(chain: Chain, doc: dict[str, Any], reason: str, untrusted_too: bool) -> None:
    bad = chain.work / "tampered.json"
    bad.write_text(json.dumps(doc))
    trusts: list[list[str | Path]] = [["--home", chain.home]] + ([[]] if untrusted_too else [])
    for trust in trusts:
        run = in_process("verify", "proof", bad, *trust)
        assert run.returncode == 1, f"accepted: {run.stdout}"
        assert "error: invalid proof:" in run.stderr and reason in run.stderr, run.stderr
        assert "valid:" not in run.stdout
