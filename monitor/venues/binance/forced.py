"""Why did a position go away? Binance's forced orders, read when a resync finds a leg gone.

A liquidation or an auto-deleveraging is announced on the user stream (ORDER_TRADE_UPDATE with an
``autoclose-…`` or ``adl_autoclose`` client id). When the daemon was down, or the stream was, that
frame is lost and the next REST snapshot merely shows the leg flat: read alone, a plain close. So the
adapter remembers which legs were open (``OpenLegs``) and, when a snapshot lacks one, asks
``GET /fapi/v1/forceOrders`` (``/dapi/v1/forceOrders``) what closed it; each forced order that closed
one of those legs becomes the same ``OrderUpdate`` the stream would have carried, so the policy says
it once, at critical, under the same client order id (a stream that did report it is not repeated).

The rows are Binance's (docs example in ``rest.forceOrders.documented.json``): ``clientOrderId``,
``side``, ``positionSide``, ``status``, ``executedQty``, ``avgPrice``, ``price``, ``updateTime``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitor.events import OrderKind, OrderUpdate, PositionState
from monitor.model import PositionSide
from monitor.venues.binance.fields import Obj, lookup_symbol, parse_client_id, parse_order_id
from monitor.venues.wire import index_path, parse_array

LegKey = tuple[str, PositionSide]

MAX_FORCE_ORDERS = 100
"""Binance's ``limit`` maximum for forceOrders: one page is asked for, and accepted."""

CLOCK_SLACK_MS = 60_000
"""How far before the leg was last seen open a forced order may be stamped and still count: the
exchange's clock and ours disagree by a little, and a leg seen open at T may be closed at T."""

_SIDES = {"BUY": "buy", "SELL": "sell"}


@dataclass(frozen=True, slots=True)
class Leg:
    """An open leg as last seen: ``seen_ms`` our clock when it was last seen open (``None`` when it
    comes from before a restart, time unknown); ``long`` its direction."""

    seen_ms: int | None
    long: bool


def parse_force_orders(
    body: object,
    *,
    venue: str,
    account: str,
    symbols: Mapping[str, str],
    received_ms: int,
) -> tuple[OrderUpdate, ...]:
    """GET /fapi/v1/forceOrders (or /dapi/v1/forceOrders) -> one ``OrderUpdate`` per row of a known
    symbol, kind ADL for ``adl_autoclose`` ids and LIQUIDATION for every other row (the endpoint lists
    nothing else). ``event_ms`` is the row's ``updateTime``. Errors name the row and field."""
    source = "forceOrders"
    updates: list[OrderUpdate] = []
    for i, raw in enumerate(parse_array(body, source=source, path="", max_len=MAX_FORCE_ORDERS)):
        row = Obj(raw, source=source, path=index_path("", i))
        market_id = row.symbol_id("symbol")
        symbol = lookup_symbol(symbols, market_id)
        if symbol is None:
            continue
        client_id = parse_client_id(row.get("clientOrderId"), source=source, path=row.at("clientOrderId"))
        side = _SIDES.get(row.word("side"))
        if side is None:
            raise row.error("side", "not an order side", row.get("side"))
        filled = row.non_negative("executedQty")
        average = row.optional_price("avgPrice") or 0.0
        updates.append(
            OrderUpdate(
                venue=venue,
                account=account,
                symbol=symbol,
                client_order_id=client_id,
                kind=OrderKind.ADL if client_id.startswith("adl_autoclose") else OrderKind.LIQUIDATION,
                side=side,
                position_side=row.position_side("positionSide"),
                order_type=row.word("type"),
                execution_type="TRADE",
                status=row.word("status"),
                reduce_only=row.boolean("reduceOnly"),
                last_filled_qty=filled,
                filled_qty=filled,
                last_price=row.optional_price("price") or average,
                average_price=average,
                realized_pnl=0.0,
                commission=0.0,
                event_ms=row.ms("updateTime"),
                received_ms=received_ms,
                order_id=parse_order_id(row.get("orderId"), source=source, path=row.at("orderId")),
            )
        )
    return tuple(updates)


def closes_leg(order: OrderUpdate, key: LegKey, leg: Leg) -> bool:
    """Whether a forced order closed this leg: same symbol and position side, a sell for a long and a
    buy for a short, stamped no earlier than the leg was last seen open (less the clock slack)."""
    symbol, position_side = key
    if order.symbol != symbol or order.position_side is not position_side:
        return False
    if (order.side == "sell") != leg.long:
        return False
    return leg.seen_ms is None or order.event_ms >= leg.seen_ms - CLOCK_SLACK_MS


class OpenLegs:
    """The legs each account held when last seen, and those that vanished without an explanation.

    Fed by every snapshot and user-stream delta the adapter passes on. A leg that a delta closes is
    forgotten (the stream told its story, liquidation included); a leg that a snapshot no longer lists
    is *vanished* until a forced-order lookup has been made for it, so a lookup that fails (a 503, a
    ban) is made again at the next snapshot rather than the question dropped."""

    def __init__(self) -> None:
        self._open: dict[str, dict[LegKey, Leg]] = {}
        self._vanished: dict[str, dict[LegKey, Leg]] = {}

    def expect(self, account: str, legs: Mapping[LegKey, bool]) -> None:
        """Legs known open before the adapter started (``True`` = long), time unknown: what a restart
        remembers. Legs seen since are not overwritten."""
        held = self._open.setdefault(account, {})
        for key, long in legs.items():
            held.setdefault(key, Leg(None, long))

    def on_snapshot(self, account: str, positions: Iterable[PositionState], at_ms: int) -> dict[LegKey, Leg]:
        """Record a full snapshot; return every vanished leg still without an explanation."""
        now_open = {(p.symbol, p.position_side): Leg(at_ms, p.amount > 0) for p in positions if p.amount}
        vanished = self._vanished.setdefault(account, {})
        for key, leg in self._open.get(account, {}).items():
            if key not in now_open:
                vanished.setdefault(key, leg)
        self._open[account] = now_open
        return dict(vanished)

    def on_update(self, account: str, positions: Iterable[PositionState], at_ms: int) -> None:
        held = self._open.setdefault(account, {})
        for p in positions:
            key = (p.symbol, p.position_side)
            if p.amount:
                held[key] = Leg(at_ms, p.amount > 0)
            else:
                held.pop(key, None)

    def explained(self, account: str, keys: Iterable[LegKey]) -> None:
        vanished = self._vanished.get(account, {})
        for key in keys:
            vanished.pop(key, None)


def lookup_params(vanished: Mapping[LegKey, Leg], market_ids: Mapping[str, str]) -> dict[str, object]:
    """The forceOrders request for these legs: one symbol when only one is asked about (weight 20
    instead of 50), ``startTime`` from the oldest time a leg was seen open (none, Binance's 7 days,
    when a leg's time is unknown), and the largest page."""
    params: dict[str, object] = {"limit": MAX_FORCE_ORDERS}
    symbols = {symbol for symbol, _ in vanished}
    if len(symbols) == 1:
        params["symbol"] = market_ids[next(iter(symbols))]
    times = [leg.seen_ms for leg in vanished.values()]
    if all(t is not None for t in times):
        params["startTime"] = min(t for t in times if t is not None) - CLOCK_SLACK_MS
    return params
