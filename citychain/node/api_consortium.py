"""The consortium's HTTP routes: members, proposals with their tallies, and role holders.

Mounted by citychain/node/api.py with ``api.include_router(consortium_router(node))``; its errors
go through that application's handlers, so they have the API's one JSON error shape
``{"error": {"code", "codespace", "message"}}`` and a 4xx status.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from citychain.modules.consortium.queries import (
    members_view,
    proposal_view,
    proposals_view,
    roles_view,
)
from citychain.node.reads import settled_reads
from citychain.node.service import Node

__all__ = ["consortium_router"]

U64_MAX = 2**64 - 1
ProposalId = Annotated[int, Path(ge=1, le=U64_MAX, description="proposal id, from 1")]
Limit = Annotated[int, Query(ge=1, le=200)]


def consortium_router(node: Node) -> APIRouter:
    router = APIRouter(prefix="/consortium", tags=["consortium"])

    settle = partial(settled_reads, node)

    @router.get("/members")
    async def members() -> dict[str, Any]:
        """Every member ever admitted (active and removed) and the active total power."""
        await settle()
        app = node.app
        return {**members_view(app.committed), "height": app.height}

    @router.get("/proposals")
    async def proposals(
        limit: Limit = 50, before: Annotated[int | None, Query(ge=1, le=U64_MAX)] = None
    ) -> dict[str, Any]:
        """Proposals newest first, with their tallies; page with ``before`` = the last id seen."""
        await settle()
        app = node.app
        return {"proposals": proposals_view(app.committed, limit, before), "height": app.height}

    @router.get(
        "/proposals/{proposal_id}",
        responses={404: {"description": 'no such proposal: {"error": {...}}'}},
    )
    async def proposal(proposal_id: ProposalId) -> dict[str, Any]:
        await settle()
        app = node.app
        view = proposal_view(app.committed, proposal_id)
        if view is None:
            raise HTTPException(404, f"no proposal {proposal_id}")
        return {**view, "height": app.height}

    @router.get("/roles")
    async def roles() -> dict[str, Any]:
        """Each role and the addresses that hold it."""
        await settle()
        app = node.app
        return {"roles": roles_view(app.committed), "height": app.height}

    return router
