"""The light client's one exception, and the names of the checks it reports.

Every failure, from a malformed RPC document to a commit short of voting power, is a
`LightClientError` whose `check` names the rule that failed (one of the `Check` values) and whose
message prints both sides of the comparison. A verifier that walks several headers adds the hop
it was on, so a user learns which header, and which rule, refused the proof.

These names are local to the light client, not consensus data; they are stable so that scripts
and tests can match on them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Check", "LightClientError"]


class Check(StrEnum):
    """The rule a light-client failure broke; the value is what reports and JSON carry."""

    MALFORMED = "malformed"
    """The input is not the JSON CometBFT's RPC returns (a field missing, of the wrong type or
    size, a key type other than Ed25519, a duplicate validator)."""
    CHAIN_ID = "chain_id"
    """The header belongs to another chain than the one expected."""
    HEADER = "header"
    """The header is not well formed (CometBFT's Header.ValidateBasic): zero height, a hash of
    the wrong size, a proposer address that is not 20 bytes."""
    COMMIT_HEIGHT = "commit_height"
    """The commit is for another height than the header."""
    BLOCK_ID = "block_id"
    """The commit signs another block than this header: its block_id.hash is not the header's
    hash (so a header field was changed after signing)."""
    VALIDATORS_HASH = "validators_hash"
    """The validator set supplied is not the one the header names in validators_hash."""
    NEXT_VALIDATORS_HASH = "next_validators_hash"
    """An adjacent header's validators are not the trusted header's next_validators_hash."""
    SIGNATURE_COUNT = "signature_count"
    """The commit has not one signature slot per validator of the set."""
    VALIDATOR_ADDRESS = "validator_address"
    """A commit signature slot names another validator than the set has at that index."""
    DOUBLE_VOTE = "double_vote"
    """One trusted validator appears twice among the commit's signatures."""
    SIGNATURE = "signature"
    """A precommit signature does not verify against its validator's public key."""
    VOTING_POWER = "voting_power"
    """The valid signatures for the block carry no more than 2/3 of the set's voting power."""
    TRUST_LEVEL = "trust_level"
    """The trusted set's valid signatures on a new commit carry no more than the trust level
    (1/3 by default) of the trusted set's power, so the new set cannot be trusted."""
    HEIGHT_ORDER = "height_order"
    """A header is not higher than the one trusted before it."""
    TIME_ORDER = "time_order"
    """A header's time is not after the time of the header trusted before it."""
    RPC = "rpc"
    """A CometBFT RPC endpoint could not be reached or answered with an error."""


class LightClientError(Exception):
    """A light-client input or verification failure; `check` names the rule that failed.

    `hop` and `height` say where in a chain of headers it happened (None outside a chain).
    `str(error)` reads "hop 2 (height 41): validators_hash: ..." when they are known.
    """

    def __init__(
        self, check: Check, message: str, *, hop: int | None = None, height: int | None = None
    ) -> None:
        self.check = check
        self.message = message
        self.hop = hop
        self.height = height
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.hop is not None:
            where = f"hop {self.hop}"
            if self.height is not None:
                where += f" (height {self.height})"
            where += ": "
        elif self.height is not None:
            where = f"height {self.height}: "
        return f"{where}{self.check.value}: {self.message}"

    def at(self, *, hop: int | None = None, height: int | None = None) -> LightClientError:
        """Return a copy of this error located at `hop`/`height` (kept where already set)."""
        return LightClientError(
            self.check,
            self.message,
            hop=self.hop if self.hop is not None else hop,
            height=self.height if self.height is not None else height,
        )
