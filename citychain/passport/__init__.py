"""The manufacturer's battery passport service: restricted passport parts kept off the ledger
and served only to the readers Regulation (EU) 2023/1542 names (docs/modules/battery.md §5),
and the format of the lot test curves a test report may carry (§6)."""

from citychain.passport.errors import RestrictedReadError
from citychain.passport.lot_curves import (
    LOT_CURVES_FIELD,
    LotCurves,
    LotCurvesError,
    lot_curves_fields,
    lot_curves_of,
    lot_curves_ref,
    parse_lot_curves,
)
from citychain.passport.openings import Opening, OpeningStore
from citychain.passport.restricted import (
    FLEET_ID,
    FLEET_PART,
    READ_HEADER,
    PassportService,
    ReadRequest,
    SignedReadRequest,
    authorise,
    seal_part,
    sign_read_request,
    verify_served,
)

__all__ = [
    "FLEET_ID",
    "FLEET_PART",
    "LOT_CURVES_FIELD",
    "READ_HEADER",
    "LotCurves",
    "LotCurvesError",
    "Opening",
    "OpeningStore",
    "PassportService",
    "ReadRequest",
    "RestrictedReadError",
    "SignedReadRequest",
    "authorise",
    "lot_curves_fields",
    "lot_curves_of",
    "lot_curves_ref",
    "parse_lot_curves",
    "seal_part",
    "sign_read_request",
    "verify_served",
]
