"""Values and helpers every venue adapter shares: accounts, endpoints, order results, start-up
failures, reconnect backoff and the per-venue REST gate. The adapter's surface itself is
:mod:`monitor.venues.adapter`."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.events import Event

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
    passphrase: str = ""  # a third credential some venues require (Bitget); never shown either
    # the account's public address, for venues that know an account by one (Hyperliquid's wallet
    # address): not a secret, and enough to watch it; ``secret`` is then the agent wallet's key
    address: str = ""
    broker_id: str = ""  # the broker id orders carry (BloFin; "": none, what a plain API key takes)
    mark_poll_s: float = 0.0  # how often a venue whose marks are polled asks (BloFin); 0: its default

    def __repr__(self) -> str:
        shown = f", address={self.address!r}" if self.address else ""
        return f"VenueAccount(name={self.name!r}, api_key=***, secret=***{shown})"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every credential it holds: what the logs must redact and no message may repeat."""
        return tuple(s for s in (self.api_key, self.secret, self.passphrase) if s)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where to reach a venue instead of its public hosts (the simulator, a testnet)."""

    rest: str
    ws: str


@dataclass(frozen=True, slots=True)
class Pacing:
    """How an adapter's clients pace their requests and close. The defaults are production's (the
    client library's own throttle on, its linger on close); the suites against the loopback simulator
    turn both off and poll what is polled every 20 ms (``LOOPBACK``)."""

    rate_limit: bool = True
    close_wait_ms: int | None = None
    # how often a venue whose marks are polled (BloFin) asks; None: its accounts' setting or default
    mark_poll_s: float | None = None


PRODUCTION = Pacing()
LOOPBACK = Pacing(rate_limit=False, close_wait_ms=0, mark_poll_s=0.02)


@dataclass(frozen=True, slots=True)
class OrderResult:
    client_order_id: str
    status: str  # "filled" | "open" | "rejected" | "unknown"
    filled: float
    average_price: float | None
    detail: str = ""


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


@dataclass(frozen=True, slots=True)
class Ban:
    """The exchange refused REST until ``until_ms`` (our clock): ``status`` 418 (IP ban) or 429."""

    until_ms: int
    status: int
    detail: str = ""

    def until_text(self) -> str:
        return hhmmss(self.until_ms)


def hhmmss(ms: int) -> str:
    """``HH:MM:SS`` UTC of an epoch-millisecond time."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%H:%M:%S")


class RestGate:
    """One venue's REST access, shared by every client of the venue: its accounts call from one IP,
    and a ban (HTTP 418) or a rate limit (429) is the IP's. While its ``Retry-After`` runs the gate is
    closed and a request is refused before it leaves: each one sent into a ban extends it.

    ``on_ban`` hears each ban once, when the gate closes (not when a closed gate's time is extended)."""

    DEFAULT_RETRY_AFTER_S = 60
    """When a 418/429 names no time: Binance's request weights are counted per minute."""

    def __init__(
        self, clock: Callable[[], int] = now_ms, on_ban: Callable[[Ban], None] | None = None
    ) -> None:
        self.clock = clock
        self.on_ban = on_ban
        self.until_ms = 0

    def closed_until(self) -> int | None:
        """The end of the running ban, or ``None`` when requests may go."""
        return self.until_ms if self.until_ms > self.clock() else None

    def remaining_s(self) -> float:
        return max(0.0, (self.until_ms - self.clock()) / 1000)

    def close(self, until_ms: int, status: int, detail: str = "") -> None:
        was_open = self.closed_until() is None
        self.until_ms = max(self.until_ms, until_ms)
        if was_open and self.on_ban is not None and self.closed_until() is not None:
            self.on_ban(Ban(self.until_ms, status, detail))
