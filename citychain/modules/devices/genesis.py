"""Devices genesis: no parameters, and a chain starts with no devices.

The section, when present, must be ``{}``: devices enter through signed owner transactions
that carry the device key's possession signature, so every device has an attributable owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citychain.state.overlay import Overlay


def init_genesis(state: Overlay, section: Mapping[str, Any]) -> None:
    if not isinstance(section, Mapping) or section:
        raise ValueError(f"the devices section must be empty, got {section!r}")
