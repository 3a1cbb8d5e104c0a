"""A venue that sends nothing, and the few values the daemon's own tests feed it: the test puts the
events on the daemon's queue itself and drains it, with no simulator and no sockets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.daemon.engine import MarketInfo
from monitor.daemon.service import Daemon
from monitor.events import Event, PositionState
from monitor.model import MarginMode, PositionSide, Tier, Venue
from monitor.venues.base import Endpoints

V = "binanceusdm"
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
TIERS = (Tier(0, 50_000, 0.004, 0), Tier(50_000, 1e12, 0.005, 50))


class Silent:
    """A venue that sends nothing: the test puts the events on the queue itself."""

    def __init__(
        self, venue: Venue, accounts: Any, sink: Callable[[Event], None], endpoints: Endpoints | None
    ) -> None:
        self.venue = venue
        self.sink = sink  # what the daemon gave it: a test pushes events through it as a venue would
        self.markets = [MarketInfo(BTC), MarketInfo(ETH)]
        self.symbols = {"BTCUSDT": BTC, "ETHUSDT": ETH}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def resync(self, account: str) -> None:
        pass

    async def refresh_tiers(self, account: str | None = None) -> None:
        pass

    def stream_names(self) -> list[str]:
        return []

    def expect_positions(self, account: str, legs: Any) -> None:
        pass


def leg(symbol: str, amount: float) -> PositionState:
    entry = 60_000.0 if symbol == BTC else 3_000.0
    return PositionState(
        symbol, PositionSide.BOTH, MarginMode.CROSS, amount, entry, mark_price=entry, leverage=10
    )


async def run(daemon: Daemon, *events: Event) -> None:
    for event in events:
        daemon.queue.put_nowait(event)
    await daemon.drain()
