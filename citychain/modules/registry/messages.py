"""Registry messages (docs/modules/registry.md §2): typed, immutable, validated on decode.

Ids and commitments are exactly 32 bytes and wallets exactly 20; no field holds personal data.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from citychain.codec import Address20, Bytes32
from citychain.tx.envelope import Message

# A death record may freeze at most this many wallets: enough for a person's accounts, small
# enough that one message's writes stay bounded.
MAX_WALLETS = 16

Kind = Literal["birth", "death"]
Wallets = Annotated[tuple[Address20, ...], msgspec.Meta(max_length=MAX_WALLETS)]
# A reason code from REVOCATION_REASONS (state.py); any byte decodes so that the handler can
# refuse an unknown one with its own code and list the known ones.
ReasonCode = Annotated[int, msgspec.Meta(ge=0, le=255)]


class MsgRegister(Message, frozen=True):
    """Record a vital event under a new id chosen by the registrar.

    ``linked_record``: for a death, the person's birth record (current version), or None.
    ``wallets``: for a death, wallets the registrar attests were the deceased's; they are frozen.
    """

    TYPE = "registry/register"
    kind: Kind
    record_id: Bytes32
    commitment: Bytes32
    linked_record: Bytes32 | None
    wallets: Wallets


class MsgAmend(Message, frozen=True):
    """Replace a valid record by a new version ``new_record_id`` with a new commitment."""

    TYPE = "registry/amend"
    record_id: Bytes32
    new_record_id: Bytes32
    commitment: Bytes32


class MsgRevoke(Message, frozen=True):
    TYPE = "registry/revoke"
    record_id: Bytes32
    reason: ReasonCode


ALL_MESSAGES: tuple[type[Message], ...] = (MsgRegister, MsgAmend, MsgRevoke)
