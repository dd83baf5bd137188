"""The manufacturer's battery passport service: restricted passport parts kept off the ledger
and served only to the readers Regulation (EU) 2023/1542 names (docs/modules/battery.md §5)."""

from citychain.battery.errors import RestrictedReadError
from citychain.battery.openings import Opening, OpeningStore
from citychain.battery.restricted import (
    PassportService,
    ReadRequest,
    SignedReadRequest,
    authorise,
    seal_part,
    sign_read_request,
    verify_served,
)

__all__ = [
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
