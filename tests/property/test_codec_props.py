"""Properties of the canonical encoding and the envelope decoder (docs/encoding.md).

- decode(encode(x)) == x for every bank message, TxBody, TxRaw and Header;
- any bytes given to a decoder either raise its error or re-encode to exactly the same bytes
  (the canonical rule), for decode() and for decode_tx (errors tx/1, tx/2 or tx/11 only);
- truncations and one-byte changes of valid transactions never crash: they fail to decode, or
  they decode and check_tx refuses them (chain id or signature), changing no state;
- a transaction past MAX_TX_BYTES is tx/2.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from helpers import ALICE, BOB, CAROL, CHAIN_ID, Chain, addr, examples
from hypothesis import given, settings
from hypothesis import strategies as st

from citychain.block import Header
from citychain.codec import U64_MAX, DecodeError, decode, encode
from citychain.errors import CityError
from citychain.modules.bank.messages import (
    ALL_MESSAGES,
    MAX_OUTPUTS,
    MsgBurn,
    MsgCancelRequest,
    MsgCreateRequest,
    MsgMint,
    MsgMultiSend,
    MsgPayRequest,
    MsgRefund,
    MsgSend,
    MsgSetTier,
)
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import (
    MAX_MESSAGES,
    MAX_TX_BYTES,
    Message,
    TxBody,
    TxRaw,
    decode_tx,
    sign_tx,
)

DECODE_ERRORS = {tx_errors.MALFORMED.code, tx_errors.TOO_LARGE.code, tx_errors.NO_MESSAGES.code}

u64 = st.integers(min_value=0, max_value=U64_MAX)
# Small and boundary values as well, so that every MessagePack integer form turns up.
u64_forms = st.one_of(
    u64, st.sampled_from([0, 127, 128, 255, 256, 65_535, 65_536, 2**32 - 1, 2**32, U64_MAX])
)
address = st.binary(min_size=20, max_size=20)
request_id = st.binary(min_size=16, max_size=16)
denom = st.from_regex(r"[a-z][a-z0-9]{1,15}", fullmatch=True)

MESSAGES: dict[type[Message], st.SearchStrategy[Any]] = {
    MsgSend: st.builds(MsgSend, address, denom, u64_forms),
    MsgMultiSend: st.builds(
        MsgMultiSend, denom, st.lists(st.tuples(address, u64_forms), max_size=6).map(tuple)
    ),
    MsgMint: st.builds(MsgMint, address, denom, u64_forms),
    MsgBurn: st.builds(MsgBurn, denom, u64_forms),
    MsgSetTier: st.builds(MsgSetTier, address, st.integers(0, 255)),
    MsgCreateRequest: st.builds(
        MsgCreateRequest,
        denom,
        u64_forms,
        st.text(max_size=140),
        u64_forms,
        st.binary(max_size=20),
    ),
    MsgPayRequest: st.builds(MsgPayRequest, request_id, denom, u64_forms),
    MsgCancelRequest: st.builds(MsgCancelRequest, request_id),
    MsgRefund: st.builds(MsgRefund, request_id, u64_forms),
}
any_message = st.one_of(*MESSAGES.values())


def as_entries(messages: list[Message]) -> tuple[tuple[str, msgspec.Raw], ...]:
    return tuple((m.TYPE, msgspec.Raw(encode(m))) for m in messages)


tx_bodies = st.builds(
    TxBody,
    chain_id=st.text(min_size=1, max_size=64),
    public_key=st.binary(min_size=32, max_size=32),
    nonce=u64_forms,
    fee=u64_forms,
    expiry_height=u64_forms,
    memo=st.text(max_size=64),  # at most 256 bytes of UTF-8, the envelope's memo limit
    messages=st.lists(any_message, min_size=1, max_size=4).map(as_entries),
)
tx_raws = st.builds(
    TxRaw, body=tx_bodies.map(encode), signature=st.binary(min_size=64, max_size=64)
)
hashes = st.binary(min_size=32, max_size=32)
headers = st.builds(
    Header, st.text(max_size=64), u64_forms, u64_forms, hashes, hashes, hashes, hashes, hashes
)

# Arbitrary MessagePack values: the shapes a decoder meets when fed someone else's data.
msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=U64_MAX)
    | st.floats(allow_nan=False)
    | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=8) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


# --- round trips --------------------------------------------------------------------------------


def test_every_bank_message_has_a_strategy() -> None:
    assert set(MESSAGES) == set(ALL_MESSAGES)


@given(any_message)
def test_message_round_trip(message: Message) -> None:
    assert decode(encode(message), type(message)) == message


@given(tx_bodies)
def test_tx_body_round_trip(body: TxBody) -> None:
    assert decode(encode(body), TxBody) == body


@given(tx_raws)
def test_tx_raw_round_trip(raw: TxRaw) -> None:
    assert decode(encode(raw), TxRaw) == raw


@given(headers)
def test_header_round_trip(header: Header) -> None:
    assert decode(encode(header), Header) == header


@given(tx_raws)
def test_decode_tx_reads_back_every_field(raw: TxRaw) -> None:
    wire = encode(raw)
    tx = decode_tx(wire)
    assert (tx.body_bytes, tx.signature, tx.raw) == (raw.body, raw.signature, wire)
    assert tx.body == decode(raw.body, TxBody)
    for type_name, message in tx.body.messages:
        cls = next(c for c in ALL_MESSAGES if type_name == c.TYPE)
        assert encode(decode(message, cls)) == bytes(message)


@given(
    st.one_of(
        st.text(max_size=20),
        denom,
        denom.map(lambda d: d + "\n"),
        denom.map(lambda d: d.upper()),
    )
)
def test_denom_pattern_is_matched_in_full(text: str) -> None:
    expected = re.fullmatch(r"[a-z][a-z0-9]{1,15}", text) is not None
    try:
        decode(encode(MsgBurn(text, 1)), MsgBurn)
    except DecodeError:
        assert not expected
    else:
        assert expected


# --- arbitrary and hostile bytes ---------------------------------------------------------------


def assert_canonical_or_refused(data: bytes) -> None:
    """decode_tx either refuses with a decoding code or re-encodes to exactly ``data``."""
    try:
        tx = decode_tx(data)
    except CityError as exc:
        assert exc.codespace == "tx"
        assert exc.code in DECODE_ERRORS
        return
    assert encode(TxRaw(body=tx.body_bytes, signature=tx.signature)) == data
    assert encode(tx.body) == tx.body_bytes


def mutate(draw: st.DrawFn, wire: bytes) -> bytes:
    position = draw(st.integers(0, len(wire) - 1))
    choice = draw(st.sampled_from(["truncate", "replace", "insert", "delete"]))
    if choice == "truncate":
        return wire[:position]
    if choice == "delete":
        return wire[:position] + wire[position + 1 :]
    byte = draw(st.integers(0, 255))
    if choice == "insert":
        return wire[:position] + bytes([byte]) + wire[position:]
    return wire[:position] + bytes([byte]) + wire[position + 1 :]


@st.composite
def mutated_txs(draw: st.DrawFn) -> bytes:
    return mutate(draw, encode(draw(tx_raws)))


hostile_bytes = st.one_of(
    st.binary(max_size=400),
    msgpack_values.map(msgspec.msgpack.encode),
    st.lists(msgpack_values, min_size=2, max_size=2).map(msgspec.msgpack.encode),
    tx_raws.map(encode),
    mutated_txs(),
)


@settings(max_examples=examples(500))
@given(hostile_bytes)
def test_decode_tx_refuses_or_round_trips(data: bytes) -> None:
    assert_canonical_or_refused(data)


DECODED_TYPES: list[type[Any]] = [*ALL_MESSAGES, TxBody, TxRaw, Header]


@pytest.mark.parametrize("type_", DECODED_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=examples(150))
@given(data=st.data())
def test_decode_refuses_or_round_trips(type_: type[Any], data: st.DataObject) -> None:
    if type_ in MESSAGES:
        valid = encode(data.draw(MESSAGES[type_]))
    else:
        valid = encode(data.draw({TxBody: tx_bodies, TxRaw: tx_raws, Header: headers}[type_]))
    candidate = data.draw(
        st.one_of(
            st.just(valid),
            st.binary(max_size=80),
            msgpack_values.map(msgspec.msgpack.encode),
            st.composite(lambda draw: mutate(draw, valid))(),
        )
    )
    try:
        value = decode(candidate, type_)
    except DecodeError:
        return
    assert encode(value) == candidate


def test_size_limit_is_checked_before_decoding() -> None:
    with pytest.raises(CityError) as at_limit:
        decode_tx(b"\x00" * MAX_TX_BYTES)
    assert (at_limit.value.codespace, at_limit.value.code) == ("tx", tx_errors.MALFORMED.code)
    with pytest.raises(CityError) as past_limit:
        decode_tx(b"\x00" * (MAX_TX_BYTES + 1))
    assert (past_limit.value.codespace, past_limit.value.code) == ("tx", tx_errors.TOO_LARGE.code)


def test_too_many_messages_is_tx_11() -> None:
    messages = [MsgBurn("ccy", 1)] * (MAX_MESSAGES + 1)
    raw = sign_tx(ALICE, chain_id=CHAIN_ID, nonce=0, messages=messages, fee=1)
    assert len(raw) <= MAX_TX_BYTES
    with pytest.raises(CityError) as raised:
        decode_tx(raw)
    assert (raised.value.codespace, raised.value.code) == ("tx", tx_errors.NO_MESSAGES.code)


# --- valid transactions, damaged, against a live chain -----------------------------------------


@pytest.fixture(scope="module")
def shared_chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """One chain for the many examples below; only refused transactions touch it."""
    return Chain.create(Path(tmp_path_factory.mktemp("codec-props")))


def valid_txs() -> list[bytes]:
    return [
        sign_tx(ALICE, chain_id=CHAIN_ID, nonce=0, messages=[MsgSend(addr(BOB), "ccy", 5)], fee=1),
        sign_tx(
            ALICE,
            chain_id=CHAIN_ID,
            nonce=0,
            messages=[MsgMultiSend("ccy", ((addr(BOB), 300), (addr(CAROL), 7_000)))],
            fee=2,
            expiry_height=90,
            memo="rent ☕",
        ),
        sign_tx(
            BOB,
            chain_id=CHAIN_ID,
            nonce=0,
            messages=[MsgCreateRequest("ccy", 1_999, "table 4", 40, addr(ALICE))],
            fee=1,
        ),
    ]


def assert_damaged_tx_is_refused(chain: Chain, damaged: bytes) -> None:
    try:
        decode_tx(damaged)
    except CityError as exc:
        assert exc.codespace == "tx" and exc.code in DECODE_ERRORS
        return
    result = chain.app.check_tx(damaged)
    assert result.codespace == "tx"
    assert result.code in (tx_errors.WRONG_CHAIN.code, tx_errors.BAD_SIGNATURE.code), result.log


def test_the_undamaged_txs_are_valid(tmp_path: Path) -> None:
    """So that each refusal below is due to the damage alone."""
    for index, raw in enumerate(valid_txs()):
        result = Chain.create(tmp_path / str(index)).block(raw).tx_results[0]
        assert result.ok, result.log


def test_every_truncation_and_bit_flip_of_a_valid_tx_is_refused(shared_chain: Chain) -> None:
    """Exhaustive over one transaction: every prefix and every single-bit change."""
    wire = valid_txs()[1]
    nonce_before = shared_chain.app.next_nonce(addr(ALICE))
    for cut in range(len(wire)):
        assert_damaged_tx_is_refused(shared_chain, wire[:cut])
    for position in range(len(wire)):
        for bit in range(8):
            flipped = wire[:position] + bytes([wire[position] ^ (1 << bit)]) + wire[position + 1 :]
            assert_damaged_tx_is_refused(shared_chain, flipped)
    assert shared_chain.app.next_nonce(addr(ALICE)) == nonce_before


@settings(max_examples=examples(300))
@given(data=st.data())
def test_damaged_valid_txs_never_crash(shared_chain: Chain, data: st.DataObject) -> None:
    wire = data.draw(st.sampled_from(valid_txs()))
    damaged = data.draw(st.composite(lambda draw: mutate(draw, wire))())
    if damaged != wire:
        assert_damaged_tx_is_refused(shared_chain, damaged)


def test_oversized_signed_tx_is_tx_2(chain: Chain) -> None:
    outputs = tuple((addr(BOB), 1) for _ in range(MAX_OUTPUTS))
    messages = [MsgMultiSend("ccy", outputs)] * 8
    raw = sign_tx(ALICE, chain_id=CHAIN_ID, nonce=0, messages=messages, fee=1)
    assert len(raw) > MAX_TX_BYTES
    result = chain.app.check_tx(raw)
    assert (result.codespace, result.code) == ("tx", tx_errors.TOO_LARGE.code)
    assert result.tx is None
    block = chain.app.finalize_block(chain.height + 1, 0, [raw])
    assert (block.tx_results[0].codespace, block.tx_results[0].code) == ("tx", 2)
    chain.app.commit()
