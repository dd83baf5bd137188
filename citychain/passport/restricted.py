"""Restricted passport parts, off the ledger (docs/modules/battery.md §5).

The ledger holds one salted commitment per restricted part (Annex XIII point 2, composition;
point 3, test reports; point 4, the latest health); a node's ``OpeningStore`` holds the fields
and salts delivered to it. A reader asks with a request signed by its Ed25519 key:

    signature = Ed25519(key, READ_DOMAIN || encode(ReadRequest))

over the chain id, the node it asks (its ``node_id``, ``GET /status``), the route it asks for
(method and path, ``GET /battery/<id>/status``), the battery id, part, its own time, an expiry at
most ``MAX_WINDOW_MS`` later and a random nonce. A request is answered once, by one node, on one
route, within its window: a copy is refused on any route (the node keeps its nonce in a
``NonceStore`` until the request has expired), so is a request for another node or route. The
service checks it against the ledger's state (who owns, leases, manufactured the battery, who
holds the regulator role: ``citychain.modules.battery.may_read``) and answers with the fields
and salt; the reader checks that they open the ledger's commitment, so a service cannot serve
other data.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

from citychain.codec import U64, Bytes32, DecodeError, Struct, decode, encode
from citychain.crypto.keys import PrivateKey, verify
from citychain.modules.battery import (
    HEALTH,
    HOLDING_SECRET_SIZE,
    PARTS,
    RESTRICTED_PARTS,
    SALT_SIZE,
    Battery,
    Readable,
    commit_part,
    commitment_of,
    get_battery,
    may_read,
    proven_holding,
)
from citychain.passport import errors
from citychain.passport.errors import RestrictedReadError
from citychain.passport.nonces import FILE_NAME as NONCES_FILE
from citychain.passport.nonces import NODE_ID_SIZE, NonceStore
from citychain.passport.openings import Opening, OpeningStore
from citychain.state.overlay import StateReader
from citychain.tx.envelope import address_of

READ_DOMAIN = b"citychain/battery/read-request/v2\x00"
# The longest a request may be valid (expires_at_ms - issued_at_ms): long enough to carry a
# file from the CLI to a page, short enough that a leaked request is soon useless.
MAX_WINDOW_MS = 60_000
DEFAULT_MAX_AGE_MS = MAX_WINDOW_MS  # the name `authorise` takes it under
# How far the reader's clock may be off the node's, at either end of the window.
CLOCK_SKEW_MS = 5_000
# The HTTP header that carries a signed read request (hex of SignedReadRequest.to_bytes()), and
# the pseudo-part and all-zero battery id of a request for the signer's whole fleet.
READ_HEADER = "X-Citychain-Read-Request"
FLEET_PART = "fleet"
FLEET_ID = bytes(32)
NONCE_SIZE = 16
MAX_ROUTE = 200  # characters: "GET /battery/<64 hex>/parts/<part>" is about 100

# The gated routes of the node's API, by name: the four of a battery's point-4 data, the
# fleet, and a restricted part in clear (docs/battery-api.md).
POINT4_ROUTES = ("status", "history", "health", "prediction")
FLEET_ROUTE = "GET /battery/fleet"

Nonce = Annotated[bytes, msgspec.Meta(min_length=NONCE_SIZE, max_length=NONCE_SIZE)]
NodeId = Annotated[bytes, msgspec.Meta(min_length=NODE_ID_SIZE, max_length=NODE_ID_SIZE)]
Route = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ROUTE)]
Signature = Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]
HoldingSecret = Annotated[bytes, msgspec.Meta(max_length=HOLDING_SECRET_SIZE)]


def point4_route(battery_id: bytes, name: str) -> str:
    """The route a request for ``name`` (status, history, health, prediction) of a battery's
    point-4 data is bound to: ``GET /battery/<id>/<name>``, the id in lowercase hex."""
    if name not in POINT4_ROUTES:
        raise ValueError(f"{name!r} is not a point-4 route: {', '.join(POINT4_ROUTES)}")
    return f"GET /battery/{battery_id.hex()}/{name}"


def part_route(battery_id: bytes, part: str) -> str:
    """The route a request for a restricted part in clear is bound to."""
    return f"GET /battery/{battery_id.hex()}/parts/{part}"


class ReadRequest(Struct, frozen=True):
    chain_id: str
    node_id: NodeId  # the node asked (GET /status `node_id`): another node refuses it
    route: Route  # "GET /battery/<id>/status": another route refuses it
    battery_id: Bytes32
    part: str
    issued_at_ms: U64  # the reader's clock; the service compares it with its own
    expires_at_ms: U64  # at most MAX_WINDOW_MS after issued_at_ms
    nonce: Nonce  # answered once: the node keeps it until the request has expired
    public_key: Bytes32  # the reader's Ed25519 key; its address is what the ledger knows
    # The battery's holding secret (32 bytes; b"" for none): how an owner or lessee shows
    # which holding is this battery's, which the ledger does not link (docs/modules/battery.md
    # §7). Only the node asked sees it.
    holding: HoldingSecret = b""


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
    node_id: bytes,
    route: str,
    battery_id: bytes,
    part: str,
    issued_at_ms: int,
    valid_for_ms: int = MAX_WINDOW_MS,
    nonce: bytes | None = None,
    holding: bytes = b"",
) -> SignedReadRequest:
    request = ReadRequest(
        chain_id=chain_id,
        node_id=node_id,
        route=route,
        battery_id=battery_id,
        part=part,
        issued_at_ms=issued_at_ms,
        expires_at_ms=issued_at_ms + valid_for_ms,
        nonce=secrets.token_bytes(NONCE_SIZE) if nonce is None else nonce,
        public_key=key.public_key,
        holding=holding,
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
    """The signer's 20-byte address if ``signed`` is validly signed, for this chain and within
    its window (at most ``max_age_ms`` long, give or take ``CLOCK_SKEW_MS`` of the node's clock
    ``now_ms``); RestrictedReadError naming the failed check otherwise. The node and route it
    is for are `check_binding`'s question, what it may read `authorise`'s, and whether it was
    answered before the ``NonceStore``'s."""
    request = signed.request
    if not verify(request.public_key, READ_DOMAIN + encode(request), signed.signature):
        raise RestrictedReadError(errors.BAD_SIGNATURE)
    if request.chain_id != chain_id:
        raise RestrictedReadError(
            errors.WRONG_CHAIN, f"request for {request.chain_id!r}, this is {chain_id!r}"
        )
    _check_window(request, now_ms, max_age_ms)
    return address_of(request.public_key)


def _check_window(request: ReadRequest, now_ms: int, max_age_ms: int) -> None:
    issued, expires = request.issued_at_ms, request.expires_at_ms
    if not 0 < expires - issued <= max_age_ms:
        raise RestrictedReadError(
            errors.STALE_REQUEST,
            f"valid from {issued} to {expires} ms: a request lives 1 to {max_age_ms} ms",
        )
    if now_ms + CLOCK_SKEW_MS < issued:
        raise RestrictedReadError(
            errors.STALE_REQUEST, f"issued at {issued} ms, in the future: now {now_ms} ms"
        )
    if now_ms >= expires + CLOCK_SKEW_MS:
        raise RestrictedReadError(errors.STALE_REQUEST, f"expired at {expires} ms, now {now_ms} ms")


def check_binding(signed: SignedReadRequest, *, node_id: bytes, route: str) -> None:
    """RestrictedReadError unless ``signed`` names this node (WRONG_NODE) and the route being
    served (WRONG_ROUTE). Both are public, so this may run before the signature check."""
    request = signed.request
    if request.node_id != node_id:
        raise RestrictedReadError(
            errors.WRONG_NODE,
            f"request for node {request.node_id.hex()}, this is {node_id.hex()} (GET /status)",
        )
    if request.route != route:
        raise RestrictedReadError(
            errors.WRONG_ROUTE, f"request for {request.route!r}, this is {route!r}"
        )


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
    return _authorised(
        signed, state, height, chain_id=chain_id, now_ms=now_ms, max_age_ms=max_age_ms
    ).reader


def _authorised(
    signed: SignedReadRequest,
    state: StateReader,
    height: int,
    *,
    chain_id: str,
    now_ms: int,
    max_age_ms: int,
) -> Readable:
    """``authorise``, answering with what it found: the reader, the battery and, when the
    request's secret opens it, the battery's holding."""
    reader = authenticate(signed, chain_id=chain_id, now_ms=now_ms, max_age_ms=max_age_ms)
    request = signed.request
    if request.part not in PARTS:
        raise RestrictedReadError(
            errors.UNKNOWN_PART, f"part {request.part!r}; parts: {', '.join(PARTS)}"
        )
    battery = _battery(state, request.battery_id)
    found = None
    # Status and history are the battery's holding: read only with its secret, whoever asks.
    holding_routes = [point4_route(request.battery_id, name) for name in ("status", "history")]
    if not request.holding and request.route in holding_routes:
        raise RestrictedReadError(
            errors.NOT_AUTHORISED,
            f"{request.route} is the battery's holding: the request must carry its holding "
            "secret (citychain battery holding-import)",
        )
    if request.holding:
        # The owner and lessee are known only through the holding the secret opens.
        found = proven_holding(state, request.battery_id, battery, request.holding)
        if found is None:
            raise RestrictedReadError(
                errors.NOT_AUTHORISED,
                f"the request's holding secret does not open the holding commitment of "
                f"{request.battery_id.hex()}",
            )
    holding = found[1] if found is not None else None
    if not may_read(state, battery, holding, reader, request.part, height):
        raise RestrictedReadError(
            errors.NOT_AUTHORISED,
            f"reader {reader.hex()} may not read {request.part} of {request.battery_id.hex()}"
            + ("" if holding is not None else " (an owner or lessee sends the holding secret)"),
        )
    return Readable(reader, request.battery_id, battery, found)


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


class PassportService:
    """The gate in front of a node's restricted reads: the point-4 routes, the fleet and the
    openings (``OpeningStore``) of the restricted parts, served to the readers the regulation
    names, each request once. ``nonces`` (default: ``read-requests.sqlite`` beside the
    openings) holds the node id requests must name and the nonces of the requests answered;
    it is one store for every route, and survives a restart. The chain id comes with each
    request to serve: a CometBFT node learns it only at InitChain, after the service is made.
    """

    def __init__(
        self,
        store: OpeningStore,
        nonces: NonceStore | None = None,
        max_age_ms: int = DEFAULT_MAX_AGE_MS,
    ) -> None:
        self.store = store
        self.nonces = (
            nonces if nonces is not None else NonceStore(store.path.with_name(NONCES_FILE))
        )
        self.max_age_ms = max_age_ms

    @property
    def node_id(self) -> bytes:
        """What a read request must name to be answered here (``GET /status``)."""
        return self.nonces.node_id

    def close(self) -> None:
        self.nonces.close()

    def admit(
        self,
        signed: SignedReadRequest,
        state: StateReader,
        height: int,
        now_ms: int,
        *,
        chain_id: str,
        battery_id: bytes,
        route: str,
    ) -> Readable:
        """What the reader of ``route`` (a name of ``POINT4_ROUTES``) may read of
        ``battery_id``'s point-4 data (its address, the battery and the holding its secret
        opens): a request for this node and exactly that route, the part ``health`` of that
        battery, valid, authorised and never answered before; its nonce is then spent."""
        request = signed.request
        if request.battery_id != battery_id or request.part != HEALTH:
            raise RestrictedReadError(
                errors.NOT_AUTHORISED,
                f"the read request is for part {request.part!r} of {request.battery_id.hex()}, "
                f"not {HEALTH!r} of {battery_id.hex()}",
            )
        check_binding(signed, node_id=self.node_id, route=point4_route(battery_id, route))
        admitted = _authorised(
            signed, state, height, chain_id=chain_id, now_ms=now_ms, max_age_ms=self.max_age_ms
        )
        self._spend(request, now_ms)
        return admitted

    def admit_fleet(self, signed: SignedReadRequest, now_ms: int, *, chain_id: str) -> bytes:
        """The signer of a fleet request for this node, valid and never answered before (the
        same checks as ``admit`` up to the battery, which a fleet request has none of)."""
        check_binding(signed, node_id=self.node_id, route=FLEET_ROUTE)
        reader = authenticate(signed, chain_id=chain_id, now_ms=now_ms, max_age_ms=self.max_age_ms)
        request = signed.request
        if request.part != FLEET_PART or request.battery_id != FLEET_ID:
            raise RestrictedReadError(
                errors.UNKNOWN_PART,
                f"the fleet needs a request for part {FLEET_PART!r} with a zero battery id, "
                f"got {request.part!r}",
            )
        self._spend(request, now_ms)
        return reader

    def serve(
        self,
        signed: SignedReadRequest,
        state: StateReader,
        height: int,
        now_ms: int,
        *,
        chain_id: str,
    ) -> Opening:
        """The requested part, once the request passes ``authorise`` and names this node
        and the part's route (``part_route``); each request once."""
        request = signed.request
        route = part_route(request.battery_id, request.part)
        check_binding(signed, node_id=self.node_id, route=route)
        battery = _authorised(
            signed, state, height, chain_id=chain_id, now_ms=now_ms, max_age_ms=self.max_age_ms
        ).battery
        if request.part not in RESTRICTED_PARTS:
            raise RestrictedReadError(
                errors.UNKNOWN_PART, f"{request.part!r} is on the ledger, not an opening"
            )
        self._spend(request, now_ms)
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

    def _spend(self, request: ReadRequest, now_ms: int) -> None:
        # Keep the nonce as long as its request could pass the window check.
        if not self.nonces.use(request.nonce, request.expires_at_ms + CLOCK_SKEW_MS, now_ms):
            raise RestrictedReadError(
                errors.REPLAYED_REQUEST, f"nonce {request.nonce.hex()} was answered before"
            )
