"""Battery module: the EU battery passport (Regulation (EU) 2023/1542, Annex XIII) on the
ledger: public passport fields, lifecycle, ownership and leases, telemetry-derived health and
attested end-of-life predictions; restricted parts stay off the ledger as commitments
(docs/modules/battery.md)."""

from citychain.modules.base import MessageRoute, Module
from citychain.modules.battery import handlers, invariants
from citychain.modules.battery.access import may_read
from citychain.modules.battery.commitment import commit, commit_part
from citychain.modules.battery.genesis import init_genesis
from citychain.modules.battery.messages import (
    MsgAttestPrediction,
    MsgLease,
    MsgRegisterBattery,
    MsgSetStatus,
    MsgTransfer,
    MsgUpdateHealth,
)
from citychain.modules.battery.state import battery_id_of, get_battery
from citychain.modules.consortium.roles import MANUFACTURER, ORACLE

MODULE = Module(
    name="battery",
    routes=(
        MessageRoute(MsgRegisterBattery, handlers.handle_register, role=MANUFACTURER),
        # Owner, lessee and manufacturer rights depend on the battery: checked by the handlers.
        MessageRoute(MsgSetStatus, handlers.handle_set_status),
        MessageRoute(MsgTransfer, handlers.handle_transfer),
        MessageRoute(MsgLease, handlers.handle_lease),
        MessageRoute(MsgUpdateHealth, handlers.handle_update_health, role=ORACLE),
        MessageRoute(MsgAttestPrediction, handlers.handle_attest_prediction, role=ORACLE),
    ),
    init_genesis=init_genesis,
    invariants=(invariants.battery_records, invariants.fleet_index),
    genesis_order=60,
)

__all__ = ["MODULE", "battery_id_of", "commit", "commit_part", "get_battery", "may_read"]
