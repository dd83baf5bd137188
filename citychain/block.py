"""Block headers of the solo engine and their signatures (docs/encoding.md, "Blocks").

The solo engine executes a block and then signs a header that commits to the state *after* it
(``app_hash``), its transactions and their results, so one signed header proves a value. CometBFT
headers instead carry the app hash of the previous block; the verifier handles both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from citychain.codec import U64, Bytes32, Struct, encode
from citychain.crypto.keys import PrivateKey, verify

HEADER_DOMAIN = b"citychain/header/v1\x00"
ZERO_HASH = bytes(32)


class Header(Struct, frozen=True):
    chain_id: str
    height: U64
    time_ms: U64  # block time chosen by the engine: the only clock the state machine sees
    prev_hash: Bytes32  # hash of the previous header; the genesis hash at height 1
    txs_hash: Bytes32
    results_hash: Bytes32
    app_hash: Bytes32  # Merkle root of the state after this block
    proposer: Bytes32  # validator public key


def header_hash(header: Header) -> bytes:
    return hashlib.sha256(encode(header)).digest()


def sign_header(key: PrivateKey, header: Header) -> bytes:
    return key.sign(HEADER_DOMAIN + encode(header))


def header_signature_valid(header: Header, signature: bytes) -> bool:
    return verify(header.proposer, HEADER_DOMAIN + encode(header), signature)


def list_hash(items: Sequence[bytes]) -> bytes:
    """SHA-256 over the concatenated 32-byte hashes (empty list: SHA-256 of nothing)."""
    return hashlib.sha256(b"".join(items)).digest()


class CometHeaderInfo(Struct, frozen=True):
    """What a node under CometBFT records of a block it committed (CometBFT keeps the header and
    its commit signatures; proofs fetch those from it). ``app_hash`` is the state *after* this
    block, as in the solo header; CometBFT's own header H+1 carries the same value."""

    chain_id: str
    height: U64
    time_ms: U64
    prev_hash: bytes  # the previous block's hash (CometBFT's last_block_id); empty at height 1
    txs_hash: Bytes32
    results_hash: Bytes32
    app_hash: Bytes32
    proposer_address: bytes  # 20 bytes: sha256(validator public key)[:20]
    next_validators_hash: bytes
