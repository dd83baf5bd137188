"""The salted commitment a record carries instead of personal data (docs/modules/registry.md §3).

    commitment = sha256(DOMAIN || salt || content)

``salt`` is 32 random bytes and ``content`` the canonical encoding of the certificate's content;
the registrar keeps both off the ledger. The salt makes the commitment hiding (nobody can confirm
a guessed name and date by hashing candidates); sha256 makes it binding. The ledger never checks
a commitment: it cannot, as it never sees the content. A verifier who is shown content and salt
recomputes it.
"""

from __future__ import annotations

from citychain.crypto.commitment import SALT_SIZE, salted_commitment

__all__ = ["DOMAIN", "SALT_SIZE", "commit"]

DOMAIN = b"citychain/registry/commitment/v1\x00"


def commit(content: bytes, salt: bytes) -> bytes:
    """The 32-byte commitment to ``content`` under ``salt`` (32 bytes)."""
    return salted_commitment(DOMAIN, content, salt)
