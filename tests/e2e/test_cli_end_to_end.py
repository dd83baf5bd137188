"""End to end through the ``citychain`` command against a real node process (issue 2, item 9).

The must-show: init a home, start the node, two wallets funded by the issuer, a payment and its
receipt, a balance proof that ``verify proof`` accepts and rejects after one byte of the proof,
the header or the signature changes, or against another chain's genesis. Also the payment
request flow and a refused overdraft (bank/3).

The node is a real ``citychain start`` process. Commands run in this process through
``citychain.cli.main.main`` (cliutil.in_process: no terminal, output captured, no traceback);
a few run as real subprocesses, exactly as a user's script runs them, where the exit status and
output a shell sees are the point: a payment (exit 0, its receipt lines), an overdraft and a
proof checked against another chain (exit 1, ``error:`` on stderr), an unreachable node.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cliutil import Run, cli, in_process, in_process_ok, node_process, ok

CHAIN_ID = "e2e-cli-chain"


@dataclass
class Chain:
    home: Path
    work: Path
    addresses: dict[str, str]

    def tx(self, *args: str | Path) -> Run:
        return in_process("tx", "bank", *args, "--home", self.home, "--json")

    def balance(self, who: str) -> int:
        return int(
            in_process_ok("query", "bank", "balance", who, "--home", self.home).json()["balance"]
        )

    def height(self) -> int:
        return int(in_process_ok("status", "--home", self.home, "--json").json()["height"])


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    work = tmp_path_factory.mktemp("cli-e2e")
    home = work / "home"
    init = in_process_ok("init", "--home", home, "--chain-id", CHAIN_ID, "--json").json()
    assert init["chain_id"] == CHAIN_ID
    assert set(init["addresses"]) >= {"issuer", "kyc", "validator"}
    with node_process(home, work):
        yield Chain(home, work, dict(init["addresses"]))


@pytest.fixture(scope="module")
def wallets(chain: Chain) -> dict[str, str]:
    """alice and bob, created with ``keys add`` and funded by the issuer with ``tx bank mint``."""
    addresses = {}
    for name in ("alice", "bob"):
        added = in_process_ok("keys", "add", name, "--home", chain.home)
        address = added.stdout.strip()
        assert address.startswith("city1")
        # The new key's BIP-39 words are shown once, on stderr: 24 words on one line.
        assert any(len(line.split()) == 24 for line in added.stderr.splitlines())
        addresses[name] = address
    minted = chain.tx("mint", "alice", "50000", "--from", "issuer")
    assert minted.returncode == 0, minted.stderr
    assert minted.json()["code"] == 0 and minted.json()["height"] >= 1
    minted = chain.tx("mint", addresses["bob"], "10000", "--from", "issuer")
    assert minted.returncode == 0, minted.stderr
    return addresses


def _flip_hex(text: str, index: int) -> str:
    """Change one byte of a hex string: the byte at ``index`` (negative counts from the end)."""
    raw = bytearray.fromhex(text)
    raw[index] ^= 0x01
    return raw.hex()


# --- the must-show --------------------------------------------------------------------------


def test_keys_list_and_show_name_the_new_wallets(chain: Chain, wallets: dict[str, str]) -> None:
    listed = {
        k["name"]: k["address"]
        for k in in_process_ok("keys", "list", "--home", chain.home, "--json").json()
    }
    assert listed["alice"] == wallets["alice"] and listed["bob"] == wallets["bob"]
    assert listed["issuer"] == chain.addresses["issuer"]
    shown = in_process_ok("keys", "show", "bob", "--home", chain.home, "--address")
    assert shown.stdout.strip() == wallets["bob"]


def test_payment_receipt_and_balance_proof(chain: Chain, wallets: dict[str, str]) -> None:
    alice_before, bob_before = chain.balance("alice"), chain.balance("bob")

    # A real process: exit 0 and the receipt's lines, as a user's script gets them.
    sent = ok("tx", "bank", "send", "bob", "1250", "--from", "alice", "--home", chain.home)
    lines = dict(line.split(None, 1) for line in sent.stdout.splitlines())
    tx_hash, height = lines["hash"], int(lines["height"])
    assert len(tx_hash) == 64

    receipt = in_process_ok("query", "tx", tx_hash, "--home", chain.home).json()
    assert receipt["height"] == height
    assert receipt["result"]["code"] == 0
    assert receipt["tx"]["sender"] == wallets["alice"]
    transfer = next(e for e in receipt["result"]["events"] if e["type"] == "transfer")
    assert transfer["attributes"]["recipient"] == wallets["bob"]
    assert transfer["attributes"]["amount"] == 1250
    assert chain.balance("alice") == alice_before - 1250 - 1  # the fee is 1
    assert chain.balance("bob") == bob_before + 1250

    proof_file = chain.work / "p.json"
    answer = in_process_ok(
        "query", "bank", "balance", "bob", "--prove", "--out", proof_file, "--home", chain.home
    ).json()
    assert answer["balance"] == bob_before + 1250
    # --out writes the very document the command prints (the balance and its bundle).
    assert json.loads(proof_file.read_text()) == answer
    bundle = answer["proof"]
    assert {"header", "signature", "proof", "value"} <= set(bundle)

    verified = in_process_ok("verify", "proof", proof_file, "--home", chain.home, "--json").json()
    assert verified["valid"] is True
    assert verified["details"]["claim"]["amount"] == bob_before + 1250
    assert verified["details"]["validators_from"] == "genesis"
    in_process_ok("verify", "proof", proof_file, "--genesis", chain.home / "genesis.json")

    # Without a trusted genesis it still checks, and says whose validators it trusted.
    untrusted = in_process_ok("verify", "proof", proof_file)
    assert "valid" in untrusted.stdout and "bundle's own validator list" in untrusted.stderr

    # The whole `query bank balance --prove` answer is accepted as well as the bare bundle.
    whole = chain.work / "answer.json"
    whole.write_text(json.dumps(answer))
    in_process_ok("verify", "proof", whole, "--home", chain.home)


# Header layout (canonical encoding of citychain.block.Header): ... app_hash (32) then the
# 2-byte tag and 32 bytes of the proposer, so byte -40 is inside the app hash and -1 is the last
# byte of the proposer's key.
TAMPERINGS = [
    # (what, field path in the bundle, byte index, expected reason)
    ("a branch hash", ("proof", "branches", 0, 0), 5, "Merkle proof does not verify"),
    ("the header's app hash", ("header",), -40, "header signature does not verify"),
    ("the header's proposer", ("header",), -1, "not a trusted validator"),
    ("the signature", ("signature",), 10, "header signature does not verify"),
    ("the proven value", ("value",), -1, "Merkle proof does not verify"),
]


def _change_byte(bundle: dict[str, Any], path: tuple[str | int, ...], index: int) -> None:
    container: Any = bundle
    for step in path[:-1]:
        container = container[step]
    container[path[-1]] = _flip_hex(container[path[-1]], index)


@pytest.mark.parametrize(
    ("what", "path", "index", "reason"), TAMPERINGS, ids=[t[0] for t in TAMPERINGS]
)
def test_verify_rejects_a_changed_byte(
    chain: Chain,
    wallets: dict[str, str],
    what: str,
    path: tuple[str | int, ...],
    index: int,
    reason: str,
) -> None:
    answer = in_process_ok(
        "query", "bank", "balance", "bob", "--prove", "--home", chain.home
    ).json()
    bundle = answer["proof"]
    _change_byte(bundle, path, index)
    bad = chain.work / "tampered.json"
    bad.write_text(json.dumps(bundle))
    for trust in (["--home", str(chain.home)], []):
        run = in_process("verify", "proof", bad, *trust)
        assert run.returncode == 1, f"{what}: accepted"
        assert "error: invalid proof:" in run.stderr and reason in run.stderr, run.stderr
    as_json = in_process("verify", "proof", bad, "--home", chain.home, "--json")
    assert as_json.returncode == 1 and as_json.json()["valid"] is False


def test_verify_against_another_chains_genesis_fails(chain: Chain, wallets: dict[str, str]) -> None:
    proof_file = chain.work / "p-other.json"
    in_process_ok("query", "bank", "balance", "alice", "--out", proof_file, "--home", chain.home)
    other = chain.work / "other-home"
    in_process_ok("init", "--home", other, "--chain-id", "another-chain")
    run = cli("verify", "proof", proof_file, "--genesis", other / "genesis.json")  # a process
    assert run.returncode == 1
    assert "not a trusted validator" in run.stderr


# --- payment requests and refusals ------------------------------------------------------------


def test_payment_request_pay_and_refund(chain: Chain, wallets: dict[str, str]) -> None:
    expiry = chain.height() + 1000
    made = in_process_ok(
        "tx",
        "bank",
        "request",
        "500",
        "--expiry-height",
        str(expiry),
        "--memo",
        "coffee",
        "--from",
        "bob",
        "--home",
        chain.home,
    )
    fields = dict(line.split(None, 1) for line in made.stdout.splitlines())
    request_id = fields["request_id"]
    assert len(request_id) == 32
    request = in_process_ok("query", "request", request_id, "--home", chain.home).json()
    assert (request["status"], request["amount"], request["memo"]) == ("open", 500, "coffee")
    assert request["merchant"] == wallets["bob"]

    alice_before, bob_before = chain.balance("alice"), chain.balance("bob")
    paid = chain.tx("pay", request_id, "--from", "alice")
    assert paid.returncode == 0, paid.stderr
    request = in_process_ok("query", "request", request_id, "--home", chain.home).json()
    assert (request["status"], request["paid_by"]) == ("paid", wallets["alice"])
    assert chain.balance("alice") == alice_before - 500 - 1
    assert chain.balance("bob") == bob_before + 500

    # Paid once, exactly: a second payment is refused and costs nothing.
    again = chain.tx("pay", request_id, "--from", "alice")
    assert again.returncode == 1 and "bank/9" in again.stderr

    refunded = chain.tx("refund", request_id, "200", "--from", "bob")
    assert refunded.returncode == 0, refunded.stderr
    assert (
        in_process_ok("query", "request", request_id, "--home", chain.home).json()["refunded"]
        == 200
    )
    assert chain.balance("alice") == alice_before - 500 - 1 + 200

    too_much = chain.tx("refund", request_id, "301", "--from", "bob")
    assert too_much.returncode == 1 and "bank/13" in too_much.stderr


def test_overdraft_is_refused_with_bank_3(chain: Chain, wallets: dict[str, str]) -> None:
    balance = chain.balance("bob")
    amount = balance + 1  # under the unverified tier's payment limit, over the balance
    assert amount <= 20_000
    # A real process: exit 1 and the refusal's lines on stderr, as a shell sees them.
    run = cli("tx", "bank", "send", "alice", str(amount), "--from", "bob", "--home", chain.home)
    assert run.returncode == 1
    assert "bank/3" in run.stderr
    assert "code:      3" in run.stderr and "codespace: bank" in run.stderr
    assert "log:" in run.stderr
    as_json = chain.tx("send", "alice", str(amount), "--from", "bob")
    assert as_json.returncode == 1
    assert (as_json.json()["code"], as_json.json()["codespace"]) == (3, "bank")
    assert chain.balance("bob") == balance


def test_multi_send_set_tier_burn_and_reads(chain: Chain, wallets: dict[str, str]) -> None:
    bob_before = chain.balance("bob")
    sent = chain.tx("multi-send", "bob:100", f"{chain.addresses['kyc']}:200", "--from", "alice")
    assert sent.returncode == 0, sent.stderr
    assert chain.balance("bob") == bob_before + 100

    tiered = chain.tx("set-tier", "bob", "1", "--from", "kyc")
    assert tiered.returncode == 0, tiered.stderr
    account = in_process_ok("query", "account", "bob", "--home", chain.home).json()
    assert account["tier"] == 1

    supply_before = in_process_ok("query", "supply", "--home", chain.home).json()["supply"]["ccy"]
    burned = chain.tx("burn", "1000", "--from", "issuer")
    assert burned.returncode == 0, burned.stderr
    supply = in_process_ok("query", "bank", "supply", "--home", chain.home).json()["supply"]
    assert supply["ccy"] == supply_before - 1000

    block = in_process_ok("query", "block", "--home", chain.home).json()
    assert block["height"] == chain.height()
    assert in_process_ok("query", "block", "1", "--home", chain.home).json()["height"] == 1
    history = in_process_ok("query", "txs", "bob", "--home", chain.home).json()["txs"]
    assert history and all(len(t["hash"]) == 64 for t in history)

    # A wallet that only knows the node's URL (--node) needs no home for reads.
    url = json.loads((chain.home / "node.json").read_text())["api"]
    assert in_process_ok("status", "--node", url, "--json").json()["chain_id"] == CHAIN_ID


def test_no_wait_returns_after_check_tx(chain: Chain, wallets: dict[str, str]) -> None:
    sent = chain.tx("send", "bob", "5", "--from", "alice", "--no-wait")
    assert sent.returncode == 0, sent.stderr
    tx_hash = sent.json()["hash"]
    deadline = time.monotonic() + 30
    while in_process("query", "tx", tx_hash, "--home", chain.home).returncode != 0:
        assert time.monotonic() < deadline, "the transaction never committed"
        time.sleep(0.1)


def test_node_unreachable_after_stop_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "idle"
    in_process_ok("init", "--home", home, "--api", "127.0.0.1:1")
    run = cli("status", "--home", home)  # a real process
    assert run.returncode == 1
    assert run.stderr.startswith("error: cannot reach the node")
