"""Restricted passport parts off the ledger (citychain/passport/restricted.py): the signed read
request (bound to a node, a route and a window, answered once), the authorisation matrix
against ledger state, the reader's check of the served fields against the ledger's commitment;
no restricted value in state; replay determinism."""

from __future__ import annotations

from pathlib import Path

import pytest
from battery_chain import (
    COMPOSITION_FIELDS,
    DRIVER,
    FLEET,
    HOLDING_SECRET,
    MAKER,
    ORACLE,
    OTHER_MAKER,
    RECYCLER,
    REGULATOR,
    SALT_COMPOSITION,
    SALT_TESTS,
    STRANGER,
    TELEMETRY_BATCH,
    TEST_REPORT_FIELDS,
    anchor_messages,
    battery_chain,
    bid,
    hid,
    leased_chain,
    open_msg,
    register_msg,
    registered_chain,
)
from helpers import CHAIN_ID, Chain, addr

from citychain.crypto.keys import PrivateKey
from citychain.modules.battery.commitment import commit, commit_part
from citychain.modules.battery.messages import (
    MsgAttestPrediction,
    MsgLease,
    MsgSetStatus,
    MsgTransfer,
    MsgUpdateHealth,
)
from citychain.passport import (
    Opening,
    OpeningStore,
    PassportService,
    RestrictedReadError,
    SignedReadRequest,
    authorise,
    seal_part,
    sign_read_request,
    verify_served,
)
from citychain.passport import errors as read_errors
from citychain.passport.restricted import (
    CLOCK_SKEW_MS,
    FLEET_ROUTE,
    MAX_WINDOW_MS,
    part_route,
    point4_route,
)

NOW_MS = 1_800_000_000_000
COMPOSITION, TEST_REPORTS, HEALTH, PUBLIC = "composition", "test_reports", "health", "public"


@pytest.fixture
def leased(tmp_path: Path) -> Chain:
    """VC-EV-0001 owned by FLEET and leased to DRIVER, open-ended."""
    return leased_chain(tmp_path)


@pytest.fixture
def service(leased: Chain, tmp_path: Path) -> PassportService:
    """A node's openings of VC-EV-0001's points 2 and 3, delivered by the manufacturer."""
    store = OpeningStore(tmp_path / "openings.sqlite")
    store.accept(leased.app.committed, bid(), COMPOSITION, COMPOSITION_FIELDS, SALT_COMPOSITION)
    store.accept(leased.app.committed, bid(), TEST_REPORTS, TEST_REPORT_FIELDS, SALT_TESTS)
    return PassportService(store=store)


def opening(part: str, fields: dict[str, object], salt: bytes) -> Opening:
    return Opening(bid(), part, bytes(32), 0, 0, fields, salt)


def request(
    reader: PrivateKey, part: str, service: PassportService | None = None, **changes: object
) -> SignedReadRequest:
    """A request for ``part`` of VC-EV-0001 on its parts route, for ``service``'s node."""
    battery_id = changes.get("battery_id", bid())
    assert isinstance(battery_id, bytes)
    options: dict[str, object] = {
        "chain_id": CHAIN_ID,
        "node_id": service.node_id if service is not None else bytes(16),
        "route": part_route(battery_id, part),
        "battery_id": battery_id,
        "part": part,
        "issued_at_ms": NOW_MS,
        # the holding secret, which the owner and lessee of VC-EV-0001 hold (module doc §7)
        "holding": HOLDING_SECRET if battery_id == bid() else b"",
    }
    options.update(changes)
    return sign_read_request(reader, **options)  # type: ignore[arg-type]


# reader -> the parts the regulation lets it read (docs/modules/battery.md §2).
MATRIX: dict[str, tuple[PrivateKey, set[str]]] = {
    "owner": (FLEET, {PUBLIC, COMPOSITION, HEALTH}),
    "lessee": (DRIVER, {PUBLIC, COMPOSITION, HEALTH}),
    "manufacturer": (MAKER, {PUBLIC, COMPOSITION, TEST_REPORTS, HEALTH}),
    "regulator": (REGULATOR, {PUBLIC, COMPOSITION, TEST_REPORTS}),
    "other manufacturer": (OTHER_MAKER, {PUBLIC}),
    "oracle": (ORACLE, {PUBLIC}),
    "stranger": (STRANGER, {PUBLIC}),
}


@pytest.mark.parametrize("who", list(MATRIX))
@pytest.mark.parametrize("part", [PUBLIC, COMPOSITION, TEST_REPORTS, HEALTH])
def test_authorisation_matrix(leased: Chain, who: str, part: str) -> None:
    reader, allowed = MATRIX[who]
    signed = request(reader, part)
    state, height = leased.app.committed, leased.height
    if part in allowed:
        assert authorise(signed, state, height, chain_id=CHAIN_ID, now_ms=NOW_MS) == addr(reader)
    else:
        with pytest.raises(RestrictedReadError) as raised:
            authorise(signed, state, height, chain_id=CHAIN_ID, now_ms=NOW_MS)
        assert raised.value.error == read_errors.NOT_AUTHORISED


@pytest.mark.parametrize("who", list(MATRIX))
@pytest.mark.parametrize("part", [COMPOSITION, TEST_REPORTS])
def test_served_parts_open_the_ledger_commitment(
    leased: Chain, service: PassportService, who: str, part: str
) -> None:
    reader, allowed = MATRIX[who]
    state, height = leased.app.committed, leased.height
    if part not in allowed:
        with pytest.raises(RestrictedReadError) as raised:
            service.serve(request(reader, part, service), state, height, NOW_MS, chain_id=CHAIN_ID)
        assert raised.value.error == read_errors.NOT_AUTHORISED
        return
    served = service.serve(request(reader, part, service), state, height, NOW_MS, chain_id=CHAIN_ID)
    verify_served(state, served)
    expected = COMPOSITION_FIELDS if part == COMPOSITION else TEST_REPORT_FIELDS
    assert dict(served.fields) == expected


def test_rights_follow_the_ledger(leased: Chain, service: PassportService) -> None:
    height = leased.height
    assert leased.run(FLEET, MsgLease(hid(), None, None)).ok
    assert leased.run(FLEET, MsgTransfer(hid(), addr(RECYCLER))).ok
    state = leased.app.committed
    for former in (FLEET, DRIVER):
        with pytest.raises(RestrictedReadError) as raised:
            service.serve(
                request(former, COMPOSITION, service),
                state,
                leased.height,
                NOW_MS,
                chain_id=CHAIN_ID,
            )
        assert raised.value.error == read_errors.NOT_AUTHORISED
    verify_served(
        state,
        service.serve(
            request(RECYCLER, COMPOSITION, service), state, height, NOW_MS, chain_id=CHAIN_ID
        ),
    )


def test_a_lapsed_lease_reads_nothing(tmp_path: Path) -> None:
    chain = registered_chain(tmp_path)
    end = chain.height + 2
    assert chain.run(FLEET, MsgLease(hid(), addr(DRIVER), end)).ok
    state = chain.app.committed
    signed = request(DRIVER, HEALTH)
    assert authorise(signed, state, end, chain_id=CHAIN_ID, now_ms=NOW_MS) == addr(DRIVER)
    with pytest.raises(RestrictedReadError) as raised:
        authorise(signed, state, end + 1, chain_id=CHAIN_ID, now_ms=NOW_MS)
    assert raised.value.error == read_errors.NOT_AUTHORISED


def _refused(chain: Chain, signed: SignedReadRequest, now_ms: int = NOW_MS) -> object:
    with pytest.raises(RestrictedReadError) as raised:
        authorise(signed, chain.app.committed, chain.height, chain_id=CHAIN_ID, now_ms=now_ms)
    return raised.value.error


def test_request_checks(leased: Chain, service: PassportService) -> None:
    good = request(MAKER, COMPOSITION, service)
    forged = SignedReadRequest(good.request, STRANGER.sign(b"anything").ljust(64, b"\0"))
    assert _refused(leased, forged) == read_errors.BAD_SIGNATURE
    # The signature covers every field: another battery, node or route under the same
    # signature fails.
    for name, value in (
        ("battery_id", bid("VC-EV-0002")),
        ("node_id", bytes(range(16))),
        ("route", part_route(bid(), TEST_REPORTS)),
        ("expires_at_ms", NOW_MS + 1),
    ):
        moved = SignedReadRequest(
            type(good.request)(**{**_fields(good), name: value}), good.signature
        )
        assert _refused(leased, moved) == read_errors.BAD_SIGNATURE, name
    assert _refused(leased, request(MAKER, COMPOSITION, chain_id="other")) == (
        read_errors.WRONG_CHAIN
    )
    assert _refused(leased, request(MAKER, "secrets")) == read_errors.UNKNOWN_PART
    assert _refused(leased, request(MAKER, COMPOSITION, battery_id=bid("nope"))) == (
        read_errors.UNKNOWN_BATTERY
    )
    # Replay: the same signed request is served once.
    state, height = leased.app.committed, leased.height
    service.serve(good, state, height, NOW_MS, chain_id=CHAIN_ID)
    with pytest.raises(RestrictedReadError) as raised:
        service.serve(good, state, height, NOW_MS + 1, chain_id=CHAIN_ID)
    assert raised.value.error == read_errors.REPLAYED_REQUEST
    # No health update yet: nothing committed, so nothing this node could hold.
    with pytest.raises(RestrictedReadError) as raised:
        service.serve(request(MAKER, HEALTH, service), state, height, NOW_MS, chain_id=CHAIN_ID)
    assert raised.value.error == read_errors.PART_NOT_HELD
    # "public" is on the ledger in clear: never an opening.
    with pytest.raises(RestrictedReadError) as raised:
        service.serve(request(MAKER, PUBLIC, service), state, height, NOW_MS, chain_id=CHAIN_ID)
    assert raised.value.error == read_errors.UNKNOWN_PART


WINDOW = MAX_WINDOW_MS


@pytest.mark.parametrize(
    ("issued", "valid_for", "now", "fresh"),
    [
        (NOW_MS, WINDOW, NOW_MS, True),
        (NOW_MS, WINDOW, NOW_MS + WINDOW + CLOCK_SKEW_MS - 1, True),  # just in time
        (NOW_MS, WINDOW, NOW_MS + WINDOW + CLOCK_SKEW_MS, False),  # expired
        (NOW_MS, 1_000, NOW_MS + 1_000 + CLOCK_SKEW_MS, False),  # its own, shorter, window
        (NOW_MS, WINDOW, NOW_MS - CLOCK_SKEW_MS, True),  # the reader's clock a little ahead
        (NOW_MS, WINDOW, NOW_MS - CLOCK_SKEW_MS - 1, False),  # from the future
        (NOW_MS, WINDOW + 1, NOW_MS, False),  # a window longer than a node allows
        (NOW_MS, 0, NOW_MS, False),  # an empty one
        (NOW_MS - 300_000, WINDOW, NOW_MS, False),  # five minutes old: no longer fresh
    ],
)
def test_a_request_lives_sixty_seconds_at_most(
    leased: Chain, issued: int, valid_for: int, now: int, fresh: bool
) -> None:
    signed = request(MAKER, COMPOSITION, issued_at_ms=issued, valid_for_ms=valid_for)
    state, height = leased.app.committed, leased.height
    if fresh:
        assert authorise(signed, state, height, chain_id=CHAIN_ID, now_ms=now) == addr(MAKER)
    else:
        assert _refused(leased, signed, now) == read_errors.STALE_REQUEST


def _served_error(service: PassportService, chain: Chain, signed: SignedReadRequest) -> object:
    with pytest.raises(RestrictedReadError) as raised:
        service.serve(signed, chain.app.committed, chain.height, NOW_MS, chain_id=CHAIN_ID)
    return raised.value.error


def test_a_request_is_for_one_node_and_one_route(leased: Chain, service: PassportService) -> None:
    elsewhere = request(MAKER, COMPOSITION, service, node_id=bytes(range(16)))
    assert _served_error(service, leased, elsewhere) == read_errors.WRONG_NODE
    for route in (
        point4_route(bid(), "status"),
        part_route(bid(), TEST_REPORTS),
        part_route(bid("VC-EV-0002"), COMPOSITION),
        FLEET_ROUTE,
    ):
        other_route = request(MAKER, COMPOSITION, service, route=route)
        assert _served_error(service, leased, other_route) == read_errors.WRONG_ROUTE
    # Neither refusal spent the nonce: the owner's good request still reads once.
    state, height = leased.app.committed, leased.height
    good = request(MAKER, COMPOSITION, service)
    assert service.serve(good, state, height, NOW_MS, chain_id=CHAIN_ID).part == COMPOSITION
    assert _served_error(service, leased, good) == read_errors.REPLAYED_REQUEST


def test_point_four_requests_are_answered_once_across_routes(
    leased: Chain, service: PassportService
) -> None:
    """The issue's replay: one captured header read /status, /history and /health again and
    again. Now a request is for one route, and once."""
    state, height = leased.app.committed, leased.height

    def admit(signed: SignedReadRequest, route: str) -> bytes:
        return service.admit(
            signed, state, height, NOW_MS, chain_id=CHAIN_ID, battery_id=bid(), route=route
        ).reader

    captured = request(MAKER, HEALTH, service, route=point4_route(bid(), "status"))
    assert admit(captured, "status") == addr(MAKER)
    for route in ("status", "history", "health", "prediction"):
        with pytest.raises(RestrictedReadError) as raised:
            admit(captured, route)
        expected = read_errors.REPLAYED_REQUEST if route == "status" else read_errors.WRONG_ROUTE
        assert raised.value.error == expected, route
    # A request for the public part opens no point-4 route, even with the right route.
    public = request(MAKER, PUBLIC, service, route=point4_route(bid(), "status"))
    with pytest.raises(RestrictedReadError) as raised:
        admit(public, "status")
    assert raised.value.error == read_errors.NOT_AUTHORISED
    # The fleet: one request, one page.
    fleet = request(MAKER, "fleet", service, route=FLEET_ROUTE, battery_id=bytes(32))
    assert service.admit_fleet(fleet, NOW_MS, chain_id=CHAIN_ID) == addr(MAKER)
    with pytest.raises(RestrictedReadError) as raised:
        service.admit_fleet(fleet, NOW_MS, chain_id=CHAIN_ID)
    assert raised.value.error == read_errors.REPLAYED_REQUEST


def test_nonces_outlive_a_restart_and_are_pruned_after_expiry(
    leased: Chain, tmp_path: Path
) -> None:
    path = tmp_path / "restart" / "openings.sqlite"
    first = PassportService(store=OpeningStore(path))
    first.store.accept(
        leased.app.committed, bid(), COMPOSITION, COMPOSITION_FIELDS, SALT_COMPOSITION
    )
    node_id = first.node_id
    state, height = leased.app.committed, leased.height
    captured = request(MAKER, COMPOSITION, first)
    first.serve(captured, state, height, NOW_MS, chain_id=CHAIN_ID)
    first.close()
    first.store.close()
    again = PassportService(store=OpeningStore(path))
    assert again.node_id == node_id  # the same node: requests signed for it still count
    assert _served_error(again, leased, captured) == read_errors.REPLAYED_REQUEST
    assert len(again.nonces) == 1
    # Once every request it could answer has expired, the nonce goes; so does a copy's use.
    later = NOW_MS + WINDOW + CLOCK_SKEW_MS + 1
    fresh = request(MAKER, COMPOSITION, again, issued_at_ms=later)
    again.serve(fresh, state, height, later, chain_id=CHAIN_ID)
    assert len(again.nonces) == 1
    again.close()
    again.store.close()


def _fields(signed: SignedReadRequest) -> dict[str, object]:
    r = signed.request
    return {name: getattr(r, name) for name in r.__struct_fields__}


def test_requests_survive_their_wire_form(leased: Chain) -> None:
    signed = request(DRIVER, COMPOSITION)
    again = SignedReadRequest.from_bytes(signed.to_bytes())
    assert again == signed
    with pytest.raises(RestrictedReadError) as raised:
        SignedReadRequest.from_bytes(signed.to_bytes()[:-1])
    assert raised.value.error == read_errors.MALFORMED_REQUEST


def test_a_part_the_service_does_not_hold(leased: Chain, tmp_path: Path) -> None:
    empty = PassportService(store=OpeningStore(tmp_path / "empty.sqlite"))
    with pytest.raises(RestrictedReadError) as raised:
        empty.serve(
            request(MAKER, COMPOSITION, empty),
            leased.app.committed,
            leased.height,
            NOW_MS,
            chain_id=CHAIN_ID,
        )
    assert raised.value.error == read_errors.PART_NOT_HELD


@pytest.mark.parametrize(
    "served",
    [
        opening(COMPOSITION, {**COMPOSITION_FIELDS, "cathode": "LFP"}, SALT_COMPOSITION),
        opening(COMPOSITION, COMPOSITION_FIELDS, SALT_TESTS),
        opening(TEST_REPORTS, COMPOSITION_FIELDS, SALT_COMPOSITION),
        opening(COMPOSITION, COMPOSITION_FIELDS, b"short"),
        opening(COMPOSITION, {**COMPOSITION_FIELDS, "x": 0.5}, SALT_COMPOSITION),
    ],
)
def test_a_reader_detects_fields_that_do_not_open_the_commitment(
    leased: Chain, served: Opening
) -> None:
    with pytest.raises(RestrictedReadError) as raised:
        verify_served(leased.app.committed, served)
    assert raised.value.error == read_errors.COMMITMENT_MISMATCH


def test_seal_part_gives_a_fresh_salt_that_opens_its_commitment() -> None:
    commitment, salt = seal_part(COMPOSITION, COMPOSITION_FIELDS)
    again, other_salt = seal_part(COMPOSITION, COMPOSITION_FIELDS)
    assert salt != other_salt and commitment != again
    assert commit_part(COMPOSITION, COMPOSITION_FIELDS, salt) == commitment
    with pytest.raises(ValueError, match="restricted"):
        seal_part(PUBLIC, {})
    with pytest.raises(ValueError, match="32 bytes"):
        commit(b"content", b"short")


def test_no_restricted_value_reaches_the_state(leased: Chain) -> None:
    values = list(leased.app.committed.values.values())
    needles: list[bytes] = [SALT_COMPOSITION, SALT_TESTS]
    for fields in (COMPOSITION_FIELDS, TEST_REPORT_FIELDS):
        for value in fields.values():
            items = value if isinstance(value, list) else [value]
            needles.extend(str(item).encode() for item in items)
    for needle in needles:
        assert not any(needle in v for v in values), needle
    # What is there is the commitment.
    assert any(commit_part(COMPOSITION, COMPOSITION_FIELDS, SALT_COMPOSITION) in v for v in values)


def _script(chain: Chain) -> tuple[list[bytes], list[list[bytes]]]:
    """Run a battery's whole life, one transaction a block: (app hashes, raw blocks)."""
    hashes, blocks = [], []
    batch, model = TELEMETRY_BATCH, bytes(range(32))
    for signer, *messages in (
        (MAKER, register_msg(), *anchor_messages()),
        (MAKER, open_msg()),
        (MAKER, register_msg("VC-EV-0002")),
        (MAKER, open_msg("VC-EV-0002")),
        (FLEET, MsgSetStatus(hid(), "installed")),
        (FLEET, MsgLease(hid(), addr(DRIVER), 50)),
        (ORACLE, MsgUpdateHealth(bid(), model, batch)),
        (ORACLE, MsgAttestPrediction(bid(), 1_900, 19_690, 1_700, 2_100, model, batch)),
        (ORACLE, MsgAttestPrediction(bid("VC-EV-0002"), 2_000, 19_990, 1, 3_000, model, batch)),
        (FLEET, MsgLease(hid(), None, None)),
        (FLEET, MsgSetStatus(hid(), "swapped")),
        (FLEET, MsgLease(hid(), addr(MAKER), None)),  # handed to the maker for the work
        (MAKER, MsgSetStatus(hid(), "remanufactured")),
        (FLEET, MsgLease(hid(), None, None)),
        (FLEET, MsgTransfer(hid(), addr(RECYCLER))),
        (RECYCLER, MsgSetStatus(hid(), "waste")),
    ):
        raw = chain.tx(signer, *messages)
        result = chain.block(raw).tx_results[0]
        assert result.ok, result.log
        hashes.append(chain.app.app_hash)
        blocks.append([raw])
    return hashes, blocks


def test_replaying_the_same_blocks_gives_the_same_app_hashes(tmp_path: Path) -> None:
    first = battery_chain(tmp_path / "a")
    second = battery_chain(tmp_path / "b")
    hashes, blocks = _script(first)
    assert _script(second)[0] == hashes
    # The recorded bytes, replayed on a third node, give the same hashes and events.
    third = battery_chain(tmp_path / "c")
    replayed = []
    for raws in blocks:
        result = third.block(*raws)
        assert result.tx_results[0].ok
        replayed.append(third.app.app_hash)
    assert replayed == hashes
    assert first.app.committed.values == second.app.committed.values == third.app.committed.values
