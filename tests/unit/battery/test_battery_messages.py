"""Battery messages on the wire (citychain/modules/battery/messages.py, docs/modules/battery.md).

Golden bytes pin each message's encoding (a change here is a protocol change); malformed and
absurd values never decode; hypothesis checks the canonical rule.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from battery_chain import passport
from hypothesis import given
from hypothesis import strategies as st

from citychain.codec import DecodeError, decode, encode
from citychain.modules.battery.messages import (
    ALL_MESSAGES,
    MsgAttestPrediction,
    MsgLease,
    MsgOpenHolding,
    MsgRegisterBattery,
    MsgSetStatus,
    MsgTransfer,
    MsgUpdateHealth,
    Passport,
)

ID = bytes(range(32))
BMS = bytes(range(32, 64))
C1 = bytes(range(64, 96))
C2 = bytes(range(96, 128))
C3 = bytes(range(224, 256))  # the holding commitment
OWNER = bytes(range(20))
BATCH = bytes(range(128, 160))
MODEL = bytes(range(160, 192))
INPUTS = bytes(range(192, 224))

# Passport: dc 0012 = array of 18; aN = str of N; cd/ce = uint16/uint32; 91 = array of one.
PASSPORT_HEX = (
    "dc0012"
    + "aa"
    + b"VC-EV-0001".hex()
    + "ad"
    + b"Voltcell EV60".hex()
    + "a2"
    + b"ev".hex()
    + "a3"
    + b"nmc".hex()
    + "ce000249f0"  # 150 000 mAh
    + "cdea60"  # 60 000 Wh
    + "ce00061a80"  # 400 000 mV
    + "ce000668a0"  # 420 000 g
    + "cd07d0"  # 2 000 cycles
    + "cd02bc"  # 700 per mille
    + "cd4c90"  # day 19 600
    + "bb"
    + b"Voltcell plant 2, Citychain".hex()
    + "ce000124f8"  # 75 000 g CO2e/kWh
    + "cca0003c3c"  # recycled Co 160, Pb 0, Li 60, Ni 60 per mille
    + "91aa"
    + b"21324-40-3".hex()
)

GOLDEN: list[tuple[Any, str]] = [
    # No owner, no BMS device: those are the holding's, opened by another message.
    (
        MsgRegisterBattery(passport(), C1, C2, C3),
        "94" + PASSPORT_HEX + "c420" + C1.hex() + "c420" + C2.hex() + "c420" + C3.hex(),
    ),
    (
        MsgOpenHolding(ID, OWNER, BMS),
        "93c420" + ID.hex() + "c414" + OWNER.hex() + "c420" + BMS.hex(),
    ),
    (MsgOpenHolding(ID, OWNER, None), "93c420" + ID.hex() + "c414" + OWNER.hex() + "c0"),
    (MsgSetStatus(ID, "installed"), "92c420" + ID.hex() + "a9" + b"installed".hex()),
    (MsgTransfer(ID, OWNER), "92c420" + ID.hex() + "c414" + OWNER.hex()),
    (MsgLease(ID, OWNER, 100), "93c420" + ID.hex() + "c414" + OWNER.hex() + "64"),
    (MsgLease(ID, None, None), "93c420" + ID.hex() + "c0c0"),
    (
        MsgUpdateHealth(ID, C1, BATCH),
        "93c420" + ID.hex() + "c420" + C1.hex() + "c420" + BATCH.hex(),
    ),
    (
        MsgAttestPrediction(ID, 1_800, 19_700, 1_600, 2_000, MODEL, INPUTS),
        "98c420"
        + ID.hex()
        + "cd0708"
        + "cd4cf4"
        + "cd0640"
        + "cd07d0"
        + "c420"
        + MODEL.hex()
        + "c420"
        + INPUTS.hex()
        + "a8"
        + b"capacity".hex(),
    ),
    (
        MsgAttestPrediction(ID, 1_800, 19_700, 1_600, 2_000, MODEL, INPUTS, "curves"),
        "98c420"
        + ID.hex()
        + "cd0708cd4cf4cd0640cd07d0c420"
        + MODEL.hex()
        + "c420"
        + INPUTS.hex()
        + "a6"
        + b"curves".hex(),
    ),
]


@pytest.mark.parametrize(("message", "hex_bytes"), GOLDEN)
def test_golden_encoding(message: Any, hex_bytes: str) -> None:
    assert encode(message).hex() == hex_bytes
    assert decode(bytes.fromhex(hex_bytes), type(message)) == message


def test_message_type_names() -> None:
    assert [m.TYPE for m in ALL_MESSAGES] == [
        "battery/register",
        "battery/open_holding",
        "battery/set_status",
        "battery/transfer",
        "battery/lease",
        "battery/update_health",
        "battery/attest_prediction",
    ]


def _passport_fields(**changes: Any) -> list[Any]:
    fields = msgspec.to_builtins(passport())
    names = list(Passport.__struct_fields__)
    for name, value in changes.items():
        fields[names.index(name)] = value
    return list(fields)


@pytest.mark.parametrize(
    "changes",
    [
        {"rated_capacity_mah": -1},  # negative: no unsigned reading of it
        {"rated_capacity_mah": 0},  # a battery holds something
        {"rated_energy_wh": 10**12},  # 1 TWh: a unit slip
        {"nominal_voltage_mv": 3_000_000},  # 3 kV
        {"capacity_threshold_permille": 1_000},  # exhausted from birth
        {"recycled_cobalt_permille": 1_001},  # more than all of it
        {"manufacturing_day": 20_231_114},  # YYYYMMDD given where days are expected
        {"manufacturing_day": 1_700_000_000_000},  # milliseconds
        {"carbon_footprint_g_per_kwh": 0},
        {"identifier": ""},
        {"identifier": "has space"},
        {"identifier": "X" * 65},
        {"category": "toy"},
        {"chemistry": "unobtainium"},
        {"hazardous_substances": ["lithium"]},  # not a CAS number
        {"model": "tab\there"},
        {"expected_lifetime_cycles": 1.5},  # floats never decode
    ],
)
def test_absurd_passports_do_not_decode(changes: dict[str, Any]) -> None:
    fields = [_passport_fields(**changes), C1, C2, C3]
    with pytest.raises(DecodeError):
        decode(msgspec.msgpack.encode(fields), MsgRegisterBattery)


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        # the form that carried the owner and the BMS device in the public record
        (MsgRegisterBattery, [msgspec.to_builtins(passport()), BMS, C1, C2, OWNER]),
        (MsgOpenHolding, [ID, OWNER[:19], None]),
        (MsgOpenHolding, [ID[:31], OWNER, None]),
        (MsgSetStatus, [ID, "scrapped"]),
        (MsgSetStatus, [ID[:31], "waste"]),
        (MsgTransfer, [ID, OWNER[:19]]),
        (MsgLease, [ID, OWNER, 0]),
        (MsgLease, [ID, OWNER, -5]),
        # the values themselves never reach the ledger: a message carrying them is malformed
        (MsgUpdateHealth, [ID, 9_500, 1, 1, 1, 1, 1, 1, 1, BATCH]),
        (MsgUpdateHealth, [ID, C1[:31], BATCH]),
        (MsgUpdateHealth, [ID, C1, BATCH[:16]]),
        (MsgAttestPrediction, [ID, 0, 19_700, 1, 2, MODEL, INPUTS, "capacity"]),
        (MsgAttestPrediction, [ID, 1_800, 99_999, 1, 2_000, MODEL, INPUTS, "capacity"]),
        (MsgAttestPrediction, [ID, 1_800, 19_700, 1, 2_000, MODEL[:31], INPUTS, "capacity"]),
        (MsgAttestPrediction, [ID, 1_800, 19_700, 1, 2_000, MODEL, INPUTS, "telemetry"]),
        # the basis is always on the wire: the form without it (before it existed) is refused
        (MsgAttestPrediction, [ID, 1_800, 19_700, 1, 2_000, MODEL, INPUTS]),
    ],
)
def test_malformed_messages_do_not_decode(cls: type[Any], fields: list[Any]) -> None:
    with pytest.raises(DecodeError):
        decode(msgspec.msgpack.encode(fields), cls)


ids = st.binary(min_size=32, max_size=32)
addresses = st.binary(min_size=20, max_size=20)
small = st.integers(0, 1_000)
messages = (
    st.builds(MsgRegisterBattery, st.just(passport()), ids, ids, ids)
    | st.builds(MsgOpenHolding, ids, addresses, st.none() | ids)
    | st.builds(MsgSetStatus, ids, st.sampled_from(["original", "installed", "waste"]))
    | st.builds(MsgTransfer, ids, addresses)
    | st.builds(MsgLease, ids, st.none() | addresses, st.none() | st.integers(1, 2**63))
    | st.builds(MsgUpdateHealth, ids, ids, ids)
    | st.builds(
        MsgAttestPrediction,
        ids,
        st.integers(1, 10**6),
        st.integers(3_652, 73_048),
        st.integers(1, 10**6),
        st.integers(1, 10**6),
        ids,
        ids,
        st.sampled_from(["capacity", "curves"]),
    )
)


@given(messages)
def test_decode_inverts_encode(message: Any) -> None:
    assert decode(encode(message), type(message)) == message


@given(st.binary(max_size=300), st.sampled_from(ALL_MESSAGES))
def test_arbitrary_bytes_decode_canonically_or_fail(data: bytes, cls: type[Any]) -> None:
    try:
        value = decode(data, cls)
    except DecodeError:
        return
    assert encode(value) == data
