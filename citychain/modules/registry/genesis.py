"""Registry genesis: the module has no parameters, and a chain starts with no records.

The section, when present, must be ``{}``: records enter only through signed registrar
transactions, so every record has an attributable audit trail from its first version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citychain.state.overlay import Overlay


def init_genesis(state: Overlay, section: Mapping[str, Any]) -> None:
    if not isinstance(section, Mapping) or section:
        raise ValueError(f"the registry section must be empty, got {section!r}")
