"""The consortium's end of block: expire proposals, then hand over the validator updates."""

from __future__ import annotations

from citychain.modules.base import Context, ValidatorUpdate
from citychain.modules.consortium.handlers import expire_proposals
from citychain.modules.consortium.validator_updates import drain_validator_updates

__all__ = ["end_block"]


def end_block(ctx: Context) -> list[ValidatorUpdate]:
    # Expiring changes no member, so the order of the two steps does not matter; expiry first
    # reads as the block's last governance step before its result goes out.
    expire_proposals(ctx.state, ctx.height)
    return drain_validator_updates(ctx.state)
