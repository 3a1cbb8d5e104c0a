"""OKX v5 through ccxt and ccxt.pro: USDT-margined swaps of accounts in Futures mode.

- One public client loads the swaps and streams the ``mark-price`` channel of the held instruments,
  always naming them (without symbols ccxt subscribes every market); the frames are read raw
  (``parse.parse_mark_push``), so ccxt's ticker cache, which mark prices share with tickers, is not
  used. The set follows what the accounts hold.
- One private client per account keeps ``positions``, ``account`` and ``orders`` open, read raw
  through ``client.TappedOkx``. ccxt's ``positions`` cache has no REST snapshot and never drops a
  closed position: the adapter does not use it; a REST resync after every (re)connect (and on the
  schedule) replaces the account's positions with what ``account/positions`` lists, so a position
  REST no longer lists is dropped. ccxt pings with the text ``ping`` every 18 s, inside OKX's 30 s
  silence cut; a ``64008`` notice (service upgrade) fails ccxt's watches, and the stream reconnects
  with backoff, resubscribes, then resyncs.
- At each resync: the account's mode (``account/config``: Spot mode, Multi-currency and Portfolio
  margin are refused, naming the account), the positions (contracts; ``mgnMode`` per position,
  ``posSide`` net or long/short) with OKX's own ``liqPx`` and ``mgnRatio`` (converted to the project's
  direction in ``margin.rules.ratio_from_okx``), and the settlement currency's cash balance as the
  cross wallet; the position tiers (contracts, cross) of a newly held instrument, one instrument
  family a request (a position is valued once its tiers are in).
- De-risking: a reduce-only market order names the position's margin mode in ``tdMode`` (ccxt would
  send ``cross``), ``reduceOnly`` in net mode or ``posSide`` in long/short mode; isolated margin is
  added with ``account/position/margin-balance`` and the position's ``posSide`` (ccxt's ``add_margin``
  sends ``net`` and fails parsing OKX's reply after the margin moved). Rejections are read from
  ``data[].sCode`` (``errors``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ccxt.base import errors as ccxt_errors

from monitor.events import AccountSnapshotEvent, PositionState, Rejected, TierTable
from monitor.logs import get_logger
from monitor.model import MarginMode, PositionSide, Tier, Venue
from monitor.venues.base import OrderResult, Sink, VenueAccount
from monitor.venues.ccxt_venue import CcxtVenue
from monitor.venues.okx import parse
from monitor.venues.okx.client import TappedOkx
from monitor.venues.okx.errors import MAPPING, raises_venue_errors

log = get_logger(__name__)

_SETTLE = "USDT"
_ORDER_STATUS = {"filled": "filled", "live": "open", "partially_filled": "open", "canceled": "rejected"}


class OkxVenue(CcxtVenue):
    """Streams and REST of OKX's USDT swaps for any number of Futures-mode accounts."""

    VENUE = Venue.OKX
    ERRORS = MAPPING
    PRIVATE_URL = "/ws/v5/private"

    def __init__(self, venue: Venue, accounts: Sequence[VenueAccount], sink: Sink, **options: Any) -> None:
        super().__init__(venue, accounts, sink, **options)
        self._hedge: dict[str, bool] = {}
        # account -> (symbol, side) -> the margin mode the position is held in (its orders' tdMode)
        self._modes: dict[str, dict[tuple[str, PositionSide], MarginMode]] = {}
        # account -> (symbol, side) -> OKX's ratio, in the project's direction (requirement / equity)
        self.okx_ratios: dict[str, dict[tuple[str, PositionSide], float]] = {}
        self._families: dict[str, str] = {}  # instrument family -> unified symbol
        self._family_of: dict[str, str] = {}  # unified symbol -> instrument family
        self._tiers: dict[str, tuple[Tier, ...]] = {}  # unified symbol -> its tiers, once read
        self._tier_task: asyncio.Task[None] | None = None  # reading a newly held symbol's tiers

    def new_client(self, config: dict[str, Any]) -> Any:
        return TappedOkx(config)

    def frame_handler(self, account: str | None) -> Callable[[str, Any], None]:
        if account is None:
            return self._on_market_frame
        return lambda url, frame: self._on_user_frame(account, url, frame)

    def index_markets(self, markets: Mapping[str, Any]) -> None:
        super().index_markets(markets)
        self._families, self._family_of = {}, {}
        for symbol in self.symbols.values():
            info = markets[symbol].get("info") or {}
            family = info.get("instFamily") or info.get("uly")
            if family:
                self._families[str(family)] = symbol
                self._family_of[symbol] = str(family)

    async def prepare_account(self, account: str) -> None:
        """The account's mode first: an account OKX holds in a mode the monitor cannot follow is
        refused, naming it, before anything is read from it; then its positions, and the tiers of
        what it holds (``resync``)."""
        await self._read_config(account)
        await self.resync(account)

    # --- frames -------------------------------------------------------------------------------------
    def _on_market_frame(self, url: str, frame: Any) -> None:
        if _is_control_reply(frame):
            return
        received = self.clock()
        try:
            marks = parse.parse_mark_push(frame, self.symbols, received, self.venue.value)
        except parse.FrameError as exc:
            self.sink(exc.to_rejected(received))
            return
        if marks is None:
            return
        self.marks_received(received)
        self.sink(marks)

    def _on_user_frame(self, account: str, url: str, frame: Any) -> None:
        if _is_control_reply(frame):
            return
        received = self.clock()
        v = self.venue.value
        try:
            arg = parse.OkxObj(frame, source="private", path="").obj("arg")
            channel = arg.get("channel")
            if channel == "positions":
                update, rows = parse.parse_positions_push(
                    frame, venue=v, account=account, symbols=self.symbols, received_ms=received
                )
                self._note_positions(account, rows, replace_all=False)
                self.sink(update)
                if any(s not in self._tiers for s in self.all_held()) and (
                    self._tier_task is None or self._tier_task.done()
                ):
                    job = self.safely(self._ensure_tiers(), self.user_stream(account))
                    self._tier_task = asyncio.create_task(job)
                    self.tasks.append(self._tier_task)
            elif channel == "account":
                wallet = parse.parse_account_push(
                    frame, venue=v, account=account, ccy=_SETTLE, received_ms=received
                )
                if wallet is not None:
                    self.sink(wallet)
            elif channel == "orders":
                for order in parse.parse_orders_push(
                    frame, venue=v, account=account, symbols=self.symbols, received_ms=received
                ):
                    self.sink(order)
            else:
                reason = f"channel: not one the monitor reads: {str(channel)[:40]}"
                self.sink(Rejected("private", reason, "", received))
        except parse.FrameError as exc:
            self.sink(exc.to_rejected(received))

    def _note_positions(self, account: str, rows: Sequence[parse.OkxPosition], *, replace_all: bool) -> None:
        """Remember each position's margin mode and OKX's ratio, and which symbols are held (a
        REST snapshot replaces them all, a push its rows)."""
        modes = {} if replace_all else self._modes.setdefault(account, {})
        ratios = {} if replace_all else self.okx_ratios.setdefault(account, {})
        held = set() if replace_all else set(self.held.get(account, set()))
        for row in rows:
            p = row.state
            key = (p.symbol, p.position_side)
            if p.amount != 0:
                modes[key] = p.margin_mode
                held.add(p.symbol)
                if row.okx_ratio is not None:
                    ratios[key] = row.okx_ratio
            else:
                modes.pop(key, None)
                ratios.pop(key, None)
        self._modes[account] = modes
        self.okx_ratios[account] = ratios
        self.set_held(account, held | {s for s, _ in modes})

    # --- streams ------------------------------------------------------------------------------------
    async def marks_loop(self) -> None:
        """Keeps the held instruments' ``mark-price`` subscribed, naming them; subscribes again when
        the set grows."""
        await self.watch_held_marks(self.public.watch_mark_prices)

    async def user_loop(self, account: str) -> None:
        client = self.clients[account]
        await self.keep_private_watches(
            account, lambda: [client.watch_balance(), client.watch_positions(), client.watch_orders()]
        )

    async def ping(self) -> None:
        await self.public.public_get_public_time()

    # --- REST ---------------------------------------------------------------------------------------
    @raises_venue_errors
    async def resync_marks(self) -> None:
        """Marks over REST (``public/mark-price``): at start and after the stream dropped."""
        body = await self.public.public_get_public_mark_price({"instType": "SWAP"})
        marks = parse.parse_mark_rows(body, self.symbols, self.clock(), self.venue.value)
        if marks is not None:
            self.sink(marks)

    async def _read_config(self, account: str) -> parse.AccountConfig:
        with MAPPING.venue_errors(self.rest_gate):
            body = await self.clients[account].private_get_account_config()
        config = parse.parse_config(body, account)
        self._hedge[account] = config.hedge
        return config

    @raises_venue_errors
    async def resync(self, account: str) -> None:
        """The account's mode, its positions (every one REST lists, and only those) and the
        settlement currency's cash balance as the cross wallet."""
        client = self.clients[account]
        requested = self.clock()
        config = await self._read_config(account)
        body = await client.private_get_account_positions({"instType": "SWAP"})
        rows = parse.parse_positions(body, self.symbols)
        balance = parse.parse_balance(await client.private_get_account_balance({"ccy": _SETTLE}), _SETTLE)
        self._note_positions(account, rows, replace_all=True)
        await self._ensure_tiers()
        self.sink(
            AccountSnapshotEvent(
                self.venue.value,
                account,
                balance.cash,
                tuple(r.state for r in rows),
                self.clock(),
                hedge_mode=config.hedge,
                requested_ms=requested,
            )
        )

    @raises_venue_errors
    async def refresh_tiers(self, account: str | None = None) -> None:
        """Position tiers (cross, in contracts) of every held instrument read again, one instrument
        family a request (OKX asks for a family on swaps), handed to every account (they are
        public)."""
        await self._read_tiers(sorted(self.all_held() | set(self._tiers)))

    async def _ensure_tiers(self) -> None:
        """The tiers of what is held and was never read: a position needs them to be valued."""
        missing = sorted(s for s in self.all_held() if s not in self._tiers)
        if missing:
            await self._read_tiers(missing)

    async def _read_tiers(self, symbols: Sequence[str]) -> None:
        for symbol in symbols:
            family = self._family_of.get(symbol)
            if family is None:
                continue
            body = await self.public.public_get_public_position_tiers(
                {"instType": "SWAP", "tdMode": "cross", "instFamily": family}
            )
            tiers = parse.parse_tiers(body).get(family)
            if tiers is None:
                continue
            self._tiers[symbol] = tiers
            received = self.clock()
            for name in self.accounts:
                self.sink(TierTable(self.venue.value, name, symbol, tiers, received))

    def expect_positions(self, account: str, legs: Mapping[tuple[str, PositionSide], bool]) -> None:
        """OKX's closed positions are explained by the orders channel (``category``
        ``full_liquidation``, ``partial_liquidation``, ``adl``)."""

    @raises_venue_errors
    async def fetch_position(
        self, account: str, symbol: str, position_side: PositionSide
    ) -> PositionState | None:
        client = self.clients[account]
        body = await client.private_get_account_positions(
            {"instType": "SWAP", "instId": client.market(symbol)["id"]}
        )
        for row in parse.parse_positions(body, self.symbols):
            if row.state.symbol == symbol and row.state.position_side is position_side:
                self._modes.setdefault(account, {})[symbol, position_side] = row.state.margin_mode
                return row.state
        return None

    async def _margin_mode(self, account: str, symbol: str, position_side: PositionSide) -> MarginMode:
        """The mode the position is held in: what its orders' ``tdMode`` must say."""
        known = self._modes.get(account, {}).get((symbol, position_side))
        if known is not None:
            return known
        state = await self.fetch_position(account, symbol, position_side)
        return state.margin_mode if state is not None else MarginMode.CROSS

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
        """``trade/order`` with ``tdMode`` the position's margin mode; net mode says ``reduceOnly``,
        long/short mode names the position in ``posSide`` (such an order only closes)."""
        client = self.clients[account]
        mode = await self._margin_mode(account, symbol, position_side)
        request: dict[str, Any] = {
            "instId": client.market(symbol)["id"],
            "tdMode": mode.value,
            "side": side,
            "ordType": "market",
            "sz": client.amount_to_precision(symbol, amount),
            "clOrdId": client_order_id,
        }
        if position_side is PositionSide.BOTH:
            request["reduceOnly"] = True
        else:
            request["posSide"] = parse.POS_SIDE[position_side]
        await client.private_post_trade_order(request)
        # the reply holds the ids only: the order's outcome is read back
        found = await self._order_by_client_id(client, symbol, client_order_id)
        return found or OrderResult(client_order_id, "unknown", 0.0, None)

    async def _order_by_client_id(self, client: Any, symbol: str, client_id: str) -> OrderResult | None:
        try:
            body = await client.private_get_trade_order(
                {"instId": client.market(symbol)["id"], "clOrdId": client_id}
            )
        except ccxt_errors.OrderNotFound:
            return None
        rows = body.get("data") or []
        if not rows:
            return None
        row = rows[0]
        filled = float(row.get("accFillSz") or 0.0)
        avg = float(row.get("avgPx") or 0.0)
        return OrderResult(client_id, _ORDER_STATUS.get(row.get("state"), "unknown"), filled, avg or None)

    async def fetch_order_by_client_id(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        client = self.clients[account]
        with MAPPING.venue_errors(self.rest_gate):
            return await self._order_by_client_id(client, symbol, client_order_id)

    @raises_venue_errors
    async def add_isolated_margin(
        self, account: str, symbol: str, amount: float, position_side: PositionSide
    ) -> None:
        """``account/position/margin-balance`` with the position's ``posSide``: ccxt's
        ``add_margin`` would send ``net`` in long/short mode, and raises on OKX's reply after the
        margin has moved (a caller that retries would add it twice)."""
        client = self.clients[account]
        await client.private_post_account_position_margin_balance(
            {
                "instId": client.market(symbol)["id"],
                "posSide": parse.POS_SIDE[position_side],
                "type": "add",
                "amt": f"{amount:.8f}".rstrip("0").rstrip("."),
            }
        )


def _is_control_reply(frame: Any) -> bool:
    """An op's answer (login, subscribe, an error, a notice) or a ``pong``: ``event`` and no data."""
    if isinstance(frame, str):
        return True
    return isinstance(frame, dict) and "event" in frame and "data" not in frame
