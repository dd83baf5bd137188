"""Registry message handlers (docs/modules/registry.md §2): check everything, then write.

Any registrar may amend or revoke any record, whichever office registered it: a city registry is
one register kept by several offices, and a correction should not wait for the office that made
the mistake. The record keeps the original ``office``, and every version and change names the
registrar key that signed it.
"""

from __future__ import annotations

from msgspec import structs

from citychain.modules.bank import freeze_account, unfreeze_account
from citychain.modules.base import Context
from citychain.modules.registry import errors
from citychain.modules.registry.errors import RegistryError
from citychain.modules.registry.messages import MsgAmend, MsgRegister, MsgRevoke
from citychain.modules.registry.state import (
    AMENDED,
    DEATH_CLEARED,
    DEATH_RECORDED,
    KIND_BIRTH,
    KIND_DEATH,
    KIND_NAMES,
    REGISTERED,
    REVOCATION_REASONS,
    REVOKED,
    STATUS_NAMES,
    STATUS_REVOKED,
    STATUS_SUPERSEDED,
    STATUS_VALID,
    SUPERSEDED,
    Change,
    Record,
    current_version,
    get_record,
    get_wallet_claim,
    set_record,
    set_wallet_claim,
)


def _change(ctx: Context, action: str, related: bytes = b"", reason: int = 0) -> Change:
    return Change(action, ctx.sender, ctx.height, ctx.tx_hash, related, reason)


def _valid_record(ctx: Context, record_id: bytes) -> Record:
    record = get_record(ctx.state, record_id)
    if record is None:
        raise RegistryError(errors.RECORD_NOT_FOUND, f"no record {record_id.hex()}")
    if record.status != STATUS_VALID:
        raise RegistryError(
            errors.RECORD_NOT_VALID,
            f"record {record_id.hex()} is {STATUS_NAMES[record.status]}",
        )
    return record


def _require_new(ctx: Context, record_id: bytes) -> None:
    if get_record(ctx.state, record_id) is not None:
        raise RegistryError(errors.RECORD_EXISTS, f"record {record_id.hex()} already exists")


def _check_death_links(ctx: Context, msg: MsgRegister) -> None:
    if msg.linked_record is not None:
        birth = get_record(ctx.state, msg.linked_record)
        if birth is None:
            raise RegistryError(errors.RECORD_NOT_FOUND, f"no record {msg.linked_record.hex()}")
        if birth.kind != KIND_BIRTH:
            raise RegistryError(errors.LINKED_NOT_BIRTH, f"{msg.linked_record.hex()} is a death")
        _valid_record(ctx, msg.linked_record)
        if birth.deceased_by:
            raise RegistryError(
                errors.ALREADY_DECEASED, f"death record {birth.deceased_by.hex()} is recorded"
            )
    if len(set(msg.wallets)) != len(msg.wallets):
        raise RegistryError(errors.DUPLICATE_WALLET, "wallets must be distinct")
    for wallet in msg.wallets:
        claim = get_wallet_claim(ctx.state, wallet)
        if claim is not None:
            raise RegistryError(
                errors.WALLET_CLAIMED, f"wallet {wallet.hex()} was frozen by {claim.hex()}"
            )


def _mark_birth(ctx: Context, birth_id: bytes, expected: bytes, death_id: bytes) -> None:
    """Set the current version of ``birth_id``'s death mark to ``death_id`` if it is
    ``expected`` now (b"" = unmarked); ``death_id`` b"" clears it."""
    found = current_version(ctx.state, birth_id)
    if found is None or found[1].deceased_by != expected:
        return
    current_id, birth = found
    action = DEATH_RECORDED if death_id else DEATH_CLEARED
    set_record(
        ctx.state,
        current_id,
        structs.replace(
            birth,
            deceased_by=death_id,
            history=(*birth.history, _change(ctx, action, death_id or expected)),
        ),
    )


def handle_register(ctx: Context, msg: MsgRegister) -> None:
    """Register a birth or a death; a death marks its birth record and freezes its wallets."""
    kind = KIND_NAMES.index(msg.kind)
    _require_new(ctx, msg.record_id)
    if kind == KIND_BIRTH:
        if msg.linked_record is not None:
            raise RegistryError(errors.LINK_NOT_ALLOWED, "a birth record links no record")
        if msg.wallets:
            raise RegistryError(errors.WALLETS_NOT_ALLOWED, "a birth record freezes no wallet")
    else:
        _check_death_links(ctx, msg)
    linked = msg.linked_record or b""
    set_record(
        ctx.state,
        msg.record_id,
        Record(
            kind=kind,
            status=STATUS_VALID,
            commitment=msg.commitment,
            office=ctx.sender,
            registrar=ctx.sender,
            version=1,
            previous=b"",
            superseded_by=b"",
            linked_record=linked,
            wallets=msg.wallets,
            deceased_by=b"",
            revocation_reason=0,
            history=(_change(ctx, REGISTERED),),
        ),
    )
    ctx.emit(
        "record_registered",
        record_id=msg.record_id,
        kind=msg.kind,
        registrar=ctx.sender,
        commitment=msg.commitment,
    )
    if kind != KIND_DEATH:
        return
    if linked:
        _mark_birth(ctx, linked, b"", msg.record_id)
    for wallet in msg.wallets:
        set_wallet_claim(ctx.state, wallet, msg.record_id)
        freeze_account(ctx.state, wallet)
        ctx.emit("wallet_frozen", address=wallet, record_id=msg.record_id)
    # For subscribers such as a voter roll: a person died, known by the birth record (if given).
    ctx.emit(
        "death_registered",
        record_id=msg.record_id,
        birth_record=linked,
        wallets=len(msg.wallets),
    )


def handle_amend(ctx: Context, msg: MsgAmend) -> None:
    """Make ``new_record_id`` the valid version and mark ``record_id`` superseded by it."""
    old = _valid_record(ctx, msg.record_id)
    _require_new(ctx, msg.new_record_id)
    set_record(
        ctx.state,
        msg.record_id,
        structs.replace(
            old,
            status=STATUS_SUPERSEDED,
            superseded_by=msg.new_record_id,
            history=(*old.history, _change(ctx, SUPERSEDED, msg.new_record_id)),
        ),
    )
    set_record(
        ctx.state,
        msg.new_record_id,
        structs.replace(
            old,
            commitment=msg.commitment,
            registrar=ctx.sender,
            version=old.version + 1,
            previous=msg.record_id,
            history=(_change(ctx, AMENDED, msg.record_id),),
        ),
    )
    if old.kind == KIND_DEATH:
        # The new version takes over what the old one did: the wallet freezes and the death mark.
        for wallet in old.wallets:
            if get_wallet_claim(ctx.state, wallet) == msg.record_id:
                set_wallet_claim(ctx.state, wallet, msg.new_record_id)
        if old.linked_record:
            _mark_birth(ctx, old.linked_record, msg.record_id, msg.new_record_id)
    ctx.emit(
        "record_amended",
        record_id=msg.record_id,
        new_record_id=msg.new_record_id,
        kind=KIND_NAMES[old.kind],
        registrar=ctx.sender,
        office=old.office,
        commitment=msg.commitment,
    )


def handle_revoke(ctx: Context, msg: MsgRevoke) -> None:
    """Revoke a valid record; revoking a death unfreezes its wallets and clears its mark."""
    reason = REVOCATION_REASONS.get(msg.reason)
    if reason is None:
        known = ", ".join(f"{code} {name}" for code, name in sorted(REVOCATION_REASONS.items()))
        raise RegistryError(errors.UNKNOWN_REASON, f"reason {msg.reason}; known: {known}")
    record = _valid_record(ctx, msg.record_id)
    set_record(
        ctx.state,
        msg.record_id,
        structs.replace(
            record,
            status=STATUS_REVOKED,
            revocation_reason=msg.reason,
            history=(*record.history, _change(ctx, REVOKED, reason=msg.reason)),
        ),
    )
    ctx.emit(
        "record_revoked",
        record_id=msg.record_id,
        kind=KIND_NAMES[record.kind],
        reason=reason,
        registrar=ctx.sender,
        office=record.office,
    )
    if record.kind != KIND_DEATH:
        return
    for wallet in record.wallets:
        if get_wallet_claim(ctx.state, wallet) == msg.record_id:
            set_wallet_claim(ctx.state, wallet, None)
            unfreeze_account(ctx.state, wallet)
            ctx.emit("wallet_unfrozen", address=wallet, record_id=msg.record_id)
    if record.linked_record:
        _mark_birth(ctx, record.linked_record, msg.record_id, b"")
    ctx.emit("death_revoked", record_id=msg.record_id, birth_record=record.linked_record)
