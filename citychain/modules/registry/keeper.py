"""The registry's public operations: the record lookups other modules and services make.

A record is read by its id (``get_record``) or followed to its newest version
(``current_version``), for example by a voter roll that must learn of a death through the
registry's functions rather than its keys (DESIGN.md, Modules). Writes happen only in this
module's handlers, from registrars' signed messages. Each function delegates to state.py, the
only file that builds ``reg/`` keys.
"""

from __future__ import annotations

from citychain.modules.registry.state import current_version, get_record

__all__ = ["current_version", "get_record"]
