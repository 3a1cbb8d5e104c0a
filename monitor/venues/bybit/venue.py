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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from monitor.events import AccountSnapshotEvent, MarkPrices, PositionState, Rejected, TierTable
from monitor.model import MarginMode, PositionSide, Venue
from monitor.venues.base import OrderResult, Sink, VenueAccount
from monitor.venues.bybit import parse
from monitor.venues.bybit.client import TappedBybit
from monitor.venues.bybit.errors import MAPPING, raises_venue_errors
from monitor.venues.ccxt_venue import CcxtVenue
from monitor.venues.errors import OrderNotFound

_SETTLE = "USDT"
_CATEGORY = "linear"
_MAX_PAGES = 200  # 3,000 symbols: a cursor that never ends is not followed for ever


class BybitVenue(CcxtVenue):
    """Streams and REST of Bybit's linear USDT perpetuals for any number of UTA accounts."""

    VENUE = Venue.BYBIT
    ERRORS = MAPPING
    PRIVATE_URL = "/v5/private"

    def __init__(self, venue: Venue, accounts: Sequence[VenueAccount], sink: Sink, **options: Any) -> None:
        super().__init__(venue, accounts, sink, **options)
        self._marks: dict[str, float] = {}
        self._modes: dict[str, MarginMode] = {}
        self._hedge: dict[str, bool] = {}
        # account -> isolated leg -> its margin (positionIM): a UTA's walletBalance includes it
        self._isolated: dict[str, dict[tuple[str, PositionSide], float]] = {}

    def new_client(self, config: dict[str, Any]) -> Any:
        return TappedBybit(config)

    def client_options(self) -> dict[str, Any]:
        return {
            "defaultType": "swap",
            "defaultSubType": _CATEGORY,
            "fetchMarkets": {"types": [_CATEGORY]},
            "loadAllOptions": False,
            # a UTA is what the monitor supports: no query-api round trip to find it out
            "enableUnifiedAccount": True,
            "enableUnifiedMargin": False,
            "watchPositions": {"fetchPositionsSnapshot": False},
        }

    def frame_handler(self, account: str | None) -> Callable[[str, Any], None]:
        if account is None:
            return self._on_market_frame
        return lambda url, frame: self._on_user_frame(account, url, frame)

    async def prepare_account(self, account: str) -> None:
        """The account's margin mode (account-wide on a UTA) before its tiers and positions."""
        await self._read_mode(account)
        await super().prepare_account(account)

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
        self.marks_received(received)
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
        """A push adds the symbols it holds (a resync starts the account's set afresh)."""
        self.set_held(account, self.held.get(account, set()) | {p.symbol for p in positions if p.amount != 0})

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

    # --- streams ------------------------------------------------------------------------------------
    async def marks_loop(self) -> None:
        """Keeps the held symbols' ticker topics subscribed; subscribes again when the set grows."""
        await self.watch_held_marks(self.public.watch_tickers)

    async def user_loop(self, account: str) -> None:
        client = self.clients[account]
        await self.keep_private_watches(
            account, lambda: [client.watch_balance(), client.watch_positions(), client.watch_orders()]
        )

    async def ping(self) -> None:
        await self.public.public_get_v5_market_time()

    # --- REST ---------------------------------------------------------------------------------------
    @raises_venue_errors
    async def resync_marks(self) -> None:
        """Marks over REST (``market/tickers``): at start and after the ticker stream dropped."""
        body = await self.public.public_get_v5_market_tickers({"category": _CATEGORY})
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
        with MAPPING.venue_errors(self.rest_gate):
            body = await self.clients[account].private_get_v5_account_info()
        self._modes[account] = parse.parse_margin_mode(body, account)

    @raises_venue_errors
    async def resync(self, account: str) -> None:
        """Positions and the UTA wallet from REST; the pool's wallet is the settlement coin's balance
        less the isolated legs' margin (``positionIM``)."""
        client = self.clients[account]
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
        self.held[account] = set()
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
        body = await self._risk_limits()
        received = self.clock()
        tables = parse.parse_all_tiers(body, self.symbols)
        for name in [account] if account else list(self.accounts):
            for symbol, tiers in tables.items():
                self.sink(TierTable(self.venue.value, name, symbol, tiers, received))

    async def _risk_limits(self) -> dict[str, Any]:
        """Every page of ``market/risk-limit`` (15 linear symbols a page, ``nextPageCursor`` naming the
        next, "" on the last) as one body of the first page's shape."""
        request: dict[str, Any] = {"category": _CATEGORY}
        first: dict[str, Any] = await self.public.public_get_v5_market_risk_limit(request)
        result = first.get("result")
        rows = list(result.get("list") or []) if isinstance(result, dict) else []
        cursor = result.get("nextPageCursor") if isinstance(result, dict) else None
        for _ in range(_MAX_PAGES):
            if not cursor:
                break
            page = await self.public.public_get_v5_market_risk_limit({**request, "cursor": cursor})
            result = page.get("result")
            if not isinstance(result, dict):
                break  # parse_all_tiers names what is wrong with the first page's shape
            rows.extend(result.get("list") or [])
            cursor = result.get("nextPageCursor")
        if isinstance(first.get("result"), dict):
            first = {**first, "result": {**first["result"], "list": rows}}
        return first

    def expect_positions(self, account: str, legs: Mapping[tuple[str, PositionSide], bool]) -> None:
        """Bybit's closed legs are explained by the order topic (a liquidation is ``CreateByLiq``)."""

    @raises_venue_errors
    async def fetch_position(
        self, account: str, symbol: str, position_side: PositionSide
    ) -> PositionState | None:
        client = self.clients[account]
        body = await client.private_get_v5_position_list(
            {"category": _CATEGORY, "symbol": client.market(symbol)["id"]}
        )
        for state in parse.parse_positions(body, self.symbols, self._modes.get(account, MarginMode.CROSS)):
            if state.symbol == symbol and state.position_side is position_side:
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
        client = self.clients[account]
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
        client = self.clients[account]
        try:
            with MAPPING.venue_errors(self.rest_gate):
                return await self._order_by_link(client, symbol, client_order_id)
        except OrderNotFound:
            return None

    @raises_venue_errors
    async def add_isolated_margin(
        self, account: str, symbol: str, amount: float, position_side: PositionSide
    ) -> None:
        """``POST /v5/position/add-margin``: ccxt has no unified method for it."""
        client = self.clients[account]
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
