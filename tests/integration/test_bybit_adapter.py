"""The Bybit adapter against the simulator's Bybit dialect, over loopback, real ccxt / ccxt.pro."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from monitor.events import AccountSnapshotEvent, AccountUpdate, Event, MarkPrices, TierTable
from monitor.model import MarginMode, PositionSide, Venue
from monitor.sim.dialects.bybit import Bybit
from monitor.sim.exchange import SimExchange
from monitor.venues import errors
from monitor.venues.base import Endpoints, VenueAccount
from monitor.venues.bybit.venue import BybitVenue


async def until(predicate: Callable[[], object], seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect=Bybit()) as exchange:
        yield exchange


@pytest.fixture
async def running(sim: SimExchange) -> AsyncIterator[tuple[BybitVenue, list[Event]]]:
    events: list[Event] = []
    accounts = tuple(VenueAccount(n, k.api_key, k.secret) for n, k in sim.accounts.items())
    venue = BybitVenue(
        Venue.BYBIT,
        accounts,
        events.append,
        endpoints=Endpoints(sim.http_url, sim.ws_url),
        rate_limit=False,
        close_wait_ms=0,
    )
    await venue.start()
    yield venue, events
    await venue.stop()


def snapshots(events: list[Event], account: str) -> list[AccountSnapshotEvent]:
    return [e for e in events if isinstance(e, AccountSnapshotEvent) and e.account == account]


async def test_start_takes_tiers_and_a_snapshot_of_every_account(
    sim: SimExchange, running: tuple[BybitVenue, list[Event]]
) -> None:
    _, events = running
    (main,) = snapshots(events, "main")
    legs = {(p.symbol, p.position_side): p for p in main.positions}
    assert legs["BTC/USDT:USDT", PositionSide.BOTH].amount == 0.5
    assert legs["ETH/USDT:USDT", PositionSide.BOTH].amount == -5
    sol = legs["SOL/USDT:USDT", PositionSide.BOTH]
    assert sol.margin_mode is MarginMode.ISOLATED and sol.isolated_wallet == pytest.approx(1_500)
    assert main.cross_wallet_balance == pytest.approx(sim.ledger.account("main").wallets["USDT"])
    assert main.total_maint_margin is not None
    (hedge,) = snapshots(events, "hedge")
    assert hedge.hedge_mode is True
    assert {p.position_side for p in hedge.positions} == {PositionSide.LONG, PositionSide.SHORT}
    tiers = [e for e in events if isinstance(e, TierTable) and e.account == "main"]
    assert {t.symbol for t in tiers} == {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"}
    btc = next(t for t in tiers if t.symbol == "BTC/USDT:USDT")
    want = sim.ledger.specs["BTCUSDT"].tiers
    assert [(t.floor, t.cap, t.mmr) for t in btc.tiers] == [(t.floor, t.cap, t.mmr) for t in want]
    assert [t.cum for t in btc.tiers] == pytest.approx([t.cum for t in want], rel=1e-9)


async def test_marks_stream_for_the_held_symbols(
    sim: SimExchange, running: tuple[BybitVenue, list[Event]]
) -> None:
    _, events = running
    await until(lambda: sim.streams.subscribers() > 0)
    sim.set_mark("BTCUSDT", 58_000.0)
    await sim.publish_marks()
    await until(
        lambda: any(isinstance(e, MarkPrices) and e.prices.get("BTC/USDT:USDT") == 58_000.0 for e in events)
    )


async def test_reduce_only_order_add_margin_and_refusals(
    sim: SimExchange, running: tuple[BybitVenue, list[Event]]
) -> None:
    venue, events = running
    result = await venue.create_reduce_only_market(
        "main", "BTC/USDT:USDT", "sell", 0.002, PositionSide.BOTH, "cut-1"
    )
    assert result.status == "filled" and result.filled == pytest.approx(0.002)
    found = await venue.fetch_order_by_client_id("main", "BTC/USDT:USDT", "cut-1")
    assert found is not None and found.status == "filled"
    assert await venue.fetch_order_by_client_id("main", "BTC/USDT:USDT", "never-sent") is None
    with pytest.raises(errors.OrderRejected) as refused:
        await venue.create_reduce_only_market(
            "main", "BTC/USDT:USDT", "buy", 0.002, PositionSide.BOTH, "grow-1"
        )
    assert refused.value.reason is errors.RejectReason.REDUCE_ONLY_REJECTED
    hedge = await venue.create_reduce_only_market(
        "hedge", "BTC/USDT:USDT", "sell", 0.002, PositionSide.LONG, "h-1"
    )
    assert hedge.status == "filled"
    await venue.add_isolated_margin("main", "SOL/USDT:USDT", 25.0, PositionSide.BOTH)
    leg = await venue.fetch_position("main", "SOL/USDT:USDT", PositionSide.BOTH)
    assert leg is not None and leg.isolated_wallet == pytest.approx(1_525)
    await until(lambda: any(isinstance(e, AccountUpdate) and e.account == "main" for e in events))


async def test_a_portfolio_margin_account_is_refused_naming_it(sim: SimExchange) -> None:
    from monitor.venues.base import StartError

    async def portfolio(call: Any) -> Any:
        return {"marginMode": "PORTFOLIO_MARGIN", "updatedTime": "0", "unifiedMarginStatus": 5}

    sim.rest.routes["GET", "/v5/account/info"] = ("SIGNED", portfolio)
    keys = sim.accounts["main"]
    venue = BybitVenue(
        Venue.BYBIT,
        (VenueAccount("main", keys.api_key, keys.secret),),
        lambda e: None,
        endpoints=Endpoints(sim.http_url, sim.ws_url),
        rate_limit=False,
        close_wait_ms=0,
    )
    with pytest.raises(StartError, match="account main") as failed:
        await venue.start()
    assert "portfolio margin" in str(failed.value.__cause__)
    await venue.stop()


async def test_the_wallet_topic_gives_the_cross_pool_without_isolated_margin(
    sim: SimExchange, running: tuple[BybitVenue, list[Event]]
) -> None:
    """A UTA's walletBalance holds the isolated legs' margin too; the pool is the rest."""
    venue, events = running
    await until(lambda: sim.streams.user_connections("main") > 0)
    await venue.add_isolated_margin("main", "SOL/USDT:USDT", 25.0, PositionSide.BOTH)

    def wallet_updates() -> list[AccountUpdate]:
        return [
            e
            for e in events
            if isinstance(e, AccountUpdate) and e.account == "main" and e.cross_wallet_balance is not None
        ]

    await until(wallet_updates)
    expected = sim.ledger.account("main").wallets["USDT"]
    assert wallet_updates()[-1].cross_wallet_balance == pytest.approx(expected, rel=1e-12)


async def test_risk_limits_are_read_page_by_page() -> None:
    """Bybit pages linear risk limits by 15 symbols: every page is read, not only the first."""
    async with SimExchange("synthetic", clock=False, dialect=Bybit()) as sim:
        events: list[Event] = []
        name, keys = next(iter(sim.accounts.items()))
        venue = BybitVenue(
            Venue.BYBIT,
            (VenueAccount(name, keys.api_key, keys.secret),),
            events.append,
            endpoints=Endpoints(sim.http_url, sim.ws_url),
            rate_limit=False,
            close_wait_ms=0,
        )
        await venue.start()
        try:
            listed = {venue.symbols[symbol] for symbol in sim.ledger.specs}
            assert len(listed) > 15
            tiered = {e.symbol for e in events if isinstance(e, TierTable) and e.account == name}
            assert tiered == listed
            pages = [p for _, p in sim.rest.requests if p.endswith("/market/risk-limit")]
            assert len(pages) == -(-len(listed) // 15)
        finally:
            await venue.stop()
