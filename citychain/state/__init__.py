"""Authenticated Merkle state, proofs and database-free verification (docs/state.md).

Public API: `MerkleTree` (citychain.state.tree), `Proof`, `ProofFormatError` and
`verify_proof` (citychain.state.proof), plus the hash constants a verifier needs.
"""

from citychain.state.proof import (
    EMPTY_HASH,
    EMPTY_ROOT,
    MAX_DEPTH,
    Proof,
    ProofFormatError,
    branch_hash,
    key_path,
    leaf_hash,
    verify_proof,
)
from citychain.state.tree import MerkleTree

__all__ = [
    "EMPTY_HASH",
    "EMPTY_ROOT",
    "MAX_DEPTH",
    "MerkleTree",
    "Proof",
    "ProofFormatError",
    "branch_hash",
    "key_path",
    "leaf_hash",
    "verify_proof",
]
