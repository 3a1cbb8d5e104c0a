"""The columns (``monitor.margin.batch``) against the scalar ``evaluate_account``: equal, not close.

Random accounts from ``test_properties`` (linear and inverse, long and short, cross and isolated,
one-way and hedged), several per batch so that the per-account sums are exercised, at their own marks
and at moved marks; and bases from deep underwater to far beyond the position so that every exit of the
single-leg closed form is taken (settled by the columns, none at all, handed back to the scalar code).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.margin.account import evaluate_account
from monitor.margin.batch import AccountColumns, Batch, batchable, evaluate_accounts
from monitor.margin.rows import RiskRows, position_columns
from monitor.model import Account, Collateral, MarginMode, Position, Side, Tier, Venue
from tests.strategies import accounts, named

BINANCE = [Venue.BINANCE_USDM, Venue.BINANCE_COINM]
# every venue whose rules the columns compute (Gate's are Binance's closed form, the fee in its tiers)
COMPILED = [*BINANCE, Venue.GATE]


@settings(max_examples=400, deadline=None)
@given(st.data(), st.sampled_from(COMPILED), st.integers(1, 4), st.floats(0.5, 1.6))
def test_columns_equal_the_scalar_evaluation(data: st.DataObject, venue: Venue, n: int, move: float) -> None:
    accts = named([data.draw(accounts(venue)) for _ in range(n)])
    moved = {p.symbol: p.mark_price * move for a in accts for p in a.positions[::2]}
    for marks in (None, moved):
        # repr, so that a float64 leaking out (or -0.0 for 0.0) counts as a difference too
        assert repr(evaluate_accounts(accts, marks)) == repr([evaluate_account(a, marks) for a in accts])


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(2, 4), st.floats(0.5, 1.6))
def test_linear_and_inverse_legs_in_one_batch(data: st.DataObject, n: int, move: float) -> None:
    """A batch of USD-M legs alone computes only the linear forms; one that mixes both chooses per leg."""
    accts = named([data.draw(accounts(BINANCE[i % 2])) for i in range(n)])
    moved = {p.symbol: p.mark_price * move for a in accts for p in a.positions[1::2]}
    for marks in (None, moved):
        assert repr(evaluate_accounts(accts, marks)) == repr([evaluate_account(a, marks) for a in accts])


@settings(max_examples=200, deadline=None)
@given(
    st.data(),
    st.sampled_from(BINANCE),
    st.integers(1, 3),
    st.lists(st.floats(0.2, 5.0), min_size=2, max_size=6),
)
def test_one_batch_over_many_ticks(data: st.DataObject, venue: Venue, n: int, moves: list[float]) -> None:
    """The same columns evaluated tick after tick, as the engine does: a batch starts from the tiers
    of its last evaluation, so legs that stay in theirs, legs that leave them (by large moves, up and
    down) and legs that come back must all come out as a first evaluation would."""
    accts = named([data.draw(accounts(venue)) for _ in range(n)])
    batch = Batch([AccountColumns(a) for a in accts])
    for move in moves:
        marks = {p.symbol: p.mark_price * move for a in accts for p in a.positions[::2]}
        assert repr(batch.evaluate(marks)) == repr([evaluate_account(a, marks) for a in accts])


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from(BINANCE), st.floats(-3.0, 3.0))
def test_every_single_leg_exit_matches(data: st.DataObject, venue: Venue, factor: float) -> None:
    """Cross wallets from ``factor`` x the positions' value: negative ones leave cross legs underwater,
    large ones put their liquidation beyond any price, which is where the columns hand over."""
    account = data.draw(accounts(venue))
    value = sum(p.contracts * p.contract_size for p in account.positions)
    account = replace(account, wallet_balance=factor * value)
    assert repr(evaluate_accounts([account])) == repr([evaluate_account(account)])


def test_a_subset_of_accounts_in_the_asked_order() -> None:
    tiers = (Tier(0, 50_000, 0.004, 0.0), Tier(50_000, 1e18, 0.005, 50.0))
    accts = [
        Account(
            Venue.BINANCE_USDM,
            1_000.0 * (i + 1),
            (Position("BTC/USDT:USDT", Side.LONG, MarginMode.CROSS, 0.5, 60_000.0, 59_000.0, tiers),),
            f"a{i}",
        )
        for i in range(3)
    ]
    batch = Batch([AccountColumns(a) for a in accts])
    got = batch.evaluate({"BTC/USDT:USDT": 58_000.0}, which=[2, 0])
    assert [r.account for r in got] == ["a2", "a0"]
    assert got == [evaluate_account(accts[k], {"BTC/USDT:USDT": 58_000.0}) for k in (2, 0)]


def test_a_notional_on_a_floor_is_in_the_tier_above_tick_after_tick() -> None:
    """A floor belongs to the tier it opens. The deductions here do not join the tiers up, so the
    requirement on the floor tells the two apart; the batch meets it from the tier below (its last
    tick's) and from the tier above."""
    tiers = (Tier(0, 50_000, 0.004, 0.0), Tier(50_000, 1e18, 0.005, 0.0))
    legs = (
        Position("BTC/USDT:USDT", Side.LONG, MarginMode.CROSS, 1.0, 60_000.0, 49_000.0, tiers),
        Position(
            "ETH/USDT:USDT",
            Side.SHORT,
            MarginMode.ISOLATED,
            10.0,
            4_000.0,
            4_900.0,
            tiers,
            isolated_wallet=6e3,
        ),
    )
    account = Account(Venue.BINANCE_USDM, 20_000.0, legs, "a")
    batch = Batch([AccountColumns(account)])
    for btc, eth in ((49_000.0, 4_900.0), (50_000.0, 5_000.0), (49_999.0, 4_999.9), (50_000.0, 5_000.0)):
        marks = {"BTC/USDT:USDT": btc, "ETH/USDT:USDT": eth}
        assert repr(batch.evaluate(marks)) == repr([evaluate_account(account, marks)])
    on_floor = batch.evaluate({"BTC/USDT:USDT": 50_000.0, "ETH/USDT:USDT": 5_000.0})[0]
    assert [p.maint_margin for p in on_floor.positions] == [250.0, 250.0]


def test_only_binance_without_collateral_is_compiled() -> None:
    tiers = (Tier(0, 1e18, 0.01, 0.0),)
    p = Position("BTC/USDT:USDT", Side.LONG, MarginMode.CROSS, 1.0, 100.0, 100.0, tiers)
    assert batchable(Account(Venue.BINANCE_USDM, 50.0, (p,), "a"))
    assert not batchable(Account(Venue.BYBIT, 50.0, (p,), "a"))
    assert not batchable(
        Account(Venue.BINANCE_USDM, 50.0, (p,), "a", collateral=(Collateral("BTC", 0.1, 60_000.0),))
    )
    with pytest.raises(ValueError, match="'b'"):
        AccountColumns(Account(Venue.OKX, 50.0, (p,), "b"))


def test_risk_rows_behave_as_the_tuple_of_their_rows() -> None:
    """An account's positions from the batch are built lazily, but to every reader they are the tuple
    the scalar evaluation returns: indexing (negative too), slices, iteration, ``==``, ``hash``,
    ``repr``, and the screened columns."""
    tiers = (Tier(0, 50_000, 0.004, 0.0), Tier(50_000, 1e18, 0.005, 50.0))
    legs = tuple(
        Position(f"S{i}/USDT:USDT", side, mode, 0.5 + i, 100.0 * (i + 1), 101.0 * (i + 1), tiers)
        for i, (side, mode) in enumerate(
            [(Side.LONG, MarginMode.CROSS), (Side.SHORT, MarginMode.CROSS), (Side.LONG, MarginMode.ISOLATED)]
        )
    )
    legs = (*legs[:2], replace(legs[2], isolated_wallet=30.0))
    accts = [Account(Venue.BINANCE_USDM, 500.0, legs, "a"), Account(Venue.BINANCE_USDM, 80.0, legs[1:], "b")]
    got = evaluate_accounts(accts)
    want = [evaluate_account(a) for a in accts]
    for g, w in zip(got, want, strict=True):
        rows = g.positions
        assert isinstance(rows, RiskRows)
        assert len(rows) == len(w.positions)
        assert [rows[i] for i in range(len(rows))] == list(w.positions)
        assert rows[-1] == w.positions[-1] and rows[1:] == w.positions[1:]
        assert tuple(rows) == w.positions and rows == w.positions and w.positions == rows
        assert hash(g) == hash(w) and repr(g) == repr(w)
        assert position_columns(rows) == position_columns(w.positions)
        with pytest.raises(IndexError):
            rows[len(rows)]
    assert got[0].positions != got[1].positions
