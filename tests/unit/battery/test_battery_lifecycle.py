"""Registration, lifecycle, transfers and leases: each rule with its refusal code, and a refused
message changes nothing but the fee and nonce."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from battery_chain import (
    DRIVER,
    FLEET,
    HOLDING_SECRET,
    MAKER,
    ORACLE,
    OTHER_MAKER,
    RECYCLER,
    REGULATOR,
    STRANGER,
    battery_chain,
    bid,
    event,
    events,
    hid,
    open_msg,
    register_msg,
    registered_chain,
)
from helpers import (
    Chain,
    addr,
    assert_fails_paying_fee,
    assert_refused_free,
    sign_body,
    unsigned_body,
)

from citychain.crypto.address import address_from_bytes
from citychain.modules.battery import errors
from citychain.modules.battery.messages import MsgLease, MsgSetStatus, MsgTransfer
from citychain.modules.battery.queries import history_view, passport_view, status_view
from citychain.modules.battery.state import get_holding
from citychain.tx import errors as tx_errors


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    return registered_chain(tmp_path)


def status(chain: Chain) -> str:
    # The manufacturer may always read the status (Annex XIII point 4 data), with the holding.
    view = status_view(chain.app.committed, bid(), HOLDING_SECRET, addr(MAKER), chain.height)
    return str(view["status"])


def history(chain: Chain) -> list[dict[str, object]]:
    view = history_view(chain.app.committed, bid(), HOLDING_SECRET, addr(MAKER), chain.height)
    return list(view["history"])


def test_registration_stores_the_public_passport_and_announces_it(tmp_path: Path) -> None:
    chain = battery_chain(tmp_path)
    result = chain.run(MAKER, register_msg())
    assert result.ok, result.log
    assert event(result, "battery_registered") == {
        "battery_id": bid(),
        "identifier": "VC-EV-0001",
        "manufacturer": addr(MAKER),
    }
    view = passport_view(chain.app.committed, bid())
    assert view is not None
    assert view["manufacturer"] == address_from_bytes(addr(MAKER))
    assert (view["rated_energy_wh"], view["manufacturing_date"]) == (60_000, "2023-08-31")
    # Status and owner are Annex XIII point 4 data: not in the public view.
    assert not {"status", "owner", "lessee", "bms_device_id"} & set(view)
    result = chain.run(MAKER, open_msg())
    assert result.ok, result.log
    assert event(result, "battery_holding_opened") == {
        "holding_id": hid(),
        "manufacturer": addr(MAKER),
        "owner": addr(FLEET),
    }
    owned = status_view(chain.app.committed, bid(), HOLDING_SECRET, addr(FLEET), chain.height)
    assert (owned["status"], owned["owner"]) == ("original", address_from_bytes(addr(FLEET)))
    assert owned["holding_id"] == hid().hex()
    assert passport_view(chain.app.committed, bid("VC-EV-0002")) is None


def test_a_holding_opens_once_and_by_a_manufacturer(chain: Chain) -> None:
    assert_fails_paying_fee(chain, MAKER, open_msg(), error=errors.HOLDING_EXISTS)
    assert_fails_paying_fee(chain, OTHER_MAKER, open_msg(), error=errors.HOLDING_EXISTS)
    assert_refused_free(chain, chain.tx(FLEET, open_msg("VC-EV-0002")), tx_errors.UNAUTHORIZED)


def test_a_second_registration_of_the_same_identifier_is_refused(chain: Chain) -> None:
    assert_fails_paying_fee(chain, MAKER, register_msg(), error=errors.BATTERY_EXISTS)
    # Another manufacturer cannot claim it either, whatever the other fields say.
    assert_fails_paying_fee(
        chain, OTHER_MAKER, register_msg(model="Clone"), error=errors.BATTERY_EXISTS
    )


@pytest.mark.parametrize("signer", [FLEET, ORACLE, REGULATOR])
def test_registration_needs_the_manufacturer_role(tmp_path: Path, signer: object) -> None:
    chain = battery_chain(tmp_path)
    assert_refused_free(chain, chain.tx(signer, register_msg()), tx_errors.UNAUTHORIZED)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"rated_energy_wh": 60},  # kWh given as Wh
        {"rated_capacity_mah": 150},  # Ah given as mAh
        {"nominal_voltage_mv": 400},  # V given as mV
        {"rated_energy_wh": 67_000},  # 11.7 % off
    ],
)
def test_inconsistent_ratings_are_wrong_units(tmp_path: Path, changes: dict[str, int]) -> None:
    chain = battery_chain(tmp_path)
    assert_fails_paying_fee(chain, MAKER, register_msg(**changes), error=errors.WRONG_UNITS)


def test_a_rating_within_tolerance_is_accepted(tmp_path: Path) -> None:
    chain = battery_chain(tmp_path)
    assert chain.run(MAKER, register_msg(rated_energy_wh=57_600)).ok  # cell vs pack voltage


def test_a_negative_value_is_refused_before_any_fee(tmp_path: Path) -> None:
    chain = battery_chain(tmp_path)
    fields = msgspec.to_builtins(register_msg())
    fields[0][4] = -150_000  # rated capacity
    raw = sign_body(
        MAKER, unsigned_body(MAKER, [("battery/register", msgspec.msgpack.encode(fields))])
    )
    assert_refused_free(chain, raw, tx_errors.BAD_MESSAGE)


def test_unknown_holding(chain: Chain) -> None:
    # The battery's own id names no holding: only the holding id does.
    for unknown in (hid("VC-EV-9999"), bid()):
        for message in (
            MsgSetStatus(unknown, "installed"),
            MsgTransfer(unknown, addr(RECYCLER)),
            MsgLease(unknown, addr(DRIVER), None),
        ):
            assert_fails_paying_fee(chain, FLEET, message, error=errors.HOLDING_NOT_FOUND)


def test_lifecycle_original_installed_swapped_repurposed_waste(chain: Chain) -> None:
    for name in ("installed", "swapped", "repurposed", "waste"):
        result = chain.run(FLEET, MsgSetStatus(hid(), name))
        assert result.ok, result.log
        assert event(result, "battery_status_changed")["status"] == name
        assert status(chain) == name
    assert [(h["action"], h["status"]) for h in history(chain)] == [
        ("registered", "original"),
        ("status_changed", "installed"),
        ("status_changed", "swapped"),
        ("status_changed", "repurposed"),
        ("status_changed", "waste"),
    ]
    # Waste is final.
    for name in ("original", "installed", "reused", "repurposed", "waste"):
        assert_fails_paying_fee(
            chain, FLEET, MsgSetStatus(hid(), name), error=errors.BAD_TRANSITION
        )


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ((), "swapped"),  # original was never installed
        ((), "original"),  # no way back to new
        ((), "reused"),
        (("installed",), "installed"),
        (("installed",), "repurposed"),  # must come out of the vehicle first
        (("repurposed",), "installed"),  # a different purpose: remanufacture first
    ],
)
def test_bad_transitions(chain: Chain, path: tuple[str, ...], refused: str) -> None:
    for name in path:
        assert chain.run(FLEET, MsgSetStatus(hid(), name)).ok
    assert_fails_paying_fee(chain, FLEET, MsgSetStatus(hid(), refused), error=errors.BAD_TRANSITION)


def test_only_the_owner_moves_the_lifecycle(chain: Chain) -> None:
    for signer in (STRANGER, MAKER, REGULATOR, ORACLE):
        assert_fails_paying_fee(
            chain, signer, MsgSetStatus(hid(), "installed"), error=errors.NOT_OWNER
        )


def test_remanufactured_is_declared_by_a_manufacturer_only(chain: Chain) -> None:
    assert chain.run(FLEET, MsgSetStatus(hid(), "installed")).ok
    assert chain.run(FLEET, MsgSetStatus(hid(), "swapped")).ok
    # The owner without the manufacturer role cannot vouch for a remanufacture.
    for signer in (FLEET, STRANGER, REGULATOR):
        assert_fails_paying_fee(
            chain, signer, MsgSetStatus(hid(), "remanufactured"), error=errors.STATUS_NOT_PERMITTED
        )
    # The owner hands the battery to a remanufacturer for the work (a lease): it declares.
    assert chain.run(FLEET, MsgLease(hid(), addr(OTHER_MAKER), None)).ok
    result = chain.run(OTHER_MAKER, MsgSetStatus(hid(), "remanufactured"))
    assert result.ok, result.log
    assert status(chain) == "remanufactured"
    assert event(result, "battery_status_changed")["actor"] == addr(OTHER_MAKER)
    # The owner keeps the battery and its rights.
    assert chain.run(FLEET, MsgLease(hid(), None, None)).ok
    assert chain.run(FLEET, MsgSetStatus(hid(), "installed")).ok


def test_transfer_moves_every_owner_right(chain: Chain) -> None:
    result = chain.run(FLEET, MsgTransfer(hid(), addr(RECYCLER)))
    assert result.ok, result.log
    assert event(result, "battery_transferred") == {
        "holding_id": hid(),
        "previous_owner": addr(FLEET),
        "new_owner": addr(RECYCLER),
    }
    assert_fails_paying_fee(chain, FLEET, MsgTransfer(hid(), addr(FLEET)), error=errors.NOT_OWNER)
    assert_fails_paying_fee(chain, FLEET, MsgSetStatus(hid(), "installed"), error=errors.NOT_OWNER)
    assert chain.run(RECYCLER, MsgSetStatus(hid(), "waste")).ok
    # A waste battery may still change hands (to a recycler, say).
    assert chain.run(RECYCLER, MsgTransfer(hid(), addr(STRANGER))).ok
    assert [h["action"] for h in history(chain)] == [
        "registered",
        "transferred",
        "status_changed",
        "transferred",
    ]


def test_transfer_refusals(chain: Chain) -> None:
    assert_fails_paying_fee(chain, FLEET, MsgTransfer(hid(), addr(FLEET)), error=errors.SAME_OWNER)
    assert_fails_paying_fee(
        chain, STRANGER, MsgTransfer(hid(), addr(STRANGER)), error=errors.NOT_OWNER
    )
    assert chain.run(FLEET, MsgLease(hid(), addr(DRIVER), None)).ok
    assert_fails_paying_fee(
        chain, FLEET, MsgTransfer(hid(), addr(RECYCLER)), error=errors.BATTERY_LEASED
    )
    assert_fails_paying_fee(chain, DRIVER, MsgTransfer(hid(), addr(DRIVER)), error=errors.NOT_OWNER)


def test_lease_start_replace_and_end(chain: Chain) -> None:
    end = chain.height + 10
    result = chain.run(FLEET, MsgLease(hid(), addr(DRIVER), end))
    assert result.ok, result.log
    assert event(result, "battery_leased") == {
        "holding_id": hid(),
        "lessee": addr(DRIVER),
        "end_height": end,
    }
    view = status_view(chain.app.committed, bid(), HOLDING_SECRET, addr(DRIVER), chain.height)
    assert view["lessee"] == address_from_bytes(addr(DRIVER))
    # A new lease replaces the running one, and says so.
    result = chain.run(FLEET, MsgLease(hid(), addr(STRANGER), None))
    assert events(result, "battery_lease_ended") == [{"holding_id": hid(), "lessee": addr(DRIVER)}]
    result = chain.run(FLEET, MsgLease(hid(), None, None))
    assert event(result, "battery_lease_ended")["lessee"] == addr(STRANGER)
    assert_fails_paying_fee(chain, FLEET, MsgLease(hid(), None, None), error=errors.NO_LEASE)
    assert chain.run(FLEET, MsgTransfer(hid(), addr(RECYCLER))).ok


def test_a_lease_runs_through_its_end_height_then_lapses(chain: Chain) -> None:
    end = chain.height + 3
    assert chain.run(FLEET, MsgLease(hid(), addr(DRIVER), end)).ok
    chain.advance(end - chain.height - 1)
    # The next block is the lease's last: a transfer there is still refused.
    assert_fails_paying_fee(
        chain, FLEET, MsgTransfer(hid(), addr(RECYCLER)), error=errors.BATTERY_LEASED
    )
    view = status_view(chain.app.committed, bid(), HOLDING_SECRET, addr(FLEET), chain.height + 1)
    assert view["lessee"] is None
    assert chain.run(FLEET, MsgTransfer(hid(), addr(RECYCLER))).ok
    holding = get_holding(chain.app.committed, hid())
    assert holding is not None and holding.lessee == b""


def test_lease_refusals(chain: Chain) -> None:
    assert_fails_paying_fee(
        chain, STRANGER, MsgLease(hid(), addr(DRIVER), None), error=errors.NOT_OWNER
    )
    assert_fails_paying_fee(
        chain, FLEET, MsgLease(hid(), addr(FLEET), None), error=errors.BAD_LEASE
    )
    assert_fails_paying_fee(
        chain, FLEET, MsgLease(hid(), addr(DRIVER), chain.height), error=errors.BAD_LEASE
    )
    assert_fails_paying_fee(chain, FLEET, MsgLease(hid(), None, 50), error=errors.BAD_LEASE)
    assert chain.run(FLEET, MsgSetStatus(hid(), "waste")).ok
    assert_fails_paying_fee(
        chain, FLEET, MsgLease(hid(), addr(DRIVER), None), error=errors.BATTERY_IS_WASTE
    )


def test_waste_ends_a_running_lease(chain: Chain) -> None:
    assert chain.run(FLEET, MsgLease(hid(), addr(DRIVER), None)).ok
    result = chain.run(FLEET, MsgSetStatus(hid(), "waste"))
    assert event(result, "battery_lease_ended")["lessee"] == addr(DRIVER)
    holding = get_holding(chain.app.committed, hid())
    assert holding is not None and holding.lessee == b""
