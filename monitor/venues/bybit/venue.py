"""Bybit v5 (Unified Trading Account) through ccxt and ccxt.pro, linear USDT perpetuals.

- One public client loads the markets and streams the ``tickers.<symbol>`` topic of every held symbol
  (a snapshot, then deltas that usually omit ``markPrice``: ``parse.merge_ticker`` keeps the last
  mark, never reading a missing field as zero). The set follows what the accounts hold.
- One private client per account keeps the ``wallet``, ``position`` and ``order`` topics open; the
  frames are read raw through ``client.TappedBybit``. ``watch_positions``' first call would be a REST
  snapshot that misses USDC: it is never relied on, the REST resync is.
- The wallet topic is silent on unrealised-PnL moves, so the equity is recomputed locally from the
  marks and Bybit's own figures (``totalMaintenanceMargin``, ``totalMarginBalance``) are read at each
  resync (start, schedule, after every reconnect), with the account's margin mode (``account/info``,
  account-wide) and the risk-limit tiers. Portfolio-margin accounts are refused, naming the account.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from monitor.engine import MarketInfo
from monitor.events import AccountSnapshotEvent, MarkPrices, PositionState, Rejected, TierTable, VenueBanned
from monitor.logs import get_logger, scrub
from monitor.model import MarginMode, PositionSide, Venue
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
from monitor.venues.bybit import parse
from monitor.venues.bybit.client import TappedBybit
from monitor.venues.bybit.errors import raises_venue_errors, venue_errors
from monitor.venues.bybit.urls import point_at
from monitor.venues.errors import OrderNotFound
from monitor.venues.markets import MarketRules
from monitor.venues.reconnect import StreamKeeper, keep_subscribed

log = get_logger(__name__)

_CONNECT_WAIT_S = 5.0
_SETTLE = "USDT"
_CATEGORY = "linear"


class BybitVenue:
    """Streams and REST of Bybit's linear USDT perpetuals for any number of UTA accounts."""

    def __init__(
        self,
        venue: Venue,
        accounts: Sequence[VenueAccount],
        sink: Sink,
        *,
        endpoints: Endpoints | None = None,
        clock: Callable[[], int] = now_ms,
        ccxt_options: dict[str, Any] | None = None,
        rate_limit: bool = True,
        close_wait_ms: int | None = None,
    ) -> None:
        if venue is not Venue.BYBIT:
            raise ValueError(f"BybitVenue does not speak {venue}")
        self.venue: Venue = venue
        self.accounts = {a.name: a for a in accounts}
        self.sink = sink
        self.endpoints = endpoints
        self.clock = clock
        self.ccxt_options = ccxt_options or {}
        self.rate_limit = rate_limit
        self.close_wait_ms = close_wait_ms
        self.symbols: dict[str, str] = {}
        self.markets: list[MarketInfo] = []
        self._rules: dict[str, MarketRules] = {}
        self._public: Any = None
        self._clients: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._marks_backoff = Backoff()
        self._marks: dict[str, float] = {}
        self._held: dict[str, set[str]] = {}  # account -> unified symbols held
        self._held_changed = asyncio.Event()
        self._modes: dict[str, MarginMode] = {}
        self._hedge: dict[str, bool] = {}
        # account -> isolated leg -> its margin (positionIM): a UTA's walletBalance includes it
        self._isolated: dict[str, dict[tuple[str, PositionSide], float]] = {}
        self.rest_gate = RestGate(clock, on_ban=self._on_ban)
        self._streams = StreamKeeper(sink, clock, self.rest_gate, self._ping, self._forget_dial_backoff)

    # --- lifecycle ----------------------------------------------------------------------------------
    def stream_names(self) -> list[str]:
        return [self._marks_stream, *(self._user_stream(name) for name in self.accounts)]

    @property
    def _marks_stream(self) -> str:
        return f"{self.venue.value}:marks"

    def _user_stream(self, account: str) -> str:
        return f"{self.venue.value}:{account}:user"

    async def start(self) -> None:
        """Load markets, read every account's mode, tiers and first snapshot, then open the streams."""
        self._public = self._make_client(None)
        try:
            with venue_errors(self.rest_gate):
                await self._public.load_markets()
        except Exception as exc:
            raise StartError(self.venue.value, None) from exc
        self._index_markets(self._public.markets)
        for acct in self.accounts.values():
            client = self._make_client(acct)
            client.set_markets_from_exchange(self._public)
            self._clients[acct.name] = client
        for name in self.accounts:
            try:
                await self._read_mode(name)
                await self.refresh_tiers(name)
                await self.resync(name)
            except Exception as exc:
                raise StartError(self.venue.value, name) from exc
        await self.resync_marks()
        self._tasks.append(asyncio.create_task(self._marks_loop(), name=self._marks_stream))
        for name in self.accounts:
            self._tasks.append(asyncio.create_task(self._user_loop(name), name=self._user_stream(name)))

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        await self._streams.stop()
        for client in [self._public, *self._clients.values()]:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close()

    def _make_client(self, acct: VenueAccount | None) -> Any:
        config: dict[str, Any] = {
            "enableRateLimit": self.rate_limit,
            "options": {
                "defaultType": "swap",
                "defaultSubType": _CATEGORY,
                "fetchMarkets": {"types": [_CATEGORY]},
                "loadAllOptions": False,
                # a UTA is what the monitor supports: no query-api round trip to find it out
                "enableUnifiedAccount": True,
                "enableUnifiedMargin": False,
                "watchPositions": {"fetchPositionsSnapshot": False},
            },
        }
        config["options"].update(self.ccxt_options)
        if acct is not None:
            config["apiKey"] = acct.api_key
            config["secret"] = acct.secret
        client = TappedBybit(config)
        if self.close_wait_ms is not None:
            client.timeout_on_exit = self.close_wait_ms
        if self.endpoints is not None:
            point_at(client, self.endpoints.rest, self.endpoints.ws)
        client.on_bad_frame = self._on_bad_frame
        client.rest_gate = self.rest_gate
        if acct is None:
            client.on_frame = self._on_market_frame
        else:
            name = acct.name
            client.on_frame = lambda url, frame: self._on_user_frame(name, url, frame)
        return client

    def _index_markets(self, markets: dict[str, Any]) -> None:
        self.symbols, self.markets, self._rules = {}, [], {}
        for symbol, m in markets.items():
            if not m.get("swap") or not m.get("linear") or m.get("settle") != _SETTLE:
                continue
            self.symbols[m["id"]] = symbol
            self.markets.append(MarketInfo(symbol, float(m.get("contractSize") or 1.0), False))
            self._rules[symbol] = _market_rules(symbol, m)

    def market_rules(self, symbol: str) -> MarketRules | None:
        return self._rules.get(symbol)

    # --- frames -------------------------------------------------------------------------------------
    def _on_market_frame(self, url: str, frame: Any) -> None:
        if _is_control_reply(frame):
            return
        received = self.clock()
        try:
            marks = parse.merge_ticker(self._marks, frame, self.symbols, received, self.venue.value)
        except parse.FrameError as exc:
            self.sink(exc.to_rejected(received))
            return
        if marks is None:
            return
        if not self._streams.is_live(self._marks_stream):
            self._streams.live(self._marks_stream, received)
            self._marks_backoff.reset()
        self.sink(marks)

    def _on_user_frame(self, account: str, url: str, frame: Any) -> None:
        if _is_control_reply(frame):
            return
        received = self.clock()
        v = self.venue.value
        try:
            topic = parse.BybitObj(frame, source="private", path="").get("topic")
            if topic == "position":
                update = parse.parse_position_topic(
                    frame,
                    venue=v,
                    account=account,
                    symbols=self.symbols,
                    margin_mode=self._modes.get(account, MarginMode.CROSS),
                    received_ms=received,
                )
                self._note_held(account, update.positions)
                self._note_isolated(account, update.positions, replace_all=False)
                self.sink(update)
            elif topic == "wallet":
                wallet = parse.parse_wallet_topic(
                    frame, venue=v, account=account, coin=_SETTLE, received_ms=received
                )
                if wallet is not None and wallet.cross_wallet_balance is not None:
                    # the topic's walletBalance includes isolated margin; the pool is the rest
                    isolated = sum(self._isolated.get(account, {}).values())
                    self.sink(replace(wallet, cross_wallet_balance=wallet.cross_wallet_balance - isolated))
            elif topic == "order":
                for order in parse.parse_order_topic(
                    frame, venue=v, account=account, symbols=self.symbols, received_ms=received
                ):
                    self.sink(order)
            elif topic != "execution":  # fills are read from the order and position topics
                self.sink(
                    Rejected("private", f"topic: not one the monitor reads: {str(topic)[:40]}", "", received)
                )
        except parse.FrameError as exc:
            self.sink(exc.to_rejected(received))

    def _note_held(self, account: str, positions: Sequence[PositionState]) -> None:
        held = self._held.setdefault(account, set())
        before = self._all_held()
        for p in positions:
            if p.amount != 0:
                held.add(p.symbol)
        if self._all_held() != before:
            self._held_changed.set()

    def _note_isolated(self, account: str, positions: Sequence[PositionState], *, replace_all: bool) -> None:
        """Remember each isolated leg's margin (a snapshot replaces them all, a delta its legs)."""
        legs = {} if replace_all else self._isolated.get(account, {})
        for p in positions:
            key = (p.symbol, p.position_side)
            if p.amount != 0 and p.margin_mode is MarginMode.ISOLATED and p.isolated_wallet is not None:
                legs[key] = p.isolated_wallet
            else:
                legs.pop(key, None)
        self._isolated[account] = legs

    def _all_held(self) -> set[str]:
        return set().union(*self._held.values()) if self._held else set()

    def _on_ban(self, ban: Ban) -> None:
        log.warning("REST paused: rate limited by the exchange", venue=self.venue.value, status=ban.status)
        self.sink(
            VenueBanned(self.venue.value, ban.until_ms, ban.status, scrub(ban.detail)[:200], self.clock())
        )

    def _on_bad_frame(self, url: str, frame: Any, exc: BaseException) -> None:
        text = frame if isinstance(frame, str) else repr(frame)
        self.sink(
            Rejected(
                scrub(url.split("?")[0]),
                f"undecodable frame: {type(exc).__name__}",
                scrub(text[:80]),
                self.clock(),
            )
        )

    # --- streams ------------------------------------------------------------------------------------
    async def _marks_loop(self) -> None:
        """Keeps the held symbols' ticker topics subscribed; subscribes again when the set grows."""
        stream = self._marks_stream
        while True:
            symbols = sorted(self._all_held())
            self._held_changed.clear()
            if not symbols:
                await self._held_changed.wait()
                continue
            watch = asyncio.ensure_future(self._public.watch_tickers(symbols))
            changed = asyncio.ensure_future(self._held_changed.wait())
            await asyncio.wait({watch, changed}, return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()
            if not watch.done():
                watch.cancel()
                with contextlib.suppress(BaseException):
                    await watch
                continue
            try:
                watch.result()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._streams.down(stream, exc, self._marks_backoff, needs_rest=False)
                if self.rest_gate.closed_until() is None:
                    await self._safely(self.resync_marks(), stream)

    async def _user_loop(self, account: str) -> None:
        client = self._clients[account]

        async def subscribe() -> None:
            watches = [
                asyncio.ensure_future(client.watch_balance()),
                asyncio.ensure_future(client.watch_positions()),
                asyncio.ensure_future(client.watch_orders()),
            ]
            try:
                await asyncio.wait(watches, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in watches:
                    if not w.done():
                        w.cancel()
                # every watch's outcome is retrieved: one socket's failure ends them all at once
                outcomes = await asyncio.shield(asyncio.gather(*watches, return_exceptions=True))
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    raise outcome

        await keep_subscribed(
            self._streams,
            self._user_stream(account),
            subscribe,
            opened=lambda watch: self._wait_private_connected(client, watch),
            resync=lambda: self.resync(account),
        )

    async def _wait_private_connected(self, client: Any, watch: asyncio.Future[Any]) -> bool:
        deadline = asyncio.get_running_loop().time() + _CONNECT_WAIT_S
        while asyncio.get_running_loop().time() < deadline and not watch.done():
            for url, ws in list(client.clients.items()):
                if "/v5/private" in url and ws.connected.done():
                    return not (ws.connected.cancelled() or ws.connected.exception() is not None)
            await asyncio.sleep(0.02)
        return False

    async def _ping(self) -> None:
        await self._public.public_get_v5_market_time()

    def _forget_dial_backoff(self) -> None:
        for client in [self._public, *self._clients.values()]:
            client.forget_dial_backoff()

    async def _safely(self, coro: Any, stream: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("resync failed", stream=stream, error=scrub(f"{type(exc).__name__}: {exc}")[:200])

    # --- REST ---------------------------------------------------------------------------------------
    @raises_venue_errors
    async def resync_marks(self) -> None:
        """Marks over REST (``market/tickers``): at start and after the ticker stream dropped."""
        body = await self._public.public_get_v5_market_tickers({"category": _CATEGORY})
        received = self.clock()
        prices: dict[str, float] = {}
        for row in parse.ticker_rows(body):
            symbol = self.symbols.get(row[0])
            if symbol is not None:
                prices[symbol] = row[1]
        if prices:
            stamp = parse.envelope_time(body)
            self._marks.update(prices)
            self.sink(MarkPrices(self.venue.value, prices, stamp, received))

    async def _read_mode(self, account: str) -> None:
        with venue_errors(self.rest_gate):
            body = await self._clients[account].private_get_v5_account_info()
        self._modes[account] = parse.parse_margin_mode(body, account)

    @raises_venue_errors
    async def resync(self, account: str) -> None:
        """Positions and the UTA wallet from REST; the pool's wallet is the settlement coin's balance
        less the isolated legs' margin (``positionIM``)."""
        client = self._clients[account]
        requested = self.clock()
        mode = self._modes.get(account, MarginMode.CROSS)
        body = await client.private_get_v5_position_list({"category": _CATEGORY, "settleCoin": _SETTLE})
        positions = parse.parse_positions(body, self.symbols, mode)
        wallet_body = await client.private_get_v5_account_wallet_balance({"accountType": "UNIFIED"})
        wallet = parse.parse_wallet(wallet_body, _SETTLE)
        isolated = sum(p.isolated_wallet or 0.0 for p in positions if p.margin_mode is MarginMode.ISOLATED)
        hedge = any(p.position_side is not PositionSide.BOTH for p in positions)
        if positions:
            self._hedge[account] = hedge
        self._held[account] = set()
        self._note_held(account, positions)
        self._note_isolated(account, positions, replace_all=True)
        self.sink(
            AccountSnapshotEvent(
                self.venue.value,
                account,
                wallet.wallet_balance - isolated,
                positions,
                self.clock(),
                hedge_mode=self._hedge.get(account),
                total_maint_margin=wallet.total_maint_margin,
                total_margin_balance=wallet.margin_balance,
                requested_ms=requested,
            )
        )

    @raises_venue_errors
    async def refresh_tiers(self, account: str | None = None) -> None:
        """Risk limits are public and the same for every account; they are handed to each."""
        body = await self._public.public_get_v5_market_risk_limit({"category": _CATEGORY})
        received = self.clock()
        tables = parse.parse_all_tiers(body, self.symbols)
        for name in [account] if account else list(self.accounts):
            for symbol, tiers in tables.items():
                self.sink(TierTable(self.venue.value, name, symbol, tiers, received))

    def expect_positions(self, account: str, legs: Mapping[tuple[str, PositionSide], bool]) -> None:
        """Bybit's closed legs are explained by the order topic (a liquidation is ``CreateByLiq``)."""

    @raises_venue_errors
    async def fetch_position(
        self, account: str, symbol: str, position_side: PositionSide
    ) -> PositionState | None:
        client = self._clients[account]
        body = await client.private_get_v5_position_list(
            {"category": _CATEGORY, "symbol": client.market(symbol)["id"]}
        )
        for state in parse.parse_positions(body, self.symbols, self._modes.get(account, MarginMode.CROSS)):
            if state.symbol == symbol and state.position_side is position_side:
                return state
        return None

    def client_for(self, account: str) -> Any:
        return self._clients[account]

    @raises_venue_errors
    async def create_reduce_only_market(
        self,
        account: str,
        symbol: str,
        side: str,
        amount: float,
        position_side: PositionSide,
        client_order_id: str,
    ) -> OrderResult:
        client = self._clients[account]
        params: dict[str, Any] = {
            "reduceOnly": True,
            "clientOrderId": client_order_id,
            "positionIdx": parse.IDX_OF_SIDE[position_side],
        }
        await client.create_order(symbol, "market", side, amount, None, params)
        # the create reply holds the ids only: the order's outcome is read back
        found = await self._order_by_link(client, symbol, client_order_id)
        return found or OrderResult(client_order_id, "unknown", 0.0, None)

    async def _order_by_link(self, client: Any, symbol: str, link: str) -> OrderResult | None:
        request = {"category": _CATEGORY, "symbol": client.market(symbol)["id"], "orderLinkId": link}
        body = await client.private_get_v5_order_realtime(request)
        rows = body.get("result", {}).get("list") or []
        if not rows:
            body = await client.private_get_v5_order_history(request)
            rows = body.get("result", {}).get("list") or []
        if not rows:
            return None
        row = rows[0]
        status = {
            "Filled": "filled",
            "New": "open",
            "PartiallyFilled": "open",
            "Cancelled": "rejected",
            "Rejected": "rejected",
        }
        filled = float(row.get("cumExecQty") or 0.0)
        avg = float(row.get("avgPrice") or 0.0)
        return OrderResult(link, status.get(row.get("orderStatus"), "unknown"), filled, avg or None)

    async def fetch_order_by_client_id(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        client = self._clients[account]
        try:
            with venue_errors(self.rest_gate):
                return await self._order_by_link(client, symbol, client_order_id)
        except OrderNotFound:
            return None

    @raises_venue_errors
    async def add_isolated_margin(
        self, account: str, symbol: str, amount: float, position_side: PositionSide
    ) -> None:
        """``POST /v5/position/add-margin``: ccxt has no unified method for it."""
        client = self._clients[account]
        await client.private_post_v5_position_add_margin(
            {
                "category": _CATEGORY,
                "symbol": client.market(symbol)["id"],
                "margin": f"{amount:.8f}".rstrip("0").rstrip("."),
                "positionIdx": parse.IDX_OF_SIDE[position_side],
            }
        )


def _is_control_reply(frame: Any) -> bool:
    """An op's answer (subscribe, auth, pong): ``op`` or ``success`` and no ``topic``."""
    return isinstance(frame, dict) and "topic" not in frame and ("op" in frame or "success" in frame)


def _market_rules(symbol: str, market: Mapping[str, Any]) -> MarketRules:
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
