"""The Binance adapter raises the project's errors (``monitor.venues.errors``), never ccxt's: real
ccxt against the simulator over loopback, each kind of failure produced by the exchange itself or by
the simulator's fault injection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from monitor.events import Event
from monitor.model import PositionSide, Venue
from monitor.sim.exchange import SimExchange
from monitor.venues.base import Endpoints, StartError, VenueAccount
from monitor.venues.binance.venue import BinanceVenue
from monitor.venues.errors import (
    AuthenticationRefused,
    OrderRejected,
    RateLimited,
    RejectReason,
    VenueUnavailable,
)

BTC = "BTC/USDT:USDT"
BOTH = PositionSide.BOTH


def _venue(sim: SimExchange, accounts: tuple[VenueAccount, ...]) -> BinanceVenue:
    events: list[Event] = []
    return BinanceVenue(
        Venue.BINANCE_USDM,
        accounts,
        events.append,
        endpoints=Endpoints(sim.http_url, sim.ws_url),
        rate_limit=False,
        close_wait_ms=0,
    )


@pytest.fixture
async def main(sim: SimExchange) -> AsyncIterator[BinanceVenue]:
    keys = sim.accounts["main"]
    venue = _venue(sim, (VenueAccount("main", keys.api_key, keys.secret),))
    await venue.start()
    try:
        yield venue
    finally:
        await venue.stop()


async def test_an_order_that_would_grow_the_position_is_rejected_as_reduce_only(main: BinanceVenue) -> None:
    with pytest.raises(OrderRejected, match="-2022") as caught:
        await main.create_reduce_only_market("main", BTC, "buy", 0.1, BOTH, "mdrtest1")
    assert caught.value.reason is RejectReason.REDUCE_ONLY_REJECTED


async def test_a_transfer_refused_for_margin_says_so(sim: SimExchange, main: BinanceVenue) -> None:
    sim.faults.fail_rest(
        status=400, code=-2019, msg="Margin is insufficient.", path_prefix="/fapi/v1/positionMargin"
    )
    with pytest.raises(OrderRejected) as caught:
        await main.add_isolated_margin("main", "SOL/USDT:USDT", 10.0, BOTH)
    assert caught.value.reason is RejectReason.INSUFFICIENT_MARGIN


async def test_an_unknown_order_is_none_not_an_error(main: BinanceVenue) -> None:
    assert await main.fetch_order_by_client_id("main", BTC, "mdrneversent") is None


async def test_a_rate_limit_says_until_when_and_stops_the_next_request_before_it_leaves(
    sim: SimExchange, main: BinanceVenue
) -> None:
    sim.faults.fail_rest(
        status=429, code=-1003, msg="Too many requests.", retry_after=30, path_prefix="/fapi/v3"
    )
    with pytest.raises(RateLimited) as first:
        await main.fetch_position("main", BTC, BOTH)
    assert first.value.until_ms is not None and first.value.until_ms >= main.clock() + 25_000
    sent = len(sim.rest.requests)
    with pytest.raises(RateLimited) as second:
        await main.fetch_position("main", BTC, BOTH)
    assert second.value.until_ms == first.value.until_ms
    assert len(sim.rest.requests) == sent


async def test_a_venue_error_of_unknown_outcome_is_unavailable(sim: SimExchange, main: BinanceVenue) -> None:
    sim.faults.fail_rest(status=503, code=-1000, path_prefix="/fapi/v1/order")
    with pytest.raises(VenueUnavailable, match="-1000"):
        await main.create_reduce_only_market("main", BTC, "sell", 0.1, BOTH, "mdrtest2")


async def test_a_refused_key_fails_the_start_naming_the_account(sim: SimExchange) -> None:
    venue = _venue(sim, (VenueAccount("main", "NotAKeyTheExchangeKnows0123456789", "NotTheSecret0123"),))
    try:
        with pytest.raises(StartError) as caught:
            await venue.start()
    finally:
        await venue.stop()
    assert caught.value.account == "main"
    assert isinstance(caught.value.__cause__, AuthenticationRefused)
    assert "-2015" in str(caught.value.__cause__)


async def test_the_market_rules_are_the_exchange_s_filters(main: BinanceVenue) -> None:
    rules = main.market_rules(BTC)
    assert rules is not None
    assert (rules.amount_step, rules.min_amount, rules.price_tick, rules.min_notional) == (
        0.001,
        0.001,
        0.1,
        100,
    )
    assert (rules.contract_size, rules.inverse) == (1.0, False)
    assert main.market_rules("NOPE/USDT:USDT") is None
