"""Registry error codes (codespace ``registry``). Never renumber: they are consensus data."""

from citychain.errors import CityError, register

CODESPACE = "registry"

RECORD_EXISTS = register(CODESPACE, 1, "a record with this id already exists")
RECORD_NOT_FOUND = register(CODESPACE, 2, "no record with this id")
RECORD_NOT_VALID = register(CODESPACE, 3, "the record is superseded or revoked")
UNKNOWN_REASON = register(CODESPACE, 4, "no such revocation reason")
LINK_NOT_ALLOWED = register(CODESPACE, 5, "only a death record may link a birth record")
WALLETS_NOT_ALLOWED = register(CODESPACE, 6, "only a death record may freeze wallets")
LINKED_NOT_BIRTH = register(CODESPACE, 7, "a death record must link a birth record")
ALREADY_DECEASED = register(CODESPACE, 8, "the birth record already has a death recorded")
DUPLICATE_WALLET = register(CODESPACE, 9, "a wallet is listed twice")
WALLET_CLAIMED = register(CODESPACE, 10, "a valid death record already froze this wallet")


class RegistryError(CityError):
    """A registry message that the ledger refuses."""
