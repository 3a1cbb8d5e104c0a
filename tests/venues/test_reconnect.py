"""The venue-neutral stream loop (``venues/reconnect.py``) over a subscription made of plain asyncio
futures, as an adapter without ccxt would hand it: a stream is live only once the resync over its new
subscription succeeded, after every reconnect and every renewal. (BinanceVenue's use of it runs against
the simulator in tests/integration: reconnect paths, resync retry, bans.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from monitor.events import Event, StreamHealth, StreamState
from monitor.tasks import cancel_and_wait
from monitor.venues.base import RestGate, now_ms
from monitor.venues.errors import VenueUnavailable
from monitor.venues.reconnect import StreamKeeper, keep_subscribed

STREAM = "venue:acct:user"
UP, DOWN = StreamState.CONNECTED, StreamState.DISCONNECTED


async def until(cond: Callable[[], bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not cond():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


class PlainVenue:
    """Subscriptions are futures the test ends; resyncs fail while ``failing_resyncs`` is positive."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.subscriptions: list[asyncio.Future[None]] = []
        self.resyncs = 0
        self.failing_resyncs = 0
        self.restarts = 0
        self.keeper = StreamKeeper(self.events.append, now_ms, RestGate(), self.ping)

    async def ping(self) -> None:
        return None

    def subscribe(self) -> asyncio.Future[None]:
        self.subscriptions.append(asyncio.get_running_loop().create_future())
        return self.subscriptions[-1]

    async def opened(self, watch: asyncio.Future[Any]) -> bool:
        return not watch.done()

    async def resync(self) -> None:
        self.resyncs += 1
        if self.failing_resyncs > 0:
            self.failing_resyncs -= 1
            raise VenueUnavailable("HTTP 503")

    async def restart(self) -> None:
        self.restarts += 1
        self.keeper.lost(STREAM, "renewed")

    def health(self) -> list[StreamState]:
        return [e.state for e in self.events if isinstance(e, StreamHealth)]


async def test_live_only_after_the_resync_over_each_new_subscription_succeeded() -> None:
    venue = PlainVenue()
    venue.failing_resyncs = 1
    task = asyncio.create_task(
        keep_subscribed(venue.keeper, STREAM, venue.subscribe, opened=venue.opened, resync=venue.resync)
    )
    try:
        await until(lambda: venue.health() == [UP])
        assert venue.resyncs == 2  # the failed one was retried; the stream waited for it
        assert venue.keeper.is_live(STREAM)
        venue.subscriptions[-1].set_exception(VenueUnavailable("socket closed"))
        await until(lambda: venue.health() == [UP, DOWN, UP])
        assert len(venue.subscriptions) == 2 and venue.resyncs == 3
        down = [e for e in venue.events if isinstance(e, StreamHealth) and e.state is DOWN]
        assert "VenueUnavailable: socket closed" in down[0].detail
    finally:
        await cancel_and_wait([task])


async def test_a_renewal_drops_the_subscription_and_resyncs_over_the_next() -> None:
    venue = PlainVenue()
    renew = asyncio.Event()
    task = asyncio.create_task(
        keep_subscribed(
            venue.keeper,
            STREAM,
            venue.subscribe,
            opened=venue.opened,
            resync=venue.resync,
            renew=renew,
            restart=venue.restart,
        )
    )
    try:
        await until(lambda: venue.health() == [UP])
        renew.set()
        await until(lambda: venue.health() == [UP, DOWN, UP])
        assert venue.restarts == 1 and not renew.is_set()
        assert venue.subscriptions[0].cancelled() and len(venue.subscriptions) == 2
        assert venue.resyncs == 2
    finally:
        await cancel_and_wait([task])
