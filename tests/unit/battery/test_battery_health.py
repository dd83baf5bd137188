"""Health updates from telemetry, attested predictions, the replacement-due event and the
fleet view; who may read them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from battery_chain import (
    DRIVER,
    FIRST_DAY,
    FLEET,
    HOLDING_SECRET,
    MAKER,
    ORACLE,
    RECYCLER,
    REGULATOR,
    STRANGER,
    TELEMETRY_BATCH,
    battery_chain,
    bid,
    event,
    events,
    hid,
    register,
    registered_chain,
)
from battery_chain import (
    health_values as values,
)
from helpers import (
    BLOCK_INTERVAL_MS,
    FIRST_BLOCK_TIME_MS,
    Chain,
    addr,
    assert_fails_paying_fee,
    assert_refused_free,
    make_genesis,
)

from citychain.app import Application
from citychain.codec import encode
from citychain.genesis import GenesisError
from citychain.modules.battery import errors
from citychain.modules.battery.access import HEALTH
from citychain.modules.battery.commitment import commit_part
from citychain.modules.battery.errors import BatteryError
from citychain.modules.battery.messages import (
    MsgAttestPrediction,
    MsgLease,
    MsgSetStatus,
    MsgUpdateHealth,
)
from citychain.modules.battery.queries import (
    health_view,
    history_view,
    prediction_view,
    status_view,
)
from citychain.modules.battery.state import (
    DAY_MS,
    get_health,
    get_params,
    health_key,
)
from citychain.store.sqlite import BlockStore
from citychain.tx import errors as tx_errors

BATCH = TELEMETRY_BATCH
MODEL = bytes(range(32, 64))
INPUTS = bytes(range(64, 96))


SALT = bytes(range(96, 128))


def health(battery_id: bytes | None = None, salt: bytes = SALT, **changes: int) -> MsgUpdateHealth:
    commitment = commit_part(HEALTH, values(**changes), salt)
    return MsgUpdateHealth(battery_id or bid(), commitment, BATCH)


def prediction(eol_day: int, battery_id: bytes | None = None) -> MsgAttestPrediction:
    return MsgAttestPrediction(battery_id or bid(), 1_800, eol_day, 1_600, 2_000, MODEL, INPUTS)


def today(chain: Chain) -> int:
    """The day of the next block: the one a transaction run now lands in."""
    return (FIRST_BLOCK_TIME_MS + (chain.height + 1) * BLOCK_INTERVAL_MS) // DAY_MS


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    return registered_chain(tmp_path)


def test_health_update_is_stored_and_announced_without_its_values(chain: Chain) -> None:
    update = health()
    result = chain.run(ORACLE, update)
    assert result.ok, result.log
    assert event(result, "battery_health_updated") == {
        "battery_id": bid(),
        "commitment": update.commitment,
        "telemetry_batch": BATCH,
        "oracle": addr(ORACLE),
    }
    view = health_view(chain.app.committed, bid(), HOLDING_SECRET, addr(FLEET), chain.height)
    assert view is not None
    assert view["commitment"] == update.commitment.hex()
    assert (view["updates"], view["updated_height"]) == (1, chain.height)
    assert view["telemetry_batch"] == BATCH.hex()
    assert not set(values()) & set(view)
    # Neither the stored record nor the transaction carries a value: 9_700 and 145_500 are
    # nowhere in their bytes.
    stored = chain.app.committed.get(health_key(bid()))
    assert stored is not None
    raw_tx = chain.tx(ORACLE, health(soh_permyriad=9_700))
    for needle in (encode(9_700), encode(145_500), b"soh"):
        assert needle not in stored and needle not in raw_tx


def test_health_needs_the_oracle_role(chain: Chain) -> None:
    for signer in (MAKER, FLEET, REGULATOR):
        assert_refused_free(chain, chain.tx(signer, health()), tx_errors.UNAUTHORIZED)


def test_updates_are_counted_and_the_latest_commitment_kept(chain: Chain) -> None:
    assert chain.run(ORACLE, health()).ok
    second = health(soh_permyriad=9_650, energy_throughput_wh=9_100_000)
    assert chain.run(ORACLE, second).ok
    stored = get_health(chain.app.committed, bid())
    assert stored is not None
    assert (stored.updates, stored.commitment) == (2, second.commitment)


def test_one_update_per_battery_per_block(chain: Chain) -> None:
    first = chain.tx(ORACLE, health())
    second = chain.tx(ORACLE, health(energy_throughput_wh=9_100_000), nonce=chain.nonce(ORACLE) + 1)
    results = chain.block(first, second).tx_results
    assert results[0].ok
    assert (results[1].codespace, results[1].code) == ("battery", errors.ALREADY_UPDATED.code)


def test_health_must_name_an_anchored_telemetry_batch(chain: Chain) -> None:
    update = MsgUpdateHealth(bid(), health().commitment, bytes(range(32)))
    assert_fails_paying_fee(chain, ORACLE, update, error=errors.BATCH_NOT_ANCHORED)
    assert get_health(chain.app.committed, bid()) is None


def test_health_of_unknown_battery(chain: Chain) -> None:
    assert_fails_paying_fee(chain, ORACLE, health(bid("nope")), error=errors.BATTERY_NOT_FOUND)
    # The holding id is not a battery id: the oracle names batteries, never holdings.
    assert_fails_paying_fee(chain, ORACLE, health(hid()), error=errors.BATTERY_NOT_FOUND)


def test_health_of_a_waste_battery_is_not_the_ledgers_to_refuse(chain: Chain) -> None:
    # Waste is in the holding, which the ledger does not link to the battery the oracle names.
    assert chain.run(FLEET, MsgSetStatus(hid(), "waste")).ok
    assert chain.run(ORACLE, health()).ok
    assert chain.run(ORACLE, prediction(FIRST_DAY + 5)).ok


def test_prediction_inside_the_horizon_fires_replacement_due(chain: Chain) -> None:
    day = today(chain)
    result = chain.run(ORACLE, prediction(day + 30))
    assert result.ok, result.log
    # No owner: the ledger does not know whose battery it is.
    assert event(result, "battery_replacement_due") == {
        "battery_id": bid(),
        "eol_day": day + 30,
        "days_left": 30,
        "horizon_days": 30,
    }
    assert event(result, "battery_prediction_attested")["model_hash"] == MODEL
    view = prediction_view(chain.app.committed, bid(), HOLDING_SECRET, addr(FLEET), chain.height)
    assert view is not None
    assert (view["eol_day"], view["model_hash"], view["inputs_ref"]) == (
        day + 30,
        MODEL.hex(),
        INPUTS.hex(),
    )


def test_the_basis_is_stored_shown_and_announced(chain: Chain) -> None:
    curves = MsgAttestPrediction(bid(), 1_800, today(chain) + 400, 1_600, 2_000, MODEL, INPUTS,
                                 "curves")  # fmt: skip
    result = chain.run(ORACLE, curves)
    assert result.ok, result.log
    assert event(result, "battery_prediction_attested")["basis"] == "curves"
    view = prediction_view(chain.app.committed, bid(), HOLDING_SECRET, addr(FLEET), chain.height)
    assert view is not None and view["basis"] == "curves"
    # the capacity model taking over is the next attestation, with its own basis
    result = chain.run(ORACLE, prediction(today(chain) + 400))
    assert event(result, "battery_prediction_attested")["basis"] == "capacity"
    view = prediction_view(chain.app.committed, bid(), HOLDING_SECRET, addr(FLEET), chain.height)
    assert view is not None and view["basis"] == "capacity"


def test_an_overdue_prediction_fires_with_zero_days_left(chain: Chain) -> None:
    result = chain.run(ORACLE, prediction(today(chain) - 3))
    assert event(result, "battery_replacement_due")["days_left"] == 0


def test_prediction_outside_the_horizon_is_stored_silently(chain: Chain) -> None:
    result = chain.run(ORACLE, prediction(today(chain) + 31))
    assert result.ok, result.log
    assert events(result, "battery_replacement_due") == []
    assert len(events(result, "battery_prediction_attested")) == 1


def test_the_horizon_is_a_genesis_parameter(tmp_path: Path) -> None:
    chain = battery_chain(tmp_path, {"params": {"horizon_days": 90}})
    assert get_params(chain.app.committed).horizon_days == 90
    register(chain)
    result = chain.run(ORACLE, prediction(today(chain) + 60))
    assert event(result, "battery_replacement_due")["horizon_days"] == 90


@pytest.mark.parametrize(
    "section",
    [
        {"params": {"horizon_days": 0}},
        {"params": {"horizon_days": 3_651}},
        {"params": {"horizon_days": "30"}},
        {"params": {"horizon": 30}},
        {"batteries": []},
    ],
)
def test_bad_genesis_sections_are_refused(tmp_path: Path, section: dict[str, Any]) -> None:
    base = make_genesis({})
    genesis = type(base).from_dict(
        {
            "chain_id": base.chain_id,
            "genesis_time": base.genesis_time,
            "validators": [
                {"name": v.name, "public_key": v.public_key.hex(), "power": v.power}
                for v in base.validators
            ],
            "app_state": {**base.app_state, "battery": section},
        }
    )
    app = Application(BlockStore(tmp_path / "chain.sqlite"))
    with pytest.raises(GenesisError, match="battery"):
        app.init_chain(genesis)


def test_a_default_section_leaves_the_same_state_as_none(tmp_path: Path) -> None:
    with_section = battery_chain(tmp_path / "a", {"params": {"horizon_days": 30}})
    without = battery_chain(tmp_path / "b")
    assert with_section.app.app_hash == without.app.app_hash


def test_the_predicted_cycle_must_lie_in_its_interval(chain: Chain) -> None:
    for low, high in ((1_900, 2_000), (1_000, 1_700)):
        message = MsgAttestPrediction(bid(), 1_800, FIRST_DAY + 400, low, high, MODEL, INPUTS)
        assert_fails_paying_fee(chain, ORACLE, message, error=errors.BAD_INTERVAL)


def test_prediction_needs_the_oracle_role(chain: Chain) -> None:
    assert_refused_free(chain, chain.tx(MAKER, prediction(FIRST_DAY + 5)), tx_errors.UNAUTHORIZED)


def test_health_and_prediction_readers(chain: Chain) -> None:
    assert chain.run(ORACLE, health()).ok
    assert chain.run(ORACLE, prediction(FIRST_DAY + 400)).ok
    assert chain.run(FLEET, MsgLease(hid(), addr(DRIVER), None)).ok
    state, height = chain.app.committed, chain.height
    for reader in (FLEET, DRIVER, MAKER):
        assert health_view(state, bid(), HOLDING_SECRET, addr(reader), height) is not None
        assert prediction_view(state, bid(), HOLDING_SECRET, addr(reader), height) is not None
        status = status_view(state, bid(), HOLDING_SECRET, addr(reader), height)
        assert status["status"] == "original"
        history = history_view(state, bid(), HOLDING_SECRET, addr(reader), height)
        assert len(history["history"]) == 2
    for reader in (STRANGER, REGULATOR, ORACLE, RECYCLER):
        for view in (health_view, prediction_view, status_view, history_view):
            with pytest.raises(BatteryError) as raised:
                view(state, bid(), HOLDING_SECRET, addr(reader), height)
            assert raised.value.error == errors.NOT_AUTHORISED
    with pytest.raises(BatteryError) as raised:
        health_view(state, bid("nope"), None, addr(FLEET), height)
    assert raised.value.error == errors.BATTERY_NOT_FOUND


def test_without_the_holding_secret_only_the_manufacturer_reads(chain: Chain) -> None:
    assert chain.run(ORACLE, prediction(FIRST_DAY + 400)).ok
    state, height = chain.app.committed, chain.height
    assert prediction_view(state, bid(), None, addr(MAKER), height) is not None
    with pytest.raises(BatteryError) as raised:
        prediction_view(state, bid(), None, addr(FLEET), height)
    assert raised.value.error == errors.NOT_AUTHORISED
    # Status and history are the holding's: even the manufacturer names it.
    with pytest.raises(BatteryError) as raised:
        status_view(state, bid(), b"", addr(MAKER), height)
    assert raised.value.error == errors.NOT_AUTHORISED
    # Another battery's secret opens no holding of this one.
    with pytest.raises(BatteryError) as raised:
        status_view(state, bid(), bytes(32), addr(FLEET), height)
    assert raised.value.error == errors.NOT_AUTHORISED
