"""Consortium messages on the wire (citychain/modules/consortium/messages.py, docs/encoding.md).

Golden bytes pin the encoding of each action (a change here is a protocol change); hypothesis
checks decode(encode(x)) == x, and that any bytes either raise DecodeError or re-encode to
themselves (the canonical rule).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citychain.codec import U64_MAX, DecodeError, decode, encode
from citychain.modules.consortium.messages import (
    AdmitMember,
    GrantRole,
    MsgPropose,
    MsgVote,
    RemoveMember,
    RevokeRole,
)
from citychain.modules.consortium.state import Member, Proposal, Tally, Vote

OPERATOR = bytes(range(20))
KEY = bytes(range(32))

# Each: the message, then the hex of its canonical encoding, checked by hand against MessagePack:
# 91 = array of 1 (MsgPropose.action), 94 = array of 4 (tag + 3 fields), a? = short str,
# c4 14 = bin of 20 bytes, c4 20 = bin of 32 bytes, c3/c2 = true/false.
GOLDEN = [
    (
        MsgPropose(AdmitMember("City Hall", OPERATOR, KEY, 10)),
        "9195ac61646d69745f6d656d626572a9436974792048616c6c"
        "c414" + OPERATOR.hex() + "c420" + KEY.hex() + "0a",
    ),
    (MsgPropose(RemoveMember("Bank")), "9192ad72656d6f76655f6d656d626572a442616e6b"),
    (
        MsgPropose(GrantRole("issuer", OPERATOR)),
        "9193aa6772616e745f726f6c65a6697373756572c414" + OPERATOR.hex(),
    ),
    (
        MsgPropose(RevokeRole("kyc", OPERATOR)),
        "9193ab7265766f6b655f726f6c65a36b7963c414" + OPERATOR.hex(),
    ),
    (MsgVote(7, True), "9207c3"),
    (MsgVote(2**32, False), "92cf0000000100000000c2"),
]


@pytest.mark.parametrize(("message", "hex_bytes"), GOLDEN)
def test_golden_encoding(message: MsgPropose | MsgVote, hex_bytes: str) -> None:
    assert encode(message).hex() == hex_bytes
    assert decode(bytes.fromhex(hex_bytes), type(message)) == message


def test_message_type_names() -> None:
    assert (MsgPropose.TYPE, MsgVote.TYPE) == ("consortium/propose", "consortium/vote")


@pytest.mark.parametrize(
    "name",
    ["", " City", "City ", "City  Hall", "Caf\u00e9", "tab\there", "new\nline", "x" * 65],
)
def test_member_names_outside_the_rule_do_not_decode(name: str) -> None:
    raw = encode(MsgPropose(AdmitMember("ok", OPERATOR, KEY, 1))).replace(
        b"\xa2ok", encode(name), 1
    )
    with pytest.raises(DecodeError):
        decode(raw, MsgPropose)


def test_an_unknown_action_tag_does_not_decode() -> None:
    raw = encode(MsgPropose(RemoveMember("Bank"))).replace(b"remove_member", b"remove_memberz")
    with pytest.raises(DecodeError):
        decode(raw, MsgPropose)


names = st.from_regex(r"[!-~]{1,10}( [!-~]{1,10}){0,3}", fullmatch=True)
address = st.binary(min_size=20, max_size=20)
key = st.binary(min_size=32, max_size=32)
u64 = st.integers(min_value=0, max_value=U64_MAX)
roles = st.text(min_size=1, max_size=32)
actions = st.one_of(
    st.builds(AdmitMember, names, address, key, u64),
    st.builds(RemoveMember, names),
    st.builds(GrantRole, roles, address),
    st.builds(RevokeRole, roles, address),
)
messages = st.one_of(st.builds(MsgPropose, actions), st.builds(MsgVote, u64, st.booleans()))


@given(messages)
def test_decode_inverts_encode(message: MsgPropose | MsgVote) -> None:
    assert decode(encode(message), type(message)) == message


@given(
    st.builds(
        Proposal,
        u64,
        names,
        actions,
        u64,
        u64,
        st.integers(0, 4),
        st.lists(st.builds(Vote, names, u64, st.booleans(), u64), max_size=4).map(tuple),
        st.builds(Tally, u64, u64, u64),
        st.text(max_size=40),
    )
)
def test_stored_proposals_round_trip(proposal: Proposal) -> None:
    assert decode(encode(proposal), Proposal) == proposal


@given(st.binary(max_size=120))
def test_arbitrary_bytes_decode_canonically_or_raise(data: bytes) -> None:
    for type_ in (MsgPropose, MsgVote, Member):
        try:
            value = decode(data, type_)
        except DecodeError:
            continue
        assert encode(value) == data


@given(messages, st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_one_changed_byte_decodes_canonically_or_raises(
    message: MsgPropose | MsgVote, position: int, value: int
) -> None:
    raw = bytearray(encode(message))
    raw[position % len(raw)] = value
    try:
        decoded = decode(bytes(raw), type(message))
    except DecodeError:
        return
    assert encode(decoded) == bytes(raw)
