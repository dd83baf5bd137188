"""Passport service error codes (codespace ``passport``): answers of the off-ledger service,
not consensus data, but stable all the same so that clients can act on them."""

from citychain.errors import CityError, register

CODESPACE = "passport"

BAD_SIGNATURE = register(CODESPACE, 1, "the read request's signature does not verify")
WRONG_CHAIN = register(CODESPACE, 2, "the read request is for another chain")
STALE_REQUEST = register(CODESPACE, 3, "the read request is too old or from the future")
REPLAYED_REQUEST = register(CODESPACE, 4, "the read request's nonce was already used")
UNKNOWN_BATTERY = register(CODESPACE, 5, "no battery with this id on the ledger")
UNKNOWN_PART = register(CODESPACE, 6, "no such passport part")
NOT_AUTHORISED = register(CODESPACE, 7, "the reader may not read this part of the passport")
PART_NOT_HELD = register(CODESPACE, 8, "this service does not hold that part")
COMMITMENT_MISMATCH = register(CODESPACE, 9, "the served fields do not open the commitment")
MALFORMED_REQUEST = register(CODESPACE, 10, "the read request is not a canonical encoding")
BAD_VALUES = register(CODESPACE, 11, "the opened values are malformed or physically impossible")
NOT_MONOTONE = register(CODESPACE, 12, "a cumulative health counter went down")
NOT_COMMITTED = register(CODESPACE, 13, "the ledger holds no commitment to open for this part")
WRONG_NODE = register(CODESPACE, 14, "the read request is for another node")
WRONG_ROUTE = register(CODESPACE, 15, "the read request is for another route")


class RestrictedReadError(CityError):
    """A read of a restricted passport part that is refused or does not verify."""
