"""Consortium module: roles of the member organisations (governance arrives with CometBFT)."""

from citychain.modules.base import Module
from citychain.modules.consortium.genesis import init_genesis
from citychain.modules.consortium.state import grant_role, has_role, revoke_role

MODULE = Module(name="consortium", init_genesis=init_genesis, genesis_order=10)

__all__ = ["MODULE", "grant_role", "has_role", "revoke_role"]
