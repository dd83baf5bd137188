"""A registrar office's side of the civil registry (docs/modules/registry.md §8).

The office keeps the personal data; the ledger gets a salted commitment; the citizen gets a
signed credential bundled with a proof of the record::

    register = OfficeRegister.open(Path("~/.citychain-office"), passphrase)
    office = Registrar(wallet, register=register)
    issued = office.register_birth(content)          # content: the schema's fields
    Path("ada.json").write_text(json.dumps(issued.bundle))

``register`` is the office's own register (citychain/client/office.py): one entry per record
version with the content and the salt, encrypted under the office's passphrase in the office's
own folder, never in a node's home. The commitment on the ledger can be opened only with it, so
an auditor with the office's consent can check any record.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from citychain.client.certificates import make_bundle
from citychain.client.office import OfficeRegister
from citychain.client.wallet import Wallet
from citychain.credentials import (
    CredentialError,
    content_commitment,
    issue_credential,
    schema_for,
)
from citychain.crypto.address import address_to_bytes
from citychain.modules.registry import (
    MAX_WALLETS,
    REVOCATION_REASONS,
    MsgAmend,
    MsgRegister,
    MsgRevoke,
)

__all__ = ["IssuedCertificate", "PreparedRecord", "Registrar", "revocation_code"]

ID_SIZE = 32


@dataclass(frozen=True)
class PreparedRecord:
    """A record version before it is on the ledger: its message and the secrets behind it."""

    kind: str
    record_id: bytes
    salt: bytes
    content: dict[str, str]
    message: MsgRegister | MsgAmend


@dataclass(frozen=True)
class IssuedCertificate:
    kind: str
    record_id: bytes
    salt: bytes
    content: dict[str, str]
    credential: str  # the SD-JWT with every disclosure
    bundle: dict[str, Any]  # the certificate file: credential, record proof, issuer key
    height: int
    tx_hash: str


def revocation_code(reason: str | int) -> int:
    """The code of a revocation reason given by name or code; CredentialError if unknown."""
    by_name = {name: code for code, name in REVOCATION_REASONS.items()}
    code = reason if isinstance(reason, int) else by_name.get(reason)
    if code is None and isinstance(reason, str) and reason.isdigit():
        code = int(reason)
    if code not in REVOCATION_REASONS:
        known = ", ".join(f"{n} ({c})" for c, n in REVOCATION_REASONS.items())
        raise CredentialError(f"unknown revocation reason {reason!r}; known: {known}")
    return code


class Registrar:
    def __init__(
        self,
        wallet: Wallet,
        *,
        register: OfficeRegister | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.wallet = wallet
        self.register = register
        self.clock = clock

    # --- preparing and issuing, separately (batches) ----------------------------------------
    def prepare_register(
        self,
        kind: str,
        content: dict[str, str],
        *,
        birth_record: bytes | None = None,
        wallets: Sequence[str] = (),
    ) -> PreparedRecord:
        """Validate ``content`` and build the register message under a fresh id and salt."""
        fields = schema_for(kind).validate(content)
        if kind != "death" and (birth_record is not None or wallets):
            raise CredentialError("only a death names a birth record and wallets")
        if len(wallets) > MAX_WALLETS:
            raise CredentialError(f"a death freezes at most {MAX_WALLETS} wallets")
        if birth_record is not None and len(birth_record) != ID_SIZE:
            raise CredentialError("the birth record id must be 32 bytes")
        record_id, salt = secrets.token_bytes(ID_SIZE), secrets.token_bytes(ID_SIZE)
        message = MsgRegister(
            kind,  # type: ignore[arg-type]  # checked by schema_for
            record_id,
            content_commitment(fields, salt, kind),
            birth_record,
            tuple(address_to_bytes(w) for w in wallets),
        )
        return PreparedRecord(kind, record_id, salt, fields, message)

    def prepare_amend(self, kind: str, record_id: bytes, content: dict[str, str]) -> PreparedRecord:
        fields = schema_for(kind).validate(content)
        new_id, salt = secrets.token_bytes(ID_SIZE), secrets.token_bytes(ID_SIZE)
        message = MsgAmend(record_id, new_id, content_commitment(fields, salt, kind))
        return PreparedRecord(kind, new_id, salt, fields, message)

    def credential(self, prepared: PreparedRecord) -> str:
        return issue_credential(
            prepared.kind,
            self.wallet.key,
            prepared.record_id,
            prepared.content,
            prepared.salt,
            issued_at=int(self.clock()),
        )

    def finish(self, prepared: PreparedRecord, receipt: dict[str, Any]) -> IssuedCertificate:
        """Issue the credential of a committed record version and bundle a proof of it."""
        credential = self.credential(prepared)
        proof = self.wallet.client.registry_proof(prepared.record_id.hex())
        bundle = make_bundle(credential, proof, self.wallet.key.public_key)
        issued = IssuedCertificate(
            prepared.kind,
            prepared.record_id,
            prepared.salt,
            prepared.content,
            credential,
            bundle,
            int(receipt.get("height") or 0),
            str(receipt.get("hash", "")),
        )
        self._keep(issued, prepared.message)
        return issued

    # --- one record at a time --------------------------------------------------------------
    def register_birth(self, content: dict[str, str]) -> IssuedCertificate:
        prepared = self.prepare_register("birth", content)
        return self.finish(prepared, self.wallet.submit([prepared.message]))

    def register_death(
        self,
        content: dict[str, str],
        *,
        birth_record: bytes | None = None,
        wallets: Sequence[str] = (),
    ) -> IssuedCertificate:
        prepared = self.prepare_register(
            "death", content, birth_record=birth_record, wallets=wallets
        )
        return self.finish(prepared, self.wallet.submit([prepared.message]))

    def amend(self, record_id: bytes, content: dict[str, str]) -> IssuedCertificate:
        """A new version of the valid record ``record_id``, of the same kind, with ``content``."""
        kind = str(self.wallet.client.registry_record(record_id.hex())["kind"])
        prepared = self.prepare_amend(kind, record_id, content)
        return self.finish(prepared, self.wallet.submit([prepared.message]))

    def revoke(self, record_id: bytes, reason: str | int) -> dict[str, Any]:
        return self.wallet.submit([MsgRevoke(record_id, revocation_code(reason))])

    # --- the office's own register -----------------------------------------------------------
    def _keep(self, issued: IssuedCertificate, message: MsgRegister | MsgAmend) -> None:
        if self.register is None:
            return
        self.register.keep(
            issued.record_id,
            {
                "kind": issued.kind,
                "record_id": issued.record_id.hex(),
                "salt": issued.salt.hex(),
                "content": issued.content,
                "height": issued.height,
                "tx_hash": issued.tx_hash,
                "amends": message.record_id.hex() if isinstance(message, MsgAmend) else None,
            },
        )
