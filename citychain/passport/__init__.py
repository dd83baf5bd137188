"""The manufacturer's battery passport service: restricted passport parts kept off the ledger
and served only to the readers Regulation (EU) 2023/1542 names (docs/modules/battery.md §5)."""

from citychain.passport.errors import RestrictedReadError
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
    "READ_HEADER",
    "Opening",
    "OpeningStore",
    "PassportService",
    "ReadRequest",
    "RestrictedReadError",
    "SignedReadRequest",
    "authorise",
    "seal_part",
    "sign_read_request",
    "verify_served",
]
