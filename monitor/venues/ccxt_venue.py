"""The lifecycle every adapter on ccxt / ccxt.pro shares, so that a venue's own module holds only
what is the venue's: which markets it watches, how its frames and REST bodies read, its orders.

``CcxtVenue.start`` loads the markets once on a public client (a failure names the venue), makes one
private client per account sharing those markets, prepares each account (a failure names the
account), reads the marks once over REST and opens the streams: one marks loop and one private loop
per account. Every client shares the venue's REST gate (a ban closes it for all) and reports a frame
it cannot read instead of dropping its socket; ``stop`` cancels the loops and closes every client.

A venue subclass gives ``VENUE``, ``new_client`` (its tapped ccxt.pro class), ``ping``, the loops
and the REST reads (``resync_marks``, ``resync``, ``refresh_tiers``), plus its orders.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from monitor.daemon.engine import MarketInfo
from monitor.events import Rejected, VenueBanned
from monitor.logs import get_logger, scrub
from monitor.model import Venue
from monitor.tasks import cancel_and_wait
from monitor.venues.base import Backoff, Ban, Endpoints, RestGate, Sink, StartError, VenueAccount, now_ms
from monitor.venues.ccxt_errors import ErrorMapping
from monitor.venues.loopback import point_at
from monitor.venues.markets import MarketRules
from monitor.venues.reconnect import StreamKeeper, keep_subscribed

log = get_logger(__name__)

CONNECT_WAIT_S = 5.0
"""How long a private subscription may take to open its socket before the attempt counts as failed."""


class CcxtVenue(ABC):
    """An adapter's shared shell around ccxt.pro clients (one public, one per account)."""

    VENUE: ClassVar[Venue]
    """The venue this adapter speaks."""
    ERRORS: ClassVar[ErrorMapping]
    """The venue's mapping of ccxt's exceptions to the project's."""
    SETTLE: ClassVar[str] = "USDT"
    """The settlement coin of the swaps watched."""
    PRIVATE_URL: ClassVar[str] = "private"
    """A part of the private socket's URL, to tell it from the public one."""

    def __init__(
        self,
        venue: Venue,
        accounts: Sequence[VenueAccount],
        sink: Sink,
        *,
        endpoints: Endpoints | None = None,
        clock: Callable[[], int] = now_ms,
        ccxt_options: Mapping[str, Any] | None = None,
        rate_limit: bool = True,
        close_wait_ms: int | None = None,
    ) -> None:
        if venue is not self.VENUE:
            raise ValueError(f"{type(self).__name__} does not speak {venue}")
        self.venue: Venue = venue
        self.accounts = {a.name: a for a in accounts}
        self.sink = sink
        self.endpoints = endpoints
        self.clock = clock
        self.ccxt_options = dict(ccxt_options or {})
        self.rate_limit = rate_limit
        self.close_wait_ms = close_wait_ms
        self.symbols: dict[str, str] = {}
        self.markets: list[MarketInfo] = []
        self.rules: dict[str, MarketRules] = {}
        self.public: Any = None
        self.clients: dict[str, Any] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.marks_backoff = Backoff()
        self.held: dict[str, set[str]] = {}  # account -> the unified symbols it holds
        self.held_changed = asyncio.Event()
        self.rest_gate = RestGate(clock, on_ban=self.on_ban)
        self.streams = StreamKeeper(sink, clock, self.rest_gate, self.ping, self.forget_dial_backoff)

    # --- what a venue gives -------------------------------------------------------------------------
    @abstractmethod
    def new_client(self, config: dict[str, Any]) -> Any:
        """The venue's tapped ccxt.pro client (a ``venues.ccxt_client.TappedClient``) for ``config``."""

    def client_options(self) -> dict[str, Any]:
        """ccxt ``options`` of every client (swaps by default), before the caller's overrides."""
        return {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}}

    def credentials(self, acct: VenueAccount) -> dict[str, Any]:
        """ccxt's credential fields for an account (a passphrase is ccxt's ``password``)."""
        fields: dict[str, Any] = {"apiKey": acct.api_key, "secret": acct.secret}
        if acct.passphrase:
            fields["password"] = acct.passphrase
        return fields

    def frame_handler(self, account: str | None) -> Callable[[str, Any], None] | None:
        """What reads a client's raw frames (``None``: the adapter reads ccxt's parsed values)."""
        return None

    def watches(self, market: Mapping[str, Any]) -> bool:
        """Whether a loaded market is one the adapter watches: linear swaps settled in ``SETTLE``."""
        return bool(market.get("swap") and market.get("linear") and market.get("settle") == self.SETTLE)

    @abstractmethod
    async def ping(self) -> None:
        """Ask the venue something cheap over REST (its time): whether it answers again."""

    async def prepare_account(self, account: str) -> None:
        """An account's first reads at start: tiers, then positions and wallet."""
        await self.refresh_tiers(account)
        await self.resync(account)

    @abstractmethod
    async def marks_loop(self) -> None:
        """Stream the marks for as long as the adapter runs (reconnecting through ``streams``)."""

    @abstractmethod
    async def user_loop(self, account: str) -> None:
        """Stream an account's private topics for as long as the adapter runs."""

    @abstractmethod
    async def resync_marks(self) -> None: ...

    @abstractmethod
    async def resync(self, account: str) -> None: ...

    @abstractmethod
    async def refresh_tiers(self, account: str | None = None) -> None: ...

    # --- lifecycle ----------------------------------------------------------------------------------
    @property
    def marks_stream(self) -> str:
        return f"{self.venue.value}:marks"

    def user_stream(self, account: str) -> str:
        return f"{self.venue.value}:{account}:user"

    def stream_names(self) -> list[str]:
        return [self.marks_stream, *(self.user_stream(name) for name in self.accounts)]

    async def start(self) -> None:
        self.public = self.make_client(None)
        try:
            with self.ERRORS.venue_errors(self.rest_gate):
                await self.public.load_markets()
        except Exception as exc:
            raise StartError(self.venue.value, None) from exc
        self.index_markets(self.public.markets)
        for acct in self.accounts.values():
            client = self.make_client(acct)
            client.set_markets_from_exchange(self.public)
            self.clients[acct.name] = client
        for name in self.accounts:
            try:
                await self.prepare_account(name)
            except Exception as exc:
                raise StartError(self.venue.value, name) from exc
        await self.resync_marks()
        self.tasks.append(asyncio.create_task(self.marks_loop(), name=self.marks_stream))
        for name in self.accounts:
            self.tasks.append(asyncio.create_task(self.user_loop(name), name=self.user_stream(name)))

    async def stop(self) -> None:
        await cancel_and_wait(self.tasks)
        self.tasks.clear()
        await self.streams.stop()
        for client in [self.public, *self.clients.values()]:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close()

    def make_client(self, acct: VenueAccount | None) -> Any:
        config: dict[str, Any] = {
            "enableRateLimit": self.rate_limit,
            "options": {**self.client_options(), **self.ccxt_options},
        }
        if acct is not None:
            config.update(self.credentials(acct))
        client = self.new_client(config)
        if self.close_wait_ms is not None:
            client.timeout_on_exit = self.close_wait_ms
        if self.endpoints is not None:
            point_at(client, self.endpoints.rest, self.endpoints.ws)
        client.on_bad_frame = self.on_bad_frame
        client.rest_gate = self.rest_gate
        client.on_frame = self.frame_handler(acct.name if acct is not None else None)
        return client

    def client_for(self, account: str) -> Any:
        return self.clients[account]

    def index_markets(self, markets: Mapping[str, Any]) -> None:
        self.symbols, self.markets, self.rules = {}, [], {}
        for symbol, m in markets.items():
            if not self.watches(m):
                continue
            self.symbols[m["id"]] = symbol
            self.markets.append(
                MarketInfo(symbol, float(m.get("contractSize") or 1.0), bool(m.get("inverse")))
            )
            self.rules[symbol] = market_rules(symbol, m)

    def market_rules(self, symbol: str) -> MarketRules | None:
        return self.rules.get(symbol)

    # --- shared handlers ----------------------------------------------------------------------------
    def on_ban(self, ban: Ban) -> None:
        log.warning("REST paused: banned by the exchange", venue=self.venue.value, status=ban.status)
        self.sink(
            VenueBanned(self.venue.value, ban.until_ms, ban.status, scrub(ban.detail)[:200], self.clock())
        )

    def on_bad_frame(self, url: str, frame: Any, exc: BaseException) -> None:
        text = frame if isinstance(frame, str) else repr(frame)
        self.sink(
            Rejected(
                scrub(url.split("?")[0]),
                f"undecodable frame: {type(exc).__name__}",
                scrub(text[:80]),
                self.clock(),
            )
        )

    async def wait_private_connected(self, client: Any, watch: asyncio.Future[Any]) -> bool:
        """Whether the client's private socket opened (before ``watch`` ended or the wait ran out)."""
        deadline = asyncio.get_running_loop().time() + CONNECT_WAIT_S
        while asyncio.get_running_loop().time() < deadline and not watch.done():
            for url, ws in list(client.clients.items()):
                if self.PRIVATE_URL in url and ws.connected.done():
                    return not (ws.connected.cancelled() or ws.connected.exception() is not None)
            await asyncio.sleep(0.02)
        return False

    def forget_dial_backoff(self) -> None:
        for client in [self.public, *self.clients.values()]:
            if client is not None:
                client.forget_dial_backoff()

    # --- an account's private channels ----------------------------------------------------------------
    async def keep_private_watches(
        self, account: str, watches: Callable[[], Sequence[Awaitable[object]]]
    ) -> None:
        """Keep an account's private channels subscribed together for as long as the adapter runs
        (``keep_subscribed``: reconnect with backoff, resubscribe, then resync). ``watches`` starts the
        client's ``watch_*`` calls; when one ends (its socket dropped) they all end at once, every
        outcome is retrieved, and a failure is the user stream going down."""
        client = self.clients[account]

        async def subscribe() -> None:
            pending = [asyncio.ensure_future(w) for w in watches()]
            try:
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in pending:
                    if not w.done():
                        w.cancel()
                outcomes = await asyncio.shield(asyncio.gather(*pending, return_exceptions=True))
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    raise outcome

        await keep_subscribed(
            self.streams,
            self.user_stream(account),
            subscribe,
            opened=lambda watch: self.wait_private_connected(client, watch),
            resync=lambda: self.resync(account),
        )

    # --- marks of the held symbols ------------------------------------------------------------------
    def marks_received(self, received_ms: int) -> None:
        """A valid marks frame arrived: the first one proves the marks stream live, and its reconnect
        backoff starts over."""
        if not self.streams.is_live(self.marks_stream):
            self.streams.live(self.marks_stream, received_ms)
            self.marks_backoff.reset()

    def set_held(self, account: str, symbols: Iterable[str]) -> None:
        """The symbols an account holds now; a change of the venue's whole set wakes the marks loop."""
        before = self.all_held()
        self.held[account] = set(symbols)
        if self.all_held() != before:
            self.held_changed.set()

    def all_held(self) -> set[str]:
        return set().union(*self.held.values()) if self.held else set()

    async def watch_held_marks(self, watch: Callable[[list[str]], Awaitable[object]]) -> None:
        """Keep the held symbols' marks subscribed with ``watch`` (a ccxt.pro ``watch_*`` taking the
        symbols: always named, so no venue streams every market), subscribing again when the set
        changes; a failed watch is the marks stream going down, and the marks are read over REST."""
        stream = self.marks_stream
        while True:
            symbols = sorted(self.all_held())
            self.held_changed.clear()
            if not symbols:
                await self.held_changed.wait()
                continue
            watching = asyncio.ensure_future(watch(symbols))
            changed = asyncio.ensure_future(self.held_changed.wait())
            await asyncio.wait({watching, changed}, return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()
            if not watching.done():
                watching.cancel()
                with contextlib.suppress(BaseException):
                    await watching
                continue
            try:
                watching.result()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self.streams.down(stream, exc, self.marks_backoff, needs_rest=False)
                if self.rest_gate.closed_until() is None:
                    await self.safely(self.resync_marks(), stream)

    async def safely(self, coro: Any, stream: str) -> None:
        """Run a resync whose failure is logged, not raised (the stream's loop carries on)."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("resync failed", stream=stream, error=scrub(f"{type(exc).__name__}: {exc}")[:200])


def market_rules(symbol: str, market: Mapping[str, Any]) -> MarketRules:
    """Order-size and price rules of a ccxt market (zero where ccxt gives none)."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}

    def number(value: Any) -> float:
        return float(value) if value else 0.0

    return MarketRules(
        symbol,
        contract_size=number(market.get("contractSize")) or 1.0,
        inverse=bool(market.get("inverse")),
        amount_step=number(precision.get("amount")),
        min_amount=number((limits.get("amount") or {}).get("min")),
        price_tick=number(precision.get("price")),
        min_notional=number((limits.get("cost") or {}).get("min")),
    )
