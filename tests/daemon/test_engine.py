"""The engine: events in, account risks out. No I/O."""

from __future__ import annotations

from monitor.daemon.engine import REST_MARK_LAG_MS, SPENT_KEPT, Engine, MarketInfo
from monitor.events import AccountSnapshotEvent, AccountUpdate, MarkPrices, PositionState, TierTable
from monitor.margin.account import evaluate_account
from monitor.model import Account, Collateral, MarginMode, PositionSide, Tier, Venue

TIERS = (Tier(0, 50_000, 0.004, 0), Tier(50_000, 1e12, 0.005, 50))
BTC, ETH, BNB = "BTC/USDT:USDT", "ETH/USDT:USDT", "BNB/USDT:USDT"
V = "binanceusdm"


def leg(symbol: str, amount: float, *, mark: float = 60_000.0, lp: float | None = None) -> PositionState:
    return PositionState(
        symbol,
        PositionSide.BOTH,
        MarginMode.CROSS,
        amount,
        60_000.0 if symbol == BTC else 3_000.0,
        mark_price=mark,
        liquidation_price=lp,
        leverage=10,
    )


def engine(*accounts: str) -> Engine:
    e = Engine()
    e.set_markets(V, [MarketInfo(BTC), MarketInfo(ETH)])
    for name in accounts:
        e.add_account(name, Venue.BINANCE_USDM)
        for symbol in (BTC, ETH):
            e.on_tiers(TierTable(V, name, symbol, TIERS, 0))
    return e


def snapshot(
    account: str, *legs: PositionState, wallet: float = 10_000.0, requested: int = 0, received: int = 1
) -> AccountSnapshotEvent:
    return AccountSnapshotEvent(V, account, wallet, tuple(legs), received, requested_ms=requested)


def test_a_snapshot_older_than_a_delta_does_not_bring_a_closed_leg_back() -> None:
    e = engine("a")
    e.on_snapshot(snapshot("a", leg(BTC, 0.5), leg(ETH, 2), received=100))
    # the position is closed (delta received at 250) while a resync's requests were in flight (left at 200)
    e.on_account_update(AccountUpdate(V, "a", "ORDER", 10_500.0, (leg(BTC, 0.0),), 250, 250))
    risk = e.on_snapshot(
        snapshot("a", leg(BTC, 0.5), leg(ETH, 3), wallet=9_000.0, requested=200, received=300)
    )
    assert risk is not None
    assert {p.symbol for p in risk.positions} == {ETH}  # BTC stays closed
    assert next(p for p in risk.positions if p.symbol == ETH).contracts == 3  # ETH: the snapshot is newer
    assert e.books["a"].wallet == 10_500.0  # the delta's wallet is newer than the snapshot's


def test_a_snapshot_requested_after_the_delta_wins() -> None:
    e = engine("a")
    e.on_account_update(AccountUpdate(V, "a", "ORDER", 10_500.0, (leg(BTC, 0.0),), 250, 250))
    risk = e.on_snapshot(snapshot("a", leg(BTC, 0.7), wallet=9_000.0, requested=300, received=400))
    assert risk is not None and [p.contracts for p in risk.positions] == [0.7]
    assert e.books["a"].wallet == 9_000.0


def test_a_tick_re_evaluates_only_accounts_holding_the_symbol() -> None:
    e = engine("btc", "eth")
    e.on_snapshot(snapshot("btc", leg(BTC, 0.5)))
    e.on_snapshot(snapshot("eth", leg(ETH, 2, mark=3_000.0)))
    touched = e.on_marks(MarkPrices(V, {BTC: 59_000.0}, 10, 10))
    assert [r.account for r in touched] == ["btc"]
    assert touched[0].positions[0].mark_price == 59_000.0


def test_the_exchange_price_is_compared_at_the_snapshot_only() -> None:
    e = engine("a")
    # our cross liquidation price for this book, computed at the snapshot's own marks
    ours = e.on_snapshot(snapshot("a", leg(BTC, 0.5))).positions[0].liquidation_price  # type: ignore[union-attr]
    assert ours is not None
    risk = e.on_snapshot(snapshot("a", leg(BTC, 0.5, lp=ours * 1.01)))
    assert risk is not None and abs(risk.positions[0].deviation_pct - (-100 / 101)) < 1e-9  # type: ignore[operator]
    # a later tick carries no comparison: the exchange's figure is from the snapshot's marks
    ticked = e.on_marks(MarkPrices(V, {BTC: 61_000.0}, 10, REST_MARK_LAG_MS + 100))
    assert ticked[0].positions[0].deviation_pct is None


def test_a_rest_mark_replaces_a_streamed_one_only_when_the_stream_lags() -> None:
    e = engine("a")
    e.on_snapshot(snapshot("a", leg(BTC, 0.5), received=1))
    e.on_marks(MarkPrices(V, {BTC: 61_000.0}, 1_000, 1_000))
    lag = 1_000 + REST_MARK_LAG_MS
    e.on_snapshot(snapshot("a", leg(BTC, 0.5, mark=60_500.0), requested=lag - 1, received=lag + 500))
    assert e.marks[V][BTC] == 61_000.0  # a tick that recent is the better price
    # a body that came back late, but was requested long after the stream's last tick
    e.on_snapshot(snapshot("a", leg(BTC, 0.5, mark=60_200.0), requested=lag + 1, received=lag + 500))
    assert e.marks[V][BTC] == 60_200.0  # the stream lags: REST wins for risk
    assert e.mark_ms[V][BTC] == 1_000  # but the stream's freshness clock is untouched


def test_positions_without_a_tier_table_wait_for_one() -> None:
    e = Engine()
    e.set_markets(V, [MarketInfo(BTC)])
    e.add_account("a", Venue.BINANCE_USDM)
    risk = e.on_snapshot(snapshot("a", leg(BTC, 0.5)))
    assert risk is not None and risk.positions == ()
    assert e.books["a"].missing_tiers == {BTC}
    risk = e.on_tiers(TierTable(V, "a", BTC, TIERS, 5))
    assert risk is not None and len(risk.positions) == 1


def test_prepare_joins_what_a_change_left_stale_and_the_tick_then_reuses_it() -> None:
    """``prepare`` (run by the daemon when nothing is queued) joins the columns a delta dropped; the
    next tick evaluates on that very batch, with the risks a tick that joined them itself gives."""
    lazy, eager = engine("a", "b"), engine("a", "b")
    for e in (lazy, eager):
        e.on_snapshot(snapshot("a", leg(BTC, 0.5), leg(ETH, 2)))
        e.on_snapshot(snapshot("b", leg(BTC, -0.2)))
        e.on_marks(MarkPrices(V, {BTC: 59_000.0, ETH: 2_900.0}, 10, 10))
        assert e.prepare() == []  # the tick joined them: nothing is stale
    unchanged = eager._batches[V][0].layout.parts[1]
    for e in (lazy, eager):
        e.on_account_update(AccountUpdate(V, "a", "ORDER", 9_900.0, (leg(ETH, 0.0),), 20, 20))
    (layout,) = eager.prepare()
    assert layout.accounts == ("a", "b") and layout.symbols == [BTC, BTC]
    assert eager.prepare() == []
    prepared = eager._batches[V][0]
    tick = MarkPrices(V, {BTC: 58_000.0, ETH: 2_800.0}, 30, 30)
    assert repr(eager.on_marks(tick)) == repr(lazy.on_marks(tick))
    assert eager._batches[V][0] is prepared
    # an account's part of the layout (and what the policy keeps in it) outlives the other's change
    assert layout.parts[1] is unchanged and layout.parts[0] is not unchanged


def test_marks_from_whole_and_partial_frames() -> None:
    """A frame with every known symbol replaces the venue's marks and stamps; one without some of
    them updates them, and the others keep their last price and time."""
    e = engine("a")
    e.on_snapshot(snapshot("a", leg(BTC, 0.5), leg(ETH, 2, mark=3_000.0)))
    e.on_marks(MarkPrices(V, {BTC: 59_000.0, ETH: 2_900.0}, 10, 10))
    e.on_marks(MarkPrices(V, {BTC: 58_000.0}, 20, 20))
    assert e.marks[V] == {BTC: 58_000.0, ETH: 2_900.0}
    assert e.mark_ms[V] == {BTC: 20, ETH: 10}
    risk = e.on_marks(MarkPrices(V, {ETH: 2_800.0, BTC: 57_000.0, "SOL/USDT:USDT": 150.0}, 30, 30))[0]
    assert e.marks[V] == {ETH: 2_800.0, BTC: 57_000.0, "SOL/USDT:USDT": 150.0}
    assert e.mark_ms[V] == {ETH: 30, BTC: 30, "SOL/USDT:USDT": 30}
    assert [p.mark_price for p in risk.positions] == [57_000.0, 2_800.0]
    assert e.risks["a"] is risk


def test_what_a_tick_replaced_is_freed_on_release_and_never_piles_up() -> None:
    e = engine("a")
    e.on_snapshot(snapshot("a", leg(BTC, 0.5), leg(ETH, 2, mark=3_000.0)))
    e.on_marks(MarkPrices(V, {BTC: 59_000.0, ETH: 2_900.0}, 10, 10))
    marks, stamps, risk = e.marks[V], e.mark_ms[V], e.risks["a"]
    e.on_marks(MarkPrices(V, {BTC: 58_000.0, ETH: 2_800.0}, 20, 20))
    kept = e._spent
    assert any(x is marks for x in kept) and any(x is stamps for x in kept)
    assert any(isinstance(x, list) and any(r is risk for r in x) for x in kept)
    e.release()
    assert e._spent == []
    for i in range(100):  # nobody releases: a few ticks' worth at most
        e.on_marks(MarkPrices(V, {BTC: 58_000.0 - i, ETH: 2_800.0}, 30 + i, 30 + i))
        assert len(e._spent) <= SPENT_KEPT


def test_frames_of_every_symbol_touch_the_accounts_holding_any_as_their_holdings_change() -> None:
    """What such a frame touches is kept while no account changes: a change, even to an account no
    frame touched so far, is seen by the next frame, and a frame of some symbols touches their
    holders only."""
    e = engine("btc", "eth", "idle")
    e.on_snapshot(snapshot("btc", leg(BTC, 0.5)))
    e.on_snapshot(snapshot("eth", leg(ETH, 2, mark=3_000.0)))
    e.on_snapshot(snapshot("idle"))

    def tick(ms: int, prices: dict[str, float]) -> list[tuple[str, list[float]]]:
        risks = e.on_marks(MarkPrices(V, prices, ms, ms))
        return [(r.account, [p.mark_price for p in r.positions]) for r in risks]

    assert tick(10, {BTC: 59_000.0, ETH: 2_900.0}) == [("btc", [59_000.0]), ("eth", [2_900.0])]
    assert tick(20, {BTC: 58_000.0, ETH: 2_800.0}) == [("btc", [58_000.0]), ("eth", [2_800.0])]
    e.on_account_update(AccountUpdate(V, "idle", "ORDER", None, (leg(ETH, 1),), 25, 25))
    assert tick(30, {BTC: 57_000.0, ETH: 2_700.0}) == [
        ("btc", [57_000.0]),
        ("eth", [2_700.0]),
        ("idle", [2_700.0]),
    ]
    assert tick(40, {ETH: 2_600.0}) == [("eth", [2_600.0]), ("idle", [2_600.0])]
    e.on_account_update(AccountUpdate(V, "btc", "ORDER", None, (leg(BTC, 0.0),), 45, 45))
    assert tick(50, {BTC: 56_000.0, ETH: 2_500.0}) == [("eth", [2_500.0]), ("idle", [2_500.0])]


# ---- Multi-Assets mode ----------------------------------------------------------------------------

POOL = (Collateral("BTC", 0.2, 60_000.0, 0.05, BTC), Collateral("BNB", 10.0, 600.0, 0.05, BNB))


def multi(account: str, *legs: PositionState, requested: int = 0, received: int = 1) -> AccountSnapshotEvent:
    return AccountSnapshotEvent(
        V, account, 1_000.0, tuple(legs), received, multi_assets=True, requested_ms=requested, collateral=POOL
    )


def test_collateral_joins_the_pool_and_revalues_on_its_symbols_ticks() -> None:
    e = engine("ma", "eth")
    e.on_snapshot(multi("ma", leg(ETH, -2, mark=3_000.0)))
    e.on_snapshot(snapshot("eth", leg(ETH, 2, mark=3_000.0)))
    risk = e.risks["ma"]
    assert risk.cross is not None
    assert risk.cross.equity == 1_000.0 + 0.2 * 60_000 * 0.95 + 10 * 600 * 0.95
    # BNB prices collateral only: its tick touches the Multi-Assets account alone
    touched = e.on_marks(MarkPrices(V, {BNB: 300.0}, 10, 10))
    assert [r.account for r in touched] == ["ma"]
    expected = evaluate_account(
        Account(Venue.BINANCE_USDM, 1_000.0, e.books["ma"].account.positions, "ma", 0.0, POOL),  # type: ignore[union-attr]
        {ETH: 3_000.0, BNB: 300.0},
    )
    assert touched[0].cross == expected.cross
    assert touched[0].cross is not None and touched[0].cross.equity < risk.cross.equity


def test_a_delta_changes_the_collateral_balances_and_a_snapshot_keeps_the_newer_ones() -> None:
    e = engine("ma", "plain")
    e.on_snapshot(multi("ma", leg(ETH, -2, mark=3_000.0), received=100))
    e.on_account_update(AccountUpdate(V, "ma", "DEPOSIT", 1_000.0, (), 250, 250, (("BNB", 15.0),)))
    assert [c.amount for c in e.books["ma"].collateral] == [0.2, 15.0]
    e.on_snapshot(
        multi("ma", leg(ETH, -2, mark=3_000.0), requested=200, received=300)
    )  # older than the delta
    assert [c.amount for c in e.books["ma"].collateral] == [0.2, 15.0]
    e.on_snapshot(multi("ma", leg(ETH, -2, mark=3_000.0), requested=400, received=500))
    assert [c.amount for c in e.books["ma"].collateral] == [0.2, 10.0]
    # a single-asset account ignores the other assets' balances
    e.on_snapshot(snapshot("plain", leg(ETH, 2, mark=3_000.0)))
    risk = e.on_account_update(AccountUpdate(V, "plain", "DEPOSIT", 10_000.0, (), 600, 600, (("BNB", 5.0),)))
    assert risk is not None and risk.cross is not None
    assert risk.cross.equity == 10_000.0 + 2 * (3_000.0 - 3_000.0)
