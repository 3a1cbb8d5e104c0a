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
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.events import AccountSnapshotEvent, AccountUpdate, PositionState, Rejected
from monitor.model import MarginMode, PositionSide, Venue
from monitor.venues.base import (
    OrderResult,
    Sink,
    VenueAccount,
)
from monitor.venues.bitget import parse
from monitor.venues.bitget.client import TappedBitget
from monitor.venues.bitget.errors import MAPPING, raises_venue_errors
from monitor.venues.ccxt_venue import CcxtVenue
from monitor.venues.errors import OrderNotFound, Refused
from monitor.venues.reconnect import keep_subscribed

PRODUCT = {"productType": "USDT-FUTURES"}
USDT = {"productType": "USDT-FUTURES", "marginCoin": "USDT"}


class UnionModeRefused(Refused):
    """An account in multi-asset ("union") mode: its figures are the exchange's, not recomputed."""


class BitgetVenue(CcxtVenue):
    """Streams and REST of Bitget classic USDT-FUTURES for any number of accounts."""

    VENUE = Venue.BITGET
    ERRORS = MAPPING

    def __init__(self, venue: Venue, accounts: Sequence[VenueAccount], sink: Sink, **options: Any) -> None:
        super().__init__(venue, accounts, sink, **options)
        self._ticks: dict[str, tuple[Any, Any]] = {}  # symbol -> (ts, markPrice) of the last mark passed on
        self._tiers: dict[str, Any] = {}  # symbol -> tier rows (public, the same for every account)
        self._rows: dict[str, list[Mapping[str, Any]]] = {}  # account -> its last positions rows
        self._legs: dict[str, set[tuple[str, PositionSide]]] = {}
        self._hedge: dict[str, bool] = {}

    def new_client(self, config: dict[str, Any]) -> Any:
        return TappedBitget(config)

    # --- streams ------------------------------------------------------------------------------------
    async def marks_loop(self) -> None:
        stream = self.marks_stream
        symbols = sorted(self.symbols.values())
        while True:
            try:
                await self.public.watch_tickers(symbols)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self.streams.down(stream, exc, self.marks_backoff, needs_rest=False)
                await self.safely(self.resync_marks(), stream)
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
                self.marks_received(received)
                self.sink(marks)

    def _changed_tickers(self) -> dict[str, Any]:
        changed: dict[str, Any] = {}
        cache = self.public.tickers or {}
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

    async def user_loop(self, account: str) -> None:
        client = self.clients[account]
        await keep_subscribed(
            self.streams,
            self.user_stream(account),
            lambda: self._watch_private(account),
            opened=lambda watch: self.wait_private_connected(client, watch),
            resync=lambda: self.resync(account),
        )

    async def _watch_private(self, account: str) -> None:
        """Both private channels, subscribed one after the other; returns (raises) when either ends."""
        client = self.clients[account]
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
        client = self.clients[account]
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

    async def ping(self) -> None:
        await self.public.publicCommonGetV2PublicTime()

    # --- REST ---------------------------------------------------------------------------------------
    @raises_venue_errors
    async def resync_marks(self) -> None:
        body = await self.public.publicMixGetV2MixMarketTickers(PRODUCT)
        marks = parse.marks_from_rest(
            body.get("data") or [], self.symbols, venue=self.venue.value, received_ms=self.clock()
        )
        if marks.prices:
            self.sink(marks)

    @raises_venue_errors
    async def resync(self, account: str) -> None:
        """All positions and the USDT account over REST."""
        client = self.clients[account]
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
            body = await self.public.publicMixGetV2MixMarketQueryPositionLever(
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
        client = self.clients[account]
        market_id = client.market(symbol)["id"]
        body = await client.privateMixGetV2MixPositionSinglePosition({**USDT, "symbol": market_id})
        for state in parse.positions(body.get("data") or [], self.symbols):
            if state.symbol == symbol and state.position_side is position_side and state.amount != 0:
                return state
        return None

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
        client = self.clients[account]
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
        client = self.clients[account]
        request = {**PRODUCT, "symbol": client.market(symbol)["id"], "clientOid": client_order_id}
        try:
            with MAPPING.venue_errors(self.rest_gate):
                body = await client.privateMixGetV2MixOrderDetail(request)
        except OrderNotFound:
            return None
        return _order_result(client_order_id, body.get("data") or {})

    @raises_venue_errors
    async def add_isolated_margin(
        self, account: str, symbol: str, amount: float, position_side: PositionSide
    ) -> None:
        client = self.clients[account]
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
