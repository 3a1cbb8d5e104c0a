"""A daemon with de-risking against the simulated exchange, driven tick by tick.

``rig(...)`` starts a ``SimExchange`` with its clock paused, a real ``Daemon`` (ccxt over HTTP and
WebSocket on loopback) and the de-risking bundle from ``build_derisking``. ``Rig.tick()`` moves the
simulated market one step and returns once the daemon has applied the new marks and every de-risk pass
they started has finished, so a test reads like a timeline.

ccxt's client-side rate limiter is switched off (``fast_adapter``): Binance's request weights
would make every start wait seconds, and every order a quarter of a second, for a limit that loopback
does not have.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from monitor.actions.settings import DeriskSettings
from monitor.actions.wiring import Derisking, build_derisking
from monitor.alerts import Alert
from monitor.daemon.service import Daemon, DaemonOptions
from monitor.model import Venue
from monitor.policy.settings import PolicyConfig
from monitor.sim.book import AccountSeed, Book, SeedPosition
from monitor.sim.exchange import SimExchange
from monitor.sim.ledger import Order
from monitor.sim.scenarios import Scenario
from monitor.sim.specs import major_specs
from monitor.venues.base import LOOPBACK, Endpoints, VenueAccount
from monitor.venues.registry import make_adapter
from tests.dialect_cases import wait_marks_source

USDM = Venue.BINANCE_USDM
SIM_EPOCH_MS = 1_767_225_600_000  # 2026-01-01: simulated time zero for gateway clocks
BTC, ETH, SOL, DOGE = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "DOGE/USDT:USDT"


def make_book(*accounts: AccountSeed) -> Book:
    specs = {s: v for s, v in major_specs().items() if s in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT")}
    return Book("actions", specs, accounts)


def seed(symbol: str, amount: float, entry: float, **kwargs: Any) -> SeedPosition:
    return SeedPosition(symbol, amount, entry, **kwargs)


@dataclass
class Rig:
    sim: SimExchange
    daemon: Daemon
    derisking: Derisking
    alerts: list[Alert] = field(default_factory=list)
    stopped: bool = False

    @property
    def gateway(self) -> Any:
        return self.derisking.gateway

    async def settle(self) -> None:
        """Until the daemon's queue is empty and no de-risk pass runs (a pass can cause events)."""
        for _ in range(3):
            await self.daemon.drain()
            await self.derisking.derisker.wait_idle()
        await self.daemon.drain()

    async def tick(self, n: int = 1) -> None:
        for _ in range(n):
            seen = self.daemon.stats.events["MarkPrices"]
            await self.sim.step()
            await self._applied(seen)

    async def publish(self) -> None:
        """Push the current marks (after ``sim.set_mark``) and wait as ``tick`` does."""
        seen = self.daemon.stats.events["MarkPrices"]
        await self.sim.publish_marks()
        await self._applied(seen)

    async def _applied(self, seen: int) -> None:
        """Until the daemon has applied a mark frame after the ``seen``-th, then settle."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while self.daemon.stats.events["MarkPrices"] <= seen:
            if loop.time() > deadline:
                raise TimeoutError("the daemon did not receive the marks")
            await asyncio.sleep(0.001)
        await self.settle()

    def orders(self, account: str) -> list[Order]:
        """Orders the exchange executed for ``account`` other than its own liquidations."""
        acct = self.sim.ledger.account(account)
        return sorted(
            (o for o in acct.orders.values() if o.order_type != "LIQUIDATION"), key=lambda o: o.order_id
        )

    def liquidated(self, account: str) -> list[str]:
        return [r.symbol for r in self.sim.liquidations if r.account == account]

    def order_requests(self) -> list[tuple[str, str]]:
        return [
            r
            for r in self.sim.rest.requests
            if r[1].endswith(("/v1/order", "/v1/positionMargin")) and r[0] == "POST"
        ]

    async def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        await self.derisking.stop()
        await self.daemon.stop()
        # the simulator notices the closed sockets a moment later; a daemon started next on the same
        # simulator must not count them as its own subscriptions
        accounts = list(self.daemon.engine.books)
        await wait_until(
            lambda: (
                self.sim.streams.subscribers() == 0
                and all(self.sim.streams.user_connections(a) == 0 for a in accounts)
            ),
            seconds=3,
        )


RigFactory = Callable[..., Awaitable[Rig]]


async def wait_until(predicate: Callable[[], object], seconds: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.005)


fast_adapter = partial(make_adapter, pacing=LOOPBACK)
"""The real adapter with its client-side throttle off and no linger on close."""


async def start_rig(
    sim: SimExchange,
    settings: DeriskSettings,
    state_file: Path,
    *,
    policy: PolicyConfig | None = None,
    clock: Callable[[], int] | None = None,
) -> Rig:
    accounts = tuple(
        VenueAccount(name, k.api_key, k.secret, sim.ledger.account(name).taker_fee, k.passphrase, k.address)
        for name, k in sim.accounts.items()
    )
    venue = Venue(sim.dialect.name)
    options = DaemonOptions(
        state_file=str(state_file),
        policy=policy or PolicyConfig(),
        venues={venue: accounts},
        endpoints={venue: Endpoints(sim.http_url, sim.ws_url)},
        resync_seconds=3600,
    )
    daemon = Daemon(options, [], adapter_factory=fast_adapter)
    await daemon.start()
    async with asyncio.timeout(5):  # the streams are up before the first tick is published
        await wait_marks_source(sim, lambda: daemon.connected)
        for acct in accounts:
            await sim.wait_user_connections(acct.name)
    # and each user stream's first resync (a REST snapshot) has been applied: a snapshot read before
    # a test's first order but applied after it would show the daemon a position that is gone
    await wait_until(lambda: all(f"{venue.value}:{a.name}:user" in daemon.connected for a in accounts))
    await daemon.drain()
    alerts: list[Alert] = []
    derisking = build_derisking(daemon, settings, alerts.extend, clock=clock)
    await derisking.start()
    rig = Rig(sim, daemon, derisking, alerts)
    await rig.settle()
    return rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    """``await rig(book, settings, scenario=None, policy=None, state_file=None)``: started and stopped."""
    started: list[Rig] = []
    sims: list[SimExchange] = []

    async def factory(
        book: Book | SimExchange,
        settings: DeriskSettings,
        *,
        scenario: Scenario | None = None,
        policy: PolicyConfig | None = None,
        state_file: Path | None = None,
        seed: int = 3,
        sim_clock: bool = False,
    ) -> Rig:
        """``sim_clock``: the gateway's clock (cool-downs, hourly caps) runs on simulated time, so a
        cool-down means sim seconds however fast the test steps the market."""
        if isinstance(book, SimExchange):
            sim = book
        else:
            sim = SimExchange(book, scenario, clock=False, seed=seed)
            await sim.start()
            sims.append(sim)
        clock = (lambda: SIM_EPOCH_MS + int(sim.sim_time * 1000)) if sim_clock else None
        r = await start_rig(
            sim, settings, state_file or tmp_path / "state.sqlite3", policy=policy, clock=clock
        )
        started.append(r)
        return r

    yield factory
    for r in started:
        await r.stop()
    for s in sims:
        await s.stop()
