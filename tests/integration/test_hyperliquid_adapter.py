"""The Hyperliquid adapter against the simulator's Hyperliquid dialect, over loopback, real ccxt /
ccxt.pro: watch-only accounts by address, one shared socket, snapshots that drop closed positions,
liquidation fills, actions signed by an agent wallet with none of ccxt's unasked actions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest

from monitor.events import (
    AccountSnapshotEvent,
    AccountUpdate,
    Event,
    MarkPrices,
    OrderKind,
    OrderUpdate,
    TierTable,
)
from monitor.model import MarginMode, PositionSide, Venue
from monitor.sim.dialects.hyperliquid import signing
from monitor.sim.exchange import SimExchange
from monitor.venues import errors
from monitor.venues.base import Endpoints, StartError, VenueAccount
from monitor.venues.hyperliquid.venue import HyperliquidVenue

BTC, ETH, SOL = "BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC"


async def until(predicate: Callable[[], object], seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect="hyperliquid") as exchange:
        yield exchange


def adapter(
    sim: SimExchange, accounts: tuple[VenueAccount, ...], sink: Callable[[Event], None]
) -> HyperliquidVenue:
    return HyperliquidVenue(
        Venue.HYPERLIQUID,
        accounts,
        sink,
        endpoints=Endpoints(sim.http_url, sim.ws_url),
        rate_limit=False,
        close_wait_ms=0,
    )


def with_agent(sim: SimExchange) -> tuple[VenueAccount, ...]:
    """Each account by its address, with its agent wallet's key (to act)."""
    return tuple(VenueAccount(n, "", "0x" + k.secret, address=k.address) for n, k in sim.accounts.items())


def watch_only(sim: SimExchange) -> tuple[VenueAccount, ...]:
    return tuple(VenueAccount(n, "", "", address=k.address) for n, k in sim.accounts.items())


@pytest.fixture
async def running(sim: SimExchange) -> AsyncIterator[tuple[HyperliquidVenue, list[Event]]]:
    events: list[Event] = []
    venue = adapter(sim, with_agent(sim), events.append)
    await venue.start()
    yield venue, events
    await venue.stop()


def snapshots(events: list[Event], account: str) -> list[AccountSnapshotEvent]:
    return [e for e in events if isinstance(e, AccountSnapshotEvent) and e.account == account]


async def test_an_address_alone_is_monitored_with_no_secret(sim: SimExchange) -> None:
    events: list[Event] = []
    venue = adapter(sim, watch_only(sim), events.append)
    try:
        await venue.start()
        (main,) = snapshots(events, "main")[:1]
        legs = {p.symbol: p for p in main.positions}
        assert legs[BTC].amount == 0.5 and legs[ETH].amount == -5
        sol = legs[SOL]
        assert sol.margin_mode is MarginMode.ISOLATED and sol.isolated_wallet == pytest.approx(1_500)
        assert main.cross_wallet_balance == pytest.approx(sim.ledger.account("main").wallets["USDT"])
        await until(lambda: sim.streams.subscribers() > 0)
        sim.set_mark("BTCUSDT", 58_000.0)
        await sim.publish_marks()
        await until(lambda: any(isinstance(e, MarkPrices) and e.prices.get(BTC) == 58_000.0 for e in events))
        with pytest.raises(errors.AuthenticationRefused, match="watch-only"):
            await venue.create_reduce_only_market("main", BTC, "sell", 0.002, PositionSide.BOTH, "cut-1")
        assert not any(path.startswith("/exchange") for _, path in sim.rest.requests)
    finally:
        await venue.stop()


async def test_tiers_are_the_margin_tables(
    sim: SimExchange, running: tuple[HyperliquidVenue, list[Event]]
) -> None:
    _, events = running
    btc = next(e for e in events if isinstance(e, TierTable) and e.account == "main" and e.symbol == BTC)
    want = sim.ledger.specs["BTCUSDT"].tiers
    assert [(t.floor, t.mmr) for t in btc.tiers] == [(t.floor, t.mmr) for t in want]
    assert [t.cum for t in btc.tiers] == pytest.approx([t.cum for t in want], rel=1e-12)


def pushed(events: list[Event], account: str) -> list[AccountUpdate]:
    return [e for e in events if isinstance(e, AccountUpdate) and e.account == account]


async def test_a_position_the_pushed_snapshot_no_longer_lists_is_closed(
    sim: SimExchange, running: tuple[HyperliquidVenue, list[Event]]
) -> None:
    """Hyperliquid drops a closed position from ``clearinghouseState`` (never ``szi`` 0): the push
    that lacks it is passed on as that position at size 0, the others as listed."""
    venue, events = running
    await until(lambda: venue.streams.is_live(venue.user_stream("main")))
    result = await venue.create_reduce_only_market("main", BTC, "sell", 0.5, PositionSide.BOTH, "close-1")
    assert result.status == "filled" and result.filled == pytest.approx(0.5)
    await until(
        lambda: any(p.symbol == BTC and p.amount == 0 for u in pushed(events, "main") for p in u.positions)
    )
    last = pushed(events, "main")[-1]
    assert {p.symbol: p.amount for p in last.positions} == {BTC: 0.0, ETH: -5.0, SOL: 100.0}
    assert last.cross_wallet_balance == pytest.approx(sim.ledger.account("main").wallets["USDT"])
    await venue.resync("main")
    assert {p.symbol for p in snapshots(events, "main")[-1].positions} == {ETH, SOL}
    fills = [e for e in events if isinstance(e, OrderUpdate) and e.account == "main"]
    await until(lambda: any(isinstance(e, OrderUpdate) and e.symbol == BTC for e in events))
    assert all(f.kind is OrderKind.NORMAL for f in fills)
    assert sim.rest.unasked == []


async def test_orders_refusals_lookups_and_whole_dollar_margin(
    sim: SimExchange, running: tuple[HyperliquidVenue, list[Event]]
) -> None:
    venue, _ = running
    result = await venue.create_reduce_only_market("main", BTC, "sell", 0.002, PositionSide.BOTH, "cut-1")
    assert result.status == "filled" and result.filled == pytest.approx(0.002)
    found = await venue.fetch_order_by_client_id("main", BTC, "cut-1")
    assert found is not None and found.status == "filled" and found.filled == pytest.approx(0.002)
    assert await venue.fetch_order_by_client_id("main", BTC, "never-sent") is None
    with pytest.raises(errors.OrderRejected) as refused:
        await venue.create_reduce_only_market("main", BTC, "buy", 0.002, PositionSide.BOTH, "grow-1")
    assert refused.value.reason is errors.RejectReason.REDUCE_ONLY_REJECTED
    await venue.add_isolated_margin("main", SOL, 25.7, PositionSide.BOTH)
    leg = await venue.fetch_position("main", SOL, PositionSide.BOTH)
    assert leg is not None and leg.isolated_wallet == pytest.approx(1_525)  # whole dollars only
    assert sim.rest.unasked == []


async def test_a_liquidation_is_reported_from_its_fill(
    sim: SimExchange, running: tuple[HyperliquidVenue, list[Event]]
) -> None:
    venue, events = running
    await until(lambda: venue.streams.is_live(venue.user_stream("main")))
    sim.set_mark("SOLUSDT", 100.0)  # below the isolated SOL long's liquidation price
    await sim.step()
    await until(
        lambda: any(
            isinstance(e, OrderUpdate) and e.kind is OrderKind.LIQUIDATION and e.symbol == SOL for e in events
        )
    )
    await until(
        lambda: any(p.symbol == SOL and p.amount == 0 for u in pushed(events, "main") for p in u.positions)
    )


async def test_an_agent_address_configured_as_the_account_is_refused_saying_why(sim: SimExchange) -> None:
    agent = signing.address_of_key(sim.accounts["main"].secret)
    venue = adapter(sim, (VenueAccount("main", "", "", address=agent),), lambda e: None)
    with pytest.raises(StartError, match="account main") as failed:
        await venue.start()
    assert "API (agent) wallet" in str(failed.value.__cause__)
    assert sim.accounts["main"].address in str(failed.value.__cause__)
    await venue.stop()


@pytest.mark.parametrize("mode", ["unifiedAccount", "portfolioMargin"])
async def test_unified_and_portfolio_margin_accounts_are_refused_by_name(sim: SimExchange, mode: str) -> None:
    sim.rest.abstraction["main"] = mode
    venue = adapter(sim, watch_only(sim)[:1], lambda e: None)
    with pytest.raises(StartError, match="account main") as failed:
        await venue.start()
    assert mode in str(failed.value.__cause__)
    await venue.stop()


async def test_beyond_ten_addresses_the_rest_are_polled(sim: SimExchange) -> None:
    main = sim.accounts["main"].address
    accounts = tuple(VenueAccount(f"a{i}", "", "", address=f"0x{i:040x}") for i in range(1, 11))
    accounts += (VenueAccount("main", "", "", address=main),)
    events: list[Event] = []
    venue = adapter(sim, accounts, events.append)
    assert venue.polled == ["main"]
    venue.poll_s = 0.05
    try:
        await venue.start()
        await until(lambda: len(snapshots(events, "main")) >= 3)
        await until(lambda: venue.streams.is_live(venue.user_stream("main")))
        assert not [e for e in events if type(e).__name__ == "Rejected"]
    finally:
        await venue.stop()


async def test_positions_on_a_hip3_dex_refuse_the_account_naming_the_dex(sim: SimExchange) -> None:
    from pathlib import Path

    fixture = Path(__file__).parents[1] / "venues" / "fixtures" / "hyperliquid"
    body = json.loads((fixture / "info.clearinghouseState.hip3-isolated.2025-11.observed.json").read_text())
    sim.rest.dex_states["main", "flx"] = body
    venue = adapter(sim, watch_only(sim)[:1], lambda e: None)
    with pytest.raises(StartError, match="account main") as failed:
        await venue.start()
    assert "flx:CRCL on the HIP-3 dex flx" in str(failed.value.__cause__)
    await venue.stop()
