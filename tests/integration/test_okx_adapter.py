"""The OKX adapter against the simulator's OKX dialect, over loopback, real ccxt / ccxt.pro."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from monitor.alerts import AlertKind
from monitor.events import AccountSnapshotEvent, Event, MarkPrices, TierTable
from monitor.model import MarginMode, PositionSide, Venue
from monitor.sim.dialects.okx import Okx
from monitor.sim.exchange import SimExchange
from monitor.sim.ledger import BOTH, SELL
from monitor.venues.base import Endpoints, VenueAccount
from monitor.venues.okx.venue import OkxVenue

from .conftest import StartDaemon

BTC = "BTC/USDT:USDT"
SOL = "SOL/USDT:USDT"


async def until(predicate: Callable[[], object], seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect=Okx()) as exchange:
        yield exchange


@pytest.fixture
async def running(sim: SimExchange) -> AsyncIterator[tuple[OkxVenue, list[Event]]]:
    events: list[Event] = []
    accounts = tuple(
        VenueAccount(n, k.api_key, k.secret, 0.0005, k.passphrase) for n, k in sim.accounts.items()
    )
    venue = OkxVenue(
        Venue.OKX,
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


async def test_start_takes_contract_tiers_and_a_snapshot_in_contracts(
    sim: SimExchange, running: tuple[OkxVenue, list[Event]]
) -> None:
    venue, events = running
    (main,) = snapshots(events, "main")
    legs = {(p.symbol, p.position_side): p for p in main.positions}
    ledger = sim.ledger.account("main")
    assert legs[BTC, PositionSide.BOTH].amount == pytest.approx(ledger.legs["BTCUSDT", BOTH].amount / 0.01)
    sol = legs[SOL, PositionSide.BOTH]
    assert sol.margin_mode is MarginMode.ISOLATED
    assert sol.isolated_wallet == pytest.approx(ledger.legs["SOLUSDT", BOTH].isolated_wallet)
    assert main.cross_wallet_balance == pytest.approx(ledger.wallets["USDT"])
    # OKX's own ratio, in the project's direction, kept to show beside ours
    assert venue.okx_ratios["main"][SOL, PositionSide.BOTH] == pytest.approx(
        sim.ledger.isolated_ratio("main", "SOLUSDT")
    )
    (hedge,) = snapshots(events, "hedge")
    assert hedge.hedge_mode is True
    btc = next(e for e in events if isinstance(e, TierTable) and e.account == "main" and e.symbol == BTC)
    # continuous in contracts although OKX starts each tier one contract above the last maximum
    assert all(b.floor == a.cap for a, b in zip(btc.tiers, btc.tiers[1:], strict=False))
    _, ledger_tiers = sim.ledger.contract_tiers["BTCUSDT"]
    assert [t.cap for t in btc.tiers] == [t.cap for t in ledger_tiers]


async def test_marks_stream_for_the_held_symbols(
    sim: SimExchange, running: tuple[OkxVenue, list[Event]]
) -> None:
    _, events = running
    await until(lambda: sim.streams.subscribers() > 0)
    sim.set_mark("BTCUSDT", 61_000.0)
    await sim.publish_marks()
    await until(lambda: any(isinstance(e, MarkPrices) and e.prices.get(BTC) == 61_000.0 for e in events))


async def test_a_reconnect_resyncs_and_drops_what_rest_no_longer_lists(
    sim: SimExchange, running: tuple[OkxVenue, list[Event]]
) -> None:
    """OKX's positions channel never says a position is gone when no push came (and ccxt never
    drops one): the resync after the reconnect replaces the account's positions."""
    _, events = running
    await until(lambda: sim.streams.user_connections("main") > 0)
    before = len(snapshots(events, "main"))
    btc = sim.ledger.account("main").legs["BTCUSDT", BOTH].amount
    sim.ledger.place_market_order("main", "BTCUSDT", SELL, btc, reduce_only=True)  # no push
    await sim.drop_connections()
    await until(lambda: len(snapshots(events, "main")) > before)
    latest = snapshots(events, "main")[-1]
    assert BTC not in {p.symbol for p in latest.positions}


async def test_reduce_only_names_the_isolated_positions_mode_and_margin_its_side(
    sim: SimExchange, running: tuple[OkxVenue, list[Event]]
) -> None:
    venue, _ = running
    leg = sim.ledger.account("main").legs["SOLUSDT", BOTH]
    before = leg.amount
    result = await venue.create_reduce_only_market("main", SOL, "sell", 3, PositionSide.BOTH, "okxtest1")
    assert (result.status, result.filled) == ("filled", 3)
    assert leg.amount == pytest.approx(before - 3)
    wallet = leg.isolated_wallet
    await venue.add_isolated_margin("main", SOL, 12.5, PositionSide.BOTH)
    assert leg.isolated_wallet == pytest.approx(wallet + 12.5)
    assert await venue.fetch_order_by_client_id("main", SOL, "nosuchorder") is None


async def test_the_daemon_values_contracts_at_their_size_from_the_first_snapshot(
    start_daemon: StartDaemon,
) -> None:
    """The first snapshot arrives while the adapter starts, before the daemon has read its markets:
    OKX's contracts (100 XRP each) must not be valued as one coin, which put the first liquidation
    prices far from OKX's and said so in deviation alerts."""
    sim = SimExchange("demo", clock=False, dialect=Okx())
    await sim.start()
    try:
        run = await start_daemon(sim)
        await run.settle()
        deviations = [a for a in run.alerts.alerts if a.kind is AlertKind.DEVIATION]
        assert deviations == []
        xrp = next(
            p
            for risk in run.daemon.engine.risks.values()
            for p in risk.positions
            if p.symbol == "XRP/USDT:USDT"
        )
        ours: Any = xrp.liquidation_price
        theirs = next(
            leg.liquidation_price for leg in sim.ledger.risk("hedge").legs if leg.symbol == "XRPUSDT"
        )
        assert ours == pytest.approx(theirs, rel=1e-6)
    finally:
        await sim.stop()


async def test_tiers_are_read_for_what_is_held_and_for_a_symbol_held_later() -> None:
    """Tiers are read per instrument family (OKX asks for one on swaps): those of the held
    instruments at start, and a newly held one's at the resync that finds it, before the snapshot
    that holds it."""
    async with SimExchange("demo", clock=False, dialect=Okx()) as sim:
        events: list[Event] = []
        accounts = tuple(
            VenueAccount(n, k.api_key, k.secret, 0.0005, k.passphrase) for n, k in sim.accounts.items()
        )
        venue = OkxVenue(
            Venue.OKX,
            accounts,
            events.append,
            endpoints=Endpoints(sim.http_url, sim.ws_url),
            rate_limit=False,
        )
        await venue.start()
        try:
            read = {e.symbol for e in events if isinstance(e, TierTable)}
            held = {leg.symbol for a in sim.ledger.accounts.values() for leg in a.open_legs()}
            assert read == {venue.symbols[sim.dialect.market_id(sim.ledger.specs[s])] for s in held}
            assert "ADA/USDT:USDT" not in read
            await until(lambda: sim.streams.user_connections("cross") > 0)
            sim.ledger.open_position("cross", "ADAUSDT", 1_000, 0.45)
            before = len(events)
            await sim.drop_connections()

            def holds_ada(e: Event) -> bool:
                return isinstance(e, AccountSnapshotEvent) and "ADA/USDT:USDT" in {
                    p.symbol for p in e.positions
                }

            await until(lambda: any(holds_ada(e) for e in events[before:]))
            later = events[before:]
            tiers_at = next(
                i for i, e in enumerate(later) if isinstance(e, TierTable) and e.symbol == "ADA/USDT:USDT"
            )
            snapshot_at = next(i for i, e in enumerate(later) if holds_ada(e))
            assert tiers_at < snapshot_at
        finally:
            await venue.stop()
