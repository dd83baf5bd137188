"""Signed telemetry reports (docs/modules/devices.md §4): canonical bytes, signature, ranges.

On the wire (an MQTT payload) a report is ``SignedReport = [body, signature]``: ``body`` is the
canonical encoding (citychain.codec) of ``ReportBody`` and ``signature`` the device key's Ed25519
signature over ``REPORT_DOMAIN || body``, so nobody re-encodes anything to check it, and a
report signature can never pass for a transaction or a possession statement.

A report's id is ``sha256(wire bytes)``; in a batch its Merkle leaf is the wire bytes themselves
(merkle.leaf_hash). Readings are integers in the units their names carry; ``kind`` is the
readings' tag and must be the device's registered kind. The decoder checks types and
canonical form; ``check_ranges`` refuses physically absurd values, naming the field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated

import msgspec

from citychain.codec import U64, Bytes32, DecodeError, Struct, decode, encode
from citychain.crypto.keys import SIGNATURE_SIZE, PrivateKey, verify

__all__ = [
    "MAX_REPORT_BYTES",
    "MAX_WIRE_BYTES",
    "REPORT_DOMAIN",
    "BmsReadings",
    "MachineReadings",
    "MeterReadings",
    "Readings",
    "Report",
    "ReportBody",
    "ReportError",
    "SignedReport",
    "check_ranges",
    "parse_report",
    "report_id",
    "sign_report",
]

REPORT_DOMAIN = b"citychain/devices/report/v1\x00"
MAX_REPORT_BYTES = 1024  # a BMS report is ~120 bytes; anything near this is not telemetry
# The largest payload that can be a report: a body of MAX_REPORT_BYTES and a signature encode to
# 1,094 bytes; the rest is slack. The broker refuses larger messages (message_size_limit).
MAX_WIRE_BYTES = MAX_REPORT_BYTES + 80

# Rejection reasons: the gateway's metric labels (docs/modules/devices.md §6).
MALFORMED = "malformed"
UNSIGNED = "unsigned"
FORGED = "forged"
UNKNOWN_DEVICE = "unknown_device"
DECOMMISSIONED = "decommissioned"
REPLAYED = "replayed"
OUT_OF_RANGE = "out_of_range"
# The device was not looked up: the gateway's budget of lookups of ids it does not know was spent
# (a flood of unknown ids). A lookup that ran and got no answer refuses nothing: the gateway holds
# the report and asks again (docs/modules/devices.md §6).
THROTTLED = "throttled"
REASONS = (
    MALFORMED,
    UNSIGNED,
    FORGED,
    UNKNOWN_DEVICE,
    DECOMMISSIONED,
    REPLAYED,
    OUT_OF_RANGE,
    THROTTLED,
)

Signature = Annotated[bytes, msgspec.Meta(max_length=64)]
Body = Annotated[bytes, msgspec.Meta(max_length=MAX_REPORT_BYTES)]


class ReportError(ValueError):
    """A report the gateway refuses; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class BmsReadings(Struct, frozen=True, tag="bms"):
    """A battery management system's sample. Current is positive when discharging."""

    pack_voltage_mv: int
    current_ma: int
    soc_permille: int  # state of charge, 0..1000
    temperature_dc: int | None = None  # deci-degrees Celsius: 253 is 25.3 °C
    cycle_count: int | None = None
    discharge_capacity_mah: int | None = None  # measured capacity of the last full discharge
    energy_throughput_wh: int | None = None  # lifetime energy through the pack
    internal_resistance_uohm: int | None = None


class MachineReadings(Struct, frozen=True, tag="machine"):
    """A factory machine's sample."""

    power_w: int
    spindle_rpm: int | None = None
    temperature_dc: int | None = None
    vibration_um_s: int | None = None  # RMS vibration velocity, µm/s
    parts_count: int | None = None  # lifetime parts made


class MeterReadings(Struct, frozen=True, tag="meter"):
    """An energy meter's sample. Power is positive when importing from the grid."""

    energy_wh: int  # lifetime register
    power_w: int


Readings = BmsReadings | MachineReadings | MeterReadings


class ReportBody(Struct, frozen=True):
    device_id: Bytes32
    counter: U64  # strictly increasing per device; the gateway refuses anything not above the last
    time_ms: U64  # the device's clock, informational only: devices' clocks drift
    readings: Readings

    @property
    def kind(self) -> str:
        return str(self.readings.__struct_config__.tag)


class SignedReport(Struct, frozen=True):
    body: Body
    signature: Signature  # 64 bytes; empty marks an unsigned report, refused as such


@dataclass(frozen=True, slots=True)
class Report:
    """A report decoded once: its wire bytes, id, body and signature."""

    raw: bytes
    id: bytes
    body_bytes: bytes
    body: ReportBody
    signature: bytes

    def signature_valid(self, public_key: bytes) -> bool:
        return verify(public_key, REPORT_DOMAIN + self.body_bytes, self.signature)


# (low, high) inclusive, per field name; shared names (temperature_dc) have one range.
RANGES: dict[str, tuple[int, int]] = {
    "pack_voltage_mv": (0, 2_000_000),  # 2,000 V: above any vehicle or storage pack
    "current_ma": (-5_000_000, 5_000_000),  # ±5,000 A
    "soc_permille": (0, 1_000),
    "temperature_dc": (-600, 1_500),  # -60.0 °C .. 150.0 °C
    "cycle_count": (0, 1_000_000),
    "discharge_capacity_mah": (0, 10_000_000),  # 10,000 Ah
    "energy_throughput_wh": (0, 10**13),  # 10 TWh
    "internal_resistance_uohm": (0, 100_000_000),  # 100 Ω
    "power_w": (-100_000_000, 100_000_000),  # ±100 MW
    "spindle_rpm": (0, 200_000),
    "vibration_um_s": (0, 10_000_000),
    "parts_count": (0, 10**12),
    "energy_wh": (0, 10**15),
}


def report_id(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def parse_report(raw: bytes) -> Report:
    """Decode wire bytes; ReportError(malformed or unsigned) when they are not a report."""
    if len(raw) > MAX_WIRE_BYTES:
        raise ReportError(MALFORMED, f"{len(raw)} bytes, more than a report can be")
    try:
        outer = decode(raw, SignedReport)
        body = decode(outer.body, ReportBody)
    except DecodeError as exc:
        raise ReportError(MALFORMED, str(exc)) from None
    if not outer.signature:
        raise ReportError(UNSIGNED, f"report {body.counter} of {body.device_id.hex()} unsigned")
    if len(outer.signature) != SIGNATURE_SIZE:
        raise ReportError(MALFORMED, f"signature of {len(outer.signature)} bytes, not 64")
    return Report(raw, report_id(raw), outer.body, body, outer.signature)


def check_ranges(body: ReportBody) -> None:
    """Refuse readings outside their physical ranges, naming the field and its unit."""
    readings = body.readings
    for name in readings.__struct_fields__:
        value = getattr(readings, name)
        if value is None:
            continue
        low, high = RANGES[name]
        if not low <= value <= high:
            raise ReportError(OUT_OF_RANGE, f"{name} = {value} outside [{low}, {high}]")


def sign_report(key: PrivateKey, body: ReportBody) -> bytes:
    """The wire bytes of ``body`` signed by the device ``key``."""
    body_bytes = encode(body)
    return encode(SignedReport(body_bytes, key.sign(REPORT_DOMAIN + body_bytes)))
