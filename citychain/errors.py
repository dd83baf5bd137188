"""Stable error codes: (codespace, code) pairs that are consensus data.

Each module declares its codes once with ``register``; a code, once released, is never reused or
renumbered (STYLE.md). ``registered_codes`` feeds docs/errors.md and the API.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CityError", "ErrorCode", "register", "registered_codes"]


@dataclass(frozen=True, slots=True)
class ErrorCode:
    codespace: str
    code: int
    description: str


_REGISTRY: dict[tuple[str, int], ErrorCode] = {}


def register(codespace: str, code: int, description: str) -> ErrorCode:
    """Declare ``code`` in ``codespace``; a second declaration of the same pair is a bug."""
    if code <= 0:
        raise ValueError("code 0 means success; error codes start at 1")
    key = (codespace, code)
    if key in _REGISTRY:
        raise ValueError(f"error code {codespace}/{code} registered twice")
    error = ErrorCode(codespace, code, description)
    _REGISTRY[key] = error
    return error


def registered_codes() -> list[ErrorCode]:
    return sorted(_REGISTRY.values(), key=lambda e: (e.codespace, e.code))


class CityError(Exception):
    """A failure with a stable code; its message says what was wrong with the input."""

    def __init__(self, error: ErrorCode, message: str = "") -> None:
        super().__init__(message or error.description)
        self.error = error
        self.message = message or error.description

    @property
    def code(self) -> int:
        return self.error.code

    @property
    def codespace(self) -> str:
        return self.error.codespace

    def __str__(self) -> str:
        return f"{self.error.codespace}/{self.error.code}: {self.message}"
