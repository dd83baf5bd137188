"""Registry module: the civil registry's births and deaths, as commitments with status and an
audit trail; personal data stays off the ledger (docs/modules/registry.md)."""

from citychain.modules.base import MessageRoute, Module
from citychain.modules.consortium.roles import REGISTRAR
from citychain.modules.registry import handlers, invariants
from citychain.modules.registry.commitment import commit
from citychain.modules.registry.genesis import init_genesis
from citychain.modules.registry.messages import MsgAmend, MsgRegister, MsgRevoke
from citychain.modules.registry.state import current_version, get_record

MODULE = Module(
    name="registry",
    routes=(
        MessageRoute(MsgRegister, handlers.handle_register, role=REGISTRAR),
        MessageRoute(MsgAmend, handlers.handle_amend, role=REGISTRAR),
        MessageRoute(MsgRevoke, handlers.handle_revoke, role=REGISTRAR),
    ),
    init_genesis=init_genesis,
    invariants=(
        invariants.record_statuses,
        invariants.version_links,
        invariants.death_marks,
        invariants.wallet_claims,
    ),
    genesis_order=30,
)

__all__ = ["MODULE", "commit", "current_version", "get_record"]
