"""The consortium's public operations: what other modules, the ante step and the node may ask.

Roles are the consortium's only service to the rest of the ledger: a route names the role its
sender must hold, the ante step asks ``has_role``, and a handler whose rights depend on a role
(battery's ``remanufactured``) asks the same. Roles are granted and revoked only by governance
vote (actions.py) or at genesis, never by another module, so no write is public here. Each
function delegates to state.py, the only file that builds ``cons/`` keys.
"""

from __future__ import annotations

from citychain.modules.consortium.state import has_role, role_holders

__all__ = ["has_role", "role_holders"]
