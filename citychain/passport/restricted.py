"""Restricted passport parts, off the ledger (docs/modules/battery.md §5).

The ledger holds one salted commitment per restricted part (Annex XIII point 2, composition;
point 3, test reports; point 4, the latest health); a node's ``OpeningStore`` holds the fields
and salts delivered to it. A reader asks with a request signed by its Ed25519 key:

    signature = Ed25519(key, READ_DOMAIN || encode(ReadRequest))

over the chain id, battery id, part, its own time and a random nonce, so a request cannot be
replayed on another chain, for another battery or part, or after ``max_age_ms``. The service
checks it against the ledger's state (who owns, leases, manufactured the battery, who holds the
regulator role: ``citychain.modules.battery.may_read``) and answers with the fields and salt; the
reader checks that they open the ledger's commitment, so a service cannot serve other data.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

from citychain.codec import U64, Bytes32, DecodeError, Struct, decode, encode
from citychain.crypto.keys import PrivateKey, verify
from citychain.modules.battery import (
    PARTS,
    RESTRICTED_PARTS,
    SALT_SIZE,
    Battery,
    commit_part,
    commitment_of,
    get_battery,
    may_read,
)
from citychain.passport import errors
from citychain.passport.errors import RestrictedReadError
from citychain.passport.openings import Opening, OpeningStore
from citychain.state.overlay import StateReader
from citychain.tx.envelope import address_of

READ_DOMAIN = b"citychain/battery/read-request/v1\x00"
# A request older (or further ahead of the service's clock) than this is refused: long enough
# for a slow network, short enough that a leaked request is soon useless.
DEFAULT_MAX_AGE_MS = 300_000
# The HTTP header that carries a signed read request (hex of SignedReadRequest.to_bytes()), and
# the pseudo-part and all-zero battery id of a request for the signer's whole fleet.
READ_HEADER = "X-Citychain-Read-Request"
FLEET_PART = "fleet"
FLEET_ID = bytes(32)
NONCE_SIZE = 16

Nonce = Annotated[bytes, msgspec.Meta(min_length=NONCE_SIZE, max_length=NONCE_SIZE)]
Signature = Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]


class ReadRequest(Struct, frozen=True):
    chain_id: str
    battery_id: Bytes32
    part: str
    issued_at_ms: U64  # the reader's clock; the service compares it with its own
    nonce: Nonce
    public_key: Bytes32  # the reader's Ed25519 key; its address is what the ledger knows


class SignedReadRequest(Struct, frozen=True):
    request: ReadRequest
    signature: Signature

    def to_bytes(self) -> bytes:
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedReadRequest:
        try:
            return decode(data, cls)
        except DecodeError as exc:
            raise RestrictedReadError(errors.MALFORMED_REQUEST, str(exc)) from None


def sign_read_request(
    key: PrivateKey,
    *,
    chain_id: str,
    battery_id: bytes,
    part: str,
    issued_at_ms: int,
    nonce: bytes | None = None,
) -> SignedReadRequest:
    request = ReadRequest(
        chain_id=chain_id,
        battery_id=battery_id,
        part=part,
        issued_at_ms=issued_at_ms,
        nonce=secrets.token_bytes(NONCE_SIZE) if nonce is None else nonce,
        public_key=key.public_key,
    )
    return SignedReadRequest(request, key.sign(READ_DOMAIN + encode(request)))


def seal_part(part: str, fields: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """(commitment, salt) for a restricted part, with a fresh 32-byte salt: what the
    manufacturer puts in ``battery/register`` and keeps with the fields."""
    if part not in RESTRICTED_PARTS:
        raise ValueError(f"{part!r} is not a restricted part; restricted: {RESTRICTED_PARTS}")
    salt = secrets.token_bytes(SALT_SIZE)
    return commit_part(part, fields, salt), salt


def _battery(state: StateReader, battery_id: bytes) -> Battery:
    battery = get_battery(state, battery_id)
    if battery is None:
        raise RestrictedReadError(errors.UNKNOWN_BATTERY, f"no battery {battery_id.hex()}")
    return battery


def authenticate(
    signed: SignedReadRequest,
    *,
    chain_id: str,
    now_ms: int,
    max_age_ms: int = DEFAULT_MAX_AGE_MS,
) -> bytes:
    """The signer's 20-byte address if ``signed`` is validly signed, for this chain and fresh;
    RestrictedReadError naming the failed check otherwise. What it may read is `authorise`'s
    question (the fleet route asks its own)."""
    request = signed.request
    if not verify(request.public_key, READ_DOMAIN + encode(request), signed.signature):
        raise RestrictedReadError(errors.BAD_SIGNATURE)
    if request.chain_id != chain_id:
        raise RestrictedReadError(
            errors.WRONG_CHAIN, f"request for {request.chain_id!r}, this is {chain_id!r}"
        )
    if abs(now_ms - request.issued_at_ms) > max_age_ms:
        raise RestrictedReadError(
            errors.STALE_REQUEST,
            f"issued at {request.issued_at_ms} ms, now {now_ms} ms, allowed {max_age_ms} ms",
        )
    return address_of(request.public_key)


def authorise(
    signed: SignedReadRequest,
    state: StateReader,
    height: int,
    *,
    chain_id: str,
    now_ms: int,
    max_age_ms: int = DEFAULT_MAX_AGE_MS,
) -> bytes:
    """The reader's 20-byte address if ``signed`` is a valid, fresh request that the ledger's
    state at ``height`` entitles to its part; RestrictedReadError naming the failed check
    otherwise. Checks go from cheapest to the state lookups, and never reveal whether a
    restricted part exists to a reader who fails the signature."""
    request = signed.request
    authenticate(signed, chain_id=chain_id, now_ms=now_ms, max_age_ms=max_age_ms)
    if request.part not in PARTS:
        raise RestrictedReadError(
            errors.UNKNOWN_PART, f"part {request.part!r}; parts: {', '.join(PARTS)}"
        )
    battery = _battery(state, request.battery_id)
    reader = address_of(request.public_key)
    if not may_read(state, battery, reader, request.part, height):
        raise RestrictedReadError(
            errors.NOT_AUTHORISED,
            f"reader {reader.hex()} may not read {request.part} of {request.battery_id.hex()}",
        )
    return reader


def verify_served(state: StateReader, served: Opening) -> None:
    """The reader's check: the served fields and salt open the commitment the ledger holds
    now for that battery and part; RestrictedReadError COMMITMENT_MISMATCH otherwise."""
    battery = _battery(state, served.battery_id)
    if served.part not in RESTRICTED_PARTS:
        raise RestrictedReadError(errors.UNKNOWN_PART, f"{served.part!r} is not restricted")
    try:
        opened = commit_part(served.part, served.fields, served.salt)
    except ValueError as exc:
        raise RestrictedReadError(errors.COMMITMENT_MISMATCH, str(exc)) from None
    if opened != commitment_of(state, served.battery_id, battery, served.part):
        raise RestrictedReadError(
            errors.COMMITMENT_MISMATCH,
            f"{served.part} of {served.battery_id.hex()} does not open the ledger's commitment",
        )


@dataclass
class PassportService:
    """The gate in front of a node's openings (``OpeningStore``): serves a restricted part
    to the readers the regulation names, and only the opening of the ledger's current
    commitment. ``seen`` remembers nonces for ``max_age_ms`` after their request's time, so a
    captured request cannot be replayed while it is still fresh. The chain id comes with each
    request to serve: a CometBFT node learns it only at InitChain, after the service is made.
    """

    store: OpeningStore
    max_age_ms: int = DEFAULT_MAX_AGE_MS
    _seen: dict[bytes, int] = field(default_factory=dict)

    def serve(
        self,
        signed: SignedReadRequest,
        state: StateReader,
        height: int,
        now_ms: int,
        *,
        chain_id: str,
    ) -> Opening:
        """The requested part, once the request passes ``authorise``."""
        authorise(
            signed, state, height, chain_id=chain_id, now_ms=now_ms, max_age_ms=self.max_age_ms
        )
        request = signed.request
        if request.part not in RESTRICTED_PARTS:
            raise RestrictedReadError(
                errors.UNKNOWN_PART, f"{request.part!r} is on the ledger, not an opening"
            )
        self._remember(request, now_ms)
        battery = _battery(state, request.battery_id)
        current = commitment_of(state, request.battery_id, battery, request.part)
        held = (
            self.store.get(request.battery_id, request.part, current)
            if current is not None
            else None
        )
        if held is None:
            raise RestrictedReadError(
                errors.PART_NOT_HELD,
                f"this node holds no opening of the current {request.part} commitment of "
                f"{request.battery_id.hex()}",
            )
        return held

    def _remember(self, request: ReadRequest, now_ms: int) -> None:
        for nonce in [n for n, expires in self._seen.items() if expires < now_ms]:
            del self._seen[nonce]
        if request.nonce in self._seen:
            raise RestrictedReadError(errors.REPLAYED_REQUEST, request.nonce.hex())
        # Keep the nonce as long as its request could pass the freshness check.
        self._seen[request.nonce] = request.issued_at_ms + self.max_age_ms
