"""Devices error codes (codespace ``devices``). Never renumber: they are consensus data."""

from citychain.errors import CityError, register

CODESPACE = "devices"

DEVICE_EXISTS = register(CODESPACE, 1, "a device with this key is already registered")
DEVICE_NOT_FOUND = register(CODESPACE, 2, "no device with this id")
NOT_OWNER = register(CODESPACE, 3, "the sender does not own this device")
DECOMMISSIONED = register(CODESPACE, 4, "the device is decommissioned")
BAD_POSSESSION = register(CODESPACE, 5, "the device key's possession signature does not verify")
KEY_IN_USE = register(CODESPACE, 6, "this public key is or was bound to a device")
NOT_A_GATEWAY = register(CODESPACE, 7, "the anchoring device is not a gateway")
BATCH_EXISTS = register(CODESPACE, 8, "a batch with this id is already anchored")
BAD_BATCH_ID = register(CODESPACE, 9, "the batch id is not the hash of its gateway, root and count")


class DevicesError(CityError):
    """A devices message that the ledger refuses."""
