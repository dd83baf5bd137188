"""Battery error codes (codespace ``battery``). Never renumber: they are consensus data."""

from citychain.errors import CityError, register

CODESPACE = "battery"

BATTERY_EXISTS = register(CODESPACE, 1, "a battery with this identifier is already registered")
BATTERY_NOT_FOUND = register(CODESPACE, 2, "no battery with this id")
WRONG_UNITS = register(CODESPACE, 3, "rated energy does not match capacity times voltage")
NOT_OWNER = register(CODESPACE, 4, "only the battery's owner may do this")
BAD_TRANSITION = register(CODESPACE, 5, "this lifecycle status cannot follow the current one")
STATUS_NOT_PERMITTED = register(CODESPACE, 6, "the sender may not set this lifecycle status")
BATTERY_IS_WASTE = register(CODESPACE, 7, "the battery is waste: its life is over")
BATTERY_LEASED = register(CODESPACE, 8, "the battery is leased: end the lease first")
BAD_LEASE = register(CODESPACE, 9, "the lease is malformed")
# 10 and 11 are no longer raised by the ledger: health values left it for commitments, and the
# node that accepts their opening checks them (passport codes 11 and 12). Kept, not reused.
NOT_MONOTONE = register(CODESPACE, 10, "a cumulative health counter went down")
ABSURD_VALUE = register(CODESPACE, 11, "a value is physically impossible for this battery")
ALREADY_UPDATED = register(CODESPACE, 12, "the battery's health was already updated this block")
BAD_INTERVAL = register(CODESPACE, 13, "the predicted cycle lies outside its interval")
SAME_OWNER = register(CODESPACE, 14, "the battery already belongs to this address")
NO_LEASE = register(CODESPACE, 15, "the battery has no active lease")
# Not a transaction result: what a read path returns to a reader the regulation does not name.
NOT_AUTHORISED = register(CODESPACE, 16, "the reader may not read this part of the passport")
BATCH_NOT_ANCHORED = register(CODESPACE, 17, "the health update's telemetry batch is not anchored")
HOLDING_EXISTS = register(CODESPACE, 18, "a battery holding with this id is already open")
HOLDING_NOT_FOUND = register(CODESPACE, 19, "no battery holding with this id")


class BatteryError(CityError):
    """A battery message that the ledger refuses, or a read it refuses."""
