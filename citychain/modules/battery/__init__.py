"""Battery module: the EU battery passport (Regulation (EU) 2023/1542, Annex XIII) on the
ledger: public passport fields, lifecycle, ownership and leases, telemetry-derived health and
attested end-of-life predictions; restricted parts stay off the ledger as commitments
(docs/modules/battery.md). The names below are its public surface (docs/modules/README.md).
"""

from citychain.modules.base import MessageRoute, Module
from citychain.modules.battery import handlers, invariants
from citychain.modules.battery.access import (
    COMPOSITION,
    HEALTH,
    PARTS,
    PUBLIC,
    RESTRICTED_PARTS,
    TEST_REPORTS,
)
from citychain.modules.battery.commitment import SALT_SIZE, commit, commit_part
from citychain.modules.battery.errors import NOT_AUTHORISED, BatteryError
from citychain.modules.battery.genesis import init_genesis
from citychain.modules.battery.holding import HOLDING_SECRET_SIZE
from citychain.modules.battery.keeper import (
    commitment_of,
    get_battery,
    get_health,
    get_holding,
    get_params,
    get_prediction,
    holding_commitment,
    holding_id_of,
    lease_active,
    may_read,
    proven_holding,
)
from citychain.modules.battery.messages import (
    DAY_MAX,
    DAY_MIN,
    MAX_EOL_CYCLE,
    HealthValues,
    MsgAttestPrediction,
    MsgLease,
    MsgOpenHolding,
    MsgRegisterBattery,
    MsgSetStatus,
    MsgTransfer,
    MsgUpdateHealth,
    Passport,
    PredictionBasis,
)
from citychain.modules.battery.queries import (
    MAX_PAGE,
    Readable,
    fleet_view,
    health_record,
    health_view,
    history_page,
    history_view,
    holding_view,
    passport_view,
    prediction_record,
    prediction_view,
    readable,
    status_view,
)
from citychain.modules.battery.state import (
    BASIS_NAMES,
    DAY_MS,
    STATUS_NAMES,
    Battery,
    Holding,
    battery_id_of,
    battery_key,
    health_key,
    holding_key,
    prediction_key,
)
from citychain.modules.consortium import MANUFACTURER, ORACLE

MODULE = Module(
    name="battery",
    routes=(
        MessageRoute(MsgRegisterBattery, handlers.handle_register, role=MANUFACTURER),
        MessageRoute(MsgOpenHolding, handlers.handle_open_holding, role=MANUFACTURER),
        # Owner, lessee and manufacturer rights depend on the holding: checked by the handlers.
        MessageRoute(MsgSetStatus, handlers.handle_set_status),
        MessageRoute(MsgTransfer, handlers.handle_transfer),
        MessageRoute(MsgLease, handlers.handle_lease),
        MessageRoute(MsgUpdateHealth, handlers.handle_update_health, role=ORACLE),
        MessageRoute(MsgAttestPrediction, handlers.handle_attest_prediction, role=ORACLE),
    ),
    init_genesis=init_genesis,
    invariants=(invariants.battery_records, invariants.battery_holdings),
    genesis_order=60,
)

__all__ = [
    "BASIS_NAMES",
    "COMPOSITION",
    "DAY_MAX",
    "DAY_MIN",
    "DAY_MS",
    "HEALTH",
    "HOLDING_SECRET_SIZE",
    "MAX_EOL_CYCLE",
    "MAX_PAGE",
    "MODULE",
    "NOT_AUTHORISED",
    "PARTS",
    "PUBLIC",
    "RESTRICTED_PARTS",
    "SALT_SIZE",
    "STATUS_NAMES",
    "TEST_REPORTS",
    "Battery",
    "BatteryError",
    "HealthValues",
    "Holding",
    "MsgAttestPrediction",
    "MsgLease",
    "MsgOpenHolding",
    "MsgRegisterBattery",
    "MsgSetStatus",
    "MsgTransfer",
    "MsgUpdateHealth",
    "Passport",
    "PredictionBasis",
    "Readable",
    "battery_id_of",
    "battery_key",
    "commit",
    "commit_part",
    "commitment_of",
    "fleet_view",
    "get_battery",
    "get_health",
    "get_holding",
    "get_params",
    "get_prediction",
    "health_key",
    "health_record",
    "health_view",
    "history_page",
    "history_view",
    "holding_commitment",
    "holding_id_of",
    "holding_key",
    "holding_view",
    "lease_active",
    "may_read",
    "passport_view",
    "prediction_key",
    "prediction_record",
    "prediction_view",
    "proven_holding",
    "readable",
    "status_view",
]
