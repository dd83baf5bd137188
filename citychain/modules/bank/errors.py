"""Bank error codes (codespace ``bank``). Never renumber: they are consensus data."""

from citychain.errors import CityError, register

CODESPACE = "bank"

INVALID_AMOUNT = register(CODESPACE, 1, "amount must be positive")
UNKNOWN_DENOM = register(CODESPACE, 2, "unknown denomination")
INSUFFICIENT_FUNDS = register(CODESPACE, 3, "insufficient funds")
SUPPLY_OVERFLOW = register(CODESPACE, 4, "supply would exceed the 64-bit bound")
TIER_PAYMENT_LIMIT = register(CODESPACE, 5, "payment exceeds the sender's wallet-tier limit")
TIER_BALANCE_LIMIT = register(
    CODESPACE, 6, "balance would exceed the recipient's wallet-tier limit"
)
INVALID_TIER = register(CODESPACE, 7, "no such wallet tier")
REQUEST_NOT_FOUND = register(CODESPACE, 8, "no such payment request")
REQUEST_NOT_OPEN = register(CODESPACE, 9, "payment request is not open")
REQUEST_EXPIRED = register(CODESPACE, 10, "payment request expired")
AMOUNT_MISMATCH = register(CODESPACE, 11, "amount or denomination differs from the request")
NOT_MERCHANT = register(CODESPACE, 12, "only the merchant who made the request may do this")
REFUND_EXCEEDS = register(CODESPACE, 13, "refund exceeds what was paid and not yet refunded")
PAYER_NOT_ALLOWED = register(CODESPACE, 14, "this request is addressed to another payer")
TOO_MANY_OUTPUTS = register(CODESPACE, 15, "multi-send needs 1 to 100 outputs")
BALANCE_OVERFLOW = register(CODESPACE, 16, "balance would exceed the 64-bit bound")
ACCOUNT_FROZEN = register(CODESPACE, 17, "account is frozen")
INVALID_EXPIRY = register(CODESPACE, 18, "expiry height must be after the current height")
REQUEST_NOT_PAID = register(CODESPACE, 19, "payment request has not been paid")


class BankError(CityError):
    """A bank message that the ledger refuses."""
