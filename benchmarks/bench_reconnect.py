"""How long the daemon takes to be fresh again after its sockets drop, and after the exchange is down.

A daemon watching the ``small`` book's three accounts runs against the simulator (its clock ticking
once a second, as Binance's ``!markPrice@arr@1s`` does) with ccxt's client-side rate limiter on, as in
production: the limiter charges each REST call its Binance weight, and the resync after a reconnect
waits for it. Reported, per trial:

- dropped sockets: from the drop until the mark stream is live again, and until every user stream is
  subscribed *and* resynced (a user stream is declared connected only after its resync succeeded):
  the daemon is fresh;
- exchange down: the simulator's port closes for ``--down`` seconds (20 by default) and opens again;
  from the moment it answers again until the daemon is fresh.

Target (issue 19): fresh within 2 s after dropped sockets; no long backoff wait once the venue answers.
Run: ``python benchmarks/bench_reconnect.py [--drops 5] [--outages 2] [--down 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from monitor.daemon.service import Daemon, DaemonOptions
from monitor.events import Event
from monitor.logs import configure
from monitor.model import Venue
from monitor.policy.settings import PolicyConfig
from monitor.sim.exchange import SimExchange
from monitor.venues.base import Endpoints, VenueAccount
from monitor.venues.binance.venue import BinanceVenue


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(cond: Callable[[], bool], limit_s: float = 120.0) -> float:
    """Seconds until ``cond`` holds (polled every 5 ms); raises after ``limit_s``."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while not cond():
        if loop.time() - t0 > limit_s:
            raise TimeoutError("the daemon did not come back")
        await asyncio.sleep(0.005)
    return loop.time() - t0


def fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"median {statistics.median(values):.2f} s, min {min(values):.2f} s, max {max(values):.2f} s "
        f"({', '.join(f'{v:.2f}' for v in values)})"
    )


async def main(drops: int, outages: int, down_s: float) -> None:
    configure("console", "error")
    sim = SimExchange("small", port=free_port(), tick_seconds=1.0)
    await sim.start()
    accounts = tuple(VenueAccount(n, k.api_key, k.secret) for n, k in sim.accounts.items())
    with tempfile.TemporaryDirectory() as tmp:
        options = DaemonOptions(
            state_file=str(Path(tmp) / "state.sqlite3"),
            policy=PolicyConfig(),
            venues={Venue.BINANCE_USDM: accounts},
            endpoints={Venue.BINANCE_USDM: Endpoints(sim.http_url, sim.ws_url)},
            resync_seconds=3600,
        )

        def adapter(
            venue: Venue,
            accts: tuple[VenueAccount, ...],
            sink: Callable[[Event], None],
            endpoints: Endpoints | None,
        ) -> BinanceVenue:
            return BinanceVenue(venue, accts, sink, endpoints=endpoints, rate_limit=True, close_wait_ms=0)

        daemon = Daemon(options, [], adapter_factory=adapter)
        await daemon.start()
        streams = set(daemon.adapters[Venue.BINANCE_USDM].stream_names())
        marks = f"{Venue.BINANCE_USDM.value}:marks"
        users = streams - {marks}
        try:
            await wait_for(lambda: streams <= daemon.connected)
            await asyncio.sleep(2.0)  # let ccxt's rate limiter refill after the start-up calls
            marks_back: list[float] = []
            users_back: list[float] = []
            fresh: list[float] = []
            rng = random.Random(1)
            for _ in range(drops):
                await sim.drop_connections()
                loop = asyncio.get_running_loop()
                t0 = loop.time()
                await wait_for(lambda: not (streams & daemon.connected), 5.0)
                marks_at, users_at = await asyncio.gather(
                    wait_for(lambda: marks in daemon.connected), wait_for(lambda: users <= daemon.connected)
                )
                elapsed = loop.time() - t0
                marks_back.append(elapsed - (max(marks_at, users_at) - marks_at))
                users_back.append(elapsed - (max(marks_at, users_at) - users_at))
                fresh.append(elapsed)
                # the next drop at another phase of the simulator's one-second mark tick
                await asyncio.sleep(2.0 + rng.random())
            print("dropped sockets, 3 accounts, rate limiter on:")
            print(f"  mark stream live again (first 1 s frame): {fmt(marks_back)}")
            print(f"  user streams resubscribed and resynced:   {fmt(users_back)}")
            print(f"  fresh (both):                             {fmt(fresh)}")
            after_outage: list[float] = []
            for _ in range(outages):
                await sim.stop()
                await asyncio.sleep(down_s)
                await sim.start()
                after_outage.append(await wait_for(lambda: streams <= daemon.connected))
                await asyncio.sleep(2.0)
            if outages:
                print(f"exchange down {down_s:.0f} s, from its return until fresh: {fmt(after_outage)}")
        finally:
            await daemon.stop()
            await sim.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=5)
    parser.add_argument("--outages", type=int, default=2)
    parser.add_argument("--down", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(main(args.drops, args.outages, args.down))
