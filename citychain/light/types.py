"""Typed values of CometBFT 0.38's light-client data: headers, commits, validator sets.

They mirror the Go types in cometbft/types (block.go, validator.go, validator_set.go) field for
field, holding bytes where the RPC shows hex or base64. Build them from RPC JSON with
`citychain.light.rpc_json`; hash and sign-bytes functions live in `citychain.light.encoding`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from citychain.light.errors import Check, LightClientError

__all__ = [
    "ADDRESS_SIZE",
    "ED25519_KEY_SIZE",
    "HASH_SIZE",
    "MAX_TOTAL_VOTING_POWER",
    "BlockID",
    "BlockIDFlag",
    "Commit",
    "CommitSig",
    "Header",
    "LightBlock",
    "PartSetHeader",
    "SignedHeader",
    "Timestamp",
    "Validator",
    "ValidatorSet",
    "make_validator_set",
    "validator_address",
]

HASH_SIZE = 32
"""Bytes in a CometBFT hash (tmhash is sha256)."""

ADDRESS_SIZE = 20
"""Bytes in a validator address: the first 20 bytes of sha256(public key) (crypto.AddressSize)."""

ED25519_KEY_SIZE = 32
"""Bytes in an Ed25519 public key, the only key type this light client accepts."""

MAX_TOTAL_VOTING_POWER = (2**63 - 1) // 8
"""CometBFT caps a set's total voting power at MaxInt64/8 (types.MaxTotalVotingPower), so that
the 2/3 and trust-level products cannot overflow in Go; we refuse larger sets the same way."""


@dataclass(frozen=True, slots=True, order=True)
class Timestamp:
    """A google.protobuf.Timestamp: whole seconds since the Unix epoch (negative before 1970)
    and nanoseconds 0..999,999,999. Ordered, so header times compare directly."""

    seconds: int
    nanos: int


@dataclass(frozen=True, slots=True)
class PartSetHeader:
    total: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class BlockID:
    """A block's hash and its part-set header (types.BlockID)."""

    hash: bytes
    part_set_header: PartSetHeader

    def is_zero(self) -> bool:
        """True for the nil block's ID (BlockID.IsZero): no hash, no parts."""
        return not self.hash and self.part_set_header.total == 0 and not self.part_set_header.hash


@dataclass(frozen=True, slots=True)
class Header:
    """A CometBFT block header (types.Header), its 14 hashed fields in order."""

    version_block: int
    version_app: int
    chain_id: str
    height: int
    time: Timestamp
    last_block_id: BlockID
    last_commit_hash: bytes
    data_hash: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    consensus_hash: bytes
    app_hash: bytes
    last_results_hash: bytes
    evidence_hash: bytes
    proposer_address: bytes


class BlockIDFlag(IntEnum):
    """What a commit signature slot holds (types.BlockIDFlag)."""

    ABSENT = 1
    """The validator's precommit was not received: no address, no signature."""
    COMMIT = 2
    """A precommit for the commit's block."""
    NIL = 3
    """A precommit for nil (no block)."""


@dataclass(frozen=True, slots=True)
class CommitSig:
    block_id_flag: BlockIDFlag
    validator_address: bytes
    timestamp: Timestamp
    signature: bytes


@dataclass(frozen=True, slots=True)
class Commit:
    """The precommits that committed a block (types.Commit): one slot per validator, in the
    validator set's order."""

    height: int
    round: int
    block_id: BlockID
    signatures: tuple[CommitSig, ...]


@dataclass(frozen=True, slots=True)
class SignedHeader:
    header: Header
    commit: Commit


def validator_address(pub_key: bytes) -> bytes:
    """Return the address of an Ed25519 key: sha256(pub_key)[:20] (crypto/ed25519 Address)."""
    return hashlib.sha256(pub_key).digest()[:ADDRESS_SIZE]


@dataclass(frozen=True, slots=True)
class Validator:
    """One validator (types.Validator); its address is derived from its key, never trusted.
    The proposer priority changes every block and is in no hash, so equality ignores it."""

    pub_key: bytes
    voting_power: int
    proposer_priority: int = field(default=0, compare=False)
    address: bytes = field(init=False)

    def __post_init__(self) -> None:
        if len(self.pub_key) != ED25519_KEY_SIZE:
            raise LightClientError(
                Check.MALFORMED,
                f"an Ed25519 public key is {ED25519_KEY_SIZE} bytes, got {len(self.pub_key)}",
            )
        if self.voting_power <= 0:
            raise LightClientError(
                Check.MALFORMED, f"voting power must be positive, got {self.voting_power}"
            )
        object.__setattr__(self, "address", validator_address(self.pub_key))


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    """Validators in the set's own order (by voting power descending, then address ascending,
    as CometBFT keeps them); the order matters, since the set's hash and the commit's signature
    slots follow it. Not empty, no address twice, total power at most MAX_TOTAL_VOTING_POWER."""

    validators: tuple[Validator, ...]
    total_power: int = field(init=False)
    _by_address: dict[bytes, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.validators:
            raise LightClientError(Check.MALFORMED, "a validator set cannot be empty")
        by_address: dict[bytes, int] = {}
        for index, validator in enumerate(self.validators):
            if validator.address in by_address:
                raise LightClientError(
                    Check.MALFORMED,
                    f"validator {validator.address.hex().upper()} appears twice in the set",
                )
            by_address[validator.address] = index
        total = sum(v.voting_power for v in self.validators)
        if total > MAX_TOTAL_VOTING_POWER:
            raise LightClientError(
                Check.MALFORMED,
                f"total voting power {total} exceeds CometBFT's cap {MAX_TOTAL_VOTING_POWER}",
            )
        object.__setattr__(self, "total_power", total)
        object.__setattr__(self, "_by_address", by_address)

    def __len__(self) -> int:
        return len(self.validators)

    def get_by_address(self, address: bytes) -> tuple[int, Validator] | None:
        """Return (index, validator) for `address`, or None when it is not in the set."""
        index = self._by_address.get(address)
        return None if index is None else (index, self.validators[index])


def make_validator_set(keys_and_powers: Iterable[tuple[bytes, int]]) -> ValidatorSet:
    """Build a set from (Ed25519 public key, voting power) pairs, sorted as CometBFT sorts it
    (types.ValidatorsByVotingPower: power descending, then address ascending)."""
    validators = [Validator(bytes(key), int(power)) for key, power in keys_and_powers]
    validators.sort(key=lambda v: (-v.voting_power, v.address))
    return ValidatorSet(tuple(validators))


@dataclass(frozen=True, slots=True)
class LightBlock:
    """A signed header and the validator set that signed it (types.LightBlock)."""

    signed_header: SignedHeader
    validators: ValidatorSet
