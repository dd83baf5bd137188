"""Registry messages on the wire (citychain/modules/registry/messages.py, docs/encoding.md).

Golden bytes pin each message's encoding (a change here is a protocol change); hypothesis checks
the canonical rule.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from citychain.codec import DecodeError, decode, encode
from citychain.modules.registry.messages import MAX_WALLETS, MsgAmend, MsgRegister, MsgRevoke

ID = bytes(range(32))
NEW_ID = bytes(range(32, 64))
COMMIT = bytes(range(64, 96))
WALLET = bytes(range(20))

# 95/93/92 = array of 5/3/2 fields, a5 = str of 5, c4 20 = bin of 32 bytes, c4 14 = bin of 20,
# c0 = nil (no linked record), 90/91 = array of 0/1 wallets.
GOLDEN = [
    (
        MsgRegister("birth", ID, COMMIT, None, ()),
        "95a56269727468c420" + ID.hex() + "c420" + COMMIT.hex() + "c090",
    ),
    (
        MsgRegister("death", NEW_ID, COMMIT, ID, (WALLET,)),
        "95a56465617468c420"
        + NEW_ID.hex()
        + "c420"
        + COMMIT.hex()
        + "c420"
        + ID.hex()
        + "91c414"
        + WALLET.hex(),
    ),
    (
        MsgAmend(ID, NEW_ID, COMMIT),
        "93c420" + ID.hex() + "c420" + NEW_ID.hex() + "c420" + COMMIT.hex(),
    ),
    (MsgRevoke(ID, 4), "92c420" + ID.hex() + "04"),
]


@pytest.mark.parametrize(("message", "hex_bytes"), GOLDEN)
def test_golden_encoding(message: MsgRegister | MsgAmend | MsgRevoke, hex_bytes: str) -> None:
    assert encode(message).hex() == hex_bytes
    assert decode(bytes.fromhex(hex_bytes), type(message)) == message


def test_message_type_names() -> None:
    assert (MsgRegister.TYPE, MsgAmend.TYPE, MsgRevoke.TYPE) == (
        "registry/register",
        "registry/amend",
        "registry/revoke",
    )


@pytest.mark.parametrize(
    "fields",
    [
        ("marriage", ID, COMMIT, None, []),  # unknown kind
        ("birth", ID[:31], COMMIT, None, []),  # short id
        ("birth", ID, COMMIT + b"\x00", None, []),  # long commitment
        ("death", ID, COMMIT, b"", []),  # empty link: None is the only "no link"
        ("death", ID, COMMIT, None, [WALLET[:19]]),  # short wallet
        ("death", ID, COMMIT, None, [WALLET] * (MAX_WALLETS + 1)),  # too many wallets
    ],
)
def test_malformed_registrations_do_not_decode(fields: tuple[object, ...]) -> None:

    with pytest.raises(DecodeError):
        decode(msgspec.msgpack.encode(fields), MsgRegister)


def test_a_reason_past_one_byte_does_not_decode() -> None:

    with pytest.raises(DecodeError):
        decode(msgspec.msgpack.encode((ID, 256)), MsgRevoke)


ids = st.binary(min_size=32, max_size=32)
registrations = st.builds(
    MsgRegister,
    st.sampled_from(["birth", "death"]),
    ids,
    ids,
    st.none() | ids,
    st.lists(st.binary(min_size=20, max_size=20), max_size=MAX_WALLETS).map(tuple),
)
messages = (
    registrations
    | st.builds(MsgAmend, ids, ids, ids)
    | st.builds(MsgRevoke, ids, st.integers(0, 255))
)


@given(messages)
def test_decode_inverts_encode(message: MsgRegister | MsgAmend | MsgRevoke) -> None:
    assert decode(encode(message), type(message)) == message


@given(st.binary(max_size=200), st.sampled_from([MsgRegister, MsgAmend, MsgRevoke]))
def test_arbitrary_bytes_decode_canonically_or_fail(
    data: bytes, cls: type[MsgRegister | MsgAmend | MsgRevoke]
) -> None:
    try:
        value = decode(data, cls)
    except DecodeError:
        return
    assert encode(value) == data
