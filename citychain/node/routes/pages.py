"""The explorer's pages (citychain/web/), outside the OpenAPI document; their scripts and styles
are mounted under ``/static`` by ``create_api``."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import FileResponse

from citychain.node.dispatch import EngineRoute

__all__ = ["WEB", "router"]

WEB = resources.files("citychain") / "web"

router = APIRouter(include_in_schema=False, route_class=EngineRoute)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(str(WEB / "index.html"))


@router.get("/verify")
async def verify_page() -> FileResponse:
    return FileResponse(str(WEB / "verify.html"))


@router.get("/battery")
async def battery_page() -> FileResponse:
    return FileResponse(str(WEB / "battery.html"))


@router.get("/fleet")
async def fleet_page() -> FileResponse:
    return FileResponse(str(WEB / "fleet.html"))


@router.get("/device")
async def device_page() -> FileResponse:
    return FileResponse(str(WEB / "device.html"))
