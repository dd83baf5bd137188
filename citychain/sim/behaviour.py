"""What the city does in one tick: the bank, the employer, the merchants and the citizens.

Each acting wallet signs at most one transaction a tick. The issuer tops up low wallets and burns
what merchants redeemed; the employer pays a cohort's wages with multi-send on payday; merchants
open payment requests, cancel some, refund some and cash out; citizens pay requests, send
transfers and, now and then, try something the ledger must refuse.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from citychain.modules.bank import MAX_OUTPUTS
from citychain.sim.model import (
    FEE,
    OK,
    Account,
    Burn,
    CancelRequest,
    CreateRequest,
    Merchant,
    Mint,
    MultiSend,
    Op,
    PayRequest,
    Refund,
    Request,
    Send,
)
from citychain.sim.transactions import Planned, chunks, plan
from citychain.tx.envelope import MAX_MESSAGES

if TYPE_CHECKING:
    from citychain.sim.city import CitySimulation

LOW_BALANCE = 1_500  # cents; below this a citizen asks the bank for a top-up
CASH_OUT_ABOVE = 200_000  # cents; a merchant sweeps takings above this to the bank...
MERCHANT_FLOAT = 20_000  # ...keeping this much for change and refunds
PAY_MARGIN = 3  # blocks: a request is paid only while it has this many left before expiry
REQUEST_LIFETIME = (20, 60)  # blocks
SHORT_LIFETIME = 3  # blocks; such a request is left unpaid to expire
MIN_TOP_UP = 1_000  # cents; the bank does not mint a smaller top-up (the citizen is near full)
FULL_REFUND_SHARE = 0.6  # of refunds, of the whole amount left (else a random part of it)


def _cents(value: float, step: int = 10) -> int:
    return max(step, round(value / step) * step)


@dataclass(eq=False)
class TickState:
    """What the city carries from one tick to the next."""

    payable: list[Request] = field(default_factory=list)  # open, with time left to pay
    expiring: list[Request] = field(default_factory=list)  # open, too near expiry to pay
    expired: deque[Request] = field(default_factory=lambda: deque(maxlen=500))
    paid: deque[Request] = field(default_factory=lambda: deque(maxlen=3_000))
    cancelled: deque[Request] = field(default_factory=lambda: deque(maxlen=500))
    low: dict[Account, None] = field(default_factory=dict)  # citizens due a top-up
    redeemed: int = 0  # merchants' cash-outs the issuer holds, burnt in the next tick
    payday: int = 0
    paid_last_tick: int = 0


def sort_requests(sim: CitySimulation) -> None:
    """Move requests out of the payable pool near their expiry, and into the expired list."""
    h = sim.height
    payable: list[Request] = []
    for r in sim.tick_state.payable:
        if r.status != "open":
            continue
        (payable if r.expiry >= h + 1 + PAY_MARGIN else sim.tick_state.expiring).append(r)
    sim.tick_state.payable = payable
    expiring = []
    for r in sim.tick_state.expiring:
        if r.status == "open":
            # Past expiry even for check_tx at h + 1 with a block to spare.
            (sim.tick_state.expired.append(r) if h > r.expiry else expiring.append(r))
    sim.tick_state.expiring = expiring


def plan_issuer(sim: CitySimulation, planned: list[Planned]) -> None:
    ops: list[Op] = []
    if sim.tick_state.redeemed:
        ops.append(Burn(sim.tick_state.redeemed))
    payday_need = sum(sim.wages.values()) // sim.config.paydays_per_cycle
    if sim.employer.balance < 3 * payday_need:
        ops.append(Mint(sim.employer, 10 * payday_need))
    limits = sim.ledger.tiers
    for citizen in list(sim.tick_state.low):
        if len(ops) >= MAX_MESSAGES:
            break
        del sim.tick_state.low[citizen]
        room = limits[citizen.tier].max_balance - citizen.balance
        amount = min(sim.rng.randint(20, 60) * 500, room)
        if amount >= MIN_TOP_UP:
            ops.append(Mint(citizen, amount))
    if ops and (p := plan(sim, "issuer", sim.issuer, ops)) is not None:
        planned.append(p)
        if sim.tick_state.redeemed and isinstance(ops[0], Burn):
            sim.tick_state.redeemed = 0


def plan_payroll(sim: CitySimulation, planned: list[Planned]) -> None:
    cycle = sim.config.paydays_per_cycle
    cohort = sim.employees[sim.tick_state.payday % cycle :: cycle]
    sim.tick_state.payday += 1
    limits = sim.ledger.tiers
    outputs = [
        (e, sim.wages[e]) for e in cohort if e.balance + sim.wages[e] <= limits[e.tier].max_balance
    ]
    groups = chunks(outputs, MAX_OUTPUTS)[:MAX_MESSAGES]
    ops: list[Op] = [MultiSend(tuple(group)) for group in groups]
    if ops and (p := plan(sim, "payroll", sim.employer, ops)) is not None:
        planned.append(p)


def plan_merchants(sim: CitySimulation, planned: list[Planned]) -> None:
    """Each merchant's transaction of this tick: cash-outs, refunds, cancellations and new
    requests, each message kept only if the ledger would take the bundle with it."""
    height = sim.height + 1
    bundles: dict[Merchant, list[Op]] = {}

    def add(merchant: Merchant, op: Op) -> bool:
        ops = [*bundles.get(merchant, []), op]
        if len(ops) > MAX_MESSAGES:
            return False
        if sim.ledger.run(merchant.account, ops, height, commit=False) != OK:
            return False
        bundles[merchant] = ops
        return True

    _plan_cash_outs(sim, add)
    _plan_refunds(sim, add)
    _plan_cancellations(sim, add)
    _plan_requests(sim, add, len(bundles))
    for m, ops in bundles.items():
        if (p := plan(sim, "merchant", m.account, ops)) is None:
            continue
        planned.append(p)
        _note_planned(sim, ops, height)


def _plan_cash_outs(sim: CitySimulation, add: Callable[[Merchant, Op], bool]) -> None:
    """Cash-outs to the bank (the issuer), which burns them."""
    limits = sim.ledger.tiers
    for m in sim.merchants:
        if m.account.balance > CASH_OUT_ABOVE:
            amount = m.account.balance - MERCHANT_FLOAT - FEE
            add(m, Send(sim.issuer, min(amount, limits[m.account.tier].max_payment)))


def _plan_refunds(sim: CitySimulation, add: Callable[[Merchant, Op], bool]) -> None:
    rng = sim.rng
    refunds = _binomial(rng, sim.tick_state.paid_last_tick, sim.config.refund_share)
    for _ in range(refunds):
        if not sim.tick_state.paid:
            break
        r = sim.tick_state.paid[rng.randrange(len(sim.tick_state.paid))]
        remaining = r.amount - r.refunded
        if r.status != "paid" or remaining <= 0:
            continue
        amount = remaining if rng.random() < FULL_REFUND_SHARE else rng.randint(1, remaining)
        add(r.merchant, Refund(r, amount))


def _plan_cancellations(sim: CitySimulation, add: Callable[[Merchant, Op], bool]) -> None:
    rng = sim.rng
    for _ in range(_binomial(rng, len(sim.tick_state.payable), sim.config.cancel_share)):
        r = sim.tick_state.payable.pop(rng.randrange(len(sim.tick_state.payable)))
        add(r.merchant, CancelRequest(r))


def _plan_requests(sim: CitySimulation, add: Callable[[Merchant, Op], bool], bundled: int) -> None:
    """New requests, enough for the citizens who will pay in the next ticks."""
    cfg, rng = sim.config, sim.rng
    acting = round(cfg.citizens * cfg.acting_share)
    deficit = 2 * round(acting * cfg.pay_share) + 4 - len(sim.tick_state.payable) - bundled
    for _ in range(max(0, deficit)):
        m = rng.choice(sim.merchants)
        kind = m.kind
        short = rng.random() < cfg.short_request_share
        lifetime = SHORT_LIFETIME if short else rng.randint(*REQUEST_LIFETIME)
        amount = _cents(rng.randint(kind.ticket_min, kind.ticket_max))
        memo = f"{m.account.name}: {rng.choice(kind.items)}"
        add(m, CreateRequest(Request(m, amount, sim.height + lifetime, memo)))


def _note_planned(sim: CitySimulation, ops: list[Op], height: int) -> None:
    """What the tick's state learns from a merchant's planned transaction."""
    for op in ops:
        if isinstance(op, CreateRequest):
            short = op.request.expiry < height + PAY_MARGIN
            (sim.tick_state.expiring if short else sim.tick_state.payable).append(op.request)
        elif isinstance(op, CancelRequest):
            sim.tick_state.cancelled.append(op.request)
        elif isinstance(op, Send):
            sim.tick_state.redeemed += op.amount


def _binomial(rng: random.Random, n: int, p: float) -> int:
    """A draw of Binomial(n, p), cheap enough for n in the thousands."""
    mean = n * p
    whole = int(mean)
    return whole + (1 if rng.random() < mean - whole else 0)


def plan_citizens(sim: CitySimulation, planned: list[Planned], room: int) -> None:
    cfg, rng = sim.config, sim.rng
    count = min(room, max(1, round(cfg.citizens * cfg.acting_share)))
    paid = 0
    for citizen in rng.sample(sim.citizens, count):
        p: Planned | None = None
        if citizen.balance >= FEE + 10:
            roll = rng.random()
            if roll < cfg.probe_share:
                p = _plan_probe(sim, citizen)
            elif roll < cfg.probe_share + cfg.pay_share and sim.tick_state.payable:
                p = _plan_payment(sim, citizen)
                paid += p is not None
            else:
                p = _plan_transfer(sim, citizen)
        if p is not None:
            planned.append(p)
        if citizen.balance < LOW_BALANCE:
            sim.tick_state.low[citizen] = None
    sim.tick_state.paid_last_tick = paid


def _plan_payment(sim: CitySimulation, citizen: Account) -> Planned | None:
    pool = sim.tick_state.payable
    index = sim.rng.randrange(len(pool))
    r = pool[index]
    pool[index] = pool[-1]
    pool.pop()
    p = plan(sim, "payment", citizen, [PayRequest(r, r.amount)])
    if p is None:
        pool.append(r)  # this citizen cannot afford it; someone else may
    else:
        sim.tick_state.paid.append(r)
    return p


def _plan_transfer(sim: CitySimulation, citizen: Account) -> Planned | None:
    recipient = sim.rng.choice(sim.citizens)
    if recipient is citizen:
        return None
    amount = _cents(sim.rng.lognormvariate(7.2, 0.9))
    amount = min(amount, citizen.balance - FEE, sim.ledger.tiers[citizen.tier].max_payment)
    if amount <= 0:
        return None
    return plan(sim, "transfer", citizen, [Send(recipient, amount)])


def _plan_probe(sim: CitySimulation, citizen: Account) -> Planned | None:
    """Something the ledger must refuse, with the code the model expects."""
    rng = sim.rng
    kind = rng.choices(
        ("overdraft", "over_limit", "expired", "paid_twice", "cancelled", "wrong_amount"),
        (3, 4, 1, 1, 1, 1),
    )[0]
    recipient = sim.rng.choice(sim.citizens)
    spendable = citizen.balance - FEE
    max_payment = sim.ledger.tiers[citizen.tier].max_payment
    op: Op | None = None
    if kind == "over_limit" and spendable > max_payment:
        op = Send(recipient, rng.randint(max_payment + 1, spendable))
    elif kind == "expired" and sim.tick_state.expired:
        r = sim.tick_state.expired[rng.randrange(len(sim.tick_state.expired))]
        op = PayRequest(r, r.amount)
    elif kind == "paid_twice" and sim.tick_state.paid:
        r = sim.tick_state.paid[rng.randrange(len(sim.tick_state.paid))]
        op = PayRequest(r, r.amount)
    elif kind == "cancelled" and sim.tick_state.cancelled:
        r = sim.tick_state.cancelled[rng.randrange(len(sim.tick_state.cancelled))]
        op = PayRequest(r, r.amount)
    elif kind == "wrong_amount" and sim.tick_state.payable:
        r = sim.tick_state.payable[rng.randrange(len(sim.tick_state.payable))]
        op = PayRequest(r, r.amount - 1 if r.amount > 1 else 2)
    else:
        op = Send(recipient, spendable + rng.randint(1, 5_000))  # an overdraft
    return plan(sim, "probe", citizen, [op], expect_ok=False)
