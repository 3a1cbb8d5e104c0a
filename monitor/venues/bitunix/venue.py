"""Bitunix USDT-M futures on the project's own client (``rest.py``, ``ws.py``): ccxt has none.

- Marks from the public ``price`` channel of every held symbol (about two pushes a second), the
  set following what the accounts hold; over REST (``funding_rate/batch``, every symbol in one
  call) at start and after the socket dropped.
- One private socket per account (login by the double hash) carries ``position``, ``balance`` and
  ``order`` pushes. They hold no liquidation price, margin rate or mark, so each one is a trigger:
  the account is read again over REST (``account`` and ``get_pending_positions``, whose
  ``liqPrice`` is the exchange's reference figure), at most one read in flight and one waiting per
  account. A timer reads every account the same way (``POLL_EVERY_S``), pushes or not.
- Tier tables (``get_position_tiers``) are read per held symbol, the first time one is held and at
  each scheduled refresh; Bitunix's rules (``margin/rules.Bitunix``) estimate from them.
- Orders: one-way ``reduceOnly`` true; a hedge close names the position's own side with
  ``tradeSide`` CLOSE and its ``positionId``; margin by ``adjust_position_margin`` naming the
  ``positionId``. Every error is the body's code, mapped by ``errors.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from monitor.daemon.engine import MarketInfo
from monitor.events import AccountSnapshotEvent, MarkPrices, PositionState, Rejected, TierTable, VenueBanned
from monitor.logs import get_logger, scrub
from monitor.model import PositionSide, Tier, Venue
from monitor.tasks import cancel_and_wait
from monitor.venues.base import (
    Backoff,
    Ban,
    Endpoints,
    OrderResult,
    RestGate,
    Sink,
    StartError,
    VenueAccount,
    now_ms,
)
from monitor.venues.bitunix import parse
from monitor.venues.bitunix.pacing import Pacer
from monitor.venues.bitunix.rest import MARKET_PER_S, BitunixRest
from monitor.venues.bitunix.ws import MAX_CHANNELS, BitunixSocket, Channel
from monitor.venues.markets import MarketRules
from monitor.venues.reconnect import StreamKeeper, keep_subscribed
from monitor.venues.wire import FrameError

log = get_logger(__name__)

PUBLIC_REST = "https://fapi.bitunix.com"
PUBLIC_WS = "wss://fapi.bitunix.com"
F = "/api/v1/futures"
POLL_EVERY_S = 10.0
"""How often every account is read over REST, pushes or not: the exchange's liquidation price of a
cross leg moves with every other symbol, and no push says so."""
CONNECT_WAIT_S = 10.0
PUSH_SETTLE_S = 0.05
"""A fill arrives as a burst of pushes (order, position, balance): the read waits this long for the
burst to end, so it is read once, after all of it."""
PRIVATE_CHANNELS: tuple[Channel, ...] = (("position", None), ("balance", None), ("order", None))
ORDER_STATUS = {
    "FILLED": "filled",
    "NEW": "open",
    "INIT": "open",
    "PART_FILLED": "open",
    "CANCELED": "rejected",
}


class BitunixVenue:
    """Streams and REST of Bitunix's USDT-M futures for any number of accounts."""

    def __init__(
        self,
        venue: Venue,
        accounts: Sequence[VenueAccount],
        sink: Sink,
        *,
        endpoints: Endpoints | None = None,
        clock: Callable[[], int] = now_ms,
        poll_every_s: float = POLL_EVERY_S,
        ping_every_s: float | None = None,
    ) -> None:
        if venue is not Venue.BITUNIX:
            raise ValueError(f"BitunixVenue does not speak {venue}")
        self.venue: Venue = venue
        self.accounts = {a.name: a for a in accounts}
        self.sink = sink
        self.clock = clock
        self.poll_every_s = poll_every_s
        rest_url, ws_url = (endpoints.rest, endpoints.ws) if endpoints else (PUBLIC_REST, PUBLIC_WS)
        self.rest_gate = RestGate(clock, on_ban=self._on_ban)
        pacer = Pacer(MARKET_PER_S)
        self._public = BitunixRest(
            rest_url, account=None, gate=self.rest_gate, market_pacer=pacer, clock=clock
        )
        self._rest = {
            a.name: BitunixRest(rest_url, account=a, gate=self.rest_gate, market_pacer=pacer, clock=clock)
            for a in accounts
        }
        socket_options: dict[str, Any] = {"on_bad_frame": self._on_bad_frame}
        if ping_every_s is not None:
            socket_options["ping_every_s"] = ping_every_s
        self._marks_socket = BitunixSocket(
            f"{ws_url.rstrip('/')}/public/", self._on_market_frame, **socket_options
        )
        self._user_sockets = {
            a.name: BitunixSocket(
                f"{ws_url.rstrip('/')}/private/",
                lambda frame, name=a.name: self._on_user_frame(name, frame),  # type: ignore[misc]
                account=a,
                **socket_options,
            )
            for a in accounts
        }
        self.symbols: dict[str, str] = {}
        self.markets: list[MarketInfo] = []
        self._rules: dict[str, MarketRules] = {}
        self._qty_decimals: dict[str, int] = {}
        self._ids: dict[str, str] = {}  # unified -> market id
        self._tiers: dict[str, tuple[Tier, ...]] = {}
        self._marked: set[str] = set()  # symbols whose mark has been handed to the sink
        self._tiers_sent: dict[str, set[str]] = {}  # account -> symbols whose table it was handed
        self._sessions: set[asyncio.Task[None]] = set()  # every socket session, ended at stop
        self._held: dict[str, set[str]] = {}
        self._held_changed = asyncio.Event()
        self._position_ids: dict[str, dict[tuple[str, PositionSide], str]] = {}
        self._hedge: dict[str, bool] = {}  # account -> hedge mode, as its last account read said
        self._polls: dict[str, asyncio.Task[None]] = {}
        self._poll_again: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._marks_backoff = Backoff()
        self._streams = StreamKeeper(sink, clock, self.rest_gate, self._ping)

    # --- lifecycle ----------------------------------------------------------------------------------
    def stream_names(self) -> list[str]:
        return [self._marks_stream, *(self._user_stream(name) for name in self.accounts)]

    @property
    def _marks_stream(self) -> str:
        return f"{self.venue.value}:marks"

    def _user_stream(self, account: str) -> str:
        return f"{self.venue.value}:{account}:user"

    async def start(self) -> None:
        """Load the markets, take every account's first snapshot (tiers first), then open the streams."""
        try:
            self._index_markets(parse.parse_markets(await self._public.public(f"{F}/market/trading_pairs")))
        except Exception as exc:
            raise StartError(self.venue.value, None) from exc
        try:
            await self.resync_marks()
        except Exception as exc:
            raise StartError(self.venue.value, None) from exc
        for name in self.accounts:
            try:
                await self.resync(name)
            except Exception as exc:
                raise StartError(self.venue.value, name) from exc
        self._tasks.append(asyncio.create_task(self._marks_loop(), name=self._marks_stream))
        self._tasks.append(asyncio.create_task(self._channels_loop(), name=f"{self._marks_stream}:channels"))
        self._tasks.append(asyncio.create_task(self._poll_loop(), name=f"{self.venue.value}:poll"))
        for name in self.accounts:
            self._tasks.append(asyncio.create_task(self._user_loop(name), name=self._user_stream(name)))

    async def stop(self) -> None:
        await cancel_and_wait([*self._tasks, *self._polls.values(), *self._sessions])
        self._tasks.clear()
        self._sessions.clear()
        self._polls.clear()
        await self._streams.stop()
        for client in [self._public, *self._rest.values()]:
            await client.close()

    def _index_markets(self, markets: list[parse.Market]) -> None:
        self.symbols = {m.id: m.symbol for m in markets}
        self._ids = {m.symbol: m.id for m in markets}
        self.markets = [m.info for m in markets]
        self._rules = {m.symbol: m.rules for m in markets}
        self._qty_decimals = {m.symbol: m.qty_decimals for m in markets}

    def market_rules(self, symbol: str) -> MarketRules | None:
        return self._rules.get(symbol)

    def client_for(self, account: str) -> BitunixRest:
        """The account's REST client (tests reach the venue through it, as they do through ccxt's)."""
        return self._rest[account]

    # --- frames -------------------------------------------------------------------------------------
    def _on_market_frame(self, frame: dict[str, Any]) -> None:
        received = self.clock()
        if frame.get("ch") != "price":
            self.sink(
                Rejected(
                    "public", f"ch: not one the monitor reads: {str(frame.get('ch'))[:40]}", "", received
                )
            )
            return
        try:
            push = parse.parse_price_push(frame, self.symbols)
        except FrameError as exc:
            self.sink(exc.to_rejected(received))
            return
        if push is None:
            return
        symbol, mark, stamp = push
        self._marked.add(symbol)
        if not self._streams.is_live(self._marks_stream):
            self._streams.live(self._marks_stream, received)
            self._marks_backoff.reset()
        self.sink(MarkPrices(self.venue.value, {symbol: mark}, stamp, received))

    def _on_user_frame(self, account: str, frame: dict[str, Any]) -> None:
        try:
            parse.private_channel(frame)
        except FrameError as exc:
            self.sink(exc.to_rejected(self.clock()))
            return
        self._poll(account)  # the push carries no liquidation price: the exchange's is read again

    def _on_bad_frame(self, text: str, exc: BaseException) -> None:
        self.sink(
            Rejected("bitunix", f"undecodable frame: {type(exc).__name__}", scrub(text[:80]), self.clock())
        )

    def _on_ban(self, ban: Ban) -> None:
        log.warning("REST paused: rate limited by the exchange", venue=self.venue.value, status=ban.status)
        self.sink(
            VenueBanned(self.venue.value, ban.until_ms, ban.status, scrub(ban.detail)[:200], self.clock())
        )

    # --- streams ------------------------------------------------------------------------------------
    async def _marks_loop(self) -> None:
        stream = self._marks_stream
        while True:
            try:
                await self._session(self._marks_socket)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._streams.down(stream, exc, self._marks_backoff, needs_rest=False)
                if self.rest_gate.closed_until() is None:
                    await self._safely(self.resync_marks(), stream)

    async def _channels_loop(self) -> None:
        """The ``price`` channels follow the held symbols. One connection carries 300: past that
        the rest are marked by the REST reads of the poll (said once, in the log)."""
        while True:
            self._held_changed.clear()
            channels = [("price", self._ids[s]) for s in sorted(self._all_held()) if s in self._ids]
            if len(channels) > MAX_CHANNELS:
                log.warning("bitunix: more held symbols than one socket carries", held=len(channels))
                channels = channels[:MAX_CHANNELS]
            await self._marks_socket.set_channels(channels)
            await self._held_changed.wait()

    async def _user_loop(self, account: str) -> None:
        sock = self._user_sockets[account]
        await sock.set_channels(PRIVATE_CHANNELS)

        async def opened(watch: asyncio.Future[Any]) -> bool:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + CONNECT_WAIT_S
            while not sock.opened.is_set():
                if watch.done() or loop.time() > deadline:
                    return False
                await asyncio.sleep(0.02)
            return True

        await keep_subscribed(
            self._streams,
            self._user_stream(account),
            lambda: self._session(sock),
            opened=opened,
            resync=lambda: self.resync(account),
        )

    def _session(self, sock: BitunixSocket) -> asyncio.Task[None]:
        """One session of ``sock`` as a task the adapter owns: ``stop`` ends it with the loops."""
        task = asyncio.ensure_future(sock.run())
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)
        return task

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_every_s)
            if self.rest_gate.closed_until() is None:
                for name in self.accounts:
                    self._poll(name)
                if len(self._all_held()) > MAX_CHANNELS:  # symbols no price channel carries
                    await self._safely(self.resync_marks(), self._marks_stream)

    def _poll(self, account: str) -> None:
        """Read the account again: at most one read in flight and one waiting (a burst of pushes
        costs two reads, not one each)."""
        running = self._polls.get(account)
        if running is not None and not running.done():
            self._poll_again.add(account)
            return
        self._polls[account] = asyncio.ensure_future(self._poll_now(account))

    async def _poll_now(self, account: str) -> None:
        await asyncio.sleep(PUSH_SETTLE_S)
        while True:
            self._poll_again.discard(account)
            await self._safely(self.resync(account), self._user_stream(account))
            if account not in self._poll_again:
                return

    async def _ping(self) -> None:
        """Whether the venue answers (it has no time endpoint): one market row."""
        first = next(iter(self._ids.values()), "BTCUSDT")
        await self._public.public(f"{F}/market/tickers", {"symbols": first})

    async def _safely(self, coro: Awaitable[None], stream: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("resync failed", stream=stream, error=scrub(f"{type(exc).__name__}: {exc}")[:200])

    # --- REST ---------------------------------------------------------------------------------------
    async def resync_marks(self) -> None:
        """Every symbol's mark in one call (``funding_rate/batch``). The rows carry no time: they
        are stamped with the venue's clock, its ``Date`` header, whose whole second is never newer
        than the marks, so a pushed mark of the same second is never replaced by them."""
        data = await self._public.public(f"{F}/market/funding_rate/batch")
        received = self.clock()
        prices = parse.parse_marks(data, self.symbols)
        self._marked.update(prices)
        if prices:
            stamp = self._public.last_date_ms or received
            self.sink(MarkPrices(self.venue.value, prices, stamp, received))

    async def resync(self, account: str) -> None:
        """The account and its positions over REST: the exchange's liquidation prices with them.
        A symbol held for the first time gets its tier table first."""
        client = self._rest[account]
        requested = self.clock()
        figures = parse.parse_account(await client.read(f"{F}/account", {"marginCoin": parse.SETTLE}))
        data = await client.read(f"{F}/position/get_pending_positions")
        pending, refused = parse.parse_positions(data, self.symbols, hedge=figures.hedge)
        self._hedge[account] = figures.hedge
        received = self.clock()
        for exc in refused:
            self.sink(exc.to_rejected(received))
        positions = tuple(p.state for p in pending)
        if {p.symbol for p in positions} - self._marked:
            # the rows carry no mark: a leg the engine cannot value yet would read as closed
            await self.resync_marks()
        sent = self._tiers_sent.setdefault(account, set())
        for symbol in sorted({p.symbol for p in positions} - sent):
            if symbol in self._tiers:
                self.sink(TierTable(self.venue.value, account, symbol, self._tiers[symbol], self.clock()))
                sent.add(symbol)
            else:
                await self._load_tiers(symbol, [account])
        self._position_ids[account] = {
            (p.state.symbol, p.state.position_side): p.position_id for p in pending
        }
        self._note_held(account, positions)
        self.sink(
            AccountSnapshotEvent(
                self.venue.value,
                account,
                parse.cross_wallet(figures, pending),
                positions,
                self.clock(),
                hedge_mode=figures.hedge,
                requested_ms=requested,
            )
        )

    async def _load_tiers(self, symbol: str, accounts: list[str]) -> None:
        data = await self._rest[accounts[0]].read(
            f"{F}/position/get_position_tiers", {"symbol": self._ids[symbol]}
        )
        tiers = parse.parse_tiers(data)
        self._tiers[symbol] = tiers
        received = self.clock()
        for name in accounts:
            self.sink(TierTable(self.venue.value, name, symbol, tiers, received))
            self._tiers_sent.setdefault(name, set()).add(symbol)

    async def refresh_tiers(self, account: str | None = None) -> None:
        """The tier tables of the symbols held (read once, handed to each account asked for)."""
        names = [account] if account else list(self.accounts)
        for symbol in sorted(self._all_held() | self._tiers.keys()):
            await self._load_tiers(symbol, names)

    def expect_positions(self, account: str, legs: Mapping[tuple[str, PositionSide], bool]) -> None:
        """Bitunix's pushes name no liquidation: a vanished leg is said as a close."""

    def _note_held(self, account: str, positions: Sequence[PositionState]) -> None:
        before = self._all_held()
        self._held[account] = {p.symbol for p in positions if p.amount != 0}
        if self._all_held() != before:
            self._held_changed.set()

    def _all_held(self) -> set[str]:
        return set().union(*self._held.values()) if self._held else set()

    async def fetch_position(
        self, account: str, symbol: str, position_side: PositionSide
    ) -> PositionState | None:
        client = self._rest[account]
        hedge = self._hedge.get(account)
        if hedge is None:  # the position mode is the account's: read once, then at every resync
            hedge = parse.parse_account(await client.read(f"{F}/account", {"marginCoin": parse.SETTLE})).hedge
            self._hedge[account] = hedge
        data = await client.read(f"{F}/position/get_pending_positions", {"symbol": self._ids[symbol]})
        pending, _ = parse.parse_positions(data, self.symbols, hedge=hedge)
        for p in pending:
            if p.state.symbol == symbol and p.state.position_side is position_side:
                self._position_ids.setdefault(account, {})[symbol, position_side] = p.position_id
                return p.state
        return None

    async def _position_id(self, account: str, symbol: str, position_side: PositionSide) -> str | None:
        known = self._position_ids.get(account, {}).get((symbol, position_side))
        if known is not None:
            return known
        await self.fetch_position(account, symbol, position_side)
        return self._position_ids.get(account, {}).get((symbol, position_side))

    async def create_reduce_only_market(
        self,
        account: str,
        symbol: str,
        side: str,
        amount: float,
        position_side: PositionSide,
        client_order_id: str,
    ) -> OrderResult:
        """One-way: ``reduceOnly`` true. Hedge: the position's own side, ``tradeSide`` CLOSE and its
        ``positionId`` (BUY closes the long), whatever ``side`` the caller computed."""
        body: dict[str, object] = {
            "symbol": self._ids[symbol],
            "qty": f"{amount:.{self._qty_decimals.get(symbol, 8)}f}",
            "orderType": "MARKET",
            "clientId": client_order_id,
        }
        if position_side is PositionSide.BOTH:
            body.update(side="BUY" if side == "buy" else "SELL", reduceOnly=True)
        else:
            pid = await self._position_id(account, symbol, position_side)
            if pid is None:
                return OrderResult(client_order_id, "rejected", 0.0, None, "no such position to close")
            body.update(
                side="BUY" if position_side is PositionSide.LONG else "SELL",
                tradeSide="CLOSE",
                positionId=pid,
            )
        await self._rest[account].order(f"{F}/trade/place_order", body)
        found = await self.fetch_order_by_client_id(account, symbol, client_order_id)
        return found or OrderResult(client_order_id, "unknown", 0.0, None)

    async def fetch_order_by_client_id(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        row = await self._rest[account].read(f"{F}/trade/get_order_detail", {"clientId": client_order_id})
        if row is None:
            return None
        obj = parse.BitunixObj(row, source="order_detail", path="data")
        filled = obj.non_negative("tradeQty")
        price = obj.decimal("price") if obj.has("price") else 0.0
        status = ORDER_STATUS.get(str(obj.get("status")), "unknown")
        return OrderResult(client_order_id, status, filled, price if price > 0 and filled else None)

    async def add_isolated_margin(
        self, account: str, symbol: str, amount: float, position_side: PositionSide
    ) -> None:
        """``adjust_position_margin`` naming the leg by its ``positionId``."""
        body: dict[str, object] = {
            "symbol": self._ids[symbol],
            "marginCoin": parse.SETTLE,
            "amount": f"{amount:.8f}".rstrip("0").rstrip("."),
        }
        pid = await self._position_id(account, symbol, position_side)
        if pid is not None:
            body["positionId"] = pid
        elif position_side is not PositionSide.BOTH:
            body["side"] = position_side.value.upper()
        await self._rest[account].margin(f"{F}/account/adjust_position_margin", body)
