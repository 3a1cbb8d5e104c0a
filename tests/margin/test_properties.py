"""Properties of the margin engine over random accounts.

Random linear and inverse, long and short, cross and isolated, one-way and hedged accounts of 1-6
positions on every venue rule set. The numeric solver, which knows only the definitions of equity and
requirement, is the oracle for every closed form.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from monitor.margin.account import evaluate_account
from monitor.margin.rules import RULES, solve_cross, solve_isolated, upnl
from monitor.margin.solver import PRICE_FLOOR
from monitor.model import Account, MarginMode, Position, PositionSide, Side, Tier, Venue
from tests.strategies import accounts

REL = 1e-9
BY_CONTRACTS = (Venue.OKX, Venue.BLOFIN)  # tiers by size in contracts, no deduction


def at_price(positions: tuple[Position, ...], symbol: str, price: float) -> tuple[Position, ...]:
    return tuple(replace(p, mark_price=price) if p.symbol == symbol else p for p in positions)


def cross_gap(account: Account, positions: tuple[Position, ...]) -> tuple[float, float, float]:
    """Cross (equity, requirement, scale); ``scale`` is the size of the terms summed into them."""
    rules = RULES[account.venue]
    equity = account.wallet_balance
    scale = abs(account.wallet_balance)
    req = 0.0
    for p in positions:
        if p.margin_mode is MarginMode.CROSS:
            pnl = upnl(p, p.mark_price)
            equity += pnl
            req += rules.requirement(p, p.mark_price, account.taker_fee)
            scale += abs(pnl)
    return equity, req, scale + req


BITGET_EDGE = Account(  # found by hypothesis: an inverse long liquidated at a tier's edge (old rule)
    Venue.BITGET,
    17.993513548057262,
    (
        Position(
            "S0",
            Side.LONG,
            MarginMode.CROSS,
            5.0,
            12.0,
            12.0,
            (Tier(0.0, 1e18, 0.015625, 0.0),),
            10.0,
            inverse=True,
            position_side=PositionSide.LONG,
            leverage=2.0,
        ),
        Position(
            "S1",
            Side.LONG,
            MarginMode.CROSS,
            123.0,
            590.875,
            652.0,
            (
                Tier(0.0, 37.73006134969325, 0.015625, 0.0),
                Tier(37.73006134969325, 56.59509202453988, 0.03125, 0.589532208588957),
                Tier(56.59509202453988, 75.4601226993865, 0.0625, 2.358128834355828),
                Tier(75.4601226993865, 1e18, 0.125, 7.074386503067485),
            ),
            100.0,
            inverse=True,
            position_side=PositionSide.LONG,
            leverage=2.0,
        ),
    ),
    "prop",
    taker_fee=0.0,
)


@settings(max_examples=300, deadline=None)
@given(accounts())
@example(BITGET_EDGE)
def test_balance_equation_holds_at_the_liquidation_price(account: Account) -> None:
    """Equity equals requirement at the liquidation price, to 1e-9 of the terms that make up the
    balance (wallet, PnL, requirement). Relative to the requirement alone the residual can exceed that
    when a far liquidation price makes the requirement tiny next to the wallet: float cancellation, not
    a wrong price."""
    rules = RULES[account.venue]
    risk = evaluate_account(account)
    for p, r in zip(account.positions, risk.positions, strict=True):
        lp = r.liquidation_price
        if lp is None or r.margin_ratio >= 1.0:
            continue  # underwater: the mark is reported, whether or not a crossing exists
        assert lp > 0

        def balance(price: float, p: Position = p) -> tuple[float, float]:
            """(equity - requirement, the scale of its terms) with ``p``'s symbol at ``price``."""
            if p.margin_mode is MarginMode.ISOLATED:
                equity = rules.isolated_equity(p, price, account.taker_fee)
                req = rules.requirement(p, price, account.taker_fee)
                return equity - req, abs(p.isolated_wallet or 0.0) + abs(upnl(p, price)) + req
            equity, req, scale = cross_gap(account, at_price(account.positions, p.symbol, price))
            return equity - req, scale

        gap, scale = balance(lp)
        if abs(gap) <= REL * scale:
            continue
        # a table without deductions (Bitget's old rule) jumps at a tier's edge: there the balance
        # crosses zero by the jump itself, with no root on either side
        below, above = balance(lp * (1 - 1e-9))[0], balance(lp * (1 + 1e-9))[0]
        assert rules.venue is Venue.BITGET and (below > 0) != (above > 0), (p, lp, gap, scale)


@settings(max_examples=300, deadline=None)
@given(accounts())
@example(
    Account(
        Venue.BINANCE_COINM,
        1.0,
        (
            Position(
                "S0",
                Side.SHORT,
                MarginMode.ISOLATED,
                1.0,
                1.0,
                1.0,
                (Tier(0.0, 1e18, 0.015625, 0.0),),
                inverse=True,
                isolated_wallet=0.9999999999999999,
                leverage=2.0,
            ),
        ),
        "prop",
    )
)
def test_closed_forms_agree_with_the_solver(account: Account) -> None:
    rules = RULES[account.venue]
    risk = evaluate_account(account)
    fee = account.taker_fee
    cross = [p for p in account.positions if p.margin_mode is MarginMode.CROSS]
    for p, r in zip(account.positions, risk.positions, strict=True):
        if p.margin_mode is MarginMode.ISOLATED:
            oracle = solve_isolated(rules, p, fee)
        else:
            legs = [q for q in cross if q.symbol == p.symbol]
            others = [q for q in cross if q.symbol != p.symbol]
            base = account.wallet_balance + sum(
                upnl(q, q.mark_price) - rules.requirement(q, q.mark_price, fee) for q in others
            )
            oracle = solve_cross(rules, legs, base, fee)
        if oracle is None and r.margin_ratio >= 1.0:
            assert r.liquidation_price == r.mark_price  # underwater at every price: liquidatable now
        elif oracle is None or r.liquidation_price is None:
            # both must agree that no price liquidates, unless the only root is beyond the solver's grid
            # (which ends at the mark / PRICE_FLOOR: an isolated wallet a hair short of the position's
            # value puts an inverse short's root some 1e16 times the mark)
            beyond = r.liquidation_price is not None and r.liquidation_price > r.mark_price / PRICE_FLOOR
            assert oracle == r.liquidation_price or (oracle is None and beyond)
        else:
            assert abs(oracle - r.liquidation_price) <= 1e-8 * r.liquidation_price


@settings(max_examples=200, deadline=None)
@given(accounts(), st.floats(1.05, 3.0))
def test_more_wallet_moves_long_down_and_short_up(account: Account, factor: float) -> None:
    """Only one-way positions: a hedged symbol's shared price moves with the net side."""
    assume(all(p.position_side is PositionSide.BOTH for p in account.positions))
    before = evaluate_account(account)
    richer = replace(
        account,
        wallet_balance=account.wallet_balance * factor,
        positions=tuple(
            replace(p, isolated_wallet=p.isolated_wallet * factor) if p.isolated_wallet else p
            for p in account.positions
        ),
    )
    after = evaluate_account(richer)
    for p, b, a in zip(account.positions, before.positions, after.positions, strict=True):
        if b.margin_ratio >= 1.0:
            continue  # underwater before: its price is the mark, not a point on the same curve
        if b.liquidation_price is None:
            assert a.liquidation_price is None or (p.side is Side.SHORT and p.inverse is False)
            continue
        if a.liquidation_price is None:
            continue  # moved out of reach entirely
        if p.side is Side.LONG:
            assert a.liquidation_price <= b.liquidation_price * (1 + 1e-12)
        else:
            assert a.liquidation_price >= b.liquidation_price * (1 - 1e-12)


@settings(max_examples=200, deadline=None)
@given(accounts(), st.floats(0.7, 1.3))
def test_isolated_ignores_others_and_cross_follows_them(account: Account, move: float) -> None:
    symbols = sorted({p.symbol for p in account.positions})
    assume(len(symbols) >= 2 and abs(move - 1) > 0.01)
    moved_symbol = symbols[0]
    moved = replace(
        account, positions=at_price(account.positions, moved_symbol, account.positions[0].mark_price * move)
    )
    before, after = evaluate_account(account), evaluate_account(moved)
    rules = RULES[account.venue]
    price = account.positions[0].mark_price * move
    fee = account.taker_fee
    # what the move does to the cross balance: nothing for a perfectly hedged pair on a venue whose
    # requirement does not follow the mark (Bitunix values it at the entry price)
    shift = sum(
        upnl(q, price)
        - upnl(q, q.mark_price)
        - rules.requirement(q, price, fee)
        + rules.requirement(q, q.mark_price, fee)
        for q in account.positions
        if q.symbol == moved_symbol and q.margin_mode is MarginMode.CROSS
    )
    moved_cross = shift != 0
    for p, b, a in zip(account.positions, before.positions, after.positions, strict=True):
        if p.symbol == moved_symbol:
            continue
        if p.margin_mode is MarginMode.ISOLATED:
            assert a.liquidation_price == b.liquidation_price
        elif (
            moved_cross
            and b.liquidation_price is not None
            and a.liquidation_price is not None
            and max(b.margin_ratio, a.margin_ratio) < 1.0
            # a crossing at a tier's edge, where the requirement jumps (Bitget's old rule), stays there
            and not any(abs(b.liquidation_price - e) <= 1e-9 * e for e in rules.breakpoints(p))
        ):
            # the other cross symbol's UPNL and requirement changed, so this symbol's price must too
            assert a.liquidation_price != b.liquidation_price


@settings(max_examples=100, deadline=None)
@given(accounts(Venue.BINANCE_USDM))
def test_margin_ratio_reaches_one_at_the_isolated_liquidation_price(account: Account) -> None:
    for p in account.positions:
        if p.margin_mode is not MarginMode.ISOLATED:
            continue
        lp = evaluate_account(replace(account, positions=(p,))).positions[0].liquidation_price
        if lp is None:
            continue
        at_lp = evaluate_account(replace(account, positions=(replace(p, mark_price=lp),)))
        assert abs(at_lp.positions[0].margin_ratio - 1.0) <= 1e-8


@settings(max_examples=100, deadline=None)
@given(accounts(), st.floats(0.8, 1.2))
def test_marks_override_equals_rebuilt_positions(account: Account, move: float) -> None:
    """The live engine's shortcut (latest marks passed beside the positions) changes nothing."""
    marks = {p.symbol: p.mark_price * move for p in account.positions}
    rebuilt = replace(
        account, positions=tuple(replace(p, mark_price=marks[p.symbol]) for p in account.positions)
    )
    assert evaluate_account(account, marks) == evaluate_account(rebuilt)
