"""What a certificate type is: its ``vct``, its content fields and their formats, and the
claims derived from them (docs/modules/registry.md §7).

A `CertificateSchema` is data, so the issuer, holder and verifier code in `certificate` is one
for every vital event: `birth.BIRTH` and `death.DEATH` are the two schemas the registry issues.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_TEXT = 200
# ASCII control characters: below the space, and DEL
FIRST_PRINTABLE, DELETE = 0x20, 0x7F
SEXES = ("F", "M", "X")


class CredentialError(ValueError):
    """Bad input to the issuer or the holder (invalid content, unknown claim to disclose)."""


def check_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise CredentialError(f"{name} must be a string, got {type(value).__name__}")
    if value != value.strip() or not value:
        raise CredentialError(f"{name} must be non-empty without surrounding spaces")
    if len(value) > MAX_TEXT:
        raise CredentialError(f"{name} is longer than {MAX_TEXT} characters")
    if any(ord(c) < FIRST_PRINTABLE or ord(c) == DELETE for c in value):
        raise CredentialError(f"{name} contains a control character")
    return value


def parse_date(name: str, value: object) -> _dt.date:
    text = value if isinstance(value, str) else None
    if text is None or len(text) != len("YYYY-MM-DD"):
        raise CredentialError(f"{name} must be a date 'YYYY-MM-DD', got {value!r}")
    try:
        return _dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CredentialError(f"{name} must be a date 'YYYY-MM-DD', got {value!r}") from exc


def check_sex(name: str, value: object) -> None:
    if value not in SEXES:
        raise CredentialError(f"{name} must be one of {', '.join(SEXES)}, got {value!r}")


def date_of(issued_at: int) -> _dt.date:
    """The UTC calendar date of a unix time (the ``iat`` a derived claim is true at)."""
    return _dt.datetime.fromtimestamp(issued_at, _dt.UTC).date()


FieldCheck = Callable[[str, object], object]
Derive = Callable[[dict[str, str], int, str], dict[str, bool]]
CrossCheck = Callable[[dict[str, str]], None]


def _no_cross_check(_: dict[str, str]) -> None:
    return None


@dataclass(frozen=True)
class CertificateSchema:
    """One certificate type.

    ``kind`` is the registry record kind it certifies ("birth" or "death"), ``vct`` the SD-JWT
    VC type URI, ``checks`` the format check of each content field (its keys, in order, are
    the content fields), ``required`` those that must be present, ``derive`` the boolean claims
    computed from the content at issuance (their names are ``derived``), and ``sd_slots`` the
    fixed length of the ``_sd`` array (real digests padded with decoys).
    """

    kind: str
    vct: str
    checks: Mapping[str, FieldCheck]
    required: tuple[str, ...]
    derived: tuple[str, ...]
    derive: Derive
    sd_slots: int
    cross_check: CrossCheck = _no_cross_check

    @property
    def content_fields(self) -> tuple[str, ...]:
        return tuple(self.checks)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(f for f in self.checks if f not in self.required)

    @property
    def disclosable(self) -> tuple[str, ...]:
        return self.content_fields + self.derived

    def validate(self, content: object) -> dict[str, str]:
        """A copy of a record's content in field order, or CredentialError naming the field."""
        if not isinstance(content, dict):
            raise CredentialError(f"content must be a dict, got {type(content).__name__}")
        unknown = sorted(str(k) for k in content if k not in self.checks)
        if unknown:
            raise CredentialError(
                f"unknown {self.kind} field(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(self.content_fields)}"
            )
        missing = [k for k in self.required if k not in content]
        if missing:
            raise CredentialError(f"missing {self.kind} field(s) {', '.join(missing)}")
        for name, value in content.items():
            self.checks[name](name, value)
        fields = {k: content[k] for k in self.checks if k in content}
        self.cross_check(fields)
        return fields

    def check_claim(self, name: str, value: Any) -> None:
        """Raise CredentialError unless ``value`` is a valid disclosed value of claim ``name``."""
        if name in self.derived:
            if not isinstance(value, bool):
                raise CredentialError(f"{name} must be a boolean")
        else:
            self.checks[name](name, value)
