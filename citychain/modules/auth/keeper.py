"""The auth module's public operations: account nonces, read by the node and the mempool.

Only the ante step (ante.py) advances a nonce, once per accepted transaction; everyone else
reads it. Each function delegates to state.py, the only file that builds ``auth/`` keys.
"""

from __future__ import annotations

from citychain.modules.auth.state import get_nonce

__all__ = ["get_nonce"]
