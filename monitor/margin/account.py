"""Risk of a whole account: every position and the cross pool, in one pass.

This is the function the live engine runs on every mark tick for each account the tick touches, so it
is written to be linear in the number of positions: the cross totals are summed once, and each cross
symbol's liquidation price holds the other positions at those totals minus its own legs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from monitor.margin.rules import Rules, notional, rules_for, solve_cross, upnl
from monitor.model import Account, AccountRisk, Collateral, CrossRisk, MarginMode, Position, PositionRisk

INF = math.inf


def margin_ratio(requirement: float, equity: float) -> float:
    """Requirement / equity, 1.0 = liquidation; ``inf`` when nothing is left to cover it."""
    if equity <= 0:
        return INF if requirement > 0 or equity < 0 else 0.0
    return requirement / equity


def distance_pct(mark: float, liquidation: float | None, past: bool = False) -> float | None:
    """How far the mark is from the liquidation price, in percent of the mark, signed: positive while
    the liquidation price lies ahead, negative once the position is ``past`` it (its equity condition
    already met, the mark beyond the liquidation price on the losing side). An unsigned "N % away"
    for a position the exchange may liquidate now reads as safe, the opposite of the truth.

    Why ``past`` decides the sign and not the side of the mark: a hedge-mode leg shares its symbol's
    liquidation price, which for the long leg of a net-short symbol lies above the mark; whether the
    symbol (its legs together, with the pool) is past it is what the equity condition says."""
    if liquidation is None:
        return None
    away = abs(mark - liquidation) / mark * 100.0
    return -away if past else away


def is_past(margin_ratio: float) -> bool:
    """Whether the equity condition is met: requirement >= equity (or no equity at all)."""
    return margin_ratio >= 1.0


def deviation_pct(ours: float | None, theirs: float | None) -> float | None:
    """Ours relative to the exchange's figure, in percent. ``0`` from an exchange means "none"."""
    if ours is None or not theirs:
        return None
    return (ours - theirs) / theirs * 100.0


def evaluate_account(account: Account, marks: Mapping[str, float] | None = None) -> AccountRisk:
    """Risk of every position and of the cross pool.

    ``marks`` (symbol -> mark price) overrides the marks stored in the positions: the live engine keeps
    one ``Account`` per account and passes the latest ticks, instead of rebuilding positions per tick.
    """
    rules = rules_for(account.venue)
    fee = account.taker_fee
    positions = account.positions
    n = len(positions)
    mk = (
        [p.mark_price for p in positions]
        if not marks
        else [marks.get(p.symbol, p.mark_price) for p in positions]
    )
    pnl = [0.0] * n
    req = [0.0] * n
    cross_pnl = 0.0
    cross_req = 0.0
    cross_legs: dict[str, list[int]] = {}
    for i, p in enumerate(positions):
        pnl[i] = upnl(p, mk[i])
        req[i] = rules.requirement(p, mk[i], fee)
        if p.margin_mode is MarginMode.CROSS:
            cross_pnl += pnl[i]
            cross_req += req[i]
            cross_legs.setdefault(p.symbol, []).append(i)

    cross: CrossRisk | None = None
    cross_lp: dict[str, float | None] = {}
    if cross_legs:
        wallet = account.wallet_balance
        driven: dict[str, list[Collateral]] = {}
        if account.collateral:
            # Multi-Assets: collateral counts at its haircut value; priced by a symbol, it moves with
            # that symbol's mark, held or not
            symbol_mark = {p.symbol: mk[i] for i, p in enumerate(positions)}
            for c in account.collateral:
                price = None
                if c.symbol is not None:
                    if c.symbol in symbol_mark:
                        driven.setdefault(c.symbol, []).append(c)
                        price = symbol_mark[c.symbol]
                    elif marks:
                        price = marks.get(c.symbol)
                wallet += c.value(price)
        equity = wallet + cross_pnl
        cross = CrossRisk(equity, cross_req, margin_ratio(cross_req, equity))
        for symbol, idx in cross_legs.items():
            if symbol in driven:
                cross_lp[symbol] = _with_driven_collateral(
                    rules, account, positions, idx, driven[symbol], wallet, cross_pnl, cross_req, pnl, req, mk
                )
                continue
            if len(idx) == 1:  # most symbols: one leg, nothing to sum
                i = idx[0]
                base = wallet + (cross_pnl - pnl[i]) - (cross_req - req[i])
                cross_lp[symbol] = rules.cross_liquidation_price((positions[i],), base, fee, mk[i])
                continue
            own_pnl = sum(pnl[i] for i in idx)
            own_req = sum(req[i] for i in idx)
            base = wallet + (cross_pnl - own_pnl) - (cross_req - own_req)
            legs = [positions[i] for i in idx]
            cross_lp[symbol] = rules.cross_liquidation_price(legs, base, fee, mk[idx[0]])

    out = []
    for i, p in enumerate(positions):
        if p.margin_mode is MarginMode.CROSS:
            assert cross is not None
            ratio = cross.margin_ratio
            lp = cross_lp[p.symbol]
        else:
            ratio = margin_ratio(req[i], rules.isolated_equity(p, mk[i], fee))
            lp = rules.isolated_liquidation_price(p, fee, mk[i])
        out.append(position_risk(p, mk[i], pnl[i], req[i], ratio, lp, rules.estimated))
    return AccountRisk(account.venue, account.name, cross, tuple(out))


def _with_driven_collateral(
    rules: Rules,
    account: Account,
    positions: Sequence[Position],
    idx: list[int],
    collateral: list[Collateral],
    wallet: float,
    cross_pnl: float,
    cross_req: float,
    pnl: list[float],
    req: list[float],
    mk: list[float],
) -> float | None:
    """No closed form when the collateral moves with the symbol: solve the balance equation with that
    collateral repriced at every trial price (margin-reference 1.5)."""
    mark = mk[idx[0]]
    fixed = wallet - sum(c.value(mark) for c in collateral)
    base = fixed + (cross_pnl - sum(pnl[i] for i in idx)) - (cross_req - sum(req[i] for i in idx))

    def moving(price: float) -> float:
        return sum(c.value(price) for c in collateral)

    return solve_cross(rules, [positions[i] for i in idx], base, account.taker_fee, mark, extra=moving)


def position_risk(
    p: Position, mark: float, pnl: float, req: float, ratio: float, lp: float | None, estimated: bool = False
) -> PositionRisk:
    exchange = p.exchange_liquidation_price
    past = is_past(ratio)
    unbounded = lp is None and past
    if unbounded:
        # Past liquidation and no price of this symbol restores it: liquidatable now, without
        # bound. "No liquidation price" would read as safe; its mark is where it stands.
        lp = mark
    deviation = deviation_pct(lp, exchange) if exchange else None
    if estimated and exchange:
        # ours is an estimate (the venue publishes no formula): the exchange's figure is judged and
        # shown, ours only compared with it (the deviation)
        lp = exchange
    if lp is None:
        distance = None
    elif unbounded and not (estimated and exchange):
        distance = -INF
    else:
        distance = distance_pct(mark, lp, past)
    return PositionRisk(
        p.symbol,
        p.side,
        p.position_side,
        p.margin_mode,
        notional(p, mark),  # notional
        pnl,  # unrealized_pnl
        req,  # maint_margin
        ratio,  # margin_ratio
        lp,  # liquidation_price
        distance,  # distance_pct: signed, negative once past the liquidation price
        mark,  # mark_price
        exchange or None,  # exchange_liquidation_price
        deviation,  # deviation_pct: ours against the exchange's
        p.contracts,  # contracts
        p.isolated_wallet,  # isolated_wallet
    )
