"""Questions no exchange calculator answers, asked of an account snapshot.

- What would this position's liquidation price be in the *other* margin mode? A cross position moved to
  isolated takes its initial margin (entry notional / leverage) out of the cross wallet; an isolated one
  moved into the cross pool brings its isolated wallet with it.
- How much margin must an isolated position get to put its liquidation price a chosen distance away?
- Which uniform market move (all marks together, or one symbol alone) liquidates a cross account?

All of them re-use the venue rules: a what-if is an ordinary evaluation of a modified snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from monitor.margin import solver
from monitor.margin.account import evaluate_account
from monitor.margin.rules import notional, rules_for, upnl
from monitor.model import Account, AccountRisk, MarginMode, Position, Side


@dataclass(frozen=True, slots=True)
class ModeSwitch:
    """A position's liquidation price if it were in the other margin mode."""

    symbol: str
    position_side: str
    from_mode: MarginMode
    to_mode: MarginMode
    liquidation_price: float | None
    distance_pct: float | None
    moved_margin: float | None  # margin taken out of (or brought into) the cross wallet
    note: str = ""


@dataclass(frozen=True, slots=True)
class MarginToAdd:
    """Margin an isolated position needs so that its liquidation price sits ``target_distance_pct``
    away from the mark. ``0`` when it is already at least that far."""

    symbol: str
    position_side: str
    target_distance_pct: float
    target_liquidation_price: float
    add: float
    new_liquidation_price: float | None


@dataclass(frozen=True, slots=True)
class MarketMove:
    """The uniform move of ``scope`` (``all`` cross marks, or one symbol) that liquidates the cross
    pool, in percent of the current marks: the nearest fall and the nearest rise, ``None`` if none.
    For a pool already ``past_liquidation`` the same roots are the moves that restore it."""

    scope: str
    down_pct: float | None
    up_pct: float | None
    past_liquidation: bool = False


@dataclass(frozen=True, slots=True)
class WhatIf:
    mode_switches: tuple[ModeSwitch, ...]
    margin_to_add: tuple[MarginToAdd, ...]
    market_moves: tuple[MarketMove, ...]


def initial_margin(p: Position) -> float | None:
    """Entry notional / leverage, in the settlement asset (what isolating a cross position locks)."""
    if not p.leverage:
        return None
    return notional(p, p.entry_price) / p.leverage


def switch_mode(account: Account, index: int) -> ModeSwitch:
    p = account.positions[index]
    if p.margin_mode is MarginMode.CROSS:
        im = initial_margin(p)
        if im is None:
            return ModeSwitch(
                p.symbol,
                p.position_side,
                p.margin_mode,
                MarginMode.ISOLATED,
                None,
                None,
                None,
                "needs leverage to size the initial margin",
            )
        moved = replace(p, margin_mode=MarginMode.ISOLATED, isolated_wallet=im)
        rest = [q for i, q in enumerate(account.positions) if i != index]
        new = replace(account, wallet_balance=account.wallet_balance - im, positions=(*rest, moved))
        risk = evaluate_account(new)
        isolated = risk.positions[-1]  # signed like every distance: negative if past it at once
        note = "" if _cross_survives(risk) else "the remaining cross pool would be liquidatable"
        return ModeSwitch(
            p.symbol,
            p.position_side,
            p.margin_mode,
            MarginMode.ISOLATED,
            isolated.liquidation_price,
            isolated.distance_pct,
            im,
            note,
        )
    wallet = p.isolated_wallet or 0.0
    moved = replace(p, margin_mode=MarginMode.CROSS, isolated_wallet=None)
    positions = tuple(moved if i == index else q for i, q in enumerate(account.positions))
    new = replace(account, wallet_balance=account.wallet_balance + wallet, positions=positions)
    crossed = evaluate_account(new).positions[index]
    return ModeSwitch(
        p.symbol,
        p.position_side,
        p.margin_mode,
        MarginMode.CROSS,
        crossed.liquidation_price,
        crossed.distance_pct,
        wallet,
    )


def _cross_survives(risk: AccountRisk) -> bool:
    return risk.cross is None or risk.cross.margin_ratio < 1.0


def margin_to_add(account: Account, index: int, target_distance_pct: float) -> MarginToAdd:
    """Solve the isolated balance equation for the wallet at the target price, then check it."""
    if not 0 < target_distance_pct < 100:
        raise ValueError(f"target distance must be between 0 and 100 %, got {target_distance_pct}")
    p = account.positions[index]
    if p.margin_mode is not MarginMode.ISOLATED:
        raise ValueError(f"position {index} ({p.symbol}) is not isolated")
    rules = rules_for(account.venue)
    step = target_distance_pct / 100.0
    target = p.mark_price * (1 - step if p.side is Side.LONG else 1 + step)
    needed = rules.wallet_for_liquidation_at(p, target, account.taker_fee)
    add = max(0.0, needed - (p.isolated_wallet or 0.0))
    moved = replace(p, isolated_wallet=(p.isolated_wallet or 0.0) + add)
    new_lp = rules.isolated_liquidation_price(moved, account.taker_fee)
    return MarginToAdd(p.symbol, p.position_side, target_distance_pct, target, add, new_lp)


def market_move(account: Account, symbol: str | None = None) -> MarketMove:
    """Scale the marks of the cross positions (all, or those of ``symbol``) by ``x`` and find the ``x``
    nearest 1 on each side where the cross equity meets its requirement."""
    rules = rules_for(account.venue)
    cross = [p for p in account.positions if p.margin_mode is MarginMode.CROSS]
    moving = [p for p in cross if symbol is None or p.symbol == symbol]
    fixed = [p for p in cross if not (symbol is None or p.symbol == symbol)]
    if not moving:
        raise ValueError(f"no cross position in {symbol or 'the account'}")
    fee = account.taker_fee
    marks = {p.symbol: p.mark_price for p in account.positions}
    moving_symbols = {p.symbol for p in moving}
    # collateral priced by a moving symbol moves with it (Multi-Assets); the rest holds its value
    riding = [(c, marks[c.symbol]) for c in account.collateral if c.symbol in moving_symbols]
    still = sum(
        c.value(marks.get(c.symbol) if c.symbol is not None else None)
        for c in account.collateral
        if c.symbol not in moving_symbols
    )
    base = (
        account.wallet_balance
        + still
        + sum(upnl(p, p.mark_price) - rules.requirement(p, p.mark_price, fee) for p in fixed)
    )

    def f(x: float) -> float:
        total = base + sum(c.value(price * x) for c, price in riding)
        for p in moving:
            price = p.mark_price * x
            total += upnl(p, price) - rules.requirement(p, price, fee)
        return total

    bps = [b / p.mark_price for p in moving for b in rules.breakpoints(p)]
    roots = solver.solve_nearest(f, 1.0, bps)
    down = None if roots.below is None else (roots.below - 1.0) * 100.0
    up = None if roots.above is None else (roots.above - 1.0) * 100.0
    return MarketMove(symbol or "all", down, up, f(1.0) < 0)


def what_if(account: Account, target_distance_pct: float = 10.0) -> WhatIf:
    switches = tuple(switch_mode(account, i) for i in range(len(account.positions)))
    adds = tuple(
        margin_to_add(account, i, target_distance_pct)
        for i, p in enumerate(account.positions)
        if p.margin_mode is MarginMode.ISOLATED
    )
    symbols = sorted({p.symbol for p in account.positions if p.margin_mode is MarginMode.CROSS})
    moves = (market_move(account), *(market_move(account, s) for s in symbols)) if symbols else ()
    return WhatIf(switches, adds, moves)
