"""Each venue's adapter, against its simulator dialect: a 429 reply closes the venue's REST gate, the
ban is reported once, and no request leaves while it runs (one IP's limit is every account's)."""

from __future__ import annotations

import asyncio

import pytest

from monitor.events import Event, StreamHealth, StreamState, VenueBanned
from monitor.model import Venue
from monitor.sim.exchange import SimExchange
from monitor.venues.base import LOOPBACK, Endpoints, VenueAccount
from monitor.venues.errors import RateLimited
from monitor.venues.registry import make_adapter
from tests.dialect_cases import VenueCase


async def test_a_rate_limit_closes_the_gate_for_every_request(
    dialect: VenueCase, venue_sim: SimExchange
) -> None:
    events: list[Event] = []
    users_up = asyncio.Event()
    accounts = tuple(
        VenueAccount(name, k.api_key, k.secret, passphrase=k.passphrase, address=k.address)
        for name, k in venue_sim.accounts.items()
    )
    users = {f"{dialect.venue}:{name}:user" for name in venue_sim.accounts}

    def sink(event: Event) -> None:
        events.append(event)
        up = {e.stream for e in events if isinstance(e, StreamHealth) and e.state is StreamState.CONNECTED}
        if users <= up:
            users_up.set()

    adapter = make_adapter(
        Venue(dialect.venue), accounts, sink, Endpoints(venue_sim.http_url, venue_sim.ws_url), LOOPBACK
    )
    await adapter.start()
    try:
        # the private streams up and resynced: no start-up request is on its way when the limit hits
        await asyncio.wait_for(users_up.wait(), 10)
        venue_sim.faults.fail_rest(times=1, status=429, msg="Too many requests", retry_after=30)
        with pytest.raises(RateLimited):
            await adapter.resync(dialect.cross.account)
        sent = len(venue_sim.rest.requests)
        with pytest.raises(RateLimited):
            await adapter.refresh_tiers()
        with pytest.raises(RateLimited):
            await adapter.resync(dialect.hedge.account)
        assert len(venue_sim.rest.requests) == sent, "a request left while the venue's gate was closed"
        assert [e.status for e in events if isinstance(e, VenueBanned)] == [429]
    finally:
        await adapter.stop()
