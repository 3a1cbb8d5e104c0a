"""What a reconnect costs: the resync after a dropped socket reads only what changes, and a daemon
whose reconnect backoff grew through an outage does not keep waiting once the exchange answers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from structlog.testing import capture_logs

from monitor.events import AccountSnapshotEvent, Event, StreamHealth, StreamState
from monitor.model import Venue
from monitor.sim.exchange import SimExchange
from monitor.venues.base import Endpoints, VenueAccount
from monitor.venues.binance.venue import BinanceVenue

from .conftest import Running, StartDaemon

SETTINGS = ("/fapi/v1/positionSide/dual", "/fapi/v1/symbolConfig")


def _count(sim: SimExchange, paths: tuple[str, ...]) -> int:
    return sum(p in paths for _, p in sim.rest.requests)


async def _until(cond: Callable[[], bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out after {within} s")
        await asyncio.sleep(0.01)


async def test_the_resync_after_a_reconnect_reads_positions_and_balances_only(sim: SimExchange) -> None:
    """The settings are read again after a reconnect (the user may have changed them meanwhile), but
    only once the stream is live: its resync does not wait for them."""
    events: list[Event] = []
    reads_when_live: list[int] = []  # settings reads counted when each user stream was declared live

    def sink(event: Event) -> None:
        events.append(event)
        if isinstance(event, StreamHealth) and event.state is StreamState.CONNECTED:
            reads_when_live.append(_count(sim, SETTINGS))

    accounts = tuple(VenueAccount(n, k.api_key, k.secret) for n, k in sim.accounts.items())
    venue = BinanceVenue(
        Venue.BINANCE_USDM,
        accounts,
        sink,
        endpoints=Endpoints(sim.http_url, sim.ws_url),
        rate_limit=False,
        close_wait_ms=0,
    )
    await venue.start()
    try:

        def live() -> set[str]:
            state: dict[str, StreamState] = {}
            for e in events:
                if isinstance(e, StreamHealth):
                    state[e.stream] = e.state
            return {s for s, st in state.items() if st is StreamState.CONNECTED and s.endswith(":user")}

        await _until(lambda: len(live()) == 3)
        # each account's settings: read before its first snapshot, and again once its stream is live
        await _until(lambda: _count(sim, SETTINGS) == 2 * len(SETTINGS) * 3)
        settings_reads = _count(sim, SETTINGS)
        seen, live_before = len(events), len(reads_when_live)
        await sim.drop_connections()
        await _until(lambda: len(live()) < 3)
        await _until(lambda: len(live()) == 3)
        after = [e for e in events[seen:] if isinstance(e, AccountSnapshotEvent)]
        assert {e.account for e in after} == {"main", "hedge", "trader"}
        # the cached settings served the resyncs: the first stream was live before any settings read,
        # and each account's are read once more, after its stream is live, not also in its resync
        assert reads_when_live[live_before] == settings_reads
        await _until(lambda: _count(sim, SETTINGS) == settings_reads + len(SETTINGS) * 3)
        await asyncio.sleep(0.2)
        assert _count(sim, SETTINGS) == settings_reads + len(SETTINGS) * 3
        hedge = [e for e in after if e.account == "hedge"]
        assert all(e.hedge_mode is True for e in hedge)
        assert all(e.hedge_mode is False for e in after if e.account == "main")
        # the scheduled resync reads them again, after its snapshot is out
        await venue.resync("hedge")
        assert _count(sim, SETTINGS) == settings_reads + len(SETTINGS) * 4
    finally:
        await venue.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_after_an_outage_the_venue_is_probed_and_the_backoff_cut_short(
    make_sim: object, start_daemon: StartDaemon
) -> None:
    sim: SimExchange = await make_sim("small", clock=False, port=_free_port())  # type: ignore[operator]
    run: Running = await start_daemon(sim)
    users = set(run.daemon.connected)

    def waits(longer_than: float) -> set[str]:
        """The streams that logged a reconnect wait longer than ``longer_than`` seconds."""
        return {
            e["stream"] for e in logs if e["event"] == "stream down" and e.get("retry_in_s", 0) > longer_than
        }

    with capture_logs() as logs:
        await sim.stop()  # the exchange is down: every dial and every REST call fails
        await run.until(lambda: not run.daemon.connected, what="all streams down")
        # until every stream down (the marks' too) waits longer than a second: such waits probe
        await run.until(
            lambda: users <= waits(0) and waits(1) == waits(0), within=30, what="every backoff past a second"
        )
    served = len(sim.rest.requests)
    await sim.start()
    await run.until(
        lambda: sum(s.endswith(":user") for s in run.daemon.connected) == 3, within=40, what="user streams"
    )
    # it was a probe of the time endpoint that found the exchange back
    assert ("GET", "/fapi/v1/time") in sim.rest.requests[served:]
