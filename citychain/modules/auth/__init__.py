"""Auth module: the ante step every transaction passes before its messages run (chain id,
signature, expiry, fee, nonce, roles), and the per-account nonces it keeps. The names below are
its public surface (docs/modules/README.md)."""

from citychain.modules.auth.ante import RoutedMessage, SignatureCheck, run_ante
from citychain.modules.auth.keeper import get_nonce
from citychain.modules.auth.state import nonce_key
from citychain.modules.base import Module

MODULE = Module(name="auth", genesis_order=0)

__all__ = ["MODULE", "RoutedMessage", "SignatureCheck", "get_nonce", "nonce_key", "run_ante"]
