"""Consortium error codes (codespace ``consortium``). Never renumber: they are consensus data."""

from citychain.errors import CityError, register

CODESPACE = "consortium"

NOT_A_MEMBER = register(CODESPACE, 1, "the sender is not the operator of an active member")
UNKNOWN_ROLE = register(CODESPACE, 2, "no such role")
ROLE_ALREADY_HELD = register(CODESPACE, 3, "the address already holds this role")
ROLE_NOT_HELD = register(CODESPACE, 4, "the address does not hold this role")
DUPLICATE_NAME = register(CODESPACE, 5, "an active member already has this name")
DUPLICATE_VALIDATOR_KEY = register(CODESPACE, 6, "an active member already has this validator key")
DUPLICATE_OPERATOR = register(CODESPACE, 7, "an active member already has this operator")
MEMBER_NOT_FOUND = register(CODESPACE, 8, "no active member has this name")
LAST_MEMBER = register(CODESPACE, 9, "removing the last member would leave no validator")
INVALID_POWER = register(CODESPACE, 10, "voting power out of range")
PROPOSAL_NOT_FOUND = register(CODESPACE, 11, "no such proposal")
PROPOSAL_EXPIRED = register(CODESPACE, 12, "the proposal's voting period is over")
PROPOSAL_CLOSED = register(
    CODESPACE, 13, "the proposal has already passed, failed or been rejected"
)
ALREADY_VOTED = register(CODESPACE, 14, "this member has already voted on this proposal")


class ConsortiumError(CityError):
    """A consortium message that the ledger refuses."""
