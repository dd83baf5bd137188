"""A node's openings of restricted parts (citychain/passport/openings.py): kept only when they
open the ledger's current commitment, health values checked where the ledger cannot see them,
served only to the readers the regulation names, persisted across a restart, and readable by
the node's own user only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from battery_chain import (
    COMPOSITION_FIELDS,
    DRIVER,
    FLEET,
    HOLDING_SECRET,
    MAKER,
    ORACLE,
    REGULATOR,
    SALT_COMPOSITION,
    STRANGER,
    TELEMETRY_BATCH,
    bid,
    leased_chain,
)
from battery_chain import (
    health_values as values,
)
from helpers import CHAIN_ID, Chain

from citychain.modules.battery.access import COMPOSITION, HEALTH
from citychain.modules.battery.commitment import commit_part
from citychain.modules.battery.messages import MsgUpdateHealth
from citychain.passport import (
    OpeningStore,
    PassportService,
    RestrictedReadError,
    sign_read_request,
    verify_served,
)
from citychain.passport import errors as read_errors
from citychain.passport.restricted import SignedReadRequest, part_route

NOW_MS = 1_800_000_000_000
BATCH = TELEMETRY_BATCH
SALTS = [bytes([n]) * 32 for n in range(1, 10)]


def commit_health(chain: Chain, fields: dict[str, object], salt: bytes) -> bytes:
    commitment = commit_part(HEALTH, fields, salt)
    result = chain.run(ORACLE, MsgUpdateHealth(bid(), commitment, BATCH))
    assert result.ok, result.log
    return commitment


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    return leased_chain(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> OpeningStore:
    return OpeningStore(tmp_path / "node" / "openings.sqlite")


def health_request(
    service: PassportService, reader: object, issued_at_ms: int = NOW_MS
) -> SignedReadRequest:
    return sign_read_request(
        reader,  # type: ignore[arg-type]
        chain_id=CHAIN_ID,
        node_id=service.node_id,
        route=part_route(bid(), HEALTH),
        battery_id=bid(),
        part=HEALTH,
        issued_at_ms=issued_at_ms,
        holding=HOLDING_SECRET,  # how the owner and lessee show the battery's holding
    )


def refused(store: OpeningStore, chain: Chain, part: str, fields: object, salt: bytes) -> object:
    with pytest.raises(RestrictedReadError) as raised:
        store.accept(chain.app.committed, bid(), part, fields, salt)  # type: ignore[arg-type]
    return raised.value.error


def test_a_committed_health_update_is_opened_and_served_to_its_readers(
    chain: Chain, store: OpeningStore
) -> None:
    fields = values()
    commitment = commit_health(chain, fields, SALTS[0])
    kept = store.accept(chain.app.committed, bid(), HEALTH, fields, SALTS[0])
    assert (kept.commitment, kept.height) == (commitment, chain.height)
    # Delivering it again changes nothing.
    store.accept(chain.app.committed, bid(), HEALTH, fields, SALTS[0])
    assert store.series(bid(), HEALTH, 10) == ([kept], True)
    service = PassportService(store=store)
    state, height = chain.app.committed, chain.height
    for number, reader in enumerate((FLEET, DRIVER, MAKER)):
        signed = health_request(service, reader, NOW_MS + number)
        served = service.serve(signed, state, height, NOW_MS, chain_id=CHAIN_ID)
        verify_served(state, served)
        assert served.fields == fields
    for reader in (REGULATOR, ORACLE, STRANGER):
        signed = health_request(service, reader)
        with pytest.raises(RestrictedReadError) as raised:
            service.serve(signed, state, height, NOW_MS, chain_id=CHAIN_ID)
        assert raised.value.error == read_errors.NOT_AUTHORISED


def test_only_the_opening_of_the_ledgers_commitment_is_kept(
    chain: Chain, store: OpeningStore
) -> None:
    assert refused(store, chain, HEALTH, values(), SALTS[0]) == read_errors.NOT_COMMITTED
    fields = values()
    commit_health(chain, fields, SALTS[0])
    assert refused(store, chain, HEALTH, values(soh_permyriad=9_800), SALTS[0]) == (
        read_errors.COMMITMENT_MISMATCH
    )
    assert refused(store, chain, HEALTH, fields, SALTS[1]) == read_errors.COMMITMENT_MISMATCH
    assert refused(store, chain, HEALTH, fields, b"short") == read_errors.BAD_VALUES
    assert refused(store, chain, "public", fields, SALTS[0]) == read_errors.UNKNOWN_PART
    with pytest.raises(RestrictedReadError) as raised:
        store.accept(chain.app.committed, bid("nope"), HEALTH, fields, SALTS[0])
    assert raised.value.error == read_errors.UNKNOWN_BATTERY
    # Once a newer update is committed, the older opening no longer opens the current one.
    commit_health(chain, values(energy_throughput_wh=9_100_000), SALTS[1])
    assert refused(store, chain, HEALTH, fields, SALTS[0]) == read_errors.COMMITMENT_MISMATCH
    assert store.latest(bid(), HEALTH) is None


def test_points_2_and_3_are_opened_against_the_registration(
    chain: Chain, store: OpeningStore
) -> None:
    kept = store.accept(
        chain.app.committed, bid(), COMPOSITION, COMPOSITION_FIELDS, SALT_COMPOSITION
    )
    assert kept.commitment == commit_part(COMPOSITION, COMPOSITION_FIELDS, SALT_COMPOSITION)
    assert refused(store, chain, COMPOSITION, {**COMPOSITION_FIELDS, "x": 1}, SALT_COMPOSITION) == (
        read_errors.COMMITMENT_MISMATCH
    )


@pytest.mark.parametrize(
    "fields",
    [
        values(soh_permyriad=12_001),  # 120.01 %: beyond any fresh battery
        values(capacity_fade_permille=1_001),
        values(remaining_capacity_mah=180_001),  # rated 150,000 mAh: over 120 %
        values(energy_throughput_wh=-1),
        {k: v for k, v in values().items() if k != "soh_permyriad"},
        {**values(), "owner_name": 1},
        {**values(), "soh_permyriad": True},
    ],
)
def test_absurd_health_values_are_not_kept(
    chain: Chain, store: OpeningStore, fields: dict[str, object]
) -> None:
    # The ledger takes the commitment (it cannot see inside); the node refuses the opening,
    # so the update stays visibly unopened.
    commit_health(chain, fields, SALTS[0])
    assert refused(store, chain, HEALTH, fields, SALTS[0]) == read_errors.BAD_VALUES
    assert store.latest(bid(), HEALTH) is None


def test_a_float_is_refused_before_hashing(chain: Chain, store: OpeningStore) -> None:
    commit_health(chain, values(), SALTS[0])
    assert refused(store, chain, HEALTH, values() | {"soh_permyriad": 97.0}, SALTS[0]) == (
        read_errors.BAD_VALUES
    )


@pytest.mark.parametrize(
    "counter",
    [
        "energy_throughput_wh",
        "equivalent_full_cycles_x100",
        "extreme_temperature_s",
        "deep_discharge_events",
    ],
)
def test_cumulative_counters_never_go_down(chain: Chain, store: OpeningStore, counter: str) -> None:
    first = values()
    commit_health(chain, first, SALTS[0])
    store.accept(chain.app.committed, bid(), HEALTH, first, SALTS[0])
    lower = values(**{counter: first[counter] - 1})
    commit_health(chain, lower, SALTS[1])
    assert refused(store, chain, HEALTH, lower, SALTS[1]) == read_errors.NOT_MONOTONE
    # Equal is fine (an idle day); state of health may go either way (recovery, noise).
    same = values(soh_permyriad=9_750)
    commit_health(chain, same, SALTS[2])
    store.accept(chain.app.committed, bid(), HEALTH, same, SALTS[2])


def test_openings_survive_a_restart_in_order(chain: Chain, tmp_path: Path) -> None:
    path = tmp_path / "restart" / "openings.sqlite"
    store = OpeningStore(path)
    kept = []
    for step in range(3):
        fields = values(soh_permyriad=9_700 - 10 * step, energy_throughput_wh=9_000_000 + step)
        commit_health(chain, fields, SALTS[step])
        kept.append(store.accept(chain.app.committed, bid(), HEALTH, fields, SALTS[step]))
    store.close()
    again = OpeningStore(path)
    assert again.series(bid(), HEALTH, 10) == (kept, True)
    assert again.series(bid(), HEALTH, 2) == (kept[1:], False)
    assert again.latest(bid(), HEALTH) == kept[-1]
    assert again.get(bid(), HEALTH, kept[0].commitment) == kept[0]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("made_before", [False, True])
def test_the_openings_and_nonces_are_the_node_users_only(tmp_path: Path, made_before: bool) -> None:
    """The openings are the restricted parts in clear: the file (and its WAL), its folder and
    the nonce store beside it allow nobody but the node's user, even under a lax umask and
    when an older node made them world-readable."""
    folder = tmp_path / "home" / "data"
    path = folder / "openings.sqlite"
    if made_before:
        folder.mkdir(parents=True, mode=0o755)
        folder.chmod(0o755)
        path.touch()
        path.chmod(0o644)
    old_umask = os.umask(0o022)
    try:
        service = PassportService(store=OpeningStore(path))
    finally:
        os.umask(old_umask)
    service.nonces.use(b"n" * 16, NOW_MS + 1, NOW_MS)  # a write: the WAL files exist now
    files = sorted(folder.iterdir())
    assert {f.name for f in files} >= {"openings.sqlite", "read-requests.sqlite"}
    assert _mode(folder) == 0o700
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    service.close()
    service.store.close()
