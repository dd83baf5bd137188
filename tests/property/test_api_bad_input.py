"""Bad input over HTTP against a real node (issue 2, "Must show": bad input).

Every refused transaction must come back with its documented code (citychain/tx/errors.py,
citychain/modules/bank/errors.py), change nothing (``check_tx`` refuses it before any block, so
the height, app hash, mempool, and the balances, tier and nonce of the accounts involved stay as
they were) and leave the node serving: after each test an autouse fixture checks /health and
commits a valid payment. A transaction that fails *inside* a block pays its fee; over HTTP that
cannot happen to these inputs, since check_tx runs the messages too and refuses them first.

Malformed HTTP (bad JSON, wrong content types, non-hex, oversized fields, bodies and batches, bad
path parameters) must get a 4xx with a JSON ``{"error": ...}`` body, never a 5xx.

tests/property/test_codec_props.py holds the same rules for the decoder in process; this file is
about what reaches the node through its real ingress (uvicorn, verifier workers, mempool).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from helpers import examples, key, sign_body, unsigned_body
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from citychain.app import DEFAULT_MODULES
from citychain.client import Client
from citychain.codec import U64_MAX, DecodeError, decode, encode
from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.errors import ErrorCode
from citychain.init_home import init_home
from citychain.modules.bank import errors as bank_errors
from citychain.modules.bank.messages import (
    ALL_MESSAGES,
    MsgMint,
    MsgMultiSend,
    MsgSend,
    MsgSetTier,
)
from citychain.sim.localnode import LocalNode
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import MAX_TX_BYTES, Message, TxRaw, address_of, sign_tx

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CHAIN_ID = "citychain-badinput"
PASSWORD = "pw"
# Tier 0 of DEFAULT_SECTION, in cents: at most 100 000 held and 20 000 per payment.
TIER0_MAX_BALANCE = 100_000
TIER0_MAX_PAYMENT = 20_000
PAYER = key("api-payer")  # tier 0, 50 000 at genesis; three payments committed by the fixture
POOR = key("api-poor")  # tier 0, 1 000
NEAR_CAP = key("api-near-cap")  # tier 0, 90 000: more than 10 000 in breaks the balance limit
EMPTY = key("api-empty")  # never funded
SINK = address_of(key("api-sink").public_key)
GENESIS_BALANCES = {PAYER: 50_000, POOR: 1_000, NEAR_CAP: 90_000}
MAX_HEX_CHARS = 40_000  # TxIn.tx max_length in citychain/node/api.py
MAX_BATCH = 5_000  # citychain/node/routes/chain.py: one block (max_block_txs)
MAX_BODY_BYTES = 4 * 1024 * 1024  # citychain/node/settings.py
MAX_QUEUED_PER_SENDER = 64  # Mempool default: a nonce further ahead is refused, not queued

PROPERTY = settings(
    max_examples=examples(40),
    deadline=None,
    # One node serves the whole module; the autouse check after each test is meant to run once.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEW = settings(PROPERTY, max_examples=examples(10))

printable = st.characters(exclude_categories=("Cs",))  # msgpack str cannot hold surrogates


@dataclass
class Env:
    node: LocalNode
    client: Client
    http: httpx.Client
    issuer: PrivateKey
    kyc: PrivateKey
    committed: list[bytes]  # PAYER's transactions already in blocks

    def nonce(self, signer: PrivateKey) -> int:
        return self.client.nonce(address_from_public_key(signer.public_key))

    def balance(self, signer: PrivateKey) -> int:
        return int(self.client.balance(address_from_public_key(signer.public_key))["balance"])

    def tx(self, signer: PrivateKey, *messages: Message, **options: Any) -> bytes:
        """A transaction signed by ``signer``; nonce defaults to its next one, fee to 1."""
        options.setdefault("chain_id", CHAIN_ID)
        options.setdefault("fee", 1)
        if options.get("nonce") is None:
            options["nonce"] = self.nonce(signer)
        return sign_tx(signer, messages=messages, **options)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home_dir = tmp_path_factory.mktemp("bad-input") / "home"
    home, _, _ = init_home(
        home_dir,
        password=PASSWORD,
        chain_id=CHAIN_ID,
        kdf_limits=(1, 8192),
        extra_balances=[
            {"address": address_from_public_key(k.public_key), "denom": "ccy", "amount": amount}
            for k, amount in GENESIS_BALANCES.items()
        ],
    )
    keystore = Keystore(home.keys_dir)
    with LocalNode(home_dir) as node, httpx.Client(base_url=node.url, timeout=120) as http:
        setup = Env(
            node,
            node.client,
            http,
            keystore.load("issuer", PASSWORD),
            keystore.load("kyc", PASSWORD),
            [],
        )
        for amount in (1, 2, 3):
            raw = setup.tx(PAYER, MsgSend(SINK, "ccy", amount))
            result = setup.client.broadcast(raw, wait=True)
            assert result["code"] == 0 and result["height"], result
            setup.committed.append(raw)
        yield setup


@pytest.fixture(autouse=True)
def node_keeps_running(env: Env) -> Iterator[None]:
    """After each test: the node answers and a valid payment still commits."""
    yield
    assert env.client.health()["status"] == "ok"
    result = env.client.broadcast(env.tx(env.issuer, MsgSend(SINK, "ccy", 1)), wait=True)
    assert result["code"] == 0 and result["height"] is not None, result
    assert env.client.status()["mempool_size"] == 0


# --- helpers -----------------------------------------------------------------------------------
def snapshot(env: Env, watch: Sequence[PrivateKey] = ()) -> dict[str, Any]:
    """What a refused transaction must not change."""
    status = env.client.status()
    state: dict[str, Any] = {k: status[k] for k in ("height", "app_hash", "mempool_size")}
    for signer in watch:
        account = env.client.account(address_from_public_key(signer.public_key))
        del account["height"]
        state[account["address"]] = account
    return state


def expect_refused(
    env: Env,
    raw: bytes,
    error: ErrorCode | Sequence[ErrorCode],
    watch: Sequence[PrivateKey] = (),
) -> dict[str, Any]:
    """Submit ``raw``: it must be refused with ``error`` and change nothing about the chain, the
    mempool or the ``watch``ed accounts.

    ``mode=sync`` answers right after check_tx, so a transaction wrongly admitted shows up at
    once (code 0, then a mempool or height change) instead of after the 30 s commit wait; the
    autouse fixture then sees it in the mempool if it is still there."""
    allowed = [error] if isinstance(error, ErrorCode) else list(error)
    before = snapshot(env, watch)
    result = env.client.broadcast(raw, wait=False)
    assert (result["codespace"], result["code"]) in [(e.codespace, e.code) for e in allowed], result
    assert result["height"] is None, result
    assert snapshot(env, watch) == before
    return result


def assert_json_error(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    assert isinstance(body["error"].get("message"), str) and body["error"]["message"]
    return body


def assert_no_server_error(response: httpx.Response) -> None:
    """Any 4xx carries a JSON error; a 200 from a submit endpoint admits nothing."""
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert_json_error(response, response.status_code)
    elif response.status_code == 200:
        body = response.json()
        results = body.get("results", [body])
        assert all(r["code"] != 0 for r in results), body


def send_body(amount: bytes) -> bytes:
    """A hand-made MsgSend (fixarray 3: bin8 recipient, fixstr "ccy", ``amount`` as given)."""
    return b"\x93\xc4\x14" + SINK + b"\xa3ccy" + amount


# --- the envelope: bytes that are not a transaction --------------------------------------------
@PROPERTY
@given(raw=st.binary(max_size=4096))
def test_random_bytes_are_malformed(env: Env, raw: bytes) -> None:
    expect_refused(env, raw, tx_errors.MALFORMED)


@PROPERTY
@given(data=st.data())
def test_truncated_or_extended_transaction_is_malformed(env: Env, data: st.DataObject) -> None:
    raw = env.tx(PAYER, MsgSend(SINK, "ccy", 5))
    if data.draw(st.booleans(), label="truncate"):
        changed = raw[: data.draw(st.integers(0, len(raw) - 1), label="keep")]
    else:
        changed = raw + data.draw(st.binary(min_size=1, max_size=64), label="suffix")
    expect_refused(env, changed, tx_errors.MALFORMED, watch=[PAYER])


@FEW
@given(extra=st.integers(1, 2 * MAX_HEX_CHARS))
def test_oversized_transaction_is_too_large(env: Env, extra: int) -> None:
    """Past MAX_TX_BYTES the node refuses with tx/2; past what the API field holds, 422."""
    base = len(env.tx(PAYER, MsgSend(SINK, "ccy", 5)))
    raw = env.tx(PAYER, MsgSend(SINK, "ccy", 5), memo="m" * (MAX_TX_BYTES - base + extra))
    assert len(raw) > MAX_TX_BYTES
    if 2 * len(raw) <= MAX_HEX_CHARS:
        expect_refused(env, raw, tx_errors.TOO_LARGE, watch=[PAYER])
    else:
        before = snapshot(env, [PAYER])
        for path, body in (("/txs", {"tx": raw.hex()}), ("/txs/batch", {"txs": [raw.hex()]})):
            assert_json_error(env.http.post(path, json={**body, "mode": "commit"}), 422)
        assert snapshot(env, [PAYER]) == before


@FEW
@given(count=st.integers(0, 3))
def test_transaction_without_messages_is_refused(env: Env, count: int) -> None:
    raw = env.tx(PAYER)
    if count:  # or with messages of an empty type name, which the envelope refuses to decode
        body = unsigned_body(PAYER, [("", encode(None))] * count, chain_id=CHAIN_ID)
        raw = sign_body(PAYER, body)
        expect_refused(env, raw, tx_errors.MALFORMED, watch=[PAYER])
    else:
        expect_refused(env, raw, tx_errors.NO_MESSAGES, watch=[PAYER])


# --- the ante step -----------------------------------------------------------------------------
@PROPERTY
@given(chain_id=st.text(printable, min_size=1, max_size=64).filter(lambda c: c != CHAIN_ID))
def test_wrong_chain_id(env: Env, chain_id: str) -> None:
    raw = env.tx(PAYER, MsgSend(SINK, "ccy", 5), chain_id=chain_id)
    expect_refused(env, raw, tx_errors.WRONG_CHAIN, watch=[PAYER])


@PROPERTY
@given(byte=st.integers(0, 63), bit=st.integers(0, 7), other_signer=st.booleans())
def test_bad_signature(env: Env, byte: int, bit: int, other_signer: bool) -> None:
    raw = env.tx(PAYER, MsgSend(SINK, "ccy", 5))
    envelope = decode(raw, TxRaw)
    if other_signer:  # a real signature, by a key that is not the sender's
        forged = encode(TxRaw(envelope.body, sign_body(EMPTY, envelope.body)[-64:]))
    else:
        signature = bytearray(envelope.signature)
        signature[byte] ^= 1 << bit
        forged = encode(TxRaw(envelope.body, bytes(signature)))
    expect_refused(env, forged, tx_errors.BAD_SIGNATURE, watch=[PAYER, EMPTY])


@PROPERTY
@given(data=st.data())
def test_changed_body_byte(env: Env, data: st.DataObject) -> None:
    """One byte of the signed body changed: it no longer decodes, or its signature fails."""
    raw = env.tx(PAYER, MsgSend(SINK, "ccy", 5))
    envelope = decode(raw, TxRaw)
    body = bytearray(envelope.body)
    body[data.draw(st.integers(0, len(body) - 1), label="at")] ^= data.draw(
        st.integers(1, 255), label="xor"
    )
    forged = encode(TxRaw(bytes(body), envelope.signature))
    codes = [tx_errors.MALFORMED, tx_errors.NO_MESSAGES, tx_errors.BAD_SIGNATURE]
    expect_refused(env, forged, codes, watch=[PAYER])


@PROPERTY
@given(data=st.data())
def test_replayed_nonce(env: Env, data: st.DataObject) -> None:
    """The same bytes again, or new bytes with a used nonce: tx/5."""
    if data.draw(st.booleans(), label="same bytes"):
        raw = data.draw(st.sampled_from(env.committed), label="committed tx")
    else:
        nonce = data.draw(st.integers(0, env.nonce(PAYER) - 1), label="used nonce")
        raw = env.tx(PAYER, MsgSend(SINK, "ccy", data.draw(st.integers(1, 50))), nonce=nonce)
    expect_refused(env, raw, tx_errors.NONCE_USED, watch=[PAYER])


@FEW
@given(ahead=st.integers(MAX_QUEUED_PER_SENDER + 1, 2**40))
def test_nonce_far_ahead_is_refused_not_queued(env: Env, ahead: int) -> None:
    raw = env.tx(PAYER, MsgSend(SINK, "ccy", 5), nonce=env.nonce(PAYER) + ahead)
    expect_refused(env, raw, tx_errors.NONCE_GAP, watch=[PAYER])


@FEW
@given(data=st.data())
def test_expired_transaction(env: Env, data: st.DataObject) -> None:
    height = env.client.status()["height"]
    expiry = data.draw(st.integers(1, height), label="expiry height")
    raw = env.tx(PAYER, MsgSend(SINK, "ccy", 5), expiry_height=expiry)
    expect_refused(env, raw, tx_errors.EXPIRED, watch=[PAYER])


def test_fee_below_minimum(env: Env) -> None:
    expect_refused(env, env.tx(PAYER, MsgSend(SINK, "ccy", 5), fee=0), tx_errors.FEE_TOO_LOW)


@FEW
@given(fee=st.integers(1, U64_MAX), poor=st.booleans())
def test_fee_unpayable(env: Env, fee: int, poor: bool) -> None:
    """An unfunded account cannot pay any fee; a poor one cannot pay more than it holds."""
    signer = POOR if poor else EMPTY
    if poor:
        fee = max(fee, GENESIS_BALANCES[POOR] + 1)
    raw = env.tx(signer, MsgSend(SINK, "ccy", 1), fee=fee)
    expect_refused(env, raw, tx_errors.FEE_UNPAYABLE, watch=[signer])


@PROPERTY
@given(
    type_name=st.text(printable, min_size=1, max_size=64).filter(
        lambda t: t not in {m.TYPE for m in ALL_MESSAGES}
    ),
    body=st.sampled_from([encode(None), encode([1, 2]), send_body(b"\x05")]),
)
def test_unknown_message_type(env: Env, type_name: str, body: bytes) -> None:
    raw = sign_body(
        PAYER, unsigned_body(PAYER, [(type_name, body)], nonce=env.nonce(PAYER), chain_id=CHAIN_ID)
    )
    expect_refused(env, raw, tx_errors.UNKNOWN_MESSAGE, watch=[PAYER])


# Message types whose route names a role (PAYER holds none).
PRIVILEGED = {route.type for module in DEFAULT_MODULES for route in module.routes if route.role}

msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), U64_MAX)
    | st.floats()
    | st.text(printable, max_size=20)
    | st.binary(max_size=40),
    lambda children: st.lists(children, max_size=6),
    max_leaves=12,
)


@PROPERTY
@given(message=st.sampled_from(ALL_MESSAGES), value=msgpack_values)
def test_malformed_message_body(env: Env, message: type[Message], value: Any) -> None:
    body = encode(value)
    try:
        decode(body, message)
    except DecodeError:
        pass
    else:
        assume(False)  # by chance a well-formed message: not what this test is about
    raw = sign_body(
        PAYER,
        unsigned_body(PAYER, [(message.TYPE, body)], nonce=env.nonce(PAYER), chain_id=CHAIN_ID),
    )
    # A privileged type is refused for its missing role before its body is even decoded.
    error = tx_errors.UNAUTHORIZED if message.TYPE in PRIVILEGED else tx_errors.BAD_MESSAGE
    expect_refused(env, raw, error, watch=[PAYER])


def test_privileged_message_needs_its_role(env: Env) -> None:
    mint = MsgMint(address_of(PAYER.public_key), "ccy", 1_000)
    expect_refused(env, env.tx(PAYER, mint), tx_errors.UNAUTHORIZED, watch=[PAYER])
    tier = MsgSetTier(address_of(PAYER.public_key), 2)
    expect_refused(env, env.tx(PAYER, tier), tx_errors.UNAUTHORIZED, watch=[PAYER])


# --- amounts and the 64-bit bound --------------------------------------------------------------
@PROPERTY
@given(
    amount=st.one_of(
        # msgpack has no integer past 2**64 - 1, so an amount past the bound arrives as a
        # negative integer, a float, a string or bytes: none is a U64.
        st.integers(-(2**63), -1).map(encode),
        st.integers(2**64, 2**200).map(lambda n: b"\xcb" + struct.pack(">d", float(n))),
        st.integers(2**64, 2**200).map(lambda n: encode(str(n))),
        st.integers(2**64, 2**200).map(lambda n: encode(n.to_bytes((n.bit_length() + 7) // 8))),
        # A uint64 header followed by nine bytes: the amount takes eight, so one is left over.
        st.binary(min_size=9, max_size=9).map(lambda b: b"\xcf" + b),
    )
)
def test_amount_past_the_integer_bound(env: Env, amount: bytes) -> None:
    body = send_body(amount)
    raw = sign_body(
        PAYER,
        unsigned_body(PAYER, [("bank/send", body)], nonce=env.nonce(PAYER), chain_id=CHAIN_ID),
    )
    expect_refused(env, raw, [tx_errors.BAD_MESSAGE, tx_errors.MALFORMED], watch=[PAYER])


def test_amount_at_the_integer_bound_is_an_overdraft(env: Env) -> None:
    body = send_body(b"\xcf" + U64_MAX.to_bytes(8, "big"))
    assert decode(body, MsgSend).amount == U64_MAX
    raw = sign_body(
        PAYER,
        unsigned_body(PAYER, [("bank/send", body)], nonce=env.nonce(PAYER), chain_id=CHAIN_ID),
    )
    expect_refused(env, raw, bank_errors.INSUFFICIENT_FUNDS, watch=[PAYER])


@FEW
@given(first=st.integers(1, U64_MAX), data=st.data())
def test_multi_send_summing_past_the_bound(env: Env, first: int, data: st.DataObject) -> None:
    second = data.draw(st.integers(U64_MAX - first + 1, U64_MAX), label="second")
    outputs = ((SINK, first), (address_of(POOR.public_key), second))
    raw = env.tx(PAYER, MsgMultiSend("ccy", outputs))
    expect_refused(env, raw, bank_errors.BALANCE_OVERFLOW, watch=[PAYER, POOR])


@FEW
@given(data=st.data())
def test_mint_past_the_supply_bound(env: Env, data: st.DataObject) -> None:
    supply = env.client.supply()["ccy"]
    amount = data.draw(st.integers(U64_MAX - supply + 1, U64_MAX), label="amount")
    raw = env.tx(env.issuer, MsgMint(SINK, "ccy", amount))
    before_supply = env.client.supply()
    expect_refused(env, raw, bank_errors.SUPPLY_OVERFLOW, watch=[env.issuer])
    assert env.client.supply() == before_supply


@PROPERTY
@given(data=st.data())
def test_overdraft(env: Env, data: st.DataObject) -> None:
    """More than the balance left after the fee: bank/3, checked before any tier limit."""
    balance = env.balance(POOR)
    amount = data.draw(st.integers(balance, U64_MAX), label="amount")  # fee 1 leaves balance - 1
    raw = env.tx(POOR, MsgSend(SINK, "ccy", amount))
    expect_refused(env, raw, bank_errors.INSUFFICIENT_FUNDS, watch=[POOR])


# --- wallet tiers ------------------------------------------------------------------------------
@PROPERTY
@given(data=st.data())
def test_tier0_payment_limit(env: Env, data: st.DataObject) -> None:
    balance = env.balance(PAYER)
    assert balance > TIER0_MAX_PAYMENT + 1
    amount = data.draw(st.integers(TIER0_MAX_PAYMENT + 1, balance - 1), label="amount")
    raw = env.tx(PAYER, MsgSend(SINK, "ccy", amount))
    expect_refused(env, raw, bank_errors.TIER_PAYMENT_LIMIT, watch=[PAYER])


@PROPERTY
@given(data=st.data(), mint=st.booleans())
def test_tier0_balance_limit(env: Env, data: st.DataObject, mint: bool) -> None:
    """A payment, or a mint, that would take a tier-0 wallet past its balance cap."""
    room = TIER0_MAX_BALANCE - env.balance(NEAR_CAP)
    recipient = address_of(NEAR_CAP.public_key)
    if mint:
        amount = data.draw(st.integers(room + 1, 10**12), label="minted")
        raw = env.tx(env.issuer, MsgMint(recipient, "ccy", amount))
        watch = [env.issuer, NEAR_CAP]
    else:
        amount = data.draw(st.integers(room + 1, TIER0_MAX_PAYMENT), label="paid")
        raw = env.tx(PAYER, MsgSend(recipient, "ccy", amount))
        watch = [PAYER, NEAR_CAP]
    expect_refused(env, raw, bank_errors.TIER_BALANCE_LIMIT, watch=watch)


def test_verified_tier_lifts_the_payment_limit(env: Env) -> None:
    """The same payment refused to a tier-0 wallet commits once kyc moves it to tier 1."""
    wallet = key("api-verified")
    address = address_of(wallet.public_key)
    funded = env.client.broadcast(env.tx(env.issuer, MsgSend(address, "ccy", 30_000)), wait=True)
    assert funded["code"] == 0, funded
    payment = MsgSend(SINK, "ccy", TIER0_MAX_PAYMENT + 1)
    expect_refused(env, env.tx(wallet, payment), bank_errors.TIER_PAYMENT_LIMIT, watch=[wallet])
    verified = env.client.broadcast(env.tx(env.kyc, MsgSetTier(address, 1)), wait=True)
    assert verified["code"] == 0, verified
    paid = env.client.broadcast(env.tx(wallet, payment), wait=True)
    assert (paid["code"], paid["height"] is not None) == (0, True), paid
    assert env.balance(wallet) == 30_000 - (TIER0_MAX_PAYMENT + 1) - 1


def test_duplicate_in_one_batch(env: Env) -> None:
    """The second copy of a transaction in one batch is tx/13; the first one commits."""
    raw = env.tx(PAYER, MsgSend(SINK, "ccy", 7))
    first, second = env.client.broadcast_batch([raw, raw], wait=True)
    assert (first["code"], first["height"] is not None) == (0, True), first
    assert (second["codespace"], second["code"], second["height"]) == ("tx", 13, None), second


# --- malformed HTTP ----------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=15,
)
submit_documents = json_values | st.fixed_dictionaries(
    {},
    optional={
        "tx": json_values | st.text("0123456789abcdef", max_size=80),
        "txs": st.lists(json_values | st.text("0123456789abcdef", max_size=80), max_size=5),
        "mode": json_values | st.sampled_from(["sync", "commit"]),
    },
)


@PROPERTY
@given(path=st.sampled_from(["/txs", "/txs/batch"]), body=st.binary(max_size=512))
def test_arbitrary_bytes_as_json_body(env: Env, path: str, body: bytes) -> None:
    before = snapshot(env)
    response = env.http.post(path, content=body, headers={"content-type": "application/json"})
    assert_no_server_error(response)
    assert snapshot(env) == before


@PROPERTY
@given(path=st.sampled_from(["/txs", "/txs/batch"]), document=submit_documents)
def test_arbitrary_json_documents(env: Env, path: str, document: Any) -> None:
    before = snapshot(env)
    response = env.http.post(
        path, content=json.dumps(document), headers={"content-type": "application/json"}
    )
    assert_no_server_error(response)
    assert snapshot(env) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/octet-stream",
        "application/msgpack",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ],
)
def test_wrong_content_type(env: Env, content_type: str) -> None:
    """A valid transaction, sent as raw bytes, as form data or as JSON under another type."""
    raw = env.tx(PAYER, MsgSend(SINK, "ccy", 5))
    before = snapshot(env, [PAYER])
    bodies = [raw, f"tx={raw.hex()}&mode=commit".encode(), json.dumps({"tx": raw.hex()}).encode()]
    for path in ("/txs", "/txs/batch"):
        for body in bodies:
            response = env.http.post(path, content=body, headers={"content-type": content_type})
            assert_json_error(response, 400, 415, 422)
    assert snapshot(env, [PAYER]) == before


def _not_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return True
    return False


@PROPERTY
@given(text=st.text(max_size=200).filter(_not_hex), batch=st.booleans())
def test_non_hex_transaction(env: Env, text: str, batch: bool) -> None:
    before = snapshot(env)
    body = {"txs": ["00", text]} if batch else {"tx": text}
    response = env.http.post("/txs/batch" if batch else "/txs", json={**body, "mode": "commit"})
    assert "hex" in assert_json_error(response, 400)["error"]["message"]
    assert snapshot(env) == before


def test_huge_batches(env: Env) -> None:
    """Past MAX_BATCH: 422. At MAX_BATCH: every (malformed) transaction gets its code."""
    before = snapshot(env)
    response = env.http.post("/txs/batch", json={"txs": ["00"] * (MAX_BATCH + 1)})
    assert_json_error(response, 422)
    response = env.http.post("/txs/batch", json={"txs": ["00"] * MAX_BATCH, "mode": "commit"})
    assert response.status_code == 200, response.text[:500]
    results = response.json()["results"]
    assert len(results) == MAX_BATCH
    assert {(r["codespace"], r["code"], r["height"]) for r in results} == {("tx", 1, None)}
    assert env.http.post("/txs/batch", json={"txs": []}).json() == {"results": []}
    assert snapshot(env) == before


def test_body_over_the_limit(env: Env) -> None:
    before = snapshot(env)
    response = env.http.post(
        "/txs",
        content=b" " * (MAX_BODY_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert_json_error(response, 413)
    assert snapshot(env) == before


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("GET", "/txs/" + "zz" * 32, (422,)),
        ("GET", "/txs/" + "00" * 31, (422,)),
        ("GET", "/txs/" + "00" * 32, (404,)),
        ("GET", "/blocks/-1", (422,)),
        ("GET", "/blocks/" + "9" * 30, (422,)),
        ("GET", "/blocks?limit=0", (422,)),
        ("GET", "/blocks?before=abc", (422,)),
        ("GET", "/accounts/city1notanaddress", (400,)),
        ("GET", "/accounts/" + "x" * 101, (422,)),
        ("GET", "/state/abc", (422,)),
        ("GET", "/bank/requests/" + "00" * 15, (422,)),
        ("GET", "/bank/requests/" + "00" * 16, (404,)),
        ("GET", "/search/²", (404,)),  # a digit to str.isdigit, not to int(): was a 500
        ("GET", "/search/" + "٣" * 3, (404,)),
        ("GET", "/nowhere", (404,)),
        ("DELETE", "/txs", (405,)),
        ("PUT", "/blocks/1", (405,)),
    ],
)
def test_bad_paths_and_parameters(
    env: Env, method: str, path: str, statuses: tuple[int, ...]
) -> None:
    response = env.http.request(method, path)
    assert_json_error(response, *statuses)
    if response.status_code == 405:
        assert response.headers.get("allow"), "a 405 must list the allowed methods"
