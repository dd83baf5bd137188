"""The shape every module shares: message routes, genesis, invariants, and the handler context."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from citychain.codec import Struct
from citychain.state.overlay import Overlay
from citychain.tx.envelope import Message

__all__ = [
    "AttrValue",
    "Context",
    "EndBlock",
    "Event",
    "GenesisCheck",
    "Invariant",
    "MessageRoute",
    "Module",
    "PrefixScan",
    "ValidatorUpdate",
]

AttrValue = str | int | bytes


class Event(Struct, frozen=True):
    """What a handler reports: a type and ordered attributes. Addresses are raw 20 bytes."""

    type: str
    # Any, not AttrValue: msgspec cannot type a union of str and bytes, and MessagePack's own
    # str/bin/int tags already keep the three apart when decoding.
    attributes: tuple[tuple[str, Any], ...]


class Context:
    """What a handler may see: state, block height and time, the signer, and an event sink."""

    __slots__ = (
        "chain_id",
        "events",
        "height",
        "msg_index",
        "sender",
        "state",
        "time_ms",
        "tx_hash",
    )

    def __init__(
        self,
        state: Overlay,
        *,
        chain_id: str,
        height: int,
        time_ms: int,
        sender: bytes = b"",
        tx_hash: bytes = b"",
        msg_index: int = 0,
    ) -> None:
        self.state = state
        self.chain_id = chain_id
        self.height = height
        self.time_ms = time_ms
        self.sender = sender
        self.tx_hash = tx_hash
        self.msg_index = msg_index
        self.events: list[Event] = []

    def emit(self, type_: str, **attributes: AttrValue) -> None:
        self.events.append(Event(type_, tuple(attributes.items())))


class ValidatorUpdate(Struct, frozen=True):
    """A change to the consensus validator set: Ed25519 public key and new power (0 removes).

    CometBFT applies updates returned by FinalizeBlock at height H from height H+2.
    """

    public_key: bytes
    power: int


Handler = Callable[[Context, Any], bytes | None]
# Runs once after a block's transactions, on the block's state; returns validator-set changes.
EndBlock = Callable[[Context], list[ValidatorUpdate]]
# Checks a module's genesis section against the genesis validators, (public key, power) sorted;
# raises ValueError when they disagree.
GenesisCheck = Callable[[Mapping[str, Any], list[tuple[bytes, int]]], None]
GenesisInit = Callable[[Overlay, Mapping[str, Any]], None]
# An invariant reads committed state through a prefix scan and returns its violations.
PrefixScan = Callable[[bytes], list[tuple[bytes, bytes]]]
Invariant = Callable[[PrefixScan], list[str]]


@dataclass(frozen=True)
class MessageRoute:
    """A message type, its handler, and the role its sender must hold (None: anyone)."""

    cls: type[Message]
    handler: Handler
    role: str | None = None

    @property
    def type(self) -> str:
        return self.cls.TYPE


@dataclass(frozen=True)
class Module:
    name: str
    routes: tuple[MessageRoute, ...] = ()
    init_genesis: GenesisInit | None = None
    invariants: tuple[Invariant, ...] = ()
    genesis_order: int = 100
    end_block: EndBlock | None = None
    check_genesis: GenesisCheck | None = None
