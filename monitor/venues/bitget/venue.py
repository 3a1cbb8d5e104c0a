"""Bitget classic USDT-FUTURES through ccxt and ccxt.pro ``bitget``.

- One public client loads the markets once and streams every watched symbol's ``ticker`` channel:
  Bitget has no mark-price channel, the ticker carries ``markPrice`` and ccxt.pro leaves it in
  ``info`` (``parse.marks_from_tickers``).
- One private client per account (key, secret and passphrase) keeps ``positions`` (a full snapshot of
  every open position on each push) and ``account`` subscribed, one after the other (concurrent
  private subscriptions have stalled Bitget's socket). Rows are read raw from ``info``: ccxt.pro's
  ``collateral`` is a size, and its WS ``liquidationPrice`` keeps "0".
- REST resyncs: all positions, the USDT account (``assetMode``, ``posMode``), the tier tables.
- Refused clearly, naming the account: a unified-account (UTA) key (40085, ``errors.py``), and
  ``assetMode`` "union", whose cross figures depend on every collateral at haircut value and are the
  exchange's to give (not recomputed here).
- Orders: one-way reduce-only is ``reduceOnly`` "YES" with no ``tradeSide``; a hedge close names the
  position's side with ``tradeSide`` "close"; always a ``clientOid``, and the fill is read back by it
  (Bitget's reply may carry no order id). Margin goes in through ``set-margin`` directly: ccxt's
  ``add_margin`` truncates the amount to the contract's size precision.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor.engine import MarketInfo
from monitor.events import AccountSnapshotEvent, AccountUpdate, PositionState, Rejected, VenueBanned
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
from monitor.venues.bitget import parse
from monitor.venues.bitget.client import TappedBitget
from monitor.venues.bitget.errors import raises_venue_errors, venue_errors
from monitor.venues.bitget.urls import point_at
from monitor.venues.errors import OrderNotFound, Refused
from monitor.venues.markets import MarketRules
from monitor.venues.reconnect import StreamKeeper, keep_subscribed

log = get_logger(__name__)

PRODUCT = {"productType": "USDT-FUTURES"}
USDT = {"productType": "USDT-FUTURES", "marginCoin": "USDT"}
_CONNECT_WAIT_S = 5.0
_ORDER_LOOKUP_TRIES = 5


class UnionModeRefused(Refused):
    """An account in multi-asset ("union") mode: its figures are the exchange's, not recomputed."""


class BitgetVenue:
    """Streams and REST of Bitget classic USDT-FUTURES for any number of accounts."""

    def __init__(
        self,
        venue: Venue,
        accounts: Sequence[VenueAccount],
        sink: Sink,
        *,
        endpoints: Endpoints | None = None,
        clock: Callable[[], int] = now_ms,
        rate_limit: bool = True,
        close_wait_ms: int | None = None,
    ) -> None:
        if venue is not Venue.BITGET:
            raise ValueError(f"BitgetVenue does not speak {venue}")
        self.venue: Venue = venue
        self.accounts = {a.name: a for a in accounts}
        self.sink = sink
        self.endpoints = endpoints
        self.clock = clock
        self.rate_limit = rate_limit
        self.close_wait_ms = close_wait_ms
        self.symbols: dict[str, str] = {}
        self.markets: list[MarketInfo] = []
        self._rules: dict[str, MarketRules] = {}
        self._public: Any = None
        self._clients: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._marks_backoff = Backoff()
        self._ticks: dict[str, tuple[Any, Any]] = {}  # symbol -> (ts, markPrice) of the last mark passed on
        self._tiers: dict[str, Any] = {}  # symbol -> tier rows (public, the same for every account)
        self._rows: dict[str, list[Mapping[str, Any]]] = {}  # account -> its last positions rows
        self._legs: dict[str, set[tuple[str, PositionSide]]] = {}
        self._hedge: dict[str, bool] = {}
        self.rest_gate = RestGate(clock, on_ban=self._on_ban)
        self._streams = StreamKeeper(sink, clock, self.rest_gate, self._ping)

    def _on_ban(self, ban: Ban) -> None:
        log.warning("REST paused: banned by the exchange", venue=self.venue.value, status=ban.status)
        self.sink(
            VenueBanned(self.venue.value, ban.until_ms, ban.status, scrub(ban.detail)[:200], self.clock())
        )

    # --- lifecycle ----------------------------------------------------------------------------------
    def stream_names(self) -> list[str]:
        return [self._marks_stream, *(self._user_stream(name) for name in self.accounts)]

    @property
    def _marks_stream(self) -> str:
        return f"{self.venue.value}:marks"

    def _user_stream(self, account: str) -> str:
        return f"{self.venue.value}:{account}:user"

    async def start(self) -> None:
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
        await self.resync_marks()
        for name in self.accounts:
            try:
                await self.refresh_tiers(name)
                await self.resync(name)
            except Exception as exc:
                raise StartError(self.venue.value, name) from exc
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
            "options": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}},
        }
        if acct is not None:
            config["apiKey"] = acct.api_key
            config["secret"] = acct.secret
            config["password"] = acct.passphrase
        client = TappedBitget(config)
        client.on_bad_frame = self._on_bad_frame
        client.rest_gate = self.rest_gate
        if self.close_wait_ms is not None:
            client.timeout_on_exit = self.close_wait_ms
        if self.endpoints is not None:
            point_at(client, self.endpoints.rest, self.endpoints.ws)
        return client

    def _index_markets(self, markets: Mapping[str, Any]) -> None:
        """The linear USDT-settled swaps: the only product watched (COIN-/USDC-FUTURES are not)."""
        self.symbols, self.markets, self._rules = {}, [], {}
        for symbol, m in markets.items():
            if not m.get("swap") or not m.get("linear") or m.get("settle") != "USDT":
                continue
            self.symbols[m["id"]] = symbol
            self.markets.append(MarketInfo(symbol, float(m.get("contractSize") or 1.0), False))
            self._rules[symbol] = _market_rules(symbol, m)

    def market_rules(self, symbol: str) -> MarketRules | None:
        return self._rules.get(symbol)

    # --- streams ------------------------------------------------------------------------------------
    async def _marks_loop(self) -> None:
        stream = self._marks_stream
        symbols = sorted(self.symbols.values())
        while True:
            try:
                await self._public.watch_tickers(symbols)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._streams.down(stream, exc, self._marks_backoff, needs_rest=False)
                await self._safely(self.resync_marks(), stream)
                continue
            received = self.clock()
            # ccxt.pro resolves the watch with the first push since the last call and keeps only the
            # cache of the others: read every ticker the cache holds that changed since last time
            tickers = self._changed_tickers()
            try:
                marks = parse.marks_from_tickers(tickers, venue=self.venue.value, received_ms=received)
            except parse.FrameError as exc:
                self.sink(Rejected("ticker", str(exc), received_ms=received))
                continue
            if marks.prices:
                if not self._streams.is_live(stream):
                    self._streams.live(stream, received)
                    self._marks_backoff.reset()
                self.sink(marks)

    def _changed_tickers(self) -> dict[str, Any]:
        changed: dict[str, Any] = {}
        cache = self._public.tickers or {}
        for symbol in self.symbols.values():
            ticker = cache.get(symbol)
            if ticker is None:
                continue
            info = ticker.get("info") or {}
            stamp = (info.get("ts"), info.get("markPrice"))
            if self._ticks.get(symbol) != stamp:
                self._ticks[symbol] = stamp
                changed[symbol] = ticker
        return changed

    async def _user_loop(self, account: str) -> None:
        client = self._clients[account]
        await keep_subscribed(
            self._streams,
            self._user_stream(account),
            lambda: self._watch_private(account),
            opened=lambda watch: self._wait_private_connected(client, watch),
            resync=lambda: self.resync(account),
        )

    async def _watch_private(self, account: str) -> None:
        """Both private channels, subscribed one after the other; returns (raises) when either ends."""
        client = self._clients[account]
        first = await client.watch_positions()
        self._on_positions(account, first)
        balance = asyncio.ensure_future(self._balance_loop(account))
        try:
            while True:
                self._on_positions(account, await client.watch_positions())
                if balance.done():
                    balance.result()
        finally:
            balance.cancel()
            with contextlib.suppress(BaseException):
                await balance

    async def _balance_loop(self, account: str) -> None:
        client = self._clients[account]
        while True:
            balance = await client.watch_balance()
            # ccxt.pro keeps no raw row here: its USDT ``total`` is the push's ``equity``
            self._on_account(account, (balance.get("USDT") or {}).get("total"))

    def _on_positions(self, account: str, positions: Sequence[Mapping[str, Any]]) -> None:
        """A full snapshot: every leg it lacks is closed."""
        received = self.clock()
        rows = [p.get("info") or {} for p in positions]
        try:
            states = parse.positions(rows, self.symbols)
        except parse.FrameError as exc:
            self.sink(Rejected("positions", str(exc), received_ms=received))
            return
        self._rows[account] = rows
        held = {(s.symbol, s.position_side) for s in states if s.amount != 0}
        gone = self._legs.get(account, set()) - held
        self._legs[account] = held
        closed = tuple(PositionState(sym, side, MarginMode.CROSS, 0.0, 0.0) for sym, side in sorted(gone))
        self.sink(
            AccountUpdate(self.venue.value, account, "positions", None, states + closed, received, received)
        )

    def _on_account(self, account: str, total: Any) -> None:
        received = self.clock()
        try:
            equity = float(total)
        except (TypeError, ValueError):
            self.sink(Rejected("account", "account push without a USDT equity", received_ms=received))
            return
        wallet = parse.cross_wallet(equity, self._rows.get(account, []))
        self.sink(AccountUpdate(self.venue.value, account, "account", wallet, (), received, received))

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

    async def _wait_private_connected(self, client: Any, watch: asyncio.Future[Any]) -> bool:
        deadline = asyncio.get_running_loop().time() + _CONNECT_WAIT_S
        while asyncio.get_running_loop().time() < deadline and not watch.done():
            for url, ws in list(client.clients.items()):
                if "private" in url and ws.connected.done():
                    return not (ws.connected.cancelled() or ws.connected.exception() is not None)
            await asyncio.sleep(0.02)
        return False

    async def _ping(self) -> None:
        await self._public.publicCommonGetV2PublicTime()

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
        body = await self._public.publicMixGetV2MixMarketTickers(PRODUCT)
        marks = parse.marks_from_rest(
            body.get("data") or [], self.symbols, venue=self.venue.value, received_ms=self.clock()
        )
        if marks.prices:
            self.sink(marks)

    @raises_venue_errors
    async def resync(self, account: str) -> None:
        """All positions and the USDT account over REST."""
        client = self._clients[account]
        requested = self.clock()
        rows = (await client.privateMixGetV2MixPositionAllPosition(USDT)).get("data") or []
        account_row = parse.usdt_row(
            (await client.privateMixGetV2MixAccountAccounts(PRODUCT)).get("data") or []
        )
        if parse.is_union(account_row) or any(parse.is_union(r) for r in rows):
            raise UnionModeRefused(
                f"account {account}: Bitget multi-asset (union) mode is not supported: its cross figures"
                " depend on every collateral at haircut value; switch the account to single-asset mode"
            )
        states = parse.positions(rows, self.symbols)
        self._rows[account] = list(rows)
        self._legs[account] = {(s.symbol, s.position_side) for s in states if s.amount != 0}
        hedge = parse.hedge_mode(account_row)
        self._hedge[account] = hedge
        wallet = parse.cross_wallet(float(account_row.get("accountEquity") or 0.0), rows)
        self.sink(
            AccountSnapshotEvent(
                self.venue.value,
                account,
                wallet,
                states,
                self.clock(),
                hedge_mode=hedge,
                multi_assets=False,
                requested_ms=requested,
            )
        )

    @raises_venue_errors
    async def refresh_tiers(self, account: str | None = None) -> None:
        """Tier tables are public and per symbol: read once per refresh, handed to every account."""
        names = [account] if account else list(self.accounts)
        fresh: dict[str, Any] = {}
        for market_id, symbol in self.symbols.items():
            if account is not None and symbol in self._tiers:
                fresh[symbol] = self._tiers[symbol]
                continue
            body = await self._public.publicMixGetV2MixMarketQueryPositionLever(
                {**PRODUCT, "symbol": market_id}
            )
            fresh[symbol] = body.get("data") or []
        self._tiers.update(fresh)
        received = self.clock()
        for name in names:
            for symbol, rows in fresh.items():
                self.sink(
                    parse.tier_table(
                        rows, venue=self.venue.value, account=name, symbol=symbol, received_ms=received
                    )
                )

    def expect_positions(self, account: str, legs: Mapping[tuple[str, PositionSide], bool]) -> None:
        """Bitget has no forced-order lookup here yet: a leg gone while the daemon was down is seen
        closed by the first snapshot, without saying what closed it."""

    @raises_venue_errors
    async def fetch_position(
        self, account: str, symbol: str, position_side: PositionSide
    ) -> PositionState | None:
        client = self._clients[account]
        market_id = client.market(symbol)["id"]
        body = await client.privateMixGetV2MixPositionSinglePosition({**USDT, "symbol": market_id})
        for state in parse.positions(body.get("data") or [], self.symbols):
            if state.symbol == symbol and state.position_side is position_side and state.amount != 0:
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
        """``side`` is the trade direction (sell reduces a long). One-way: ``reduceOnly`` "YES" and no
        ``tradeSide``. Hedge: Bitget names the position's side (buy = the long) with ``tradeSide``
        "close"."""
        client = self._clients[account]
        leg = await self.fetch_position(account, symbol, position_side)
        mode = leg.margin_mode if leg is not None else MarginMode.CROSS
        request: dict[str, Any] = {
            **USDT,
            "symbol": client.market(symbol)["id"],
            "marginMode": "isolated" if mode is MarginMode.ISOLATED else "crossed",
            "size": client.amount_to_precision(symbol, amount),
            "orderType": "market",
            "clientOid": client_order_id,
        }
        if position_side is PositionSide.BOTH:
            request["side"] = side
            request["reduceOnly"] = "YES"
        else:
            request["side"] = "buy" if position_side is PositionSide.LONG else "sell"
            request["tradeSide"] = "close"
        await client.privateMixPostV2MixOrderPlaceOrder(request)
        found = await self.fetch_order_by_client_id(account, symbol, client_order_id)
        return found or OrderResult(client_order_id, "unknown", 0.0, None, "accepted, not yet listed")

    async def fetch_order_by_client_id(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        client = self._clients[account]
        request = {**PRODUCT, "symbol": client.market(symbol)["id"], "clientOid": client_order_id}
        try:
            with venue_errors(self.rest_gate):
                body = await client.privateMixGetV2MixOrderDetail(request)
        except OrderNotFound:
            return None
        return _order_result(client_order_id, body.get("data") or {})

    @raises_venue_errors
    async def add_isolated_margin(
        self, account: str, symbol: str, amount: float, position_side: PositionSide
    ) -> None:
        client = self._clients[account]
        if position_side is PositionSide.BOTH:
            leg = await self.fetch_position(account, symbol, position_side)
            hold = "short" if leg is not None and leg.amount < 0 else "long"
        else:
            hold = position_side.value
        await client.privateMixPostV2MixAccountSetMargin(
            {
                **USDT,
                "symbol": client.market(symbol)["id"],
                "holdSide": hold,
                "amount": f"{amount:.8f}".rstrip("0").rstrip("."),
            }
        )


def _order_result(client_order_id: str, row: Mapping[str, Any]) -> OrderResult:
    state = str(row.get("state") or row.get("status") or "")
    mapped = {
        "filled": "filled",
        "live": "open",
        "new": "open",
        "partially_filled": "open",
        "canceled": "rejected",
    }
    avg = row.get("priceAvg")
    return OrderResult(
        client_order_id,
        mapped.get(state, "unknown"),
        float(row.get("baseVolume") or 0.0),
        float(avg) if avg else None,
    )


def _market_rules(symbol: str, market: Mapping[str, Any]) -> MarketRules:
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}

    def number(value: Any) -> float:
        return float(value) if value else 0.0

    return MarketRules(
        symbol,
        contract_size=number(market.get("contractSize")) or 1.0,
        inverse=False,
        amount_step=number(precision.get("amount")),
        min_amount=number((limits.get("amount") or {}).get("min")),
        price_tick=number(precision.get("price")),
        min_notional=number((limits.get("cost") or {}).get("min")),
    )
