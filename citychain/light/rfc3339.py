"""RFC 3339 times as CometBFT's JSON writes them, to and from protobuf Timestamps.

Go marshals a time.Time with the RFC3339Nano layout: "2026-12-01T05:02:50.963665344Z", the
fraction trimmed of trailing zeros and left out when zero. The signed bytes carry the exact
(seconds, nanos), so parsing goes through integers only, never a float, and keeps all nine
fraction digits. Go's zero time, "0001-01-01T00:00:00Z", is seconds -62135596800.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

from citychain.light.errors import Check, LightClientError
from citychain.light.types import Timestamp

__all__ = ["format_rfc3339", "parse_rfc3339"]

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NANOS_PER_SECOND = 1_000_000_000


def parse_rfc3339(text: object, where: str = "time") -> Timestamp:
    """Return the Timestamp of an RFC 3339 string; LightClientError(MALFORMED) otherwise."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise LightClientError(Check.MALFORMED, f"{where}: expected an RFC 3339 time, got {text!r}")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        datetime(year, month, day, hour, minute, second)  # range checks only
    except ValueError as exc:
        raise LightClientError(Check.MALFORMED, f"{where}: {exc} in {text!r}") from None
    fraction = match.group(7) or ""
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        seconds -= offset if match.group(9) == "+" else -offset
    return Timestamp(seconds, nanos)


def format_rfc3339(time: Timestamp) -> str:
    """Return `time` in UTC as Go's RFC3339Nano layout writes it; ValueError outside the
    years 1 to 9999."""
    try:
        moment = _EPOCH + timedelta(seconds=time.seconds)
    except OverflowError:
        raise ValueError(f"{time} is outside the years 1 to 9999") from None
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if not 0 <= time.nanos < _NANOS_PER_SECOND:
        raise ValueError(f"nanos must be in [0, 1e9), got {time.nanos}")
    if time.nanos:
        text += "." + f"{time.nanos:09d}".rstrip("0")
    return text + "Z"
