"""Restricted passport parts off the ledger (citychain/passport/restricted.py): the signed read
request, the authorisation matrix against ledger state, the reader's check of the served
fields against the ledger's commitment; no restricted value in state; replay determinism."""

from __future__ import annotations

from pathlib import Path

import pytest
from battery_chain import (
    COMPOSITION_FIELDS,
    DRIVER,
    FLEET,
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
    leased_chain,
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


def request(reader: PrivateKey, part: str, **changes: object) -> SignedReadRequest:
    options: dict[str, object] = {
        "chain_id": CHAIN_ID,
        "battery_id": bid(),
        "part": part,
        "issued_at_ms": NOW_MS,
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
            service.serve(request(reader, part), state, height, NOW_MS, chain_id=CHAIN_ID)
        assert raised.value.error == read_errors.NOT_AUTHORISED
        return
    served = service.serve(request(reader, part), state, height, NOW_MS, chain_id=CHAIN_ID)
    verify_served(state, served)
    expected = COMPOSITION_FIELDS if part == COMPOSITION else TEST_REPORT_FIELDS
    assert dict(served.fields) == expected


def test_rights_follow_the_ledger(leased: Chain, service: PassportService) -> None:
    height = leased.height
    assert leased.run(FLEET, MsgLease(bid(), None, None)).ok
    assert leased.run(FLEET, MsgTransfer(bid(), addr(RECYCLER))).ok
    state = leased.app.committed
    for former in (FLEET, DRIVER):
        with pytest.raises(RestrictedReadError) as raised:
            service.serve(
                request(former, COMPOSITION), state, leased.height, NOW_MS, chain_id=CHAIN_ID
            )
        assert raised.value.error == read_errors.NOT_AUTHORISED
    verify_served(
        state,
        service.serve(request(RECYCLER, COMPOSITION), state, height, NOW_MS, chain_id=CHAIN_ID),
    )


def test_a_lapsed_lease_reads_nothing(tmp_path: Path) -> None:
    chain = registered_chain(tmp_path)
    end = chain.height + 2
    assert chain.run(FLEET, MsgLease(bid(), addr(DRIVER), end)).ok
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
    good = request(FLEET, COMPOSITION)
    forged = SignedReadRequest(good.request, STRANGER.sign(b"anything").ljust(64, b"\0"))
    assert _refused(leased, forged) == read_errors.BAD_SIGNATURE
    # The signature covers every field: another battery under the same signature fails.
    moved = SignedReadRequest(
        type(good.request)(**{**_fields(good), "battery_id": bid("VC-EV-0002")}), good.signature
    )
    assert _refused(leased, moved) == read_errors.BAD_SIGNATURE
    assert _refused(leased, request(FLEET, COMPOSITION, chain_id="other")) == (
        read_errors.WRONG_CHAIN
    )
    assert _refused(leased, good, NOW_MS + 300_001) == read_errors.STALE_REQUEST
    assert _refused(leased, good, NOW_MS - 300_001) == read_errors.STALE_REQUEST
    assert _refused(leased, request(FLEET, "secrets")) == read_errors.UNKNOWN_PART
    assert _refused(leased, request(FLEET, COMPOSITION, battery_id=bid("nope"))) == (
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
        service.serve(request(FLEET, HEALTH), state, height, NOW_MS, chain_id=CHAIN_ID)
    assert raised.value.error == read_errors.PART_NOT_HELD
    # "public" is on the ledger in clear: never an opening.
    with pytest.raises(RestrictedReadError) as raised:
        service.serve(request(FLEET, PUBLIC), state, height, NOW_MS, chain_id=CHAIN_ID)
    assert raised.value.error == read_errors.UNKNOWN_PART


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
            request(FLEET, COMPOSITION),
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
        (MAKER, register_msg("VC-EV-0002")),
        (FLEET, MsgSetStatus(bid(), "installed")),
        (FLEET, MsgLease(bid(), addr(DRIVER), 50)),
        (ORACLE, MsgUpdateHealth(bid(), model, batch)),
        (ORACLE, MsgAttestPrediction(bid(), 1_900, 19_690, 1_700, 2_100, model, batch)),
        (ORACLE, MsgAttestPrediction(bid("VC-EV-0002"), 2_000, 19_990, 1, 3_000, model, batch)),
        (FLEET, MsgLease(bid(), None, None)),
        (FLEET, MsgSetStatus(bid(), "swapped")),
        (MAKER, MsgSetStatus(bid(), "remanufactured")),
        (FLEET, MsgTransfer(bid(), addr(RECYCLER))),
        (RECYCLER, MsgSetStatus(bid(), "waste")),
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
