"""The Gate adapter against the simulator's Gate dialect, over loopback, real ccxt / ccxt.pro."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

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
from monitor.sim.dialects.gate import Gate
from monitor.sim.dialects.gate.errors import uid_of
from monitor.sim.exchange import SimExchange
from monitor.sim.ledger import BOTH
from monitor.venues import errors
from monitor.venues.base import Endpoints, StartError, VenueAccount
from monitor.venues.gate.venue import GateVenue

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
    async with SimExchange("small", clock=False, dialect=Gate()) as exchange:
        yield exchange


def make_venue(sim: SimExchange, events: list[Event], names: tuple[str, ...] | None = None) -> GateVenue:
    accounts = tuple(
        VenueAccount(n, k.api_key, k.secret) for n, k in sim.accounts.items() if names is None or n in names
    )
    return GateVenue(
        Venue.GATE,
        accounts,
        events.append,
        endpoints=Endpoints(sim.http_url, sim.ws_url),
        rate_limit=False,
        close_wait_ms=0,
    )


@pytest.fixture
async def running(sim: SimExchange) -> AsyncIterator[tuple[GateVenue, list[Event]]]:
    events: list[Event] = []
    venue = make_venue(sim, events)
    await venue.start()
    yield venue, events
    await venue.stop()


def snapshots(events: list[Event], account: str) -> list[AccountSnapshotEvent]:
    return [e for e in events if isinstance(e, AccountSnapshotEvent) and e.account == account]


async def test_start_reads_contracts_tiers_with_the_fee_and_a_snapshot_of_every_account(
    sim: SimExchange, running: tuple[GateVenue, list[Event]]
) -> None:
    venue, events = running
    (main,) = snapshots(events, "main")
    legs = {(p.symbol, p.position_side): p for p in main.positions}
    assert legs[BTC, PositionSide.BOTH].amount == 500  # contracts of 0.001 BTC
    assert legs["ETH/USDT:USDT", PositionSide.BOTH].amount == -5000
    sol = legs[SOL, PositionSide.BOTH]
    assert sol.margin_mode is MarginMode.ISOLATED and sol.isolated_wallet == pytest.approx(1_500)
    assert legs[BTC, PositionSide.BOTH].margin_mode is MarginMode.CROSS
    assert main.cross_wallet_balance == pytest.approx(sim.ledger.account("main").wallets["USDT"])
    assert {m.symbol: m.contract_size for m in venue.markets}[BTC] == 0.001
    # the uid the private channels need, read from the futures account: none was configured
    assert venue.client_for("main").uid == str(uid_of(sim.ledger.account("main")))
    (hedge,) = snapshots(events, "hedge")
    assert hedge.hedge_mode is True
    assert {p.position_side for p in hedge.positions} == {PositionSide.LONG, PositionSide.SHORT}
    tiers = [e for e in events if isinstance(e, TierTable) and e.account == "main"]
    assert {t.symbol for t in tiers} == {BTC, "ETH/USDT:USDT", SOL}
    btc = next(t for t in tiers if t.symbol == BTC)
    want = sim.ledger.specs["BTCUSDT"].tiers  # the simulator's rates include the contract's fee
    assert [(t.floor, t.cap) for t in btc.tiers] == [(t.floor, t.cap) for t in want]
    assert [t.mmr for t in btc.tiers] == pytest.approx([t.mmr for t in want], rel=1e-12)
    assert [t.cum for t in btc.tiers] == pytest.approx([t.cum for t in want], rel=1e-9)


async def test_marks_stream_for_the_held_contracts(
    sim: SimExchange, running: tuple[GateVenue, list[Event]]
) -> None:
    _, events = running
    await until(lambda: sim.streams.subscribers() > 0)
    sim.set_mark("BTCUSDT", 58_000.0)
    await sim.publish_marks()
    await until(lambda: any(isinstance(e, MarkPrices) and e.prices.get(BTC) == 58_000.0 for e in events))


async def test_orders_close_each_way_gate_closes_and_margin_goes_in(
    sim: SimExchange, running: tuple[GateVenue, list[Event]]
) -> None:
    venue, _ = running
    result = await venue.create_reduce_only_market("main", BTC, "sell", 2, PositionSide.BOTH, "cut-1")
    assert result.status == "filled" and result.filled == 2
    found = await venue.fetch_order_by_client_id("main", BTC, "cut-1")
    assert found is not None and found.status == "filled" and found.filled == 2
    assert await venue.fetch_order_by_client_id("main", BTC, "never-sent") is None
    whole = await venue.create_reduce_only_market("main", BTC, "sell", 498, PositionSide.BOTH, "cut-2")
    assert whole.status == "filled" and whole.filled == 498
    assert sim.ledger.account("main").legs["BTCUSDT", BOTH].amount == 0
    assert sim.rest.closes  # sent as close: true
    with pytest.raises(errors.OrderRejected) as refused:
        await venue.create_reduce_only_market("main", "ETH/USDT:USDT", "sell", 1, PositionSide.BOTH, "grow-1")
    assert refused.value.reason is errors.RejectReason.REDUCE_ONLY_REJECTED
    short = await venue.create_reduce_only_market("hedge", BTC, "buy", 100, PositionSide.SHORT, "h-1")
    assert short.status == "filled" and short.filled == 100
    account = sim.ledger.account("hedge")
    assert account.legs["BTCUSDT", "SHORT"].amount == 0
    assert account.legs["BTCUSDT", "LONG"].amount == pytest.approx(0.2)
    await venue.add_isolated_margin("main", SOL, 25.0, PositionSide.BOTH)
    leg = await venue.fetch_position("main", SOL, PositionSide.BOTH)
    assert leg is not None and leg.isolated_wallet == pytest.approx(1_525)


async def test_margin_goes_to_a_hedge_leg_by_the_dual_route(
    sim: SimExchange, running: tuple[GateVenue, list[Event]]
) -> None:
    venue, _ = running
    sim.ledger.open_position(
        "hedge", "ETHUSDT", 1.0, 3_000.0, margin_mode=MarginMode.ISOLATED, leverage=10, position_side="LONG"
    )
    before = sim.ledger.account("hedge").legs["ETHUSDT", "LONG"].isolated_wallet
    await venue.add_isolated_margin("hedge", "ETH/USDT:USDT", 10.0, PositionSide.LONG)
    assert sim.ledger.account("hedge").legs["ETHUSDT", "LONG"].isolated_wallet == pytest.approx(before + 10)
    assert ("POST", "/api/v4/futures/usdt/dual_comp/positions/ETH_USDT/margin") in sim.rest.requests
    leg = await venue.fetch_position("hedge", "ETH/USDT:USDT", PositionSide.LONG)
    assert leg is not None and leg.margin_mode is MarginMode.ISOLATED and leg.amount == 1000


async def test_pushes_keep_the_pool_and_name_the_liquidation(
    sim: SimExchange, running: tuple[GateVenue, list[Event]]
) -> None:
    """A positions push after a margin move gives the pool its new size; a liquidation arrives on
    futures.liquidates and is said as one."""
    venue, events = running
    await until(lambda: sim.streams.user_connections("main") > 0)
    await until(lambda: venue.streams.is_live("gate:main:user"))
    await venue.add_isolated_margin("main", SOL, 25.0, PositionSide.BOTH)

    def pool_updates() -> list[AccountUpdate]:
        return [
            e
            for e in events
            if isinstance(e, AccountUpdate) and e.account == "main" and e.cross_wallet_balance is not None
        ]

    await until(pool_updates)
    assert pool_updates()[-1].cross_wallet_balance == pytest.approx(
        sim.ledger.account("main").wallets["USDT"]
    )
    lp = next(leg.liquidation_price for leg in sim.ledger.risk("main").legs if leg.symbol == "SOLUSDT")
    assert lp is not None
    sim.set_mark("SOLUSDT", lp * 0.99)
    await sim.publish_marks()

    def liquidations() -> list[OrderUpdate]:
        return [e for e in events if isinstance(e, OrderUpdate) and e.kind is OrderKind.LIQUIDATION]

    await until(liquidations)
    (liq,) = liquidations()
    assert liq.symbol == SOL and liq.side == "sell" and liq.filled_qty == 100
    assert liq.order_id is not None and liq.order_id > 2**53
    await until(
        lambda: any(
            isinstance(e, AccountUpdate) and any(p.symbol == SOL and p.amount == 0 for p in e.positions)
            for e in events
        )
    )


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("position_mode", "dual_plus", "split-position mode"),
        ("margin_mode", 1, "multi-currency"),
        ("margin_mode", 2, "portfolio"),
    ],
)
async def test_unsupported_account_modes_are_refused_naming_the_account(
    sim: SimExchange, field: str, value: Any, words: str
) -> None:
    _, original = sim.rest.routes["GET", "/api/v4/futures/usdt/accounts"]

    async def changed(call: Any) -> Any:
        return {**(await original(call)), field: value}

    sim.rest.routes["GET", "/api/v4/futures/usdt/accounts"] = (True, changed)
    venue = make_venue(sim, [], ("main",))
    with pytest.raises(StartError, match="account main") as failed:
        await venue.start()
    assert words in str(failed.value.__cause__)
    await venue.stop()


async def test_btc_settled_holdings_are_refused_by_name(sim: SimExchange) -> None:
    async def inverse(call: Any) -> Any:
        return [{"contract": "BTC_USD", "size": "3", "mode": "single"}]

    sim.rest.routes["GET", "/api/v4/futures/btc/positions"] = (True, inverse)
    venue = make_venue(sim, [], ("main",))
    with pytest.raises(StartError, match="account main") as failed:
        await venue.start()
    assert "BTC-settled" in str(failed.value.__cause__) and "BTC_USD" in str(failed.value.__cause__)
    await venue.stop()


async def test_no_btc_settled_futures_account_is_nothing_held(sim: SimExchange) -> None:
    """Gate answers USER_NOT_FOUND for a settle currency whose futures account was never opened."""
    from monitor.sim.dialects.gate.errors import GateError

    async def never_opened(call: Any) -> Any:
        raise GateError("USER_NOT_FOUND", "please transfer funds first to create futures account")

    sim.rest.routes["GET", "/api/v4/futures/btc/positions"] = (True, never_opened)
    venue = make_venue(sim, [], ("main",))
    await venue.start()
    await venue.stop()


async def test_an_order_is_found_by_its_text_after_gate_stops_answering_to_it(
    sim: SimExchange, running: tuple[GateVenue, list[Event]]
) -> None:
    """Gate finds a finished order by ``text`` for 60 s only; later, the adapter looks among the
    contract's finished orders."""
    from dataclasses import replace

    venue, _ = running
    await venue.create_reduce_only_market("main", BTC, "sell", 2, PositionSide.BOTH, "cut-old")
    account = sim.ledger.account("main")
    oid = account.client_ids["t-cut-old"]
    account.orders[oid] = replace(account.orders[oid], update_time=sim.now_ms() - 120_000)
    found = await venue.fetch_order_by_client_id("main", BTC, "cut-old")
    assert found is not None and found.status == "filled" and found.filled == 2
    assert ("GET", "/api/v4/futures/usdt/orders") in sim.rest.requests
