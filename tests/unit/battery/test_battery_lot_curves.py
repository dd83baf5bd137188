"""A lot's early-life test curves in the passport's test report (citychain/passport/lot_curves.py):
the fixed-point format and its refusals, the canonical bytes and reference an attested
prediction names (pinned), and the restricted path: committed at registration, served only to
those who may read test reports, checked by the reader against the ledger's commitment."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
from battery_chain import (
    FLEET,
    MAKER,
    ORACLE,
    REGULATOR,
    SALT_TESTS,
    battery_chain,
    bid,
    register_msg,
)
from helpers import CHAIN_ID, Chain
from msgspec import structs

from citychain.crypto.keys import PrivateKey
from citychain.modules.battery.commitment import commit_part
from citychain.passport import (
    OpeningStore,
    PassportService,
    RestrictedReadError,
    sign_read_request,
    verify_served,
)
from citychain.passport import errors as read_errors
from citychain.passport.lot_curves import (
    REF_DOMAIN,
    LotCurvesError,
    lot_curves_bytes,
    lot_curves_fields,
    lot_curves_of,
    lot_curves_ref,
    parse_lot_curves,
    voltages_mv,
)
from citychain.passport.restricted import part_route

NOW_MS = 1_800_000_000_000
TEST_REPORTS = "test_reports"

# A tiny lot: two curves of four points (3.50, 3.49, 3.48, 3.47 V) and three capacities.
LOT: dict[str, Any] = {
    "cell_id": "b1c5",
    "nominal_10uah": 110_000,
    "voltage_high_mv": 3_500,
    "voltage_step_mv": 10,
    "curves": [
        {"cycle": 10, "capacity_10uah": [-4, 210, 1_030, 4_400]},
        {"cycle": 100, "capacity_10uah": [0, 190, 990, 4_310]},
    ],
    "cycles": [2, 3, 100],
    "capacity_10uah": [107_069, 107_190, 106_450],
}
CANONICAL = (
    b'{"capacity_10uah":[107069,107190,106450],"cell_id":"b1c5","curves":[{"capacity_10uah":'
    b'[-4,210,1030,4400],"cycle":10},{"capacity_10uah":[0,190,990,4310],"cycle":100}],'
    b'"cycles":[2,3,100],"nominal_10uah":110000,"voltage_high_mv":3500,"voltage_step_mv":10}'
)
REPORT: dict[str, Any] = {"report": "IEC 62660-1 cycle life, lot 2026-17", "lot_curves": LOT}


def changed(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(LOT)
    doc.update(changes)
    return doc


def test_fields_round_trip_and_the_canonical_bytes_are_pinned() -> None:
    lot = parse_lot_curves(LOT)
    assert lot_curves_fields(lot) == LOT
    assert lot_curves_bytes(lot) == CANONICAL
    assert lot_curves_ref(lot) == hashlib.sha256(REF_DOMAIN + CANONICAL).digest()
    assert lot_curves_ref(lot).hex() == (
        "f1463cf366c4c1790ab7bcdce304070f45e74cc996c48ca3dd20acc9870aa655"
    )
    assert voltages_mv(lot) == (3_500, 3_490, 3_480, 3_470)
    assert lot.curve(100) == lot.curves[1] and lot.curve(50) is None
    assert lot_curves_of(REPORT) == lot
    assert lot_curves_of({"report": "no curves"}) is None


def test_the_reference_follows_every_integer() -> None:
    other = changed(capacity_10uah=[107_069, 107_190, 106_451])
    assert lot_curves_ref(parse_lot_curves(other)) != lot_curves_ref(parse_lot_curves(LOT))


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        (changed(nominal_10uah=1.1), "float"),  # Ah given where 1e-5 Ah integers are expected
        (changed(capacity_10uah=[1.07069, 1.0719, 1.0645]), "float"),
        (changed(cycles=["2", "3", "100"]), "str"),
        (changed(extra=1), "unknown field"),
        (changed(cell_id=""), "length"),
        (changed(cycles=[3, 2, 100]), "ascending"),
        (changed(cycles=[2, 100]), "3 capacities"),
        (changed(capacity_10uah=[107_069, 0, 106_450]), ">= 1"),  # a capacity is measured
        (changed(voltage_step_mv=0), ">= 1"),
        (changed(voltage_high_mv=2_000, voltage_step_mv=1_000), "goes down to"),  # 2 - 3 V
        (
            changed(
                curves=[
                    {"cycle": 10, "capacity_10uah": [1, 2, 3, 4]},
                    {"cycle": 100, "capacity_10uah": [1, 2, 3]},
                ]
            ),
            "same number",
        ),
        (changed(curves=list(reversed(LOT["curves"]))), "ascending"),
        (changed(curves=[]), "length"),
        ([LOT], "JSON object"),
    ],
)
def test_malformed_lot_curves_are_refused(doc: Any, why: str) -> None:
    with pytest.raises(LotCurvesError, match=why):
        parse_lot_curves(doc)


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    """VC-EV-0001 registered with a test report that carries the lot curves."""
    chain = battery_chain(tmp_path / "chain")
    message = structs.replace(
        register_msg(), authority_commitment=commit_part(TEST_REPORTS, REPORT, SALT_TESTS)
    )
    result = chain.run(MAKER, message)
    assert result.ok, result.log
    return chain


def _request(reader: PrivateKey, service: PassportService) -> Any:
    return sign_read_request(
        reader, chain_id=CHAIN_ID, node_id=service.node_id,
        route=part_route(bid(), TEST_REPORTS), battery_id=bid(), part=TEST_REPORTS,
        issued_at_ms=NOW_MS,
    )  # fmt: skip


def test_lot_curves_are_served_as_test_reports_and_open_the_ledger_commitment(
    chain: Chain, tmp_path: Path
) -> None:
    store = OpeningStore(tmp_path / "openings.sqlite")
    state, height = chain.app.committed, chain.height
    # the ledger holds only the commitment: other curves under the same salt do not open it
    with pytest.raises(RestrictedReadError) as raised:
        other = {**REPORT, "lot_curves": changed(cycles=[2, 3, 99])}
        store.accept(state, bid(), TEST_REPORTS, other, SALT_TESTS)
    assert raised.value.error == read_errors.COMMITMENT_MISMATCH
    store.accept(state, bid(), TEST_REPORTS, REPORT, SALT_TESTS)
    service = PassportService(store=store)
    for reader in (MAKER, REGULATOR):
        served = service.serve(_request(reader, service), state, height, NOW_MS, chain_id=CHAIN_ID)
        verify_served(state, served)
        assert lot_curves_of(served.fields) == parse_lot_curves(LOT)
    # as every test report: not the owner's, nor the oracle's (it gets them from the maker)
    for reader in (FLEET, ORACLE):
        with pytest.raises(RestrictedReadError) as raised:
            service.serve(_request(reader, service), state, height, NOW_MS, chain_id=CHAIN_ID)
        assert raised.value.error == read_errors.NOT_AUTHORISED
