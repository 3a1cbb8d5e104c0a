"""Gate USDT-settled perpetual futures through ccxt and ccxt.pro ``gate``.

- One public client loads the markets (USDT-settled swaps only: BTC-settled contracts are inverse,
  another formula and another account, and are refused by name when an account holds one) and
  streams ``futures.tickers`` for the contracts the accounts hold, read raw by the tap
  (``client.TappedGate``): ``mark_price`` is the only mark Gate pushes.
- One private client per account keeps ``futures.positions``, ``futures.balances`` and
  ``futures.liquidates`` subscribed; each subscribe is signed on its own and carries the account's
  numeric uid, read from the futures account (``user``) at every resync, so the configuration needs
  none. Position rows carry no mark or unrealised PnL: the engine values them at the tickers' marks.
- REST resyncs: the futures account (its ``total`` less the isolated margins is the cross pool;
  split-position mode and unified multi-currency / portfolio accounts are refused, naming the account),
  every held position, the risk-limit tiers with the contract's default taker rate folded in (Gate's
  maintenance margin and ``liq_price`` include it: ``margin/rules.py``), marks from the tickers.
- Orders: market IOC (``price`` "0"), ``size`` in contracts. A one-way full close is ``close: true``
  with size 0; a hedge full close is ``auto_size`` ``close_long``/``close_short`` with ``reduce_only``
  (a plain opposite order would open the other side); partial reduces are ``reduce_only`` with a
  signed size. The ``text`` is the client id (``t-`` prefixed) and orders are read back by it. Margin
  goes to ``positions/{contract}/margin`` in single mode and the ``dual_comp`` route with
  ``dual_side`` in hedge mode. Order ids exceed 2^53 and are kept as integers or strings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ccxt.base import errors as ccxt_errors

from monitor.events import AccountSnapshotEvent, AccountUpdate, PositionState, Rejected
from monitor.logs import scrub
from monitor.model import MarginMode, PositionSide, Venue
from monitor.venues.base import OrderResult, Sink, VenueAccount
from monitor.venues.ccxt_venue import CcxtVenue
from monitor.venues.errors import OrderNotFound, Refused
from monitor.venues.gate import parse
from monitor.venues.gate.client import TappedGate
from monitor.venues.gate.errors import MAPPING, raises_venue_errors
from monitor.venues.gate.urls import point_at as point_at_gate

SETTLE = {"settle": "usdt"}
_TIERS_PAGE = 100  # markets per page of /risk_limit_tiers without a contract


class UnsupportedAccount(Refused):
    """A Gate account whose mode or holdings the monitor does not recompute (the message says which)."""


class GateVenue(CcxtVenue):
    """Streams and REST of Gate's USDT-settled perpetuals for any number of classic accounts."""

    VENUE = Venue.GATE
    ERRORS = MAPPING
    PRIVATE_URL = "/ws/"  # an account's client opens one socket, the futures one

    def __init__(self, venue: Venue, accounts: Sequence[VenueAccount], sink: Sink, **options: Any) -> None:
        super().__init__(venue, accounts, sink, **options)
        self._taker: dict[str, float] = {}  # symbol -> the contract's default taker rate
        self._modes: dict[str, dict[parse.LegKey, MarginMode]] = {}  # account -> leg -> margin mode
        self._legs: dict[str, dict[parse.LegKey, PositionState]] = {}  # account -> open legs
        self._total: dict[str, float] = {}  # account -> the futures account's last ``total``
        self._hedge: dict[str, bool] = {}

    # --- the shared base's hooks --------------------------------------------------------------------
    def new_client(self, config: dict[str, Any]) -> Any:
        return TappedGate(config)

    def client_options(self) -> dict[str, Any]:
        return {
            "defaultType": "swap",
            "fetchMarkets": {"types": ["swap"]},
            "swap": {"fetchMarkets": {"settlementCurrencies": ["usdt"]}},
            # the REST resync is the snapshot; ccxt's own would hold the first watch until it returns
            "watchPositions": {"fetchPositionsSnapshot": False},
        }

    def make_client(self, acct: VenueAccount | None) -> Any:
        """The base's client, its futures sockets kept under ``/ws/futures/`` on a loopback host
        (``urls.py``: ccxt.pro's gate recognises a futures socket by its URL)."""
        client = super().make_client(acct)
        if self.endpoints is not None:
            point_at_gate(client, self.endpoints.rest, self.endpoints.ws)
        return client

    def frame_handler(self, account: str | None) -> Callable[[str, Any], None]:
        if account is None:
            return self._on_market_frame
        return lambda url, frame: self._on_user_frame(account, url, frame)

    def index_markets(self, markets: Mapping[str, Any]) -> None:
        super().index_markets(markets)
        self._taker = {}
        for symbol in self.symbols.values():
            info = markets[symbol].get("info") or {}
            self._taker[symbol] = float(info.get("taker_fee_rate") or 0.0)

    async def prepare_account(self, account: str) -> None:
        await self._refuse_inverse_holdings(account)
        await super().prepare_account(account)

    async def ping(self) -> None:
        await self.public.publicSpotGetTime()

    # --- frames -------------------------------------------------------------------------------------
    def _on_market_frame(self, url: str, frame: Any) -> None:
        received = self.clock()
        if _is_control(frame):
            return
        if not _is_update(frame, "futures.tickers"):
            self.sink(Rejected("futures.tickers", "not a frame the monitor reads", _excerpt(frame), received))
            return
        try:
            marks = parse.marks(
                _result(frame),
                self.symbols,
                venue=self.venue.value,
                event_ms=_frame_ms(frame, received),
                received_ms=received,
            )
        except parse.FrameError as exc:
            self.sink(Rejected("futures.tickers", str(exc), "", received))
            return
        if not marks.prices:
            return
        self.marks_received(received)
        self.sink(marks)

    def _on_user_frame(self, account: str, url: str, frame: Any) -> None:
        received = self.clock()
        if _is_control(frame):
            return
        if not isinstance(frame, dict) or frame.get("event") != "update":
            self.sink(Rejected("private", "not a frame the monitor reads", _excerpt(frame), received))
            return
        channel = frame.get("channel")
        try:
            if channel == "futures.positions":
                states = parse.positions(_result(frame), self.symbols, self._modes.get(account, {}))
                self._note_legs(account, states, replace_all=False)
                wallet = self._cross_wallet(account)
                event_ms = _frame_ms(frame, received)
                self.sink(
                    AccountUpdate(self.venue.value, account, "positions", wallet, states, event_ms, received)
                )
            elif channel == "futures.balances":
                rows = _result(frame)
                usdt = [
                    r
                    for r in rows
                    if isinstance(r, dict) and str(r.get("currency", "usdt")).lower() == "usdt"
                ]
                if not usdt:
                    return
                self._total[account] = parse.number(usdt[-1], "balance", where="result[-1]: ")
                wallet = self._cross_wallet(account)
                event_ms = _frame_ms(frame, received)
                self.sink(AccountUpdate(self.venue.value, account, "balance", wallet, (), event_ms, received))
            elif channel == "futures.liquidates":
                for order in parse.liquidations(
                    _result(frame),
                    self.symbols,
                    venue=self.venue.value,
                    account=account,
                    hedge=self._hedge.get(account, False),
                    received_ms=received,
                ):
                    self.sink(order)
        except parse.FrameError as exc:
            self.sink(Rejected(str(channel), str(exc), "", received))

    def _note_legs(self, account: str, states: Sequence[PositionState], *, replace_all: bool) -> None:
        """Remember each open leg (a snapshot replaces them all, a push its legs) and its margin mode."""
        legs = {} if replace_all else self._legs.setdefault(account, {})
        modes = self._modes.setdefault(account, {})
        for s in states:
            key = (s.symbol, s.position_side)
            if s.amount != 0:
                legs[key] = s
                modes[key] = s.margin_mode
            else:
                legs.pop(key, None)
        self._legs[account] = legs
        self.set_held(account, {symbol for symbol, _ in legs})

    def _cross_wallet(self, account: str) -> float | None:
        total = self._total.get(account)
        if total is None:
            return None
        return parse.cross_wallet(total, self._legs.get(account, {}).values())

    # --- streams ------------------------------------------------------------------------------------
    async def marks_loop(self) -> None:
        """Keeps the held contracts' tickers subscribed; subscribes again when the set grows."""
        await self.watch_held_marks(self.public.watch_tickers)

    async def user_loop(self, account: str) -> None:
        client = self.clients[account]

        def watches() -> list[Any]:
            if not client.uid:  # read from the futures account at start
                raise UnsupportedAccount(f"account {account}: Gate's private channels need the account's uid")
            return [
                client.watch_positions(),
                client.watch_balance(),
                client.watch_my_liquidations_for_symbols([]),
            ]

        await self.keep_private_watches(account, watches)

    # --- REST ---------------------------------------------------------------------------------------
    @raises_venue_errors
    async def resync_marks(self) -> None:
        """Every contract's mark over REST (``/futures/usdt/tickers``): at start and after a drop."""
        rows = await self.public.publicFuturesGetSettleTickers(SETTLE)
        received = self.clock()
        marks = parse.marks(
            rows, self.symbols, venue=self.venue.value, event_ms=received, received_ms=received
        )
        if marks.prices:
            self.sink(marks)

    @raises_venue_errors
    async def resync(self, account: str) -> None:
        """The futures account and every held position over REST."""
        client = self.clients[account]
        requested = self.clock()
        row = await client.privateFuturesGetSettleAccounts(SETTLE)
        why = parse.refusal(row)
        if why is not None:
            raise UnsupportedAccount(f"account {account}: {why}")
        user = row.get("user")
        if user not in (None, ""):
            client.uid = str(user)
        rows = await client.privateFuturesGetSettlePositions({**SETTLE, "holding": "true"})
        states = parse.positions(rows, self.symbols, self._modes.get(account, {}))
        self._note_legs(account, states, replace_all=True)
        hedge = parse.hedge_mode(row)
        self._hedge[account] = hedge
        total = parse.number(row, "total", where="accounts: ")
        self._total[account] = total
        self.sink(
            AccountSnapshotEvent(
                self.venue.value,
                account,
                parse.cross_wallet(total, states),
                states,
                self.clock(),
                hedge_mode=hedge,
                multi_assets=False,
                total_maint_margin=parse.number(row, "cross_maintenance_margin", default=0.0) or None,
                total_margin_balance=parse.number(row, "cross_margin_balance", default=0.0) or None,
                requested_ms=requested,
            )
        )

    @raises_venue_errors
    async def _refuse_inverse_holdings(self, account: str) -> None:
        """BTC-settled contracts are another account and another formula: an account holding any is
        refused, naming them, rather than watched in part. A user who never opened that account gets
        ``USER_NOT_FOUND`` (ccxt's AccountNotEnabled): nothing is held there."""
        client = self.clients[account]
        try:
            rows = await client.privateFuturesGetSettlePositions({"settle": "btc", "holding": "true"})
        except ccxt_errors.AccountNotEnabled:
            return
        held = sorted({str(r.get("contract")) for r in rows if parse.number(r, "size", default=0.0) != 0})
        if held:
            raise UnsupportedAccount(
                f"account {account}: Gate BTC-settled (inverse) contracts are not supported:"
                f" {', '.join(held)}"
            )

    @raises_venue_errors
    async def refresh_tiers(self, account: str | None = None) -> None:
        """Risk-limit tiers are public and the same for every account: read page by page (100
        contracts a page), the contract's default taker rate added to each rate, handed to each."""
        rows: list[Any] = []
        offset = 0
        while True:
            page = await self.public.publicFuturesGetSettleRiskLimitTiers(
                {**SETTLE, "limit": _TIERS_PAGE, "offset": offset}
            )
            rows.extend(page)
            contracts = {str(r.get("contract")) for r in page}
            if len(contracts) < _TIERS_PAGE:
                break
            offset += _TIERS_PAGE
        tables = parse.tier_tables(rows, self.symbols, self._taker)
        names = [account] if account else list(self.accounts)
        for event in parse.tier_events(
            tables, venue=self.venue.value, accounts=names, received_ms=self.clock()
        ):
            self.sink(event)

    def expect_positions(self, account: str, legs: Mapping[tuple[str, PositionSide], bool]) -> None:
        """Gate's liquidations are read from ``futures.liquidates`` while the daemon runs; a leg gone
        while it was down is seen closed by the first snapshot, without saying what closed it."""

    @raises_venue_errors
    async def fetch_position(
        self, account: str, symbol: str, position_side: PositionSide
    ) -> PositionState | None:
        client = self.clients[account]
        request = {**SETTLE, "contract": client.market(symbol)["id"]}
        if self._hedge.get(account):
            body = await client.privateFuturesGetSettleDualCompPositionsContract(request)
        else:
            body = [await client.privateFuturesGetSettlePositionsContract(request)]
        for state in parse.positions(body, self.symbols, self._modes.get(account, {})):
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
        """``amount`` contracts, ``side`` the trade direction (sell reduces a long). The whole leg is
        closed the way Gate closes one in each mode; less is a reduce-only order of signed size."""
        client = self.clients[account]
        leg = await self.fetch_position(account, symbol, position_side)
        if leg is None:
            return OrderResult(client_order_id, "rejected", 0.0, None, "no position to reduce")
        held = abs(leg.amount)
        request: dict[str, Any] = {
            **SETTLE,
            "contract": client.market(symbol)["id"],
            "price": "0",
            "tif": "ioc",
            "text": _text(client_order_id),
        }
        if amount >= held:
            request["size"] = 0
            if position_side is PositionSide.BOTH:
                request["close"] = True
            else:
                request["auto_size"] = "close_long" if position_side is PositionSide.LONG else "close_short"
                request["reduce_only"] = True
        else:
            contracts = round(amount)
            request["size"] = -contracts if side == "sell" else contracts
            request["reduce_only"] = True
        reply = await client.privateFuturesPostSettleOrders(request)
        return _order_result(client_order_id, reply, held if amount >= held else None)

    async def fetch_order_by_client_id(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        """By ``text`` while Gate still answers to it (an open order, or one finished less than 60 s
        ago); after that, among the contract's last 100 finished orders."""
        client = self.clients[account]
        text = _text(client_order_id)
        try:
            with MAPPING.venue_errors(self.rest_gate):
                reply = await client.privateFuturesGetSettleOrdersOrderId({**SETTLE, "order_id": text})
            return _order_result(client_order_id, reply, None)
        except OrderNotFound:
            pass
        with MAPPING.venue_errors(self.rest_gate):
            rows = await client.privateFuturesGetSettleOrders(
                {**SETTLE, "contract": client.market(symbol)["id"], "status": "finished", "limit": 100}
            )
        for row in rows:
            if row.get("text") == text:
                return _order_result(client_order_id, row, None)
        return None

    @raises_venue_errors
    async def add_isolated_margin(
        self, account: str, symbol: str, amount: float, position_side: PositionSide
    ) -> None:
        client = self.clients[account]
        request = {
            **SETTLE,
            "contract": client.market(symbol)["id"],
            "change": f"{amount:.8f}".rstrip("0").rstrip("."),
        }
        if position_side is PositionSide.BOTH:
            await client.privateFuturesPostSettlePositionsContractMargin(request)
        else:
            dual_side = "dual_long" if position_side is PositionSide.LONG else "dual_short"
            await client.privateFuturesPostSettleDualCompPositionsContractMargin(
                {**request, "dual_side": dual_side}
            )


def _text(client_order_id: str) -> str:
    """Gate's custom order id: ``t-`` then the client id (as ccxt's create_order sends it)."""
    return client_order_id if client_order_id.startswith("t-") else f"t-{client_order_id}"


def _order_result(client_order_id: str, row: Mapping[str, Any], closing: float | None) -> OrderResult:
    """An order reply. A close (size 0) fills the whole leg, ``closing`` contracts, when it says
    ``filled``; otherwise what filled is ``|size| - |left|``."""
    finish = str(row.get("finish_as") or "")
    size = abs(float(row.get("size") or 0.0))
    left = abs(float(row.get("left") or 0.0))
    if str(row.get("status")) == "open":
        return OrderResult(client_order_id, "open", size - left, None)
    price = float(row.get("fill_price") or 0.0)
    if size == 0:  # a close: the reply need not say how much it closed
        if finish != "filled":
            return OrderResult(client_order_id, "rejected", 0.0, None, finish)
        detail = "" if closing is not None else "a close: Gate's reply gives no size"
        return OrderResult(client_order_id, "filled", closing or 0.0, price or None, detail)
    filled = max(size - left, 0.0)
    status = "filled" if filled > 0 else "rejected"
    return OrderResult(client_order_id, status, filled, price or None, finish)


def _is_control(frame: Any) -> bool:
    """An answer to a request (subscribe, unsubscribe, pong) or an error: ccxt resolves or fails the
    request with it; the adapter has nothing to read there."""
    if not isinstance(frame, dict):
        return False
    return (
        frame.get("event") in ("subscribe", "unsubscribe")
        or frame.get("channel") == "futures.pong"
        or frame.get("error") is not None
    )


def _excerpt(frame: Any) -> str:
    return scrub(repr(frame)[:80])


def _is_update(frame: Any, channel: str) -> bool:
    return isinstance(frame, dict) and frame.get("channel") == channel and frame.get("event") == "update"


def _result(frame: Mapping[str, Any]) -> list[Any]:
    result = frame.get("result")
    if not isinstance(result, list):
        raise parse.FrameError("field 'result' is not a list")
    return result


def _frame_ms(frame: Mapping[str, Any], default: int) -> int:
    raw = frame.get("time_ms")
    return raw if isinstance(raw, int) and raw > 0 else default
