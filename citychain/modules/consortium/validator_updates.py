"""Validator-set changes: staged in state while a block runs, handed to CometBFT at its end.

CometBFT checks FinalizeBlock's ``validator_updates`` against the validator set it will use next
and halts the node on an invalid list (types/validator_set.go, ``verifyUpdates`` and
``verifyRemovals``): a key listed twice, power 0 for a key not in the set, or a list that
empties the set. The list built here cannot be any of those:

- one entry per key, the last change in the block winning, sorted by key (no duplicates, and
  the same bytes on every node);
- a key added and removed in the same block was never in CometBFT's set, so the pair cancels
  out instead of becoming "power 0 for an unknown key";
- the set cannot empty because governance refuses to remove the last active member, and every
  active member's key is in the set (genesis members must equal the genesis validators).

The staging key lives in state rather than in memory so that a failed transaction's staging is
discarded with the rest of its writes, and so that check_tx and finalize_block cannot mix.
"""

from __future__ import annotations

from citychain.modules.base import ValidatorUpdate
from citychain.modules.consortium.state import (
    StagedUpdate,
    get_staged_updates,
    set_staged_updates,
)
from citychain.state.overlay import Overlay

__all__ = ["drain_validator_updates", "stage_validator_update"]


def stage_validator_update(state: Overlay, public_key: bytes, power: int) -> None:
    """Record that ``public_key`` should have ``power`` (0 removes it) from this block on."""
    staged = {u.public_key: u for u in get_staged_updates(state)}
    earlier = staged.get(public_key)
    # The first change to a key in a block says whether CometBFT's set had it: active members'
    # keys are exactly that set, so a removal means it was there and an admission means not.
    in_set = earlier.in_set_before_block if earlier is not None else power == 0
    staged[public_key] = StagedUpdate(public_key, power, in_set)
    set_staged_updates(state, tuple(staged[key] for key in sorted(staged)))


def drain_validator_updates(state: Overlay) -> list[ValidatorUpdate]:
    """This block's validator updates, sorted by key; clears the staging key."""
    staged = get_staged_updates(state)
    if not staged:
        return []
    set_staged_updates(state, ())
    return [
        ValidatorUpdate(u.public_key, u.power)
        for u in staged
        if u.power > 0 or u.in_set_before_block
    ]
