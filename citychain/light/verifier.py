"""Commit and header verification, as CometBFT 0.38's light client does it, without a clock.

Sources: types/validation.go (VerifyCommitLight, VerifyCommitLightTrusting), types/light.go
(SignedHeader.ValidateBasic), types/block.go (Header.ValidateBasic) and light/verifier.go
(VerifyAdjacent, VerifyNonAdjacent). Each rule is one `_ensure(...)` naming its `Check`.

Differences from CometBFT, all on the side of refusing more:

- there is no trusting period and no clock-drift bound: offline, nothing says what time it is,
  so a header is trusted for ever once it links to the trusted validators (docs/light-client.md);
- every COMMIT signature is verified, not only enough of them to pass the threshold
  (VerifyCommitLightAllSignatures), so a bad signature anywhere refuses the commit;
- signatures are checked with libsodium's rules (`citychain.crypto.keys.verify`), a subset of the
  ZIP-215 rules CometBFT's Ed25519 accepts; an honest validator's signature passes both.

Voting power thresholds are exact integer comparisons: "more than 2/3" is
`3 * signed > 2 * total`, as CometBFT's `signed > total * 2 / 3` is with integer division.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from citychain.crypto.keys import verify as verify_signature
from citychain.light.encoding import header_hash, validator_set_hash, vote_sign_bytes
from citychain.light.errors import Check, LightClientError
from citychain.light.rfc3339 import format_rfc3339
from citychain.light.types import (
    ADDRESS_SIZE,
    HASH_SIZE,
    BlockIDFlag,
    Commit,
    Header,
    LightBlock,
    SignedHeader,
    ValidatorSet,
)

__all__ = [
    "BLOCK_PROTOCOL",
    "DEFAULT_TRUST_LEVEL",
    "MAX_CHAIN_ID_LENGTH",
    "CommitTally",
    "check_signed_header",
    "validate_trust_level",
    "verify_adjacent",
    "verify_chain",
    "verify_commit",
    "verify_commit_trusting",
    "verify_non_adjacent",
]

BLOCK_PROTOCOL = 11
"""CometBFT 0.38's block protocol version (version.BlockProtocol); headers must carry it."""

MAX_CHAIN_ID_LENGTH = 50
"""Longest chain ID CometBFT accepts (types.MaxChainIDLen)."""

DEFAULT_TRUST_LEVEL = Fraction(1, 3)
"""Share of the trusted set's power that must sign a new header (light.DefaultTrustLevel): more
than 1/3 guarantees at least one correct validator vouches for the new set."""


@dataclass(frozen=True, slots=True)
class CommitTally:
    """Voting power carried by a commit's valid signatures, out of the set's total."""

    signed_power: int
    total_power: int


def _ensure(condition: bool, check: Check, message: str) -> None:
    if not condition:
        raise LightClientError(check, message)


def _hex(value: bytes) -> str:
    return value.hex().upper()


def validate_trust_level(trust_level: Fraction) -> None:
    """Raise ValueError unless 1/3 <= trust_level <= 1 (light.ValidateTrustLevel)."""
    if not Fraction(1, 3) <= trust_level <= 1:
        raise ValueError(f"trust level must be within [1/3, 1], got {trust_level}")


def _check_header_basic(header: Header) -> None:
    """Header.ValidateBasic: protocol version, height, chain ID length and hash sizes."""
    _ensure(
        header.version_block == BLOCK_PROTOCOL,
        Check.HEADER,
        f"block protocol is {header.version_block}, expected {BLOCK_PROTOCOL}",
    )
    _ensure(header.height > 0, Check.HEADER, f"height must be positive, got {header.height}")
    _ensure(
        len(header.chain_id) <= MAX_CHAIN_ID_LENGTH,
        Check.HEADER,
        f"chain ID is {len(header.chain_id)} characters, at most {MAX_CHAIN_ID_LENGTH} allowed",
    )
    optional_hashes = {
        "last_block_id.hash": header.last_block_id.hash,
        "last_block_id.parts.hash": header.last_block_id.part_set_header.hash,
        "last_commit_hash": header.last_commit_hash,
        "data_hash": header.data_hash,
        "evidence_hash": header.evidence_hash,
        "next_validators_hash": header.next_validators_hash,
        "consensus_hash": header.consensus_hash,
        "last_results_hash": header.last_results_hash,
    }
    for name, value in optional_hashes.items():
        _ensure(
            len(value) in (0, HASH_SIZE),
            Check.HEADER,
            f"{name} is {len(value)} bytes, expected {HASH_SIZE} or none",
        )
    # Header.Hash is nil without a validators hash, so no commit can sign such a header.
    _ensure(
        len(header.validators_hash) == HASH_SIZE,
        Check.HEADER,
        f"validators_hash is {len(header.validators_hash)} bytes, expected {HASH_SIZE}",
    )
    _ensure(
        len(header.proposer_address) == ADDRESS_SIZE,
        Check.HEADER,
        f"proposer_address is {len(header.proposer_address)} bytes, expected {ADDRESS_SIZE}",
    )


def check_signed_header(chain_id: str, signed_header: SignedHeader) -> bytes:
    """SignedHeader.ValidateBasic: a well-formed header of `chain_id` whose commit is for its
    height and signs its hash. Returns the header hash."""
    header, commit = signed_header.header, signed_header.commit
    _check_header_basic(header)
    _ensure(
        header.chain_id == chain_id,
        Check.CHAIN_ID,
        f"header belongs to chain {header.chain_id!r}, not {chain_id!r}",
    )
    _ensure(
        commit.height == header.height,
        Check.COMMIT_HEIGHT,
        f"header is at height {header.height}, its commit at height {commit.height}",
    )
    block_hash = header_hash(header)
    _ensure(
        commit.block_id.hash == block_hash,
        Check.BLOCK_ID,
        f"commit signs block {_hex(commit.block_id.hash)}, the header hashes to {_hex(block_hash)}",
    )
    return block_hash


def _check_validators_hash(header: Header, validators: ValidatorSet) -> None:
    supplied = validator_set_hash(validators)
    _ensure(
        header.validators_hash == supplied,
        Check.VALIDATORS_HASH,
        f"header at height {header.height} names validators {_hex(header.validators_hash)}, "
        f"the set supplied hashes to {_hex(supplied)}",
    )


def _tally_own_set(chain_id: str, validators: ValidatorSet, commit: Commit) -> CommitTally:
    """VerifyCommitLightAllSignatures: slot i is validator i; every COMMIT slot's signature
    must verify; their power must be more than 2/3 of the set's."""
    _ensure(
        len(commit.signatures) == len(validators),
        Check.SIGNATURE_COUNT,
        f"commit has {len(commit.signatures)} signature slots, the set {len(validators)} "
        "validators",
    )
    signed = 0
    for index, commit_sig in enumerate(commit.signatures):
        if commit_sig.block_id_flag != BlockIDFlag.COMMIT:
            continue
        validator = validators.validators[index]
        _ensure(
            commit_sig.validator_address == validator.address,
            Check.VALIDATOR_ADDRESS,
            f"slot {index} is signed by {_hex(commit_sig.validator_address)}, the set has "
            f"{_hex(validator.address)} there",
        )
        _ensure(
            verify_signature(
                validator.pub_key, vote_sign_bytes(chain_id, commit, index), commit_sig.signature
            ),
            Check.SIGNATURE,
            f"precommit #{index} by {_hex(validator.address)} does not verify",
        )
        signed += validator.voting_power
    total = validators.total_power
    _ensure(
        3 * signed > 2 * total,
        Check.VOTING_POWER,
        f"valid signatures carry {signed} of {total} voting power, not more than 2/3 "
        f"(needs more than {total * 2 // 3})",
    )
    return CommitTally(signed, total)


def verify_commit(
    chain_id: str, signed_header: SignedHeader, validators: ValidatorSet
) -> CommitTally:
    """Check that `validators` signed `signed_header` with more than 2/3 of their power.

    In order: the header is well formed, of `chain_id`, its commit is for its height and hash
    (check_signed_header); `validators` is the set the header names; slot i is validator i;
    every COMMIT signature verifies; their power is more than 2/3 of the total.
    Raises LightClientError naming the failed check.
    """
    check_signed_header(chain_id, signed_header)
    _check_validators_hash(signed_header.header, validators)
    return _tally_own_set(chain_id, validators, signed_header.commit)


def verify_commit_trusting(
    chain_id: str,
    trusted_validators: ValidatorSet,
    commit: Commit,
    trust_level: Fraction = DEFAULT_TRUST_LEVEL,
) -> CommitTally:
    """VerifyCommitLightTrustingAllSignatures: the trusted validators' valid COMMIT signatures
    on `commit` (found by address; others are skipped) carry more than `trust_level` of the
    trusted set's power. A trusted validator signing twice is refused."""
    validate_trust_level(trust_level)
    seen: dict[int, int] = {}
    signed = 0
    for slot, commit_sig in enumerate(commit.signatures):
        if commit_sig.block_id_flag != BlockIDFlag.COMMIT:
            continue
        found = trusted_validators.get_by_address(commit_sig.validator_address)
        if found is None:
            continue
        index, validator = found
        _ensure(
            index not in seen,
            Check.DOUBLE_VOTE,
            f"validator {_hex(validator.address)} signs slots {seen.get(index)} and {slot}",
        )
        seen[index] = slot
        _ensure(
            verify_signature(
                validator.pub_key, vote_sign_bytes(chain_id, commit, slot), commit_sig.signature
            ),
            Check.SIGNATURE,
            f"precommit #{slot} by trusted validator {_hex(validator.address)} does not verify",
        )
        signed += validator.voting_power
    total = trusted_validators.total_power
    needed = total * trust_level.numerator // trust_level.denominator
    _ensure(
        signed * trust_level.denominator > total * trust_level.numerator,
        Check.TRUST_LEVEL,
        f"trusted validators signed with {signed} of their {total} voting power, not more "
        f"than {trust_level} (needs more than {needed})",
    )
    return CommitTally(signed, total)


def _check_new_header(
    chain_id: str, trusted_header: SignedHeader | None, untrusted: LightBlock
) -> None:
    """verifyNewHeaderAndVals without the clock: well formed, later than the trusted header
    (in height and time), and carrying the validator set it names."""
    check_signed_header(chain_id, untrusted.signed_header)
    header = untrusted.signed_header.header
    if trusted_header is not None:
        trusted = trusted_header.header
        _ensure(
            header.height > trusted.height,
            Check.HEIGHT_ORDER,
            f"header height {header.height} is not above the trusted height {trusted.height}",
        )
        _ensure(
            header.time > trusted.time,
            Check.TIME_ORDER,
            f"header time {format_rfc3339(header.time)} is not after the trusted header's "
            f"{format_rfc3339(trusted.time)}",
        )
    _check_validators_hash(header, untrusted.validators)


def verify_adjacent(
    chain_id: str, trusted_header: SignedHeader, untrusted: LightBlock
) -> CommitTally:
    """VerifyAdjacent: `untrusted` is at the trusted height + 1, its validators are the trusted
    header's next_validators_hash, and they signed it with more than 2/3 of their power."""
    trusted = trusted_header.header
    header = untrusted.signed_header.header
    _ensure(
        header.height == trusted.height + 1,
        Check.HEIGHT_ORDER,
        f"header height {header.height} is not adjacent to the trusted height {trusted.height}",
    )
    _check_new_header(chain_id, trusted_header, untrusted)
    _ensure(
        header.validators_hash == trusted.next_validators_hash,
        Check.NEXT_VALIDATORS_HASH,
        f"trusted header {trusted.height} names next validators "
        f"{_hex(trusted.next_validators_hash)}, header {header.height} is signed by "
        f"{_hex(header.validators_hash)}",
    )
    return _tally_own_set(chain_id, untrusted.validators, untrusted.signed_header.commit)


def verify_non_adjacent(
    chain_id: str,
    trusted_header: SignedHeader | None,
    trusted_validators: ValidatorSet,
    untrusted: LightBlock,
    trust_level: Fraction = DEFAULT_TRUST_LEVEL,
) -> CommitTally:
    """VerifyNonAdjacent (skipping): more than `trust_level` of the trusted validators' power
    signed the new commit, and more than 2/3 of the new set's. `trusted_header` is None when
    only a validator set is trusted (a genesis), which skips the height and time order checks.
    Returns the new set's tally."""
    validate_trust_level(trust_level)
    if trusted_header is not None:
        _ensure(
            untrusted.signed_header.header.height != trusted_header.header.height + 1,
            Check.HEIGHT_ORDER,
            "adjacent headers are verified with verify_adjacent",
        )
    _check_new_header(chain_id, trusted_header, untrusted)
    commit = untrusted.signed_header.commit
    verify_commit_trusting(chain_id, trusted_validators, commit, trust_level)
    # Last, as in CometBFT: the untrusted set can be made huge to waste the verifier's time.
    return _tally_own_set(chain_id, untrusted.validators, commit)


def verify_chain(
    chain_id: str,
    trusted_validators: ValidatorSet,
    hops: Sequence[LightBlock],
    trust_level: Fraction = DEFAULT_TRUST_LEVEL,
) -> Header:
    """Walk `hops` from `trusted_validators` (a genesis set) and return the last hop's header.

    Hop 0 is verified against `trusted_validators` by the skipping rule; hop i > 0 against
    hop i - 1: by next_validators_hash when it is the next height (verify_adjacent), else by the
    skipping rule with hop i - 1's validators (verify_non_adjacent). A failure raises
    LightClientError with `hop` (the index in `hops`) and `height` set.
    """
    validate_trust_level(trust_level)
    if not hops:
        raise LightClientError(Check.MALFORMED, "no headers to verify")
    trusted_header: SignedHeader | None = None
    trusted_set = trusted_validators
    for index, hop in enumerate(hops):
        header = hop.signed_header.header
        try:
            if trusted_header is not None and header.height == trusted_header.header.height + 1:
                verify_adjacent(chain_id, trusted_header, hop)
            else:
                verify_non_adjacent(chain_id, trusted_header, trusted_set, hop, trust_level)
        except LightClientError as exc:
            raise exc.at(hop=index, height=header.height) from None
        trusted_header, trusted_set = hop.signed_header, hop.validators
    return hops[-1].signed_header.header
