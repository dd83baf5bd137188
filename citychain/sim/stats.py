"""What a run did: counts of transactions, payments, refusals and money moved."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Stats"]


@dataclass
class Stats:
    ticks: int = 0
    height: int = 0
    submitted: int = 0
    committed: int = 0  # transactions committed with success
    transfers: int = 0
    requests_created: int = 0
    requests_paid: int = 0
    refunds: int = 0
    refunded_cents: int = 0
    cancelled: int = 0
    wages_paid: int = 0
    top_ups: int = 0
    minted: int = 0
    burned: int = 0
    volume_cents: int = 0  # money moved between wallets (transfers, payments, wages, refunds)
    refused: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)
    # Predicted to succeed, but the block that carried them came after the request's expiry:
    # the chain outpaced the client (a loaded machine), not a wrong prediction of the rules.
    late: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    stopped: float | None = None  # set when ``run`` returns, so rates stop at the run's end
    example_payment: str = ""  # hash of a committed request payment, for the explorer

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def elapsed(self) -> float:
        return (self.stopped or time.monotonic()) - self.started
