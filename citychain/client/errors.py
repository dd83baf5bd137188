"""The SDK's exceptions: every failure below the SDK becomes one of these."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of every SDK error."""


class ApiError(ClientError):
    """The node answered with an error status, or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message


class TxFailed(ClientError):
    """A transaction was refused at check_tx or failed in its block."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        self.code = int(result.get("code", -1))
        self.codespace = str(result.get("codespace", ""))
        self.log = str(result.get("log", ""))
        where = f"in block {result['height']}" if result.get("height") else "at check_tx"
        super().__init__(f"transaction failed {where}: {self.codespace}/{self.code} {self.log}")
