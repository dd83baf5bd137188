"""Registry module: the civil registry's births and deaths, as commitments with status and an
audit trail; personal data stays off the ledger (docs/modules/registry.md). The names below are
its public surface (docs/modules/README.md).
"""

from citychain.modules.base import MessageRoute, Module
from citychain.modules.consortium import REGISTRAR
from citychain.modules.registry import handlers, invariants
from citychain.modules.registry.commitment import SALT_SIZE, commit
from citychain.modules.registry.errors import RegistryError
from citychain.modules.registry.genesis import init_genesis
from citychain.modules.registry.keeper import current_version, get_record
from citychain.modules.registry.messages import MAX_WALLETS, MsgAmend, MsgRegister, MsgRevoke
from citychain.modules.registry.queries import history_view, record_view
from citychain.modules.registry.state import (
    KIND_BIRTH,
    KIND_DEATH,
    KIND_NAMES,
    REVOCATION_REASONS,
    STATUS_NAMES,
    STATUS_REVOKED,
    STATUS_SUPERSEDED,
    STATUS_VALID,
    Record,
    record_key,
)

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

__all__ = [
    "KIND_BIRTH",
    "KIND_DEATH",
    "KIND_NAMES",
    "MAX_WALLETS",
    "MODULE",
    "REVOCATION_REASONS",
    "SALT_SIZE",
    "STATUS_NAMES",
    "STATUS_REVOKED",
    "STATUS_SUPERSEDED",
    "STATUS_VALID",
    "MsgAmend",
    "MsgRegister",
    "MsgRevoke",
    "Record",
    "RegistryError",
    "commit",
    "current_version",
    "get_record",
    "history_view",
    "record_key",
    "record_view",
]
