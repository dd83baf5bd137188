"""Synthetic CometBFT headers for the light-client tests, signed with PyNaCl keys.

They are built with the same encoding functions the verifier uses; the tests against a real
CometBFT node (and its recorded vectors) are what show those encodings are CometBFT's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from citychain.crypto.keys import PrivateKey
from citychain.light.encoding import header_hash, precommit_sign_bytes, validator_set_hash
from citychain.light.types import (
    BlockID,
    BlockIDFlag,
    Commit,
    CommitSig,
    Header,
    LightBlock,
    PartSetHeader,
    SignedHeader,
    Timestamp,
    ValidatorSet,
    make_validator_set,
    validator_address,
)

CHAIN_ID = "citychain-light-test"
GENESIS_TIME = 1_800_000_000
ZERO_TIME = Timestamp(-62135596800, 0)
ABSENT, COMMIT, NIL = BlockIDFlag.ABSENT, BlockIDFlag.COMMIT, BlockIDFlag.NIL


def key(n: int) -> PrivateKey:
    """A fixed test key: the seed is 32 bytes of n."""
    return PrivateKey.from_seed(bytes([n]) * 32)


@dataclass(frozen=True)
class Members:
    """A validator set and the private keys of its members (by public key)."""

    validators: ValidatorSet
    keys: Mapping[bytes, PrivateKey]

    def index_of(self, n: int) -> int:
        """The slot of key(n) in the set's order."""
        found = self.validators.get_by_address(validator_address(key(n).public_key))
        assert found is not None
        return found[0]


def members(powers: Mapping[int, int]) -> Members:
    """Validators key(n) with power p for each n: p of `powers`."""
    keys = {key(n).public_key: key(n) for n in powers}
    validators = make_validator_set((key(n).public_key, p) for n, p in powers.items())
    return Members(validators, keys)


def _hash(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def signed_block(
    signers: Members,
    height: int,
    *,
    next_signers: Members | None = None,
    app_hash: bytes = b"\x00" * 8,
    chain_id: str = CHAIN_ID,
    flags: Mapping[int, BlockIDFlag] | None = None,
    time: Timestamp | None = None,
) -> LightBlock:
    """A header at `height` signed by `signers`; slot i gets flags.get(i, COMMIT)."""
    flags = flags or {}
    next_signers = next_signers or signers
    header_time = time or Timestamp(GENESIS_TIME + height, 0)
    header = Header(
        version_block=11,
        version_app=1,
        chain_id=chain_id,
        height=height,
        time=header_time,
        last_block_id=BlockID(_hash(f"block {height - 1}"), PartSetHeader(1, _hash("parts"))),
        last_commit_hash=_hash("last commit"),
        data_hash=hashlib.sha256(b"").digest(),
        validators_hash=validator_set_hash(signers.validators),
        next_validators_hash=validator_set_hash(next_signers.validators),
        consensus_hash=_hash("consensus"),
        app_hash=app_hash,
        last_results_hash=hashlib.sha256(b"").digest(),
        evidence_hash=hashlib.sha256(b"").digest(),
        proposer_address=signers.validators.validators[0].address,
    )
    block_id = BlockID(header_hash(header), PartSetHeader(1, _hash(f"parts {height}")))
    vote_time = Timestamp(header_time.seconds + 1, 123_456_789)
    sigs = []
    for index, validator in enumerate(signers.validators.validators):
        flag = flags.get(index, COMMIT)
        if flag == ABSENT:
            sigs.append(CommitSig(ABSENT, b"", ZERO_TIME, b""))
            continue
        voted = block_id if flag == COMMIT else None
        message = precommit_sign_bytes(chain_id, height, 0, voted, vote_time)
        signature = signers.keys[validator.pub_key].sign(message)
        sigs.append(CommitSig(flag, validator.address, vote_time, signature))
    commit = Commit(height, 0, block_id, tuple(sigs))
    return LightBlock(SignedHeader(header, commit), signers.validators)


def sign_slot(block: LightBlock, index: int, private_key: PrivateKey) -> LightBlock:
    """Return `block` with slot `index` replaced by a COMMIT precommit signed by `private_key`
    (under that key's address)."""
    commit = block.signed_header.commit
    header = block.signed_header.header
    vote_time = Timestamp(header.time.seconds + 1, 123_456_789)
    message = precommit_sign_bytes(header.chain_id, commit.height, 0, commit.block_id, vote_time)
    sig = CommitSig(
        COMMIT, validator_address(private_key.public_key), vote_time, private_key.sign(message)
    )
    sigs = list(commit.signatures)
    sigs[index] = sig
    new_commit = Commit(commit.height, commit.round, commit.block_id, tuple(sigs))
    return LightBlock(SignedHeader(header, new_commit), block.validators)
