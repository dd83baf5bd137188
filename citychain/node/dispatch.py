"""The one way a route reaches the node: its endpoint runs on the engine's event loop.

The API runs on its own thread and event loop (node/api_thread.py): HTTP parsing, reading the
body, JSON decoding, validation and serialising the answer all happen there, so a large or slow
request cannot delay a block or an ABCI answer. What touches the node (the Application, the
engine, the stores) must not run there: every endpoint that takes the node (``node: NodeDep``)
is wrapped so that its coroutine runs on the engine's loop (``Node.on_engine``) and the API's
loop only awaits the result. State is thus only ever touched from one thread.

Each domain's router is made with ``APIRouter(route_class=EngineRoute)``; ``create_api``
refuses a router whose routes are not ``EngineRoute`` (``check_dispatched``).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

from citychain.node.service import Node

__all__ = ["EngineRoute", "check_dispatched", "on_engine"]

_WRAPPED = "__citychain_on_engine__"


def on_engine(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint``, made to run on the engine's loop when it takes the node."""
    if getattr(endpoint, _WRAPPED, False):
        return endpoint
    name = _node_parameter(endpoint)
    if name is None:
        return endpoint  # pages, docs: nothing of the node's
    if not inspect.iscoroutinefunction(endpoint):
        raise TypeError(f"{endpoint.__qualname__} takes the node, so it must be `async def`")
    call: Callable[..., Coroutine[Any, Any, Any]] = endpoint

    @functools.wraps(endpoint)
    async def run_on_engine(*args: Any, **kwargs: Any) -> Any:
        node: Node = kwargs[name]
        # A stand-in for the node (tests that serve routes over a bare Application) has no
        # engine loop: the work runs where it is.
        dispatch = getattr(node, "on_engine", None)
        if dispatch is None:
            return await call(*args, **kwargs)
        return await dispatch(call(*args, **kwargs))

    setattr(run_on_engine, _WRAPPED, True)
    return run_on_engine


def _node_parameter(endpoint: Callable[..., Any]) -> str | None:
    """The name of ``endpoint``'s parameter that receives the node, if any."""
    hints = typing.get_type_hints(endpoint, include_extras=True)
    for name, hint in hints.items():
        if name == "return":
            continue
        if typing.get_origin(hint) is Annotated:
            hint = typing.get_args(hint)[0]
        if hint is Node:
            return name
    return None


class EngineRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, on_engine(endpoint), **kwargs)


def check_dispatched(router: APIRouter) -> None:
    """Raise TypeError if a route of ``router`` could reach the node off the engine's loop."""
    for route in router.routes:
        if isinstance(route, APIRoute) and not isinstance(route, EngineRoute):
            raise TypeError(
                f"{route.path}: make its router with APIRouter(route_class=EngineRoute)"
            )
