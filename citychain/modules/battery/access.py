"""Who may read which part of a passport (Regulation (EU) 2023/1542, Art. 77(2), Annex XIII;
docs/modules/battery.md §2).

| part           | Annex XIII | owner | lessee | manufacturer | regulator | anyone |
| -------------- | ---------- | ----- | ------ | ------------ | --------- | ------ |
| public         | point 1    | yes   | yes    | yes          | yes       | yes    |
| composition    | point 2    | yes   | yes    | yes          | yes       | no     |
| test_reports   | point 3    | no    | no     | yes          | yes       | no     |
| health         | point 4    | yes   | yes    | yes          | no        | no     |

"Persons with a legitimate interest" are the owner and, while a lease runs, the lessee acting
for it (fleet operator, repurposer, recycler); the ``regulator`` role stands for the market
surveillance authorities and the Commission. The manufacturer is the account that registered
the battery: it wrote every part and may always read it back. ``health`` names all of point
4, the individual battery's data: lifecycle status, owner and history, health, prediction.
Of these the ledger holds the measured health only as a commitment (``RESTRICTED_PARTS``).

Who is the owner or lessee is in the battery's holding, which nothing on the ledger links to the
battery: a reader proves the link with the holding secret (holding.py), and without that proof
only the manufacturer and the regulator are recognised.
"""

from __future__ import annotations

from citychain.modules.battery.state import Battery, Holding, get_health, lease_active
from citychain.modules.consortium import REGULATOR, has_role
from citychain.state.overlay import StateReader

PUBLIC = "public"
COMPOSITION = "composition"  # Annex XIII point 2: legitimate interest and the Commission
TEST_REPORTS = "test_reports"  # Annex XIII point 3: notified bodies, authorities, Commission
HEALTH = "health"  # Annex XIII point 4: legitimate interest (status, health, prediction)
PARTS = (PUBLIC, COMPOSITION, TEST_REPORTS, HEALTH)
# The parts kept off the ledger, each under its own commitment. Of point 4 only the measured
# health is: status, owner and lease stay in the holding because every node must check the
# lifecycle and ownership rules against them (docs/modules/battery.md §2).
RESTRICTED_PARTS = (COMPOSITION, TEST_REPORTS, HEALTH)


def may_read(
    state: StateReader,
    battery: Battery,
    holding: Holding | None,
    reader: bytes,
    part: str,
    height: int,
) -> bool:
    """Whether ``reader`` (a 20-byte address the caller has authenticated) may read ``part``
    of ``battery`` at ``height``. ``holding`` is the battery's holding when the reader proved
    the link (``holding.proven_holding``), else None: then neither owner nor lessee is known.
    An unknown part is readable by nobody."""
    if part == PUBLIC:
        return True
    if part not in PARTS:
        return False
    if reader == battery.manufacturer:
        return True
    legitimate = holding is not None and (
        reader == holding.owner or (reader == holding.lessee and lease_active(holding, height))
    )
    regulator = has_role(state, reader, REGULATOR)
    if part == COMPOSITION:
        return legitimate or regulator
    if part == TEST_REPORTS:
        return regulator
    return legitimate


def commitment_of(
    state: StateReader, battery_id: bytes, battery: Battery, part: str
) -> bytes | None:
    """The ledger's commitment to a restricted part: fixed at registration for points 2 and
    3, the latest health update's for point 4 (None before the first)."""
    if part == COMPOSITION:
        return battery.legitimate_interest_commitment
    if part == TEST_REPORTS:
        return battery.authority_commitment
    if part == HEALTH:
        health = get_health(state, battery_id)
        return health.commitment if health is not None else None
    raise ValueError(f"{part!r} is not a restricted part; restricted: {RESTRICTED_PARTS}")
