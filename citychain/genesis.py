"""The genesis document (docs/genesis.md): chain id, validators, and each module's section."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citychain.crypto.keys import PUBLIC_KEY_SIZE

__all__ = ["Genesis", "GenesisError", "Validator"]

MAX_CHAIN_ID = 64  # characters


class GenesisError(ValueError):
    """A genesis document that cannot start a chain."""


@dataclass(frozen=True)
class Validator:
    name: str
    public_key: bytes
    power: int


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    genesis_time: str
    validators: tuple[Validator, ...]
    app_state: dict[str, Any]
    raw: bytes  # the canonical JSON bytes; their hash links block 1 to this document

    @property
    def hash(self) -> bytes:
        return hashlib.sha256(self.raw).digest()

    @staticmethod
    def canonical_json(doc: dict[str, Any]) -> bytes:
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, doc: Any) -> Genesis:
        if not isinstance(doc, dict):
            raise GenesisError("genesis must be a JSON object")
        try:
            chain_id = doc["chain_id"]
            validators = tuple(
                Validator(str(v["name"]), bytes.fromhex(v["public_key"]), int(v["power"]))
                for v in doc["validators"]
            )
            app_state = doc["app_state"]
        except (KeyError, TypeError, ValueError) as exc:
            raise GenesisError(f"genesis is missing or has a malformed field: {exc}") from None
        if not isinstance(chain_id, str) or not 1 <= len(chain_id) <= MAX_CHAIN_ID:
            raise GenesisError("chain_id must be a string of 1..64 characters")
        if not validators or any(
            len(v.public_key) != PUBLIC_KEY_SIZE or v.power <= 0 for v in validators
        ):
            raise GenesisError("validators need 32-byte public keys and positive power")
        if not isinstance(app_state, dict):
            raise GenesisError("app_state must be an object")
        return cls(
            chain_id=chain_id,
            genesis_time=str(doc.get("genesis_time", "")),
            validators=validators,
            app_state=app_state,
            raw=cls.canonical_json(doc),
        )

    @classmethod
    def load(cls, path: Path) -> Genesis:
        try:
            doc = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise GenesisError(f"cannot read genesis {path}: {exc}") from None
        return cls.from_dict(doc)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Genesis:
        return cls.from_dict(json.loads(raw))
