"""The distance to liquidation is signed: negative once a position is past its liquidation price.

A position whose equity condition is already met (cross: the pool's requirement at or above its
equity; isolated: the position's own margin plus PnL at or below its requirement) is past its
liquidation price, and its distance must say so: a positive "N % away" reads as safe. The sign is
the same in the scalar evaluation and in the columns (``test_batch`` compares them with ``==``).
"""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.margin.account import evaluate_account
from monitor.margin.batch import evaluate_accounts
from monitor.margin.rules import RULES, upnl
from monitor.margin.whatif import switch_mode
from monitor.model import Account, MarginMode, Position, PositionSide, Side, Tier, Venue
from tests.strategies import accounts

TIERS = (Tier(0, 50_000, 0.004, 0), Tier(50_000, 250_000, 0.005, 50), Tier(250_000, 1e18, 0.01, 1_300))
BTC = "BTC/USDT:USDT"


def one_way(
    side: Side, wallet: float, entry: float, mark: float, mode: MarginMode = MarginMode.CROSS
) -> Account:
    isolated = wallet if mode is MarginMode.ISOLATED else None
    p = Position(BTC, side, mode, 1.0, float(entry), float(mark), TIERS, isolated_wallet=isolated)
    return Account(Venue.BINANCE_USDM, 0.0 if isolated is not None else float(wallet), (p,), "t")


def both_ways(account: Account) -> list[tuple[float | None, float | None]]:
    """(liquidation price, distance) of every position, from the scalar code and from the columns,
    which must agree."""
    scalar = [(p.liquidation_price, p.distance_pct) for p in evaluate_account(account).positions]
    columns = [(p.liquidation_price, p.distance_pct) for p in evaluate_accounts([account])[0].positions]
    assert repr(scalar) == repr(columns)
    return scalar


def test_a_long_with_negative_equity_is_past_its_liquidation_price() -> None:
    """Wallet 1,000, 1 BTC long from 60,000, mark 58,000: equity -1,000. The price that restores
    the account is above the mark, so the mark is 2 % beyond it on the losing side."""
    [(lp, distance)] = both_ways(one_way(Side.LONG, 1_000, 60_000, 58_000))
    assert lp is not None and lp > 58_000
    assert distance == -abs(58_000 - lp) / 58_000 * 100 < 0
    [(lp, distance)] = both_ways(one_way(Side.LONG, -5_000, 60_000, 58_000))
    assert lp is not None and lp > 58_000 and distance is not None and distance < -12


def test_a_short_past_its_liquidation_price_too() -> None:
    [(lp, distance)] = both_ways(one_way(Side.SHORT, 1_000, 60_000, 62_000))
    assert lp is not None and lp < 62_000 and distance is not None and distance < 0


def test_an_isolated_position_past_its_liquidation_price() -> None:
    [(lp, distance)] = both_ways(one_way(Side.LONG, 500, 60_000, 59_000, MarginMode.ISOLATED))
    assert lp is not None and lp > 59_000 and distance is not None and distance < 0


def test_a_safe_position_keeps_a_positive_distance() -> None:
    [(lp, distance)] = both_ways(one_way(Side.LONG, 10_000, 60_000, 58_000))
    assert lp is not None and lp < 58_000
    assert distance == (58_000 - lp) / 58_000 * 100 > 0


def test_past_liquidation_with_no_price_that_restores_it() -> None:
    """A short in a pool so deep in debt that even a price of zero would not restore it: its
    liquidation price is its mark ("none" would read as safe) and it is past it without bound."""
    [(lp, distance)] = both_ways(one_way(Side.SHORT, -100_000, 60_000, 61_000))
    assert lp == 61_000
    assert distance == -math.inf


def hedged(wallet: float, mark: float) -> Account:
    """XRP in hedge mode, net short: 1,000 long and 3,000 short legs from 0.50."""
    tiers = (Tier(0, 1e18, 0.01, 0),)
    legs = (
        Position(
            "XRP/USDT:USDT",
            Side.LONG,
            MarginMode.CROSS,
            1_000,
            0.5,
            mark,
            tiers,
            position_side=PositionSide.LONG,
        ),
        Position(
            "XRP/USDT:USDT",
            Side.SHORT,
            MarginMode.CROSS,
            3_000,
            0.5,
            mark,
            tiers,
            position_side=PositionSide.SHORT,
        ),
    )
    return Account(Venue.BINANCE_USDM, wallet, legs, "hedge")


def test_hedge_legs_are_judged_by_their_symbol_net() -> None:
    """The long leg of a net-short symbol has its liquidation price above the mark, and is not past
    it: both legs close there, at a positive distance."""
    legs = both_ways(hedged(500, 0.46))
    [(lp_long, d_long), (lp_short, d_short)] = legs
    assert lp_long == lp_short and lp_long is not None and lp_long > 0.46
    assert d_long == d_short and d_long is not None and d_long > 0
    # past it: both legs say so
    [(_, d_long), (_, d_short)] = both_ways(hedged(500, lp_long * 1.01))
    assert d_long == d_short and d_long is not None and d_long < 0


def equity_condition_met(account: Account) -> tuple[list[bool], list[float]]:
    """Per position, from the definitions alone: whether its equity condition is met (cross: the
    pool's requirement >= its equity; isolated: own margin + PnL <= own requirement), and how far
    from the boundary it is, relative to the terms compared."""
    rules = RULES[account.venue]
    fee = account.taker_fee
    equity = account.wallet_balance
    req = 0.0
    scale = abs(account.wallet_balance)
    for p in account.positions:
        if p.margin_mode is MarginMode.CROSS:
            pnl = upnl(p, p.mark_price)
            equity += pnl
            req += rules.requirement(p, p.mark_price, fee)
            scale += abs(pnl)
    met: list[bool] = []
    margin: list[float] = []
    for p in account.positions:
        if p.margin_mode is MarginMode.CROSS:
            met.append(req >= equity)
            margin.append(abs(equity - req) / (scale + req))
        else:
            own = rules.isolated_equity(p, p.mark_price, fee)
            own_req = rules.requirement(p, p.mark_price, fee)
            met.append(own <= own_req)
            margin.append(abs(own - own_req) / (abs(p.isolated_wallet or 0.0) + abs(own) + own_req))
    return met, margin


@settings(max_examples=400, deadline=None)
@given(accounts(), st.floats(-1.0, 1.0), st.floats(0.5, 1.5))
def test_distance_is_negative_exactly_when_the_equity_condition_is_met(
    account: Account, wallet_factor: float, isolated_factor: float
) -> None:
    """Random accounts on every venue, with cross wallets from deep debt to ample and isolated
    wallets around what they need, so that many positions are past liquidation."""
    scale = sum(
        p.contracts * p.contract_size / p.mark_price
        if p.inverse
        else p.contracts * p.contract_size * p.mark_price
        for p in account.positions
    )
    account = replace(
        account,
        wallet_balance=scale * wallet_factor * 0.1,
        positions=tuple(
            replace(p, isolated_wallet=p.isolated_wallet * isolated_factor * 0.3)
            if p.isolated_wallet is not None
            else p
            for p in account.positions
        ),
    )
    met, margin = equity_condition_met(account)
    assume(min(margin) > 1e-9)  # not on the boundary itself, where rounding decides the sign
    for p, past in zip(evaluate_account(account).positions, met, strict=True):
        if past:
            assert p.distance_pct is not None and p.distance_pct < 0, (p, past)
            assert p.liquidation_price is not None
        else:
            assert p.distance_pct is None or p.distance_pct > 0, (p, past)


def test_what_if_another_margin_mode_is_signed_too() -> None:
    """An isolated ETH long with ample margin, moved into a cross pool already in debt by a BTC long:
    in cross it would be past its liquidation price at once, and the what-if says so."""
    eth_tiers = (Tier(0, 1e18, 0.005, 0),)
    btc = Position(BTC, Side.LONG, MarginMode.CROSS, 1.0, 60_000.0, 58_000.0, TIERS)
    eth = Position("ETH/USDT:USDT", Side.LONG, MarginMode.ISOLATED, 1.0, 3_000.0, 3_000.0, eth_tiers)
    eth = replace(eth, isolated_wallet=300.0)
    account = Account(Venue.BINANCE_USDM, -1_000.0, (btc, eth), "t")
    crossed = switch_mode(account, 1)
    assert crossed.distance_pct is not None and crossed.distance_pct < 0
    isolated = switch_mode(account, 0)  # needs leverage: no figure, rather than a wrong one
    assert isolated.distance_pct is None
    btc_isolated = switch_mode(replace(account, positions=(replace(btc, leverage=100.0), eth)), 0)
    # 600 of initial margin against a 2,000 loss: past its liquidation price as an isolated position
    assert btc_isolated.distance_pct is not None and btc_isolated.distance_pct < 0
