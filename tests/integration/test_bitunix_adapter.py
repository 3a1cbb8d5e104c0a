"""The Bitunix adapter against the simulator's Bitunix dialect, over loopback, on the project's own
client: tiers before each account's first snapshot, the exchange's liquidation prices read over REST
after a position push, marks from the ``price`` channel, and the venue's refusals as the project's
errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from monitor.events import AccountSnapshotEvent, Event, MarkPrices, StreamHealth, StreamState, TierTable
from monitor.model import PositionSide, Venue
from monitor.sim.dialects.bitunix import Bitunix
from monitor.sim.exchange import SimExchange
from monitor.venues import errors
from monitor.venues.base import Endpoints, RestGate, VenueAccount
from monitor.venues.bitunix.pacing import Pacer
from monitor.venues.bitunix.rest import BitunixRest
from monitor.venues.bitunix.venue import PUBLIC_REST, PUBLIC_WS, BitunixVenue
from monitor.venues.registry import VENUES

PLACE = "/api/v1/futures/trade/place_order"
UP = StreamState.CONNECTED


async def until(predicate: Callable[[], object], seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect=Bitunix()) as exchange:
        yield exchange


@pytest.fixture
async def running(sim: SimExchange) -> AsyncIterator[tuple[BitunixVenue, list[Event]]]:
    events: list[Event] = []
    accounts = tuple(VenueAccount(n, k.api_key, k.secret) for n, k in sim.accounts.items())
    # no poll timer within a test: what reads the account again is a push
    venue = BitunixVenue(
        Venue.BITUNIX,
        accounts,
        events.append,
        endpoints=Endpoints(sim.http_url, sim.ws_url),
        poll_every_s=3600,
    )
    await venue.start()
    users = {s for s in venue.stream_names() if s.endswith(":user")}
    await until(lambda: users <= {e.stream for e in events if isinstance(e, StreamHealth) and e.state is UP})
    yield venue, events
    await venue.stop()


def snapshots(events: list[Event], account: str) -> list[AccountSnapshotEvent]:
    return [e for e in events if isinstance(e, AccountSnapshotEvent) and e.account == account]


async def test_every_account_gets_its_tiers_before_its_first_snapshot(
    running: tuple[BitunixVenue, list[Event]],
) -> None:
    _, events = running
    for account, held in (
        ("main", {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"}),
        ("hedge", {"BTC/USDT:USDT"}),
    ):
        first = next(
            i for i, e in enumerate(events) if isinstance(e, AccountSnapshotEvent) and e.account == account
        )
        tiers = {e.symbol for e in events[:first] if isinstance(e, TierTable) and e.account == account}
        assert held <= tiers, account


async def test_the_snapshot_carries_the_exchanges_liquidation_prices(
    sim: SimExchange, running: tuple[BitunixVenue, list[Event]]
) -> None:
    _, events = running
    snap = snapshots(events, "hedge")[0]
    assert snap.hedge_mode is True
    legs = {p.position_side: p for p in snap.positions}
    theirs = sim.ledger.leg_risk("hedge", "BTCUSDT", "LONG").liquidation_price
    assert legs[PositionSide.LONG].liquidation_price == pytest.approx(theirs, abs=0.01)
    assert snap.cross_wallet_balance == pytest.approx(sim.ledger.account("hedge").cross_wallet)


async def test_a_position_push_makes_the_adapter_read_the_account_again(
    sim: SimExchange, running: tuple[BitunixVenue, list[Event]]
) -> None:
    _, events = running
    before = len(snapshots(events, "trader"))
    keys = sim.accounts["trader"]
    other = BitunixRest(
        sim.http_url,
        account=VenueAccount("trader", keys.api_key, keys.secret),
        gate=RestGate(),
        market_pacer=Pacer(9),
    )
    try:  # another client of the account opens a position
        await other.order(PLACE, {"symbol": "ETHUSDT", "qty": "2", "side": "BUY", "orderType": "MARKET"})
    finally:
        await other.close()
    await until(lambda: any(s.positions for s in snapshots(events, "trader")[before:]))
    (eth,) = next(s for s in snapshots(events, "trader")[before:] if s.positions).positions
    assert eth.amount == 2.0
    assert eth.liquidation_price == pytest.approx(
        sim.ledger.leg_risk("trader", "ETHUSDT", "BOTH").liquidation_price, abs=0.01
    )


async def test_marks_come_from_the_price_channel(
    sim: SimExchange, running: tuple[BitunixVenue, list[Event]]
) -> None:
    _, events = running
    await asyncio.wait_for(sim.wait_market_subscribers(), 10)
    sim.set_mark("SOLUSDT", 151.25)
    await sim.publish_marks()
    await until(
        lambda: any(isinstance(e, MarkPrices) and e.prices.get("SOL/USDT:USDT") == 151.25 for e in events)
    )


async def test_the_venue_refuses_what_is_not_reduce_only(
    sim: SimExchange, running: tuple[BitunixVenue, list[Event]]
) -> None:
    venue, _ = running
    client = venue.client_for("main")
    held = sim.ledger.account("main").legs["BTCUSDT", "BOTH"].amount
    with pytest.raises(errors.OrderRejected, match="30019") as flagged:
        await client.order(
            PLACE,
            {"symbol": "BTCUSDT", "qty": "0.002", "side": "BUY", "orderType": "MARKET", "reduceOnly": True},
        )
    assert flagged.value.reason is errors.RejectReason.REDUCE_ONLY_REJECTED
    with pytest.raises(errors.OrderRejected, match="30019"):  # reduces, but not flagged reduce-only
        await client.order(
            PLACE, {"symbol": "BTCUSDT", "qty": "0.002", "side": "SELL", "orderType": "MARKET"}
        )
    assert sim.ledger.account("main").legs["BTCUSDT", "BOTH"].amount == held


async def test_a_reduce_only_order_on_a_flat_account_is_30018(
    running: tuple[BitunixVenue, list[Event]],
) -> None:
    venue, _ = running
    with pytest.raises(errors.OrderRejected, match="30018") as refused:
        await venue.create_reduce_only_market(
            "trader", "BTC/USDT:USDT", "sell", 0.002, PositionSide.BOTH, "m-1"
        )
    assert refused.value.reason is errors.RejectReason.REDUCE_ONLY_REJECTED


async def test_rest_marks_carry_the_venues_second_not_ours(
    sim: SimExchange, running: tuple[BitunixVenue, list[Event]]
) -> None:
    venue, events = running
    await venue.resync_marks()
    rest = [e for e in events if isinstance(e, MarkPrices) and len(e.prices) > 1][-1]
    assert rest.event_ms % 1000 == 0  # the Date header's whole second
    assert rest.event_ms <= rest.received_ms


def test_the_adapter_s_public_hosts_are_the_registry_s() -> None:
    spec = VENUES[Venue.BITUNIX]
    assert (spec.public_rest, spec.public_ws) == (PUBLIC_REST, PUBLIC_WS)
