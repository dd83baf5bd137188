"""Typed values from the JSON of CometBFT's RPC (and of a genesis file).

- `parse_signed_header`: `result.signed_header` of `/commit?height=H` (header and commit);
- `parse_validators`: `result.validators` of `/validators?height=H` (all pages, in order);
- `parse_light_block`: `{"signed_header": ..., "validators": [...]}`, a hop of a trust chain;
- `parse_genesis_validators`: the `validators` of a CometBFT genesis.json.

CometBFT's JSON writes int64s as decimal strings ("height": "2") and small integers as numbers
("round": 0), hashes and addresses as upper-case hex, keys and signatures as base64, times as
RFC 3339. Anything else is refused with LightClientError(Check.MALFORMED) naming the field.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from citychain.light.errors import Check, LightClientError
from citychain.light.rfc3339 import parse_rfc3339
from citychain.light.types import (
    ADDRESS_SIZE,
    HASH_SIZE,
    BlockID,
    BlockIDFlag,
    Commit,
    CommitSig,
    Header,
    LightBlock,
    PartSetHeader,
    SignedHeader,
    Timestamp,
    Validator,
    ValidatorSet,
    make_validator_set,
)

__all__ = [
    "ED25519_KEY_TYPE",
    "parse_commit",
    "parse_genesis_validators",
    "parse_header",
    "parse_light_block",
    "parse_signed_header",
    "parse_validators",
]

ED25519_KEY_TYPE = "tendermint/PubKeyEd25519"
"""The amino name CometBFT's JSON gives an Ed25519 public key; the only type accepted."""

ZERO_TIME = Timestamp(-62135596800, 0)
"""Go's zero time.Time (0001-01-01T00:00:00Z), the timestamp of an absent signature slot."""

_INT = re.compile(r"-?[0-9]{1,30}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _fail(where: str, message: str) -> LightClientError:
    return LightClientError(Check.MALFORMED, f"{where}: {message}")


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, f"expected a JSON object, got {type(value).__name__}")
    return value


def _field(obj: dict[str, Any], name: str, where: str) -> Any:
    if name not in obj:
        raise _fail(f"{where}.{name}", "missing")
    return obj[name]


def _int(value: object, where: str, minimum: int = _INT64_MIN) -> int:
    """An int64 given as a JSON number or a decimal string."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail(where, f"expected an integer, got {value!r}")
    if isinstance(value, str):
        if not _INT.fullmatch(value):
            raise _fail(where, f"expected a decimal integer, got {value!r}")
        value = int(value)
    if not minimum <= value <= _INT64_MAX:
        raise _fail(where, f"{value} is out of range [{minimum}, {_INT64_MAX}]")
    return value


def _hex(value: object, where: str, size: int | None = None) -> bytes:
    """Hex bytes; the empty string is empty bytes. `size` fixes the length when not empty."""
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise _fail(where, f"expected hex, got {value!r}")
    raw = bytes.fromhex(value)
    if size is not None and raw and len(raw) != size:
        raise _fail(where, f"expected {size} bytes, got {len(raw)}")
    return raw


def _base64(value: object, where: str) -> bytes:
    """Standard base64; JSON null is empty bytes (an absent slot's signature)."""
    if value is None:
        return b""
    if not isinstance(value, str):
        raise _fail(where, f"expected base64, got {value!r}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(where, f"invalid base64 {value!r}") from None


def _block_id(value: object, where: str) -> BlockID:
    obj = _object(value, where)
    parts = _object(_field(obj, "parts", where), f"{where}.parts")
    return BlockID(
        hash=_hex(_field(obj, "hash", where), f"{where}.hash", HASH_SIZE),
        part_set_header=PartSetHeader(
            total=_int(_field(parts, "total", f"{where}.parts"), f"{where}.parts.total", 0),
            hash=_hex(_field(parts, "hash", f"{where}.parts"), f"{where}.parts.hash", HASH_SIZE),
        ),
    )


_HASH_FIELDS = (
    "last_commit_hash",
    "data_hash",
    "validators_hash",
    "next_validators_hash",
    "consensus_hash",
    "last_results_hash",
    "evidence_hash",
)


def parse_header(value: object, where: str = "header") -> Header:
    """Parse a header object; hash sizes are checked later, by the verifier's header check."""
    obj = _object(value, where)
    version = _object(_field(obj, "version", where), f"{where}.version")
    chain_id = _field(obj, "chain_id", where)
    if not isinstance(chain_id, str):
        raise _fail(f"{where}.chain_id", f"expected a string, got {chain_id!r}")
    hashes = {name: _hex(_field(obj, name, where), f"{where}.{name}") for name in _HASH_FIELDS}
    return Header(
        version_block=_int(_field(version, "block", f"{where}.version"), f"{where}.version", 0),
        version_app=_int(_field(version, "app", f"{where}.version"), f"{where}.version", 0),
        chain_id=chain_id,
        height=_int(_field(obj, "height", where), f"{where}.height"),
        time=parse_rfc3339(_field(obj, "time", where), f"{where}.time"),
        last_block_id=_block_id(_field(obj, "last_block_id", where), f"{where}.last_block_id"),
        app_hash=_hex(_field(obj, "app_hash", where), f"{where}.app_hash"),
        proposer_address=_hex(_field(obj, "proposer_address", where), f"{where}.proposer_address"),
        **hashes,
    )


def _commit_sig(value: object, where: str) -> CommitSig:
    """A signature slot, with CometBFT's CommitSig.ValidateBasic rules on its shape."""
    obj = _object(value, where)
    flag_number = _int(_field(obj, "block_id_flag", where), f"{where}.block_id_flag")
    try:
        flag = BlockIDFlag(flag_number)
    except ValueError:
        raise _fail(f"{where}.block_id_flag", f"unknown flag {flag_number}") from None
    address = _hex(_field(obj, "validator_address", where), f"{where}.validator_address")
    timestamp = parse_rfc3339(_field(obj, "timestamp", where), f"{where}.timestamp")
    signature = _base64(_field(obj, "signature", where), f"{where}.signature")
    if flag == BlockIDFlag.ABSENT:
        if address or signature or timestamp != ZERO_TIME:
            raise _fail(where, "an absent slot carries no address, time or signature")
    else:
        if len(address) != ADDRESS_SIZE:
            raise _fail(f"{where}.validator_address", f"expected {ADDRESS_SIZE} bytes")
        if not signature:
            raise _fail(f"{where}.signature", "missing")
    return CommitSig(flag, address, timestamp, signature)


def parse_commit(value: object, where: str = "commit") -> Commit:
    obj = _object(value, where)
    signatures = _field(obj, "signatures", where)
    if not isinstance(signatures, list) or not signatures:
        raise _fail(f"{where}.signatures", "expected a non-empty list")
    commit = Commit(
        height=_int(_field(obj, "height", where), f"{where}.height", 1),
        round=_int(_field(obj, "round", where), f"{where}.round", 0),
        block_id=_block_id(_field(obj, "block_id", where), f"{where}.block_id"),
        signatures=tuple(
            _commit_sig(sig, f"{where}.signatures[{i}]") for i, sig in enumerate(signatures)
        ),
    )
    if commit.block_id.is_zero():
        raise _fail(f"{where}.block_id", "a commit cannot be for the nil block")
    return commit


def parse_signed_header(value: object, where: str = "signed_header") -> SignedHeader:
    """Parse `result.signed_header` of CometBFT's `/commit` RPC."""
    obj = _object(value, where)
    return SignedHeader(
        header=parse_header(_field(obj, "header", where), f"{where}.header"),
        commit=parse_commit(_field(obj, "commit", where), f"{where}.commit"),
    )


def _pub_key(value: object, where: str) -> bytes:
    obj = _object(value, where)
    key_type = _field(obj, "type", where)
    if key_type != ED25519_KEY_TYPE:
        raise _fail(
            f"{where}.type", f"only {ED25519_KEY_TYPE} keys are supported, got {key_type!r}"
        )
    return _base64(_field(obj, "value", where), f"{where}.value")


def _located(error: LightClientError, where: str) -> LightClientError:
    return LightClientError(error.check, f"{where}: {error.message}")


def _validator(value: object, where: str, power_field: str) -> Validator:
    obj = _object(value, where)
    pub_key = _pub_key(_field(obj, "pub_key", where), f"{where}.pub_key")
    power = _int(_field(obj, power_field, where), f"{where}.{power_field}", 1)
    priority = _int(obj.get("proposer_priority", 0), f"{where}.proposer_priority")
    try:
        validator = Validator(pub_key, power, priority)
    except LightClientError as exc:
        raise _located(exc, where) from None
    if "address" in obj:
        address = _hex(obj["address"], f"{where}.address")
        if address != validator.address:
            raise _fail(
                f"{where}.address",
                f"{address.hex().upper()} is not the address of its key, "
                f"{validator.address.hex().upper()}",
            )
    return validator


def parse_validators(value: object, where: str = "validators") -> ValidatorSet:
    """Parse `result.validators` of `/validators` (every page, in the RPC's order, which is
    the set's order)."""
    if not isinstance(value, list):
        raise _fail(where, f"expected a list, got {type(value).__name__}")
    validators = [_validator(item, f"{where}[{i}]", "voting_power") for i, item in enumerate(value)]
    try:
        return ValidatorSet(tuple(validators))
    except LightClientError as exc:
        raise _located(exc, where) from None


def parse_light_block(value: object, where: str = "hop") -> LightBlock:
    """Parse `{"signed_header": <RPC /commit>, "validators": <RPC /validators>}`."""
    obj = _object(value, where)
    return LightBlock(
        signed_header=parse_signed_header(
            _field(obj, "signed_header", where), f"{where}.signed_header"
        ),
        validators=parse_validators(_field(obj, "validators", where), f"{where}.validators"),
    )


def parse_genesis_validators(genesis: object) -> ValidatorSet:
    """Return the validator set of a CometBFT genesis.json (its `validators`, with `power`),
    sorted as CometBFT sorts the set it starts the chain with."""
    obj = _object(genesis, "genesis")
    items = _field(obj, "validators", "genesis")
    if not isinstance(items, list):
        raise _fail("genesis.validators", "expected a list")
    validators = [
        _validator(item, f"genesis.validators[{i}]", "power") for i, item in enumerate(items)
    ]
    try:
        return make_validator_set((v.pub_key, v.voting_power) for v in validators)
    except LightClientError as exc:
        raise _located(exc, "genesis.validators") from None
