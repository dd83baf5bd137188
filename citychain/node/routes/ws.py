"""The event stream: ``/ws`` sends each committed block (``views.block_event``) as JSON."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from citychain.node.routes.deps import NodeDep

__all__ = ["router"]

router = APIRouter()


@router.websocket("/ws")
async def events(socket: WebSocket, node: NodeDep) -> None:
    await socket.accept()
    queue = node.subscribe()

    async def forward() -> None:
        while True:
            await socket.send_text(await queue.get())

    sender = asyncio.create_task(forward())
    try:
        # Reading is how a disconnect is noticed; clients have nothing else to say.
        while (await socket.receive())["type"] != "websocket.disconnect":
            pass
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        sender.cancel()
        node.unsubscribe(queue)
