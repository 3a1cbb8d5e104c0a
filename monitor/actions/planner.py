"""The de-risk planner: pure functions from an account snapshot to the smallest orders that help.

No I/O, no clock, no ccxt: a plan is an ordinary evaluation of modified snapshots with the margin engine
(``evaluate_account``, ``whatif.margin_to_add``), so its before/after numbers are the engine's numbers.

Two kinds of risk need two different remedies:

- **Cross**: every cross position shares one pool. Reducing any of them cuts the pool's maintenance
  requirement while its unrealised PnL moves into the wallet (equity only pays the fee), so the ratio
  falls. The planner picks a position by the configured rule, finds the smallest lot-sized quantity
  that reaches the target ratio within the per-step cap, and repeats (bounded steps) until the target is
  reached or nothing more is allowed.
- **Isolated**: closing part of an isolated position releases its margin in proportion, so its ratio
  and liquidation price barely move. What moves them is margin: the planner adds, from the free cross
  balance and within caps, what puts the liquidation price at the target distance. When that is not
  allowed or not enough it falls back to reducing or closing, as configured.

Safety invariants (checked by property tests): every order step is on the side opposite its position,
never larger than what is left of it, so it can never open or flip a position; a hedge-mode leg is
only reduced while it is the larger leg of its symbol, and by no more than the difference, so the
symbol's net exposure shrinks towards zero and never changes sign.

Fills are modelled at the mark with the account's taker fee (``apply_reduce``): a market order in a
fast market fills worse, which the next evaluation, from the exchange's real numbers, corrects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

from monitor.actions.settings import DeriskSettings, IsolatedFallback, Selection, Targets
from monitor.figures import fmt_pct, fmt_pct_threshold, fmt_ratio, fmt_ratio_threshold
from monitor.margin.account import evaluate_account
from monitor.margin.rules import notional, rules_for, upnl
from monitor.margin.whatif import margin_to_add, market_move
from monitor.model import Account, AccountRisk, MarginMode, Position, PositionRisk, PositionSide, Side
from monitor.venues.registry import margin_transfers_refused

Key = tuple[str, PositionSide]

# A position whose remaining size is below this is considered closed (float residue of a subtraction).
_DUST = 1e-12
# Margin transfers are made in whole cents of the settlement asset.
_CENT = 0.01


class StepKind(StrEnum):
    REDUCE = "reduce"
    CLOSE = "close"
    ADD_MARGIN = "add_margin"


@dataclass(frozen=True, slots=True)
class Lot:
    """A market's amount grid: orders are whole multiples of ``step`` contracts and at least
    ``min_qty``. ``step=0`` means any size (tests, venues without a grid)."""

    step: float = 0.0
    min_qty: float = 0.0

    def floor(self, qty: float) -> float:
        """The largest grid size not above ``qty`` (what ``amount_to_precision`` truncates to)."""
        if self.step <= 0:
            return max(qty, 0.0)
        return _clean(math.floor(qty / self.step + 1e-9) * self.step)

    def ceil(self, qty: float) -> float:
        if self.step <= 0:
            return max(qty, 0.0)
        return _clean(math.ceil(qty / self.step - 1e-9) * self.step)


NO_LOT = Lot()
Lots = Mapping[str, Lot] | Callable[[str], Lot | None]


class Figures(NamedTuple):
    """What a person looks at: the margin ratio that applies to the position (the account's for
    cross, its own for isolated), its liquidation price and the distance to it in % of the mark.
    A closed position has no liquidation price."""

    margin_ratio: float
    liquidation_price: float | None
    distance_pct: float | None


@dataclass(frozen=True, slots=True)
class Step:
    """One action. ``quantity`` is contracts for REDUCE/CLOSE and the settlement asset for
    ADD_MARGIN. ``side`` is the order side (``sell`` closes a long, ``buy`` a short); order steps are
    always reduce-only."""

    kind: StepKind
    symbol: str
    position_side: PositionSide
    margin_mode: MarginMode
    side: str | None
    quantity: float
    contracts_before: float
    before: Figures
    after: Figures
    reason: str

    @property
    def key(self) -> Key:
        return (self.symbol, self.position_side)

    @property
    def reduce_only(self) -> bool:
        return self.kind is not StepKind.ADD_MARGIN


@dataclass(frozen=True, slots=True)
class Plan:
    """Steps for one subject (the cross pool, or one isolated position) with the account's risk
    before and after all of them. ``account_after`` is the modelled snapshot, for chaining plans."""

    account: str
    scope: MarginMode
    symbol: str | None
    position_side: PositionSide | None
    trigger: str
    steps: tuple[Step, ...]
    before: AccountRisk
    after: AccountRisk
    reaches_target: bool
    account_after: Account
    note: str = ""

    def describe(self) -> str:
        """One line per step, for logs, alerts and suggestions."""
        head = self.trigger
        if not self.steps:
            return f"{head}: nothing allowed would help" + (f" ({self.note})" if self.note else "")
        lines = [head]
        for s in self.steps:
            what = f"add {fmt(s.quantity)} margin to" if s.kind is StepKind.ADD_MARGIN else s.kind.value
            unit = "" if s.kind is StepKind.ADD_MARGIN else f" {fmt(s.quantity)} of {fmt(s.contracts_before)}"
            lines.append(
                f"  {what} {s.symbol}{_leg(s.position_side)}{unit}: "
                f"ratio {fmt_ratio(s.before.margin_ratio)} -> "
                f"{fmt_ratio(s.after.margin_ratio)}, liq {fmt(s.before.liquidation_price)} -> "
                f"{fmt(s.after.liquidation_price)}, distance {fmt_pct(s.before.distance_pct)} -> "
                f"{fmt_pct(s.after.distance_pct)}"
            )
        if not self.reaches_target:
            lines.append("  target not reached within the caps" + (f": {self.note}" if self.note else ""))
        return "\n".join(lines)


# --- the fill model ---------------------------------------------------------------------------------


def index_of(account: Account, key: Key) -> int:
    for i, p in enumerate(account.positions):
        if p.key == key:
            return i
    raise KeyError(f"no position {key[0]} {key[1]} in account {account.name!r}")


def order_side(p: Position) -> str:
    """The side that reduces ``p``: a long is reduced by selling, a short by buying."""
    return "sell" if p.side is Side.LONG else "buy"


def apply_reduce(account: Account, key: Key, qty: float) -> Account:
    """The account after a reduce-only fill of ``qty`` contracts at the mark.

    Realised PnL and the taker fee settle into the cross wallet; an isolated position releases its
    margin in proportion to the size closed (Binance's accounting, and the simulator's). ``qty`` above
    the position closes it and no more.
    """
    i = index_of(account, key)
    p = account.positions[i]
    q = min(max(qty, 0.0), p.contracts)
    if q <= 0:
        return account
    share = q / p.contracts
    mark = p.mark_price
    wallet = account.wallet_balance + upnl(p, mark) * share - notional(p, mark) * share * account.taker_fee
    remaining = _clean(p.contracts - q)
    iw = p.isolated_wallet
    if p.margin_mode is MarginMode.ISOLATED:
        released = (iw or 0.0) * share
        wallet += released
        iw = (iw or 0.0) - released
    positions = list(account.positions)
    if remaining <= _DUST * max(1.0, p.contracts):
        del positions[i]
    else:
        positions[i] = replace(p, contracts=remaining, isolated_wallet=iw)
    return replace(account, wallet_balance=wallet, positions=tuple(positions))


def apply_add_margin(account: Account, key: Key, amount: float) -> Account:
    """The account after moving ``amount`` from the cross wallet into an isolated position."""
    i = index_of(account, key)
    p = account.positions[i]
    if p.margin_mode is not MarginMode.ISOLATED:
        raise ValueError(f"{p.symbol} is not isolated: margin cannot be added to it")
    positions = list(account.positions)
    positions[i] = replace(p, isolated_wallet=(p.isolated_wallet or 0.0) + amount)
    return replace(account, wallet_balance=account.wallet_balance - amount, positions=tuple(positions))


def with_leg(
    account: Account, key: Key, contracts: float, entry_price: float, isolated_wallet: float | None
) -> Account:
    """The account with one leg replaced by what a fresh exchange read says (size 0 removes it)."""
    i = index_of(account, key)
    p = account.positions[i]
    positions = list(account.positions)
    if contracts <= 0:
        del positions[i]
    else:
        iw = isolated_wallet if p.margin_mode is MarginMode.ISOLATED else None
        positions[i] = replace(
            p, contracts=contracts, entry_price=entry_price or p.entry_price, isolated_wallet=iw
        )
    return replace(account, positions=tuple(positions))


def cross_available(account: Account) -> float:
    """Free cross balance: cross equity less the initial margin of the cross positions at mark
    (Binance ``availableBalance`` in single-asset mode). A position of unknown leverage counts its
    whole notional, so an incomplete snapshot never overstates what may be moved."""
    equity = account.wallet_balance
    initial = 0.0
    for p in account.positions:
        if p.margin_mode is MarginMode.CROSS:
            equity += upnl(p, p.mark_price)
            value = notional(p, p.mark_price)
            initial += value / p.leverage if p.leverage else value
    return max(0.0, equity - initial)


# --- figures ------------------------------------------------------------------------------------------


def figures(risk: AccountRisk, key: Key) -> Figures:
    """The figures of one leg; a leg that is gone shows the ratio of what it belonged to and no
    liquidation price."""
    for r in risk.positions:
        if r.key == key:
            return Figures(r.margin_ratio, r.liquidation_price, r.distance_pct)
    return Figures(risk.cross.margin_ratio if risk.cross else 0.0, None, None)


@dataclass(frozen=True, slots=True)
class Impact:
    """Before and after one action, as the margin engine computes them."""

    before: Figures
    after: Figures
    account_before: AccountRisk
    account_after: AccountRisk


def reduce_impact(account: Account, key: Key, qty: float) -> Impact:
    before = evaluate_account(account)
    after = evaluate_account(apply_reduce(account, key, qty))
    return Impact(figures(before, key), figures(after, key), before, after)


def margin_impact(account: Account, key: Key, amount: float) -> Impact:
    before = evaluate_account(account)
    after = evaluate_account(apply_add_margin(account, key, amount))
    return Impact(figures(before, key), figures(after, key), before, after)


# --- triggers -----------------------------------------------------------------------------------------


def cross_triggered(risk: AccountRisk, targets: Targets) -> bool:
    return risk.cross is not None and risk.cross.margin_ratio >= targets.cross_trigger_ratio


def isolated_triggered(r: PositionRisk, targets: Targets) -> bool:
    if r.margin_mode is not MarginMode.ISOLATED:
        return False
    if r.margin_ratio >= targets.isolated_trigger_ratio:
        return True
    return r.distance_pct is not None and r.distance_pct <= targets.isolated_trigger_distance_pct


def triggered(risk: AccountRisk, targets: Targets) -> bool:
    """Whether any plan would be made for this account: cheap enough for every tick."""
    return cross_triggered(risk, targets) or any(isolated_triggered(r, targets) for r in risk.positions)


# --- planning -----------------------------------------------------------------------------------------


def _lot(lots: Lots, symbol: str) -> Lot:
    found = lots(symbol) if callable(lots) else lots.get(symbol)
    return found or NO_LOT


def reducible(account: Account, p: Position) -> float:
    """How many contracts of ``p`` may be reduced without growing its symbol's net exposure.

    One-way: all of it. Hedge mode: only the larger leg, by the difference between the legs, so the
    net position shrinks towards zero and never flips (reducing the smaller leg would add exposure).
    """
    if p.position_side is PositionSide.BOTH:
        return p.contracts
    other = sum(
        q.contracts
        for q in account.positions
        if q.symbol == p.symbol and q.position_side is not p.position_side and q.margin_mode is p.margin_mode
    )
    return max(0.0, _clean(p.contracts - other))


def step_cap(contracts: float, limit: float, lot: Lot, hard: float | None = None) -> float:
    """The largest order one step may place: ``limit`` truncated to the grid, the whole position when
    the limit covers it, never above ``hard`` (what may be reduced at all).

    When the limit is finer than the market's minimum lot, one minimum lot is allowed: a fraction cap
    that no order can honour would otherwise leave the last lots to the liquidation engine.
    """
    hard = contracts if hard is None else min(hard, contracts)
    limit = min(limit, hard)
    if limit >= contracts:
        return contracts
    cap = lot.floor(limit)
    minimum = max(lot.min_qty, lot.step)
    if cap <= 0 or cap < minimum:
        return minimum if 0 < minimum <= hard * (1 + 1e-12) else 0.0
    return cap


def contracts_for_value(p: Position, quote: float) -> float:
    """Contracts worth ``quote`` at the mark (quote notional: linear q x P, inverse the face value)."""
    per_contract = p.contract_size if p.inverse else p.contract_size * p.mark_price
    return quote / per_contract if per_contract > 0 else 0.0


def _nearest_move(account: Account) -> float:
    """The smallest uniform move (in %) of all cross marks that liquidates the pool; inf if none."""
    if not any(p.margin_mode is MarginMode.CROSS for p in account.positions):
        return math.inf
    move = market_move(account)
    moves = [abs(m) for m in (move.down_pct, move.up_pct) if m is not None]
    return min(moves, default=math.inf)


def _cross_ratio(account: Account) -> float:
    risk = evaluate_account(account)
    return risk.cross.margin_ratio if risk.cross is not None else 0.0


def _smallest_reduce(account: Account, key: Key, cap: float, lot: Lot, target: float) -> float:
    """The smallest grid quantity in [min lot, cap] whose fill brings the cross ratio to ``target``;
    ``cap`` when none does. The ratio falls monotonically with the size closed (the requirement drops
    by the maintenance rate, equity only by the fee), so bisection finds it."""

    def ok(q: float) -> bool:
        return _cross_ratio(apply_reduce(account, key, q)) <= target

    if not ok(cap):
        return cap
    if lot.step > 0:
        lo = max(1, math.ceil(lot.min_qty / lot.step - 1e-9))
        hi = math.floor(cap / lot.step + 1e-9)
        if hi < lo or not ok(hi * lot.step):
            return cap  # no grid size below the cap reaches it (the cap is a whole position)
        if ok(lo * lot.step):
            return _clean(lo * lot.step)
        while hi - lo > 1:  # invariant: lo fails, hi reaches the target
            mid = (lo + hi) // 2
            if ok(mid * lot.step):
                hi = mid
            else:
                lo = mid
        return _clean(hi * lot.step)
    low, high = 0.0, cap
    for _ in range(60):
        half = 0.5 * (low + high)
        if ok(half):
            high = half
        else:
            low = half
    return high


def _score(account: Account, selection: Selection) -> Callable[[Position], tuple[float, float]]:
    rules = rules_for(account.venue)
    fee = account.taker_fee

    def requirement(p: Position) -> float:
        return rules.requirement(p, p.mark_price, fee)

    if selection is Selection.WORST_PNL:
        return lambda p: (upnl(p, p.mark_price), -requirement(p))
    return lambda p: (-requirement(p), upnl(p, p.mark_price))


def plan_cross(account: Account, settings: DeriskSettings, lots: Lots) -> Plan | None:
    """Reduce cross positions until the pool's ratio is at the target, in bounded steps.

    Returns None when the pool is under its trigger. Each step reduces one position by at most
    ``caps.max_fraction`` of what is left of it and ``caps.max_notional``; a position whose allowed
    step is below the market minimum, or (with ``guard_market_move``) whose reduction would bring the
    nearest uniform-move liquidation closer, is skipped.
    """
    targets, caps = settings.targets, settings.caps
    before = evaluate_account(account)
    if not cross_triggered(before, targets):
        return None
    assert before.cross is not None
    target = targets.cross_target_ratio
    current = account
    steps: list[Step] = []
    skipped: dict[Key, str] = {}
    reached = False
    score = _score(account, settings.selection)
    for _ in range(settings.max_steps):
        risk = evaluate_account(current)
        if risk.cross is None or risk.cross.margin_ratio <= target:
            reached = True
            break
        # Past liquidation already, "the move that liquidates" has no meaning: any reduction helps.
        guard = settings.guard_market_move and risk.cross.margin_ratio < 1.0
        candidates = sorted(
            (p for p in current.positions if p.margin_mode is MarginMode.CROSS and p.key not in skipped),
            key=score,
        )
        chosen: tuple[Position, float, Account] | None = None
        for p in candidates:
            lot = _lot(lots, p.symbol)
            limit = min(p.contracts * caps.max_fraction, contracts_for_value(p, caps.max_notional))
            cap = step_cap(p.contracts, limit, lot, reducible(current, p))
            if cap <= 0:
                skipped[p.key] = "nothing can be reduced without growing its symbol's net exposure"
                continue
            q = _smallest_reduce(current, p.key, cap, lot, target)
            after = apply_reduce(current, p.key, q)
            if guard and _nearest_move(after) < _nearest_move(current) * (1 - 1e-9):
                skipped[p.key] = "reducing it would bring a market-wide liquidation closer"
                continue
            chosen = (p, q, after)
            break
        if chosen is None:
            break
        p, q, after = chosen
        after_risk = evaluate_account(after)
        steps.append(
            Step(
                StepKind.CLOSE if q >= p.contracts else StepKind.REDUCE,
                p.symbol,
                p.position_side,
                p.margin_mode,
                order_side(p),
                q,
                p.contracts,
                figures(risk, p.key),
                figures(after_risk, p.key),
                f"cross ratio {fmt_ratio(risk.cross.margin_ratio)} "
                f"above target {fmt_ratio_threshold(target)}",
            )
        )
        current = after
    else:
        reached = _cross_ratio(current) <= target
    note = "; ".join(f"{k[0]}{_leg(k[1])}: {why}" for k, why in skipped.items())
    return Plan(
        account.name,
        MarginMode.CROSS,
        None,
        None,
        f"{account.name}: cross ratio {fmt_ratio(before.cross.margin_ratio)} >= trigger "
        f"{fmt_ratio_threshold(targets.cross_trigger_ratio)}, target {fmt_ratio_threshold(target)}",
        tuple(steps),
        before,
        evaluate_account(current),
        reached,
        current,
        note,
    )


def margin_allowance(account: Account, settings: DeriskSettings) -> float:
    """The most one transfer may move out of the cross wallet: the cap, a share of the free balance,
    and no more than keeps the cross pool at or under its target ratio."""
    caps = settings.caps
    allowed = min(caps.max_margin_add, cross_available(account) * caps.max_free_fraction)
    risk = evaluate_account(account)
    if risk.cross is not None and risk.cross.maint_margin > 0:
        allowed = min(
            allowed, risk.cross.equity - risk.cross.maint_margin / settings.targets.cross_target_ratio
        )
    return max(0.0, _floor_cent(allowed))


def plan_isolated(account: Account, key: Key, settings: DeriskSettings, lots: Lots) -> Plan | None:
    """Margin first, then the configured fallback. None when the position is under its triggers."""
    targets, caps = settings.targets, settings.caps
    i = index_of(account, key)
    p = account.positions[i]
    if p.margin_mode is not MarginMode.ISOLATED:
        raise ValueError(f"{p.symbol} is not isolated")
    before = evaluate_account(account)
    pr = before.positions[i]
    if not isolated_triggered(pr, targets):
        return None
    goal = targets.isolated_target_distance_pct
    steps: list[Step] = []
    current = account
    reached = False
    note = ""
    refused = margin_transfers_refused(account.venue)
    if settings.isolated_add_margin and not refused:
        need = _ceil_cent(margin_to_add(account, i, goal).add)
        allowed = margin_allowance(account, settings)
        amount = min(need, allowed)
        if need <= 0:
            reached = True
        elif amount >= _CENT:
            current = apply_add_margin(account, key, amount)
            after_risk = evaluate_account(current)
            steps.append(
                Step(
                    StepKind.ADD_MARGIN,
                    p.symbol,
                    p.position_side,
                    p.margin_mode,
                    None,
                    amount,
                    p.contracts,
                    figures(before, key),
                    figures(after_risk, key),
                    f"distance {fmt_pct(pr.distance_pct)} under target {fmt_pct_threshold(goal)}",
                )
            )
            reached = amount >= need
        if not reached:
            note = f"needs {fmt(need)} margin, {fmt(allowed)} allowed"
    elif refused:
        note = f"no margin offered: {refused}"
    else:
        note = "adding margin is not allowed"
    if not reached and settings.isolated_fallback is not IsolatedFallback.NONE:
        lot = _lot(lots, p.symbol)
        if settings.isolated_fallback is IsolatedFallback.CLOSE:
            steps, current = [], account  # closing makes the margin pointless
            q = p.contracts
        else:
            leg = current.positions[index_of(current, key)]
            limit = min(leg.contracts * caps.max_fraction, contracts_for_value(leg, caps.max_notional))
            q = step_cap(leg.contracts, limit, lot)
        if q > 0:
            base = evaluate_account(current)
            after = apply_reduce(current, key, q)
            steps.append(
                Step(
                    StepKind.CLOSE if q >= p.contracts else StepKind.REDUCE,
                    p.symbol,
                    p.position_side,
                    p.margin_mode,
                    order_side(p),
                    q,
                    current.positions[index_of(current, key)].contracts,
                    figures(base, key),
                    figures(evaluate_account(after), key),
                    f"fallback {settings.isolated_fallback.value}: {note}",
                )
            )
            current = after
            reached = settings.isolated_fallback is IsolatedFallback.CLOSE
    return Plan(
        account.name,
        MarginMode.ISOLATED,
        p.symbol,
        p.position_side,
        f"{account.name} {p.symbol}{_leg(p.position_side)} isolated: ratio {fmt_ratio(pr.margin_ratio)}, "
        f"distance {fmt_pct(pr.distance_pct)} "
        f"(trigger {fmt_ratio_threshold(targets.isolated_trigger_ratio)} / "
        f"{fmt_pct_threshold(targets.isolated_trigger_distance_pct)}), target {fmt_pct_threshold(goal)}",
        tuple(steps),
        before,
        evaluate_account(current),
        reached,
        current,
        note,
    )


def plan_account(account: Account, settings: DeriskSettings, lots: Lots | None = None) -> tuple[Plan, ...]:
    """Every plan the account needs: the cross pool first (a reduction frees cross balance), then each
    triggered isolated position, nearest to liquidation first, each planned on the account as the
    previous plans leave it so two transfers never spend the same free balance."""
    lots = {} if lots is None else lots
    plans: list[Plan] = []
    current = account
    cross = plan_cross(current, settings, lots)
    if cross is not None:
        plans.append(cross)
        current = cross.account_after
    risk = evaluate_account(current)
    urgent = sorted(
        (r for r in risk.positions if isolated_triggered(r, settings.targets)),
        key=lambda r: math.inf if r.distance_pct is None else r.distance_pct,
    )
    for r in urgent:
        if all(p.key != r.key for p in current.positions):
            continue
        plan = plan_isolated(current, r.key, settings, lots)
        if plan is not None:
            plans.append(plan)
            current = plan.account_after
    return tuple(plans)


# --- helpers ------------------------------------------------------------------------------------------


def _clean(x: float) -> float:
    """Drop float residue so grid sizes print and compare as the exchange writes them."""
    return round(x, 12)


def _floor_cent(x: float) -> float:
    return math.floor(x / _CENT + 1e-9) * _CENT if x > 0 else 0.0


def _ceil_cent(x: float) -> float:
    return round(math.ceil(x / _CENT - 1e-9) * _CENT, 2) if x > 0 else 0.0


def _leg(ps: PositionSide | None) -> str:
    return "" if ps in (None, PositionSide.BOTH) else f" [{ps}]"


def fmt(x: float | None) -> str:
    if x is None:
        return "none"
    if math.isinf(x):
        return "inf"
    if x == 0 or abs(x) >= 100:
        return f"{x:,.2f}"
    return f"{x:.4g}"
