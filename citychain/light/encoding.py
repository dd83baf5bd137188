"""The bytes CometBFT 0.38 hashes and signs, rebuilt from the typed values.

- Header hash (types/block.go, Header.Hash): the Merkle root (`citychain.light.merkle`) of the
  header's 14 fields, each protobuf-encoded on its own: version as tendermint.version.Consensus,
  chain_id, height and the hashes through `cdcEncode` (a google.protobuf StringValue, Int64Value
  or BytesValue wrapper; an empty value encodes to no bytes at all), time as a
  google.protobuf.Timestamp, last_block_id as tendermint.types.BlockID.
- Validator set hash (types/validator_set.go, ValidatorSet.Hash): the Merkle root of each
  validator's SimpleValidator{pub_key, voting_power} bytes, in the set's order.
- Precommit sign bytes (types/vote.go, VoteSignBytes): a varint length prefix, then the
  CanonicalVote{type=PRECOMMIT, height, round (both sfixed64), block_id, timestamp, chain_id};
  block_id is the commit's for a COMMIT slot and left out (nil) for a NIL slot
  (types/canonical.go, CanonicalizeVote and CanonicalizeBlockID).

The protobuf messages come from the classes generated from CometBFT's own .proto files. Go's
gogoproto always writes a non-nullable sub-message, even an empty one (a BlockID's
part_set_header, a CanonicalVote's timestamp), so those fields are marked present here too.
"""

from __future__ import annotations

from google.protobuf import timestamp_pb2, wrappers_pb2

from citychain.light.merkle import merkle_root
from citychain.light.types import (
    BlockID,
    BlockIDFlag,
    Commit,
    Header,
    Timestamp,
    Validator,
    ValidatorSet,
)
from citychain.pb.tendermint.crypto import keys_pb2
from citychain.pb.tendermint.types import canonical_pb2, types_pb2, validator_pb2
from citychain.pb.tendermint.version import types_pb2 as version_pb2

__all__ = [
    "block_id_bytes",
    "cdc_bytes",
    "cdc_int64",
    "cdc_string",
    "header_hash",
    "header_leaves",
    "precommit_sign_bytes",
    "simple_validator_bytes",
    "timestamp_bytes",
    "validator_set_hash",
    "version_bytes",
    "vote_sign_bytes",
]


def cdc_string(value: str) -> bytes:
    """cdcEncode(string): a StringValue, or nothing for the empty string."""
    return wrappers_pb2.StringValue(value=value).SerializeToString() if value else b""


def cdc_int64(value: int) -> bytes:
    """cdcEncode(int64): an Int64Value, or nothing for zero."""
    return wrappers_pb2.Int64Value(value=value).SerializeToString() if value else b""


def cdc_bytes(value: bytes) -> bytes:
    """cdcEncode(HexBytes): a BytesValue, or nothing for empty bytes."""
    return wrappers_pb2.BytesValue(value=value).SerializeToString() if value else b""


def version_bytes(block: int, app: int) -> bytes:
    """tendermint.version.Consensus{block, app}."""
    return version_pb2.Consensus(block=block, app=app).SerializeToString()


def timestamp_bytes(time: Timestamp) -> bytes:
    """google.protobuf.Timestamp{seconds, nanos} (gogotypes.StdTimeMarshal)."""
    return timestamp_pb2.Timestamp(seconds=time.seconds, nanos=time.nanos).SerializeToString()


def block_id_bytes(block_id: BlockID) -> bytes:
    """tendermint.types.BlockID, with part_set_header always written (non-nullable)."""
    message = types_pb2.BlockID(hash=block_id.hash)
    message.part_set_header.SetInParent()
    message.part_set_header.total = block_id.part_set_header.total
    message.part_set_header.hash = block_id.part_set_header.hash
    return message.SerializeToString()


def header_leaves(header: Header) -> list[bytes]:
    """The 14 encoded fields whose Merkle root is the header's hash, in Header.Hash's order."""
    return [
        version_bytes(header.version_block, header.version_app),
        cdc_string(header.chain_id),
        cdc_int64(header.height),
        timestamp_bytes(header.time),
        block_id_bytes(header.last_block_id),
        cdc_bytes(header.last_commit_hash),
        cdc_bytes(header.data_hash),
        cdc_bytes(header.validators_hash),
        cdc_bytes(header.next_validators_hash),
        cdc_bytes(header.consensus_hash),
        cdc_bytes(header.app_hash),
        cdc_bytes(header.last_results_hash),
        cdc_bytes(header.evidence_hash),
        cdc_bytes(header.proposer_address),
    ]


def header_hash(header: Header) -> bytes:
    """Return the header's hash, the block hash its commit signs (Header.Hash)."""
    return merkle_root(header_leaves(header))


def simple_validator_bytes(validator: Validator) -> bytes:
    """tendermint.types.SimpleValidator{pub_key: PublicKey{ed25519}, voting_power}
    (Validator.Bytes)."""
    message = validator_pb2.SimpleValidator(
        pub_key=keys_pb2.PublicKey(ed25519=validator.pub_key),
        voting_power=validator.voting_power,
    )
    return message.SerializeToString()


def validator_set_hash(validators: ValidatorSet) -> bytes:
    """Return the set's hash, as a header's validators_hash names it (ValidatorSet.Hash)."""
    return merkle_root([simple_validator_bytes(v) for v in validators.validators])


def precommit_sign_bytes(
    chain_id: str, height: int, round_: int, block_id: BlockID | None, timestamp: Timestamp
) -> bytes:
    """Return the bytes a validator signs for a precommit (VoteSignBytes): the varint length,
    then CanonicalVote. `block_id` None (or the zero ID) is a precommit for nil."""
    vote = canonical_pb2.CanonicalVote(
        type=types_pb2.SIGNED_MSG_TYPE_PRECOMMIT, height=height, round=round_, chain_id=chain_id
    )
    if block_id is not None and not block_id.is_zero():
        vote.block_id.SetInParent()
        vote.block_id.hash = block_id.hash
        vote.block_id.part_set_header.SetInParent()
        vote.block_id.part_set_header.total = block_id.part_set_header.total
        vote.block_id.part_set_header.hash = block_id.part_set_header.hash
    vote.timestamp.SetInParent()
    vote.timestamp.seconds = timestamp.seconds
    vote.timestamp.nanos = timestamp.nanos
    body = vote.SerializeToString()
    return _uvarint(len(body)) + body


def vote_sign_bytes(chain_id: str, commit: Commit, index: int) -> bytes:
    """Return the sign bytes of the precommit in slot `index` of `commit`
    (Commit.VoteSignBytes): the commit's block_id for a COMMIT slot, nil otherwise."""
    commit_sig = commit.signatures[index]
    block_id = commit.block_id if commit_sig.block_id_flag == BlockIDFlag.COMMIT else None
    return precommit_sign_bytes(
        chain_id, commit.height, commit.round, block_id, commit_sig.timestamp
    )


def _uvarint(value: int) -> bytes:
    """Protobuf's unsigned varint: 7 bits a byte, least significant first, high bit = more."""
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)
