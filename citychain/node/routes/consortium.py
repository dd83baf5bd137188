"""The consortium's HTTP routes: members, proposals with their tallies, and role holders
(docs/modules/consortium.md). Errors go through the application's handlers (``create_api``), so
they have the API's one JSON error shape ``{"error": {"code", "codespace", "message"}}`` and a
4xx status.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from starlette import status

from citychain.modules.consortium import members_view, proposal_view, proposals_view, roles_view
from citychain.node.dispatch import EngineRoute
from citychain.node.routes.deps import Limit, NodeDep, settled_reads

__all__ = ["router"]

U64_MAX = 2**64 - 1
ProposalId = Annotated[int, Path(ge=1, le=U64_MAX, description="proposal id, from 1")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": 'no such proposal: {"error": {...}}'}
}

router = APIRouter(prefix="/consortium", tags=["consortium"], route_class=EngineRoute)


@router.get("/members")
async def members(node: NodeDep) -> dict[str, Any]:
    """Every member ever admitted (active and removed) and the active total power."""
    await settled_reads(node)
    app = node.app
    return {**members_view(app.committed), "height": app.height}


@router.get("/proposals")
async def proposals(
    node: NodeDep,
    limit: Limit = 50,
    before: Annotated[int | None, Query(ge=1, le=U64_MAX)] = None,
) -> dict[str, Any]:
    """Proposals newest first, with their tallies; page with ``before`` = the last id seen."""
    await settled_reads(node)
    app = node.app
    return {"proposals": proposals_view(app.committed, limit, before), "height": app.height}


@router.get("/proposals/{proposal_id}", responses=NOT_FOUND)
async def proposal(proposal_id: ProposalId, node: NodeDep) -> dict[str, Any]:
    await settled_reads(node)
    app = node.app
    view = proposal_view(app.committed, proposal_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no proposal {proposal_id}")
    return {**view, "height": app.height}


@router.get("/roles")
async def roles(node: NodeDep) -> dict[str, Any]:
    """Each role and the addresses that hold it."""
    await settled_reads(node)
    app = node.app
    return {"roles": roles_view(app.committed), "height": app.height}
