"""What the Application answers (transaction, check and block results) and the records a
committed block leaves in the store beside its state: the block's transactions and its account
and event-type indexes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from citychain.codec import Struct, encode
from citychain.crypto.address import ADDRESS_SIZE
from citychain.errors import CityError
from citychain.modules.base import Event, ValidatorUpdate
from citychain.store.sqlite import TxRecord
from citychain.tx.envelope import DecodedTx

__all__ = [
    "AppInfo",
    "BlockResult",
    "CheckResult",
    "TxResult",
    "block_records",
    "error_result",
]


class TxResult(Struct, frozen=True):
    """A transaction's outcome; ``code``, ``codespace`` and ``data`` are consensus data."""

    code: int
    codespace: str
    log: str
    data: bytes
    events: tuple[Event, ...]

    @property
    def ok(self) -> bool:
        return self.code == 0

    def consensus_hash(self) -> bytes:
        return hashlib.sha256(encode((self.code, self.codespace, self.data))).digest()


@dataclass(frozen=True, slots=True)
class CheckResult:
    code: int
    codespace: str
    log: str
    tx: DecodedTx | None

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(frozen=True, slots=True)
class AppInfo:
    chain_id: str
    height: int  # -1 before genesis
    app_hash: bytes


@dataclass(frozen=True, slots=True)
class BlockResult:
    height: int
    time_ms: int
    tx_hashes: list[bytes]
    tx_raws: list[bytes]
    tx_results: list[TxResult]
    tx_senders: list[bytes | None]  # None for bytes that did not decode
    app_hash: bytes
    validator_updates: list[ValidatorUpdate] = field(default_factory=list)


def error_result(exc: CityError, events: tuple[Event, ...] = ()) -> TxResult:
    return TxResult(exc.code, exc.codespace, exc.message, b"", events)


def block_records(
    pending: BlockResult,
) -> tuple[list[TxRecord], list[tuple[bytes, int, int]], list[tuple[str, int, int]]]:
    """The block's transaction records, and its account and event-type indexes: each
    transaction is listed under its signer, every 20-byte event attribute (an address) and
    every event type it emitted, each once, sorted."""
    height = pending.height
    txs: list[TxRecord] = []
    account_index: list[tuple[bytes, int, int]] = []
    event_index: list[tuple[str, int, int]] = []
    for index, (tx_hash, raw, result, signer) in enumerate(
        zip(
            pending.tx_hashes,
            pending.tx_raws,
            pending.tx_results,
            pending.tx_senders,
            strict=True,
        )
    ):
        txs.append(TxRecord(tx_hash, height, index, raw, encode(result)))
        accounts, types = _touched(signer, result)
        account_index.extend((a, height, index) for a in sorted(accounts))
        event_index.extend((t, height, index) for t in sorted(types))
    return txs, account_index, event_index


def _touched(signer: bytes | None, result: TxResult) -> tuple[set[bytes], set[str]]:
    """The accounts a transaction touched (its signer, addresses in its events) and its
    event types."""
    accounts: set[bytes] = set()
    types: set[str] = set()
    if signer is not None:
        accounts.add(signer)
    for event in result.events:
        types.add(event.type)
        for _, value in event.attributes:
            # Events carry addresses as raw bytes of exactly an address's size.
            if isinstance(value, bytes) and len(value) == ADDRESS_SIZE:
                accounts.add(value)
    return accounts, types
