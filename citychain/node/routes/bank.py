"""Accounts and the bank: an account's balances, nonce and roles, its transactions, a balance
with its proof, the supply and payment requests (docs/modules/bank.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from starlette import status

from citychain.modules.auth import get_nonce
from citychain.modules.bank import (
    account_view,
    balance_key,
    get_balance,
    list_denoms,
    request_view,
    supply_view,
)
from citychain.modules.consortium import ALL_ROLES, has_role
from citychain.node.dispatch import EngineRoute
from citychain.node.routes.deps import (
    ERRORS,
    Limit,
    NodeDep,
    parse_address,
    parse_hex,
    proof_of,
    settled_reads,
)
from citychain.node.views import tx_summary

__all__ = ["router"]

AddressParam = Annotated[
    str, Path(min_length=1, max_length=100, description="bech32 address city1...")
]

router = APIRouter(route_class=EngineRoute)


# --- accounts -------------------------------------------------------------------------------
@router.get("/accounts/{address}", tags=["accounts"], responses=ERRORS)
async def get_account(address: AddressParam, node: NodeDep) -> dict[str, Any]:
    await settled_reads(node)
    app = node.app
    raw = parse_address(address)
    view = account_view(app.committed, raw)
    return {
        "address": address,
        "nonce": get_nonce(app.committed, raw),
        "roles": [r for r in ALL_ROLES if has_role(app.committed, raw, r)],
        "height": app.height,
        **view,
    }


@router.get("/accounts/{address}/txs", tags=["accounts"], responses=ERRORS)
async def account_txs(address: AddressParam, node: NodeDep, limit: Limit = 50) -> dict[str, Any]:
    raw = parse_address(address)
    return {"txs": [tx_summary(t) for t in node.app.store.txs_by_account(raw, limit)]}


@router.get("/accounts/{address}/balances/{denom}", tags=["accounts"], responses=ERRORS)
async def get_balance_proof(
    address: AddressParam,
    denom: Annotated[str, Path(pattern="^[a-z][a-z0-9]{1,15}$")],
    node: NodeDep,
    prove: bool = False,
) -> dict[str, Any]:
    await settled_reads(node)
    app = node.app
    raw = parse_address(address)
    if denom not in list_denoms(app.committed):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown denomination {denom!r}")
    amount = get_balance(app.committed, raw, denom)
    out: dict[str, Any] = {
        "address": address,
        "denom": denom,
        "balance": amount,
        "height": app.height,
    }
    if prove:
        claim = {"kind": "balance", "address": address, "denom": denom, "amount": amount}
        out["proof"] = await proof_of(node, balance_key(raw, denom), claim)
    return out


# --- bank -----------------------------------------------------------------------------------
@router.get("/bank/supply", tags=["bank"])
async def supply(node: NodeDep) -> dict[str, Any]:
    await settled_reads(node)
    return {"supply": supply_view(node.app.committed), "height": node.app.height}


@router.get("/bank/requests/{request_id}", tags=["bank"], responses=ERRORS)
async def payment_request(
    request_id: Annotated[str, Path(pattern="^[0-9a-fA-F]{32}$")], node: NodeDep
) -> dict[str, Any]:
    await settled_reads(node)
    view = request_view(node.app.committed, parse_hex(request_id, "request id"))
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such payment request")
    return view
