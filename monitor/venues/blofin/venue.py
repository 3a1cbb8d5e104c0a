"""BloFin USDT swaps through ccxt and ccxt.pro ``blofin``.

- Marks: BloFin streams no mark price with its tickers (the only streamed mark is a per-symbol
  ``mark-price-candle1m``), so the public client polls REST ``/api/v1/market/mark-price`` without an
  ``instId``: every instrument's mark in one call, every ``mark_poll_s`` seconds (the accounts'
  ``mark_poll_seconds``, 1 s by default: far inside BloFin's 500 requests a minute). Only marks
  whose time or value moved are passed on, so a stalled feed reads as stale, not as fresh copies of
  old prices.
- One private client per account (key, secret and passphrase) keeps ``positions``, ``account`` and
  ``orders`` subscribed, all read raw (``client.TappedBlofin``): sizes are contracts, a ``positions``
  "0" row is a closed leg, ccxt's ``marginRatio`` is not BloFin's, an order's ``orderCategory`` says
  whether the exchange liquidated. REST resyncs: positions, the balance, the position mode, the tiers.
- A private push is passed on after the marks of a poll started after it (``_after_marks``; a push
  wakes the poll): the account changed at marks at least as new as the push, and the daemon sees the
  price that moved it before the change itself. Without it a liquidation's close would arrive before
  the mark that caused it, and the position's last valuation would be at an older price.
- Orders: a reduce-only close is ``reduceOnly`` "true" in net mode and ``positionSide`` long/short in
  long/short mode (with the trade direction as ``side``); always a ``clientOrderId``, and the fill is
  read back by it. The broker id is the account's ``broker_id`` or none (``TappedBlofin.broker_id``).
- BloFin's API cannot add or remove isolated margin: ``add_isolated_margin`` refuses, saying so
  (the registry says the venue offers no margin transfers, so the planner never asks).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from ccxt.base.errors import ExchangeError

from monitor.events import AccountSnapshotEvent, AccountUpdate, Event, PositionState, Rejected
from monitor.logs import scrub
from monitor.model import MarginMode, PositionSide, Venue
from monitor.venues.base import OrderResult, Sink, VenueAccount
from monitor.venues.blofin import parse
from monitor.venues.blofin.client import TappedBlofin
from monitor.venues.blofin.errors import MAPPING, raises_venue_errors
from monitor.venues.ccxt_venue import CcxtVenue
from monitor.venues.errors import OrderNotFound, Refused
from monitor.venues.reconnect import keep_subscribed

MARK_POLL_S = 1.0
NO_MARGIN_TRANSFER = "BloFin's API has no way to add or remove isolated margin"


class MarginTransferUnsupported(Refused):
    """A margin transfer asked of a venue that offers none."""


class BlofinVenue(CcxtVenue):
    """Streams and REST of BloFin's USDT swaps for any number of accounts."""

    VENUE = Venue.BLOFIN
    ERRORS = MAPPING

    def __init__(
        self,
        venue: Venue,
        accounts: Sequence[VenueAccount],
        sink: Sink,
        *,
        mark_poll_s: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(venue, accounts, sink, **options)
        # one poll serves every account: the shortest interval any of them asks for
        asked = [a.mark_poll_s for a in accounts if a.mark_poll_s > 0]
        self.mark_poll_s = mark_poll_s or (min(asked) if asked else MARK_POLL_S)
        if not self.mark_poll_s > 0:
            raise ValueError("mark_poll_s must be positive")
        self._marks_seen: dict[str, tuple[int, float]] = {}  # symbol -> (ts, mark) last passed on
        self._tiers: dict[str, Any] = {}  # symbol -> tier rows (public, the same for every account)
        self._held: dict[str, dict[tuple[str, PositionSide], PositionState]] = {}  # account -> open legs
        self._hedge: dict[str, bool] = {}
        self._pending: list[Event] = []  # private events waiting for a mark poll started after them
        self._wake = asyncio.Event()  # a private event arrived: poll now

    def new_client(self, config: dict[str, Any]) -> Any:
        return TappedBlofin(config)

    def make_client(self, acct: VenueAccount | None) -> Any:
        client = super().make_client(acct)
        client.broker_id = (acct.broker_id if acct is not None else "") or None
        return client

    def client_options(self) -> dict[str, Any]:
        return {"defaultType": "swap"}

    def frame_handler(self, account: str | None) -> Any:
        if account is None:
            return None
        return lambda url, frame: self._on_user_frame(account, url, frame)

    async def ping(self) -> None:
        first = next(iter(self.symbols), None)
        await self.public.publicGetMarketMarkPrice({"instId": first} if first else {})

    # --- marks --------------------------------------------------------------------------------------
    async def marks_loop(self) -> None:
        """Poll every mark in one call, every ``mark_poll_s`` or at once when a private push waits;
        the stream is live while the polls answer. The pushes that arrived before a poll started are
        passed on after its marks (one request at a time: ccxt's throttle delays no poll behind
        another)."""
        stream = self.marks_stream
        while True:
            self._wake.clear()
            waiting = len(self._pending)
            try:
                await self.resync_marks()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._deliver(len(self._pending))  # no mark to wait for: the pushes go on now
                await self.streams.down(stream, exc, self.marks_backoff, needs_rest=False)
                continue
            self.marks_received(self.clock())
            self._deliver(waiting)
            if self._pending:
                continue  # pushes came during the poll: their marks may be newer still
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.mark_poll_s)

    @raises_venue_errors
    async def resync_marks(self) -> None:
        """GET /api/v1/market/mark-price for every instrument; the marks that moved are passed on."""
        body = await self.public.publicGetMarketMarkPrice()
        received = self.clock()
        try:
            marks, seen = parse.marks(
                body.get("data") or [], self.symbols, venue=self.venue.value, received_ms=received
            )
        except parse.FrameError as exc:
            self.sink(Rejected("mark-price", str(exc), received_ms=received))
            return
        moved = {s for s, stamp in seen.items() if self._marks_seen.get(s) != stamp}
        if not moved:
            return
        self._marks_seen.update({s: seen[s] for s in moved})
        if len(moved) < len(marks.prices):
            stamps = {s: marks.stamp(s) for s in moved}
            marks = type(marks)(
                marks.venue,
                {s: marks.prices[s] for s in moved},
                min(stamps.values()),
                received,
                stamps,
            )
        self.sink(marks)

    # --- the private stream -------------------------------------------------------------------------
    async def user_loop(self, account: str) -> None:
        client = self.clients[account]

        async def subscribe() -> None:
            """The three private channels on one socket; returns (raises) when the socket ends. Their
            pushes never reach ccxt (read raw): the watches stay pending until the socket ends."""
            watches = [
                asyncio.ensure_future(client.watch_positions()),
                asyncio.ensure_future(client.watch_balance()),
                asyncio.ensure_future(client.watch_orders()),
            ]
            try:
                done, _ = await asyncio.wait(watches, return_when=asyncio.FIRST_COMPLETED)
                for w in done:
                    w.result()
            finally:
                for w in watches:
                    if not w.done():
                        w.cancel()
                # every watch's outcome is retrieved: one socket's failure ends them all at once
                await asyncio.shield(asyncio.gather(*watches, return_exceptions=True))

        await keep_subscribed(
            self.streams,
            self.user_stream(account),
            subscribe,
            opened=lambda watch: self.wait_private_connected(client, watch),
            resync=lambda: self.resync(account),
        )

    def _on_user_frame(self, account: str, url: str, frame: Any) -> None:
        if isinstance(frame, dict) and frame.get("event") == "error":
            self._on_error_frame(account, url, frame)
            return
        if not isinstance(frame, dict) or "data" not in frame:
            return  # login, subscribe acks, pong: ccxt's
        channel = (frame.get("arg") or {}).get("channel")
        received = self.clock()
        try:
            if channel == "positions":
                self._on_positions(account, frame["data"], received)
            elif channel == "account":
                self._on_account(account, frame["data"], received)
            elif channel == "orders":
                rows = frame["data"]
                if not isinstance(rows, list):
                    raise parse.FrameError("field 'data' is not a list")
                for order in parse.orders(
                    rows, self.symbols, venue=self.venue.value, account=account, received_ms=received
                ):
                    self._after_marks(order)
        except (parse.FrameError, TypeError, AttributeError) as exc:
            self.sink(Rejected(str(channel), f"{type(exc).__name__}: {exc}"[:200], received_ms=received))

    def _on_error_frame(self, account: str, url: str, frame: dict[str, Any]) -> None:
        """BloFin refused the login (60009) or a subscription (60012) on this socket: say so, and
        fail the socket with it (ccxt rejects the pending watches and drops the socket), so the loop
        subscribes and logs in again instead of waiting on a socket that will never push."""
        code, msg = str(frame.get("code", ""))[:12], scrub(str(frame.get("msg", "")))[:120]
        text = f"BloFin error {code}: {msg}"
        self.sink(Rejected("private", text, received_ms=self.clock()))
        ws = self.clients[account].clients.get(url)
        if ws is not None:
            ws.on_error(ExchangeError(text))

    def _after_marks(self, event: Event) -> None:
        """Pass ``event`` on after the marks of a poll started after it (at once while the marks
        stream is down: there is no poll to wait for)."""
        if not self.streams.is_live(self.marks_stream):
            self.sink(event)
            return
        self._pending.append(event)
        self._wake.set()

    def _deliver(self, count: int) -> None:
        batch, self._pending = self._pending[:count], self._pending[count:]
        for event in batch:
            self.sink(event)

    def _on_positions(self, account: str, rows: Any, received: int) -> None:
        """The legs a push lists, open or closed ("0"): the others are unchanged."""
        if not isinstance(rows, list):
            raise parse.FrameError("field 'data' is not a list")
        states = parse.positions(rows, self.symbols)
        held = self._held.setdefault(account, {})
        for s in states:
            if s.amount == 0:
                held.pop((s.symbol, s.position_side), None)
            else:
                held[(s.symbol, s.position_side)] = s
        self._after_marks(
            AccountUpdate(self.venue.value, account, "positions", None, states, received, received)
        )

    def _on_account(self, account: str, body: Any, received: int) -> None:
        """The balance push: the pool's wallet from its equity, less the cross legs' PnL it names
        (or, without the field, the PnL of the legs last pushed)."""
        if not isinstance(body, dict):
            raise parse.FrameError("field 'data' is not an object")
        detail = parse.usdt_detail(body)
        pnl = parse.cross_pnl_of(detail)
        if pnl is None:
            pnl = parse.cross_pnl_from(self._held.get(account, {}).values())
        wallet = parse.cross_wallet(detail, pnl)
        self._after_marks(AccountUpdate(self.venue.value, account, "account", wallet, (), received, received))

    # --- REST ---------------------------------------------------------------------------------------
    @raises_venue_errors
    async def resync(self, account: str) -> None:
        """Positions, the balance and the position mode over REST."""
        client = self.clients[account]
        requested = self.clock()
        rows = (await client.privateGetAccountPositions()).get("data") or []
        balance = (await client.privateGetAccountBalance()).get("data") or {}
        mode = (await client.privateGetAccountPositionMode()).get("data") or {}
        states = parse.positions(rows, self.symbols)
        hedge = mode.get("positionMode") == "long_short_mode"
        self._hedge[account] = hedge
        self._held[account] = {(s.symbol, s.position_side): s for s in states if s.amount != 0}
        wallet = parse.cross_wallet(parse.usdt_detail(balance), parse.cross_pnl_from(states))
        self.sink(
            AccountSnapshotEvent(
                self.venue.value,
                account,
                wallet,
                tuple(s for s in states if s.amount != 0),
                self.clock(),
                hedge_mode=hedge,
                multi_assets=False,
                requested_ms=requested,
            )
        )

    @raises_venue_errors
    async def refresh_tiers(self, account: str | None = None) -> None:
        """Tier tables are public and per symbol (cross ones: the maths keeps one table a symbol);
        read once per refresh, handed to every account."""
        names = [account] if account else list(self.accounts)
        fresh: dict[str, Any] = {}
        for market_id, symbol in self.symbols.items():
            if account is not None and symbol in self._tiers:
                fresh[symbol] = self._tiers[symbol]
                continue
            body = await self.public.publicGetMarketPositionTiers(
                {"instId": market_id, "marginMode": "cross"}
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
        """No forced-order lookup for BloFin yet: a leg gone while the daemon was down is seen closed
        by the first snapshot, without saying what closed it."""

    @raises_venue_errors
    async def fetch_position(
        self, account: str, symbol: str, position_side: PositionSide
    ) -> PositionState | None:
        client = self.clients[account]
        body = await client.privateGetAccountPositions({"instId": client.market(symbol)["id"]})
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
        """``side`` is the trade direction (sell reduces a long), ``amount`` contracts. Net mode:
        ``positionSide`` "net" and ``reduceOnly`` "true" (an oversized order closes the position
        without flipping it). Long/short mode: ``positionSide`` names the leg being closed."""
        client = self.clients[account]
        leg = await self.fetch_position(account, symbol, position_side)
        mode = leg.margin_mode if leg is not None else MarginMode.CROSS
        request: dict[str, Any] = {
            "instId": client.market(symbol)["id"],
            "marginMode": "isolated" if mode is MarginMode.ISOLATED else "cross",
            "side": side,
            "orderType": "market",
            "size": client.amount_to_precision(symbol, amount),
            "clientOrderId": client_order_id,
        }
        if position_side is PositionSide.BOTH:
            request["positionSide"] = "net"
            request["reduceOnly"] = "true"
        else:
            request["positionSide"] = position_side.value.lower()
        if client.broker_id is not None:
            request["brokerId"] = client.broker_id
        await client.privatePostTradeOrder(request)
        found = await self.fetch_order_by_client_id(account, symbol, client_order_id)
        return found or OrderResult(client_order_id, "unknown", 0.0, None, "accepted, not yet listed")

    async def fetch_order_by_client_id(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        client = self.clients[account]
        request = {"instId": client.market(symbol)["id"], "clientOrderId": client_order_id}
        try:
            with MAPPING.venue_errors(self.rest_gate):
                body = await client.privateGetTradeOrderDetail(request)
        except OrderNotFound:
            return None
        data: Any = body.get("data") or {}
        row: Any = data[0] if isinstance(data, list) and data else data
        return _order_result(client_order_id, row if isinstance(row, Mapping) else {})

    async def add_isolated_margin(
        self, account: str, symbol: str, amount: float, position_side: PositionSide
    ) -> None:
        raise MarginTransferUnsupported(f"account {account}: {NO_MARGIN_TRANSFER}")


def _order_result(client_order_id: str, row: Mapping[str, Any]) -> OrderResult:
    state = str(row.get("state") or "")
    mapped = {
        "filled": "filled",
        "live": "open",
        "partially_filled": "open",
        "canceled": "rejected",
        "order_failed": "rejected",
    }
    avg = row.get("averagePrice")
    return OrderResult(
        client_order_id,
        mapped.get(state, "unknown"),
        float(row.get("filledSize") or 0.0),
        float(avg) if avg and float(avg) > 0 else None,
    )
