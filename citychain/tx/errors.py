"""Error codes of the transaction envelope and the ante checks (codespace ``tx``)."""

from citychain.errors import register

CODESPACE = "tx"

MALFORMED = register(CODESPACE, 1, "transaction bytes are not a canonical encoding")
TOO_LARGE = register(CODESPACE, 2, "transaction exceeds the maximum size")
WRONG_CHAIN = register(CODESPACE, 3, "transaction is for another chain")
BAD_SIGNATURE = register(CODESPACE, 4, "signature does not verify")
NONCE_USED = register(CODESPACE, 5, "nonce already used (replay)")
NONCE_GAP = register(CODESPACE, 6, "nonce is ahead of the account's next nonce")
EXPIRED = register(CODESPACE, 7, "transaction expired")
FEE_TOO_LOW = register(CODESPACE, 8, "fee below the minimum")
FEE_UNPAYABLE = register(CODESPACE, 9, "sender cannot pay the fee")
UNKNOWN_MESSAGE = register(CODESPACE, 10, "unknown message type")
NO_MESSAGES = register(CODESPACE, 11, "transaction has no messages or too many")
UNAUTHORIZED = register(CODESPACE, 12, "sender lacks the role this message needs")
DUPLICATE = register(CODESPACE, 13, "transaction already in the mempool")
MEMPOOL_FULL = register(CODESPACE, 14, "mempool is full")
BAD_MESSAGE = register(CODESPACE, 15, "message body is malformed")
