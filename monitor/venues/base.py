"""The venue boundary: what the service needs from an exchange, whatever the exchange.

An adapter turns one venue's streams and REST calls into :mod:`monitor.events` values, handed to a sink
(the service's queue). Bybit and OKX slot in as further adapters behind this same surface.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from monitor.events import Event, PositionState
from monitor.model import PositionSide, Venue

Sink = Callable[[Event], None]


def now_ms() -> int:
    return int(time.time() * 1000)


class StartError(Exception):
    """An adapter could not start: which account's step failed (None: the venue's own, such as
    loading its markets), and why (``__cause__``, the client's exception). The daemon's start-up
    report names the account from it; a raw client error does not say which key it was sent with."""

    def __init__(self, venue: str, account: str | None) -> None:
        super().__init__(f"{venue}: {'account ' + account if account else 'the venue'} failed to start")
        self.venue = venue
        self.account = account


@dataclass(frozen=True, slots=True)
class VenueAccount:
    """One account's credentials. ``repr`` never shows the key or the secret."""

    name: str
    api_key: str
    secret: str
    taker_fee: float = 0.0005

    def __repr__(self) -> str:
        return f"VenueAccount(name={self.name!r}, api_key=***, secret=***)"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where to reach a venue instead of its public hosts (the simulator, a testnet)."""

    rest: str
    ws: str


@dataclass(frozen=True, slots=True)
class OrderResult:
    client_order_id: str
    status: str  # "filled" | "open" | "rejected" | "unknown"
    filled: float
    average_price: float | None
    detail: str = ""


class VenueAdapter(Protocol):
    venue: Venue

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def resync(self, account: str) -> None: ...

    async def refresh_tiers(self, account: str | None = None) -> None: ...

    def stream_names(self) -> list[str]: ...

    async def fetch_position(
        self, account: str, symbol: str, position_side: PositionSide
    ) -> PositionState | None: ...


class Backoff:
    """Full-jitter exponential backoff (AWS architecture blog): spreads reconnects of many clients and
    never waits longer than ``cap``."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
