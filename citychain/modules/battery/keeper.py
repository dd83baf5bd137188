"""The battery module's public operations: the reads and access checks others make.

The passport service (citychain/passport/) and the node decide who may read which part of a
passport with ``may_read`` (the rules of Annex XIII, in access.py), check an opening against the
ledger's ``commitment_of`` the part, and read the records those need. Writes happen only in this
module's handlers, from signed messages. Each read delegates to state.py, the only file that
builds ``bat/`` keys.
"""

from __future__ import annotations

from citychain.modules.battery.access import commitment_of, may_read
from citychain.modules.battery.holding import holding_commitment, holding_id_of, proven_holding
from citychain.modules.battery.state import (
    get_battery,
    get_health,
    get_holding,
    get_params,
    get_prediction,
    lease_active,
)

__all__ = [
    "commitment_of",
    "get_battery",
    "get_health",
    "get_holding",
    "get_params",
    "get_prediction",
    "holding_commitment",
    "holding_id_of",
    "lease_active",
    "may_read",
    "proven_holding",
]
