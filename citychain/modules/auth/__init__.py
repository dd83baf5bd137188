"""Auth module: per-account nonces, checked by the application's ante step."""

from citychain.modules.auth.state import get_nonce, set_nonce
from citychain.modules.base import Module

MODULE = Module(name="auth", genesis_order=0)

__all__ = ["MODULE", "get_nonce", "set_nonce"]
