"""A running daemon against a running simulator, both in this process, talking over loopback sockets.

The daemon reaches the simulator exactly as it reaches the exchange: the real ccxt.pro client over
HTTP and WebSocket, for the venue the simulator's dialect speaks. The simulator's clock is paused unless
a test asks for a scenario, so prices move only when a test moves them.

The contract suite (``test_pipeline``, ``test_acid``) runs over every simulator dialect: a test that
asks for ``venue_sim`` or ``dialect`` (``tests/conftest.py``) runs once per dialect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import Alert
from monitor.commands.prediction import PredictionLog
from monitor.daemon.service import Daemon, DaemonOptions
from monitor.model import Venue
from monitor.policy.settings import PolicyConfig
from monitor.sim.exchange import SimExchange
from monitor.venues.base import LOOPBACK, Endpoints, VenueAccount
from monitor.venues.registry import make_adapter
from tests.dialect_cases import wait_marks_source

USER_EVENTS = ("AccountUpdate", "OrderUpdate", "MarginCall", "ListenKeyExpired")
"""The daemon's event kinds that come from a user data stream."""


@dataclass
class Recorder:
    alerts: list[Alert] = field(default_factory=list)

    def enqueue(self, alerts: Sequence[Alert]) -> None:
        self.alerts.extend(alerts)

    def of(self, key: str) -> list[Alert]:
        return [a for a in self.alerts if a.key == key]


@dataclass
class Running:
    sim: SimExchange
    daemon: Daemon
    alerts: Recorder
    log: PredictionLog

    async def until(self, cond: Callable[[], bool], within: float = 10.0, what: str = "condition") -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + within
        while not cond():
            if loop.time() > end:
                raise AssertionError(f"timed out after {within} s waiting for {what}")
            await asyncio.sleep(0.01)

    async def settle(self) -> None:
        """Let frames in flight arrive and every queued event be applied. A grace period, not a
        condition: for checks that something did *not* happen; ``tick`` and ``deliver`` wait for what
        they sent."""
        for _ in range(3):
            await asyncio.sleep(0.05)
            await self.daemon.drain()

    def user_events(self) -> int:
        """User-stream events the daemon has applied (each frame the simulator sends is one)."""
        return sum(self.daemon.stats.events[kind] for kind in USER_EVENTS)

    async def deliver(self, send: Awaitable[object], *, marks: bool = False) -> None:
        """Await ``send`` (a simulator call that pushes frames), then wait until the daemon has
        applied every user frame it pushed (to live streams: the caller knows they are up) and, with
        ``marks``, a mark frame after it."""
        marks_seen = self.daemon.stats.events["MarkPrices"]
        frames, applied = len(self.sim.user_frames), self.user_events()
        await send
        sent = len(self.sim.user_frames) - frames
        await self.until(
            lambda: (
                self.user_events() >= applied + sent
                and (not marks or self.daemon.stats.events["MarkPrices"] > marks_seen)
            ),
            what=f"{sent} user frame(s){' and the marks' if marks else ''} applied",
        )
        await self.daemon.drain()

    async def tick(self, marks: dict[str, float] | None = None) -> None:
        """Move marks (Binance ids) and publish one tick, then wait until the daemon has applied it:
        its mark frame and the user frames it caused (fills, liquidations)."""
        for symbol, price in (marks or {}).items():
            self.sim.set_mark(symbol, price)
        await self.deliver(self.sim.publish_marks(), marks=True)


def fast_policy(**staleness_ms: int) -> PolicyConfig:
    base = PolicyConfig(cross_positions_use_account_ratio=False)
    if staleness_ms:
        base = replace(base, staleness=replace(base.staleness, **staleness_ms))
    return base


StartDaemon = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_daemon(tmp_path: Path) -> AsyncIterator[StartDaemon]:
    """``await start_daemon(sim, policy=..., resync_seconds=...)`` -> a started daemon watching every
    account of ``sim``; stopped at teardown."""
    started: list[Daemon] = []

    async def factory(
        sim: SimExchange,
        *,
        policy: PolicyConfig | None = None,
        resync_seconds: float = 3600,
        state_file: Path | None = None,
        **opts: Any,
    ) -> Running:
        accounts = tuple(
            VenueAccount(n, k.api_key, k.secret, sim.ledger.account(n).taker_fee, k.passphrase, k.address)
            for n, k in sim.accounts.items()
        )
        venue = Venue(sim.dialect.name)
        options = DaemonOptions(
            state_file=str(state_file or tmp_path / "state.sqlite3"),
            policy=policy or fast_policy(),
            venues={venue: accounts},
            endpoints={venue: Endpoints(sim.http_url, sim.ws_url)},
            resync_seconds=resync_seconds,
            **opts,
        )
        recorder = Recorder()
        log = PredictionLog()

        daemon = Daemon(options, [recorder], adapter_factory=partial(make_adapter, pacing=LOOPBACK))
        daemon.risk_listeners.append(log.on_risks)
        daemon.alert_listeners.append(log.on_alerts)
        await daemon.start()
        started.append(daemon)
        running = Running(sim, daemon, recorder, log)
        # wait for both kinds of stream to be subscribed before a test moves prices
        await wait_marks_source(sim, lambda: daemon.connected)
        await running.until(
            lambda: sum(s.endswith(":user") for s in daemon.connected) == len(accounts), what="user streams"
        )
        return running

    yield factory
    for daemon in started:
        await daemon.stop()
