"""The devices module's public operations: the lookups other modules make.

The battery module checks that a health update names an anchored telemetry batch
(``is_anchored``); the gateway and the node read device records (``get_device``) and anchors
(``get_anchor``). Writes happen only in this module's handlers, from owners' signed messages.
Each function delegates to state.py, the only file that builds ``dev/`` keys.
"""

from __future__ import annotations

from citychain.modules.devices.state import get_anchor, get_device
from citychain.state.overlay import StateReader

__all__ = ["get_anchor", "get_device", "is_anchored"]


def is_anchored(state: StateReader, batch_id: bytes) -> bool:
    """Whether a gateway has anchored the telemetry batch ``batch_id`` (devices/anchor)."""
    return get_anchor(state, batch_id) is not None
