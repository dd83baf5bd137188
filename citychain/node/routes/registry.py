"""The civil registry's HTTP routes (docs/modules/registry.md §8).

Reads: one record version with its audit trail, every version of a record, and a proof bundle of
a version (what a holder attaches to a certificate). For anyone: verification of a certificate
bundle against this chain's genesis validators, and a selective presentation of a credential
with a fresh record proof.

Writes (register, amend, revoke) are signed by the registrar's key and go through ``POST /txs``
like every transaction: the node never holds a registrar's key, so it cannot issue anything.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field
from starlette import status

from citychain.credentials import (
    CredentialError,
    present,
    verify_certificate,
    verify_presentation,
)
from citychain.credentials.certificate import VerificationFailure
from citychain.modules.registry import history_view, record_key, record_view
from citychain.node.dispatch import EngineRoute
from citychain.node.routes.deps import NodeDep, proof_of, settled_reads
from citychain.node.service import Node

__all__ = ["router"]

RecordId = Annotated[
    str, Path(pattern="^[0-9a-f]{64}$", description="record id: 64 lowercase hex characters")
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": 'no such record: {"error": {...}}'}
}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {
        "description": 'a body that is not JSON, a bad credential or claim: {"error": {...}}'
    }
}
MAX_DOCUMENT = 64_000  # a certificate bundle is a few KB; the API refuses bodies above 1 MB

router = APIRouter(prefix="/registry", tags=["registry"], route_class=EngineRoute)


class CertificateIn(BaseModel):
    """A certificate bundle: {presentation, record_proof, issuer_key?}."""

    presentation: str = Field(max_length=MAX_DOCUMENT)
    record_proof: dict[str, Any]
    issuer_key: str | None = Field(default=None, max_length=64)


class PresentIn(BaseModel):
    credential: str = Field(max_length=MAX_DOCUMENT, description="the holder's full credential")
    issuer_key: str = Field(pattern="^[0-9a-f]{64}$")
    disclose: list[str] = Field(max_length=32, description="claim names to show")


def trusted_validators(node: Node) -> list[tuple[bytes, int]]:
    """The chain's genesis validators and their power: what a certificate is checked against."""
    genesis = node.app.genesis
    if genesis is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the node has no genesis yet")
    return [(v.public_key, v.power) for v in genesis.validators]


@router.get("/records/{record_id}", responses=NOT_FOUND)
async def record(record_id: RecordId, node: NodeDep) -> dict[str, Any]:
    """One version of a record: kind, status, commitment, offices and its audit trail."""
    await settled_reads(node)
    view = record_view(node.app.committed, bytes.fromhex(record_id))
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no record {record_id}")
    return {**view, "height": node.app.height}


@router.get("/records/{record_id}/versions", responses=NOT_FOUND)
async def versions(record_id: RecordId, node: NodeDep) -> dict[str, Any]:
    """Every version of the record this id belongs to, oldest first."""
    await settled_reads(node)
    view = history_view(node.app.committed, bytes.fromhex(record_id))
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no record {record_id}")
    return {"versions": view, "height": node.app.height}


@router.get("/records/{record_id}/proof", responses=NOT_FOUND)
async def proof(record_id: RecordId, node: NodeDep) -> dict[str, Any]:
    """A proof bundle of this version's record (or of its absence) at the last block."""
    await settled_reads(node)
    return await proof_of(node, record_key(bytes.fromhex(record_id)))


@router.post("/verify", responses=BAD_BODY)
async def verify(body: CertificateIn, node: NodeDep) -> dict[str, Any]:
    """Verify a certificate bundle against this chain's genesis validators.

    The answer is the verdict (``valid``, ``status``, ``reason``, ``check``, the disclosed
    ``claims``), with status 200 whether or not the certificate is valid.
    """
    bundle = body.model_dump(exclude_none=True)
    return verify_certificate(bundle, None, trusted_validators(node)).as_json()


@router.post("/present", responses=BAD_BODY)
async def present_route(body: PresentIn, node: NodeDep) -> dict[str, Any]:
    """A certificate bundle disclosing only ``disclose``, with a fresh record proof.

    The node sees the credential it is given; a holder who would rather not shows it to
    no node and runs ``citychain registry present`` on their own machine.
    """
    try:
        presentation = present(body.credential, body.disclose)
    except CredentialError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    checked = verify_presentation(presentation, bytes.fromhex(body.issuer_key))
    if isinstance(checked, VerificationFailure):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"the credential does not verify: {checked.detail}"
        )
    await settled_reads(node)
    return {
        "presentation": presentation,
        "record_proof": await proof_of(node, record_key(checked.record_id)),
        "issuer_key": body.issuer_key,
    }
