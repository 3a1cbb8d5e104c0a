"""Binance USD-M and COIN-M through ccxt and ccxt.pro.

- One public client per venue streams every mark (``!markPrice@arr@1s``) and loads the markets once;
  each account's client shares those markets (``set_markets``) instead of loading them again.
- One private client per account keeps the user-data stream open (``watch_balance``); the frames
  themselves are read raw through :mod:`monitor.venues.binance.client`.
- ccxt does not reconnect by itself: every stream runs in a loop that, after an error, waits a jittered
  backoff, resubscribes and resyncs over REST, because whatever happened while it was down is lost
  (the venue-neutral loop and waits are :mod:`monitor.venues.reconnect`; listen keys are Binance's).
- REST resyncs read Binance's raw fields (isolatedWallet, crossWalletBalance, maintMargin), never ccxt's
  derived numbers (margin-reference 1.2 and 4).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from monitor.daemon.engine import MarketInfo
from monitor.events import (
    AccountUpdate,
    ListenKeyExpired,
    PositionState,
    Rejected,
    VenueBanned,
)
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
from monitor.venues.binance import forced, parse
from monitor.venues.binance.client import TappedBinanceCoinm, TappedBinanceUsdm
from monitor.venues.binance.errors import raises_venue_errors, venue_errors
from monitor.venues.binance.urls import point_at
from monitor.venues.errors import OrderNotFound
from monitor.venues.markets import MarketRules
from monitor.venues.reconnect import StreamKeeper, keep_subscribed

log = get_logger(__name__)

# How long a private subscription may take to connect before the stream loop gives up on it.
_CONNECT_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class _Settings:
    """An account's settings as last read: its position mode (``positionSide/dual``) and, for USD-M,
    each symbol's margin mode and leverage (``symbolConfig``, what v3 positionRisk lacks)."""

    hedge_mode: bool
    margin_modes: dict[str, MarginMode] | None
    leverages: dict[str, float] | None
    multi_assets: bool | None  # USD-M: whether every margin asset is in the pool (Multi-Assets mode)


class BinanceVenue:
    """Streams and REST of one Binance derivatives venue for any number of accounts."""

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
        """``rate_limit`` is ccxt's client-side throttle by Binance's request weights: keep it on
        against Binance (ignored 429s escalate to IP bans); tests against the simulator turn it off.
        ``close_wait_ms`` overrides ccxt's pause on close (250 ms)."""
        if venue not in (Venue.BINANCE_USDM, Venue.BINANCE_COINM):
            raise ValueError(f"BinanceVenue does not speak {venue}")
        self.venue: Venue = venue
        self.coin_margined = venue is Venue.BINANCE_COINM
        self.accounts = {a.name: a for a in accounts}
        self.sink = sink
        self.endpoints = endpoints
        self.clock = clock
        self.ccxt_options = ccxt_options or {}
        self.rate_limit = rate_limit
        self.close_wait_ms = close_wait_ms
        self.symbols: dict[str, str] = {}  # market id -> unified symbol
        self.markets: list[MarketInfo] = []
        self._rules: dict[str, MarketRules] = {}
        self._public: Any = None
        self._clients: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._marks_backoff = Backoff()
        self._renew: dict[str, asyncio.Event] = {}
        self._legs = forced.OpenLegs()
        self._settings: dict[str, _Settings] = {}
        # COIN-M: the coin whose pool backs each account's positions, from its snapshots and updates
        self._pool_coin: dict[str, str] = {}
        # every client of the venue calls from this host's IP: a 418/429 stops them all
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
        """Load markets, take a first REST snapshot of every account, then open the streams."""
        self._public = self._make_client(None)
        try:
            with venue_errors(self.rest_gate):
                await self._public.load_markets()
        except Exception as exc:
            raise StartError(self.venue.value, None) from exc
        self._index_markets(self._public.markets)
        for acct in self.accounts.values():
            client = self._make_client(acct)
            # one copy of the markets for every account: set_markets would deep-copy them per client
            client.set_markets_from_exchange(self._public)
            self._clients[acct.name] = client
            self._renew[acct.name] = asyncio.Event()
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
        cls = TappedBinanceCoinm if self.coin_margined else TappedBinanceUsdm
        config: dict[str, Any] = {
            "enableRateLimit": self.rate_limit,
            "options": {
                "fetchCurrencies": False,
                "defaultType": "delivery" if self.coin_margined else "future",
                # ccxt.pro would fetch positions on the first ACCOUNT_UPDATE to seed its own cache, and
                # that call loads every symbol's leverage brackets into each account's client (tens of
                # MB for 50 accounts). The frames are parsed here and resyncs read the raw endpoints.
                "watchPositions": {"fetchPositionsSnapshot": False},
            },
        }
        config["options"].update(self.ccxt_options)
        if acct is not None:
            config["apiKey"] = acct.api_key
            config["secret"] = acct.secret
        client = cls(config)
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
        want_inverse = self.coin_margined
        self.symbols = {}
        self.markets = []
        self._rules = {}
        for symbol, m in markets.items():
            if not m.get("contract") or bool(m.get("inverse")) != want_inverse:
                continue
            self.symbols[m["id"]] = symbol
            self.markets.append(
                MarketInfo(symbol, float(m.get("contractSize") or 1.0), bool(m.get("inverse")))
            )
            self._rules[symbol] = _market_rules(symbol, m)

    def market_rules(self, symbol: str) -> MarketRules | None:
        """The market's lot size, tick and minimums, as ``load_markets`` listed them at start."""
        return self._rules.get(symbol)

    # --- frames -------------------------------------------------------------------------------------
    def _on_market_frame(self, url: str, frame: Any) -> None:
        received = self.clock()
        if parse.is_control_reply(frame):
            return
        try:
            marks, problems = parse.parse_mark_prices(
                frame, venue=self.venue.value, symbols=self.symbols, received_ms=received
            )
        except parse.FrameError as exc:
            self.sink(exc.to_rejected(received))
            return
        for problem in problems:
            self.sink(Rejected("markPrice", problem, received_ms=received))
        if marks.prices:
            stream = self._marks_stream
            if not self._streams.is_live(stream):
                # the first valid frame since (re)subscribing is the proof the stream is live
                self._streams.live(stream, received)
                self._marks_backoff.reset()
            self.sink(marks)

    def _on_user_frame(self, account: str, url: str, frame: Any) -> None:
        received = self.clock()
        if parse.is_control_reply(frame):
            return
        try:
            event = parse.parse_user_event(
                frame,
                venue=self.venue.value,
                account=account,
                symbols=self.symbols,
                received_ms=received,
                asset=None if self.coin_margined else "USDT",
            )
        except parse.FrameError as exc:
            self.sink(exc.to_rejected(received))
            return
        if event is None:
            return
        if self.coin_margined and isinstance(event, AccountUpdate):
            event = self._with_pool_wallet(account, event)
        if isinstance(event, AccountUpdate):
            self._legs.on_update(account, event.positions, received)
        self.sink(event)
        if isinstance(event, ListenKeyExpired):
            self._renew[account].set()

    def _with_pool_wallet(self, account: str, event: AccountUpdate) -> AccountUpdate:
        """COIN-M: the wallet of the coin whose pool backs the account's positions (named by the
        update's own legs, else the last snapshot's), out of the balances an ACCOUNT_UPDATE lists."""
        coins = {parse.settle_asset(p.symbol) for p in event.positions}
        coin = next(iter(coins)) if len(coins) == 1 else self._pool_coin.get(account)
        balances = dict(event.other_balances)
        if coin is None or coin not in balances:
            return event
        self._pool_coin[account] = coin
        others = tuple((name, cw) for name, cw in event.other_balances if name != coin)
        return replace(event, cross_wallet_balance=balances[coin], other_balances=others)

    def _on_ban(self, ban: Ban) -> None:
        log.warning(
            "REST paused: banned by the exchange",
            venue=self.venue.value,
            status=ban.status,
            until=ban.until_text(),
            detail=scrub(ban.detail)[:200],
        )
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
        """Keeps the mark subscription open. The frames arrive through the raw tap; this call only
        returns (or raises) when the connection fails."""
        stream = self._marks_stream
        while True:
            try:
                await self._public.watch_mark_prices()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # the marks need no REST to resubscribe: a ban only skips the REST marks
                await self._streams.down(stream, exc, self._marks_backoff, needs_rest=False)
                if self.rest_gate.closed_until() is None:
                    await self._safely(self.resync_marks(), stream)

    async def _user_loop(self, account: str) -> None:
        client = self._clients[account]
        await keep_subscribed(
            self._streams,
            self._user_stream(account),
            client.watch_balance,
            opened=lambda watch: self._wait_private_connected(client, watch),
            resync=lambda: self.resync(account, refresh_settings=False),
            renew=self._renew[account],
            restart=lambda: self._restart_private(account, "listenKey expired"),
            # the settings were cached for a fast resync; the user may have changed them (the
            # Multi-Assets mode, say) while the stream was down: read them once it is live
            after_live=lambda: self._refresh_settings(account, resync_if_changed=True),
        )

    async def _restart_private(self, account: str, why: str) -> None:
        client = self._clients[account]
        self._streams.lost(self._user_stream(account), why)
        client.forget_listen_key()
        for url, ws in list(client.clients.items()):
            if _is_private_url(url):
                with contextlib.suppress(Exception):
                    await ws.close()
                client.clients.pop(url, None)

    async def _wait_private_connected(self, client: Any, watch: asyncio.Future[Any]) -> bool:
        """True once the private socket is open. False when the subscription failed first (the
        watch ended) or did not connect in time: a stream is never declared live on a hope."""
        deadline = asyncio.get_running_loop().time() + _CONNECT_WAIT_S
        while asyncio.get_running_loop().time() < deadline and not watch.done():
            for url, ws in list(client.clients.items()):
                if _is_private_url(url) and ws.connected.done():
                    return not (ws.connected.cancelled() or ws.connected.exception() is not None)
            await asyncio.sleep(0.02)
        return False

    async def _ping(self) -> None:
        """GET time (weight 1): the cheapest question the venue answers."""
        client = self._public
        await (client.dapiPublicGetTime() if self.coin_margined else client.fapiPublicGetTime())

    def _forget_dial_backoff(self) -> None:
        """The venue answers again: drop ccxt's own dial backoff (which grows with each failed
        WebSocket dial up to 30 s), so the next subscription dials at once."""
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
        """Marks over REST: at start and after the mark stream dropped (what it missed is gone)."""
        client = self._public
        body = await (
            client.dapiPublicGetPremiumIndex() if self.coin_margined else client.fapiPublicGetPremiumIndex()
        )
        received = self.clock()
        marks = parse.parse_premium_index(
            body, venue=self.venue.value, symbols=self.symbols, received_ms=received
        )
        if marks.prices:
            self.sink(marks)

    @raises_venue_errors
    async def resync(self, account: str, *, refresh_settings: bool = True) -> None:
        """A full account snapshot from REST raw fields.

        What changes (positions, balances; in Multi-Assets mode the margin assets' index prices and
        haircuts) is read first. The account's settings (position mode, margin modes, leverages,
        Multi-Assets mode) change only by the user's hand; they are read before the first snapshot and
        then kept, and a ``refresh_settings`` resync (the scheduled one) reads them again after its
        snapshot is out, for the next. So the resync after a reconnect is two calls (three in
        Multi-Assets mode): ccxt's throttle charges ``positionSide/dual`` a weight of 30, 1.5 s before
        the next call may go."""
        client = self._clients[account]
        requested = self.clock()
        version: parse.PositionRiskVersion
        if self.coin_margined:
            rows = await client.dapiPrivateGetPositionRisk()
            body = await client.dapiPrivateGetAccount()
            version = "coinm"
        else:
            rows = await client.fapiPrivateV3GetPositionRisk()
            body = await client.fapiPrivateV3GetAccount()
            version = "v3"
        settings = self._settings.get(account)
        first = settings is None
        if settings is None:
            settings = self._settings[account] = await self._fetch_settings(account)
        # the pool's assets move with their prices: their index and haircuts are read with every snapshot
        asset_index = (
            parse.parse_asset_index(await client.fapiPublicGetAssetIndex()) if settings.multi_assets else None
        )
        snapshot = parse.parse_account_snapshot(
            body,
            rows,
            venue=self.venue.value,
            account=account,
            symbols=self.symbols,
            version=version,
            received_ms=self.clock(),
            hedge_mode=settings.hedge_mode,
            margin_modes=settings.margin_modes,
            leverages=settings.leverages,
            multi_assets=settings.multi_assets,
            asset_index=asset_index,
            pool_coin=self._pool_coin.get(account),
        )
        if self.coin_margined:
            coins = {parse.settle_asset(p.symbol) for p in snapshot.positions if p.amount != 0}
            if len(coins) == 1:
                self._pool_coin[account] = coins.pop()
        vanished = self._legs.on_snapshot(account, snapshot.positions, requested)
        if vanished:
            # before the snapshot, so the policy hears "liquidated" first, then the close
            await self._explain_vanished(account, vanished)
        self.sink(replace(snapshot, requested_ms=requested))
        if refresh_settings and not first:
            await self._refresh_settings(account, resync_if_changed=False)

    async def _refresh_settings(self, account: str, *, resync_if_changed: bool) -> None:
        """Read the account's settings again for the next snapshot; with ``resync_if_changed``, take
        that snapshot at once when they changed (a snapshot judged by old settings, such as a pool
        read in the wrong margin mode, would otherwise stand until the scheduled resync)."""
        try:
            fresh = await self._fetch_settings(account)
            changed = fresh != self._settings.get(account)
            self._settings[account] = fresh
            if changed and resync_if_changed:
                log.info("account settings changed; resyncing", account=account)
                await self.resync(account, refresh_settings=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            detail = scrub(f"{type(exc).__name__}: {exc}")[:200]
            log.warning(
                "account settings refresh failed; the last ones are kept", account=account, error=detail
            )

    async def _fetch_settings(self, account: str) -> _Settings:
        client = self._clients[account]
        if self.coin_margined:
            dual = await client.dapiPrivateGetPositionSideDual()
            return _Settings(parse.parse_position_side_dual(dual), None, None, None)
        dual = await client.fapiPrivateGetPositionSideDual()
        margin_modes, leverages = parse.parse_symbol_config(
            await client.fapiPrivateGetSymbolConfig(), symbols=self.symbols
        )
        # the mode can change between resyncs; in Multi-Assets mode every margin asset is in the pool
        multi_assets = parse.parse_multi_assets_margin(await client.fapiPrivateGetMultiAssetsMargin())
        return _Settings(parse.parse_position_side_dual(dual), margin_modes, leverages, multi_assets)

    def expect_positions(self, account: str, legs: Mapping[forced.LegKey, bool]) -> None:
        """Legs the account held before a restart (``True`` = long): a first snapshot that lacks one
        asks the exchange what closed it, as any later snapshot would."""
        self._legs.expect(account, legs)

    async def _explain_vanished(self, account: str, vanished: Mapping[forced.LegKey, forced.Leg]) -> None:
        """Pass on, as the stream would have, every forced order that closed one of these legs. A
        lookup that fails leaves them vanished: the next snapshot asks again."""
        client = self._clients[account]
        market_ids = {symbol: market_id for market_id, symbol in self.symbols.items()}
        # a symbol no longer listed cannot be asked about (and will not be again)
        self._legs.explained(account, [k for k in vanished if k[0] not in market_ids])
        vanished = {k: leg for k, leg in vanished.items() if k[0] in market_ids}
        if not vanished:
            return
        params = forced.lookup_params(vanished, market_ids)
        try:
            body = await (
                client.dapiPrivateGetForceOrders(params)
                if self.coin_margined
                else client.fapiPrivateGetForceOrders(params)
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            detail = scrub(f"{type(exc).__name__}: {exc}")[:200]
            log.warning("forced-order lookup failed", account=account, error=detail)
            return
        received = self.clock()
        try:
            orders = forced.parse_force_orders(
                body, venue=self.venue.value, account=account, symbols=self.symbols, received_ms=received
            )
        except parse.FrameError as exc:
            self.sink(exc.to_rejected(received))
            orders = ()
        closing = [o for o in orders if any(forced.closes_leg(o, k, leg) for k, leg in vanished.items())]
        for order in sorted(closing, key=lambda o: o.event_ms):
            self.sink(order)
        self._legs.explained(account, vanished)

    @raises_venue_errors
    async def refresh_tiers(self, account: str | None = None) -> None:
        """Brackets can be user specific (notionalCoef), so they are fetched with each account's key."""
        for name in [account] if account else list(self.accounts):
            client = self._clients[name]
            body = await (
                client.dapiPrivateV2GetLeverageBracket()
                if self.coin_margined
                else client.fapiPrivateGetLeverageBracket()
            )
            tables = parse.parse_leverage_brackets(
                body,
                venue=self.venue.value,
                account=name,
                symbols=self.symbols,
                received_ms=self.clock(),
                coin_margined=self.coin_margined,
            )
            for table in tables:
                self.sink(table)

    @raises_venue_errors
    async def fetch_position(
        self, account: str, symbol: str, position_side: PositionSide
    ) -> PositionState | None:
        """A fresh read of one leg (the order gateway sizes every order from this, never from memory)."""
        client = self._clients[account]
        market_id = client.market(symbol)["id"]
        version: parse.PositionRiskVersion
        if self.coin_margined:
            rows = await client.dapiPrivateGetPositionRisk({"pair": market_id.split("_")[0]})
            version = "coinm"
        else:
            rows = await client.fapiPrivateV3GetPositionRisk({"symbol": market_id})
            version = "v3"
        states = parse.parse_position_risk(rows, symbols=self.symbols, version=version)
        for state in states:
            if state.symbol == symbol and state.position_side is position_side and state.amount != 0:
                return state
        return None

    def client_for(self, account: str) -> Any:
        """The account's ccxt client (tests reach the simulator through it; the gateway does not)."""
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
        # RESULT: the reply says whether the market order filled (the USD-M default, ACK, does not).
        params: dict[str, Any] = {"newClientOrderId": client_order_id, "newOrderRespType": "RESULT"}
        if position_side is PositionSide.BOTH:
            params["reduceOnly"] = True
        else:
            # Hedge mode: Binance rejects reduceOnly (-1106); an order on the opposite side of a leg,
            # named by positionSide, can only close that leg.
            params["positionSide"] = position_side.value.upper()
        order = await client.create_order(symbol, "market", side, amount, None, params)
        return _order_result(client_order_id, order)

    async def fetch_order_by_client_id(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        client = self._clients[account]
        try:
            with venue_errors(self.rest_gate):
                order = await client.fetch_order(None, symbol, {"origClientOrderId": client_order_id})
        except OrderNotFound:
            return None
        return _order_result(client_order_id, order)

    @raises_venue_errors
    async def add_isolated_margin(
        self, account: str, symbol: str, amount: float, position_side: PositionSide
    ) -> None:
        client = self._clients[account]
        # The endpoint itself, not ccxt's add_margin: that one truncates the amount to the contract's
        # amount precision (whole coins for DOGE), which is not the precision of a margin amount.
        request: dict[str, Any] = {
            "symbol": client.market(symbol)["id"],
            "amount": f"{amount:.8f}".rstrip("0").rstrip("."),
            "type": 1,
        }
        if position_side is not PositionSide.BOTH:
            request["positionSide"] = position_side.value.upper()
        if self.coin_margined:
            await client.dapiPrivatePostPositionMargin(request)
        else:
            await client.fapiPrivatePostPositionMargin(request)


def _is_private_url(url: str) -> bool:
    """A user-data socket: USD-M ``.../private/ws?listenKey=K``, COIN-M ``.../ws/K`` (a 64-character
    key where market sockets have a stream index)."""
    return "/private" in url or "listenKey" in url or len(url.rstrip("/").rsplit("/", 1)[-1]) == 64


def _order_result(client_order_id: str, order: dict[str, Any]) -> OrderResult:
    status = str(order.get("status") or "unknown")
    mapped = {
        "closed": "filled",
        "open": "open",
        "canceled": "rejected",
        "rejected": "rejected",
        "expired": "rejected",
    }
    return OrderResult(
        client_order_id,
        mapped.get(status, "unknown"),
        float(order.get("filled") or 0.0),
        float(order["average"]) if order.get("average") else None,
    )


def _market_rules(symbol: str, market: Mapping[str, Any]) -> MarketRules:
    """A ccxt market's grid. ccxt's Binance lists its precisions as step sizes (``TICK_SIZE`` mode):
    ``precision.amount`` is the lot size, ``precision.price`` the tick."""
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
        # COIN-M moves margin in the coin, to 8 decimals; USD-M in USDT, to the cent
        margin_step=1e-8 if market.get("inverse") else 0.01,
    )
