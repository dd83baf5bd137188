"""What every read route of the node's API awaits first (api.py and its routers)."""

from __future__ import annotations

from fastapi import HTTPException

from citychain.node.service import Node

__all__ = ["settled_reads"]


async def settled_reads(node: Node) -> None:
    """Wait until no block write is in flight, so that a read sees only durable state; a node
    whose engine stopped answers 503."""
    try:
        await node.engine.settled()
    except RuntimeError as exc:
        raise HTTPException(503, str(exc)) from None
