"""What a simulated city is made of: its shape and pace, and the merchants' trades."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MERCHANT_KINDS", "CityConfig", "MerchantKind"]


MIN_CITIZENS = 10  # the smallest city the simulator runs
MAX_BATCH_RANGE = (100, 5_000)  # transactions per tick: one block per tick


@dataclass(frozen=True)
class MerchantKind:
    name: str
    plural: str
    weight: int  # how many of every 100 merchants are of this kind
    ticket_min: int  # cents
    ticket_max: int
    items: tuple[str, ...]


MERCHANT_KINDS: tuple[MerchantKind, ...] = (
    MerchantKind("café", "cafés", 24, 180, 950, ("espresso", "flat white", "croissant", "lunch")),
    MerchantKind("bakery", "bakeries", 12, 120, 1_400, ("baguette", "rye loaf", "cake slice")),
    MerchantKind("grocery", "groceries", 20, 600, 9_500, ("groceries", "weekly shop", "fruit")),
    MerchantKind("pharmacy", "pharmacies", 8, 350, 6_500, ("prescription", "vitamins", "plasters")),
    MerchantKind("transit", "transit lines", 8, 180, 450, ("bus fare", "tram fare", "metro fare")),
    MerchantKind("restaurant", "restaurants", 12, 1_400, 8_500, ("dinner", "set menu", "takeaway")),
    MerchantKind("utilities", "utilities", 4, 2_500, 15_000, ("electricity", "water", "heating")),
    MerchantKind("hardware", "hardware stores", 6, 300, 12_000, ("tools", "paint", "screws")),
    MerchantKind("bookshop", "bookshops", 6, 500, 4_500, ("paperback", "newspaper", "atlas")),
)


@dataclass(frozen=True)
class CityConfig:
    """The city's shape and pace; amounts in cents of ``ccy``."""

    citizens: int = 5_000
    merchants: int = 200
    seed: int = 1
    verified_share: float = 0.25  # of citizens, verified to tier 1 by the kyc key
    employee_share: float = 0.15  # of citizens, working at the battery factory (all verified)
    acting_share: float = 0.12  # of citizens, acting in each tick
    max_batch: int = 4_000  # transactions per tick; below the node's block size
    pay_share: float = 0.55  # of acting citizens: pay a merchant's request (else: a transfer)
    probe_share: float = 0.015  # of acting citizens: try something the ledger must refuse
    refund_share: float = 0.03  # of payments, refunded later
    cancel_share: float = 0.02  # of open requests per tick, cancelled by the merchant
    short_request_share: float = 0.03  # requests that nobody pays, left to expire
    payday_every: int = 10  # ticks
    paydays_per_cycle: int = 8  # every employee is paid once in this many paydays

    def __post_init__(self) -> None:
        if self.citizens < MIN_CITIZENS:
            raise ValueError(f"a city needs at least 10 citizens, got {self.citizens}")
        if self.merchants < 1:
            raise ValueError(f"a city needs at least 1 merchant, got {self.merchants}")
        if not MAX_BATCH_RANGE[0] <= self.max_batch <= MAX_BATCH_RANGE[1]:
            raise ValueError("max_batch must be 100..5000 (one block per tick)")
