"""BloFin's raw rows -> :mod:`monitor.events` values. Pure functions; the shapes are those of
``tests/venues/fixtures/blofin/``.

What is read, and why:
- Positions (REST ``account/positions`` and the WS ``positions`` channel share the row): ``positions``
  is the size **in contracts** (the engine multiplies by the market's ``contractValue``), signed in net
  mode; ``positionSide`` long/short names a leg in long/short mode. Isolated rows carry ``margin``,
  cross rows ``initialMargin`` (never both); ``liquidationPrice`` "" means none; a row with
  ``positions`` "0" is a leg that closed. ccxt's unified ``marginRatio`` is a figure of its own: the
  rows are read raw.
- The cross wallet is not a field: ``equity`` counts every wallet and every unrealised PnL,
  ``isolatedEquity`` the isolated margins and theirs, so the pool's wallet is
  ``equity - isolatedEquity`` less the cross legs' unrealised PnL (the ``account`` push carries the
  total ``unrealizedPnl`` and ``isolatedUnrealizedPnl``; the REST balance does not, the positions do).
- Marks: ``market/mark-price`` answers every instrument in one call, each row stamped ``ts``.
- Orders (the ``orders`` channel): sizes in contracts, ``orderCategory`` says who made the order
  (``full_liquidation``/``partial_liquidation`` the exchange's liquidation engine, ``adl``); such an
  order carries no client id, so it is named by its category and order id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monitor.events import MarkPrices, OrderKind, OrderUpdate, PositionState, TierTable
from monitor.model import MarginMode, PositionSide, Tier


class FrameError(ValueError):
    """A row that cannot be read, naming the field."""


def _num(row: Mapping[str, Any], key: str, *, default: float | None = None) -> float:
    raw = row.get(key)
    if raw is None or raw == "":
        if default is not None:
            return default
        raise FrameError(f"missing field '{key}'")
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise FrameError(f"field '{key}' is not a number: {str(raw)[:20]!r}") from None


def _int(row: Mapping[str, Any], key: str) -> int:
    raw = row.get(key)
    return int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else 0


_SIDES = {"net": PositionSide.BOTH, "long": PositionSide.LONG, "short": PositionSide.SHORT}


def position_state(row: Mapping[str, Any], symbols: Mapping[str, str]) -> PositionState | None:
    """One position row (contracts, signed in net mode); None for an instrument not watched."""
    symbol = symbols.get(str(row.get("instId")))
    if symbol is None:
        return None
    side = _SIDES.get(str(row.get("positionSide")))
    if side is None:
        raise FrameError(f"field 'positionSide' is not net/long/short: {str(row.get('positionSide'))[:20]!r}")
    mode_text = row.get("marginMode")
    if mode_text not in ("cross", "isolated"):
        raise FrameError(f"field 'marginMode' is not cross/isolated: {str(mode_text)[:20]!r}")
    mode = MarginMode.ISOLATED if mode_text == "isolated" else MarginMode.CROSS
    size = _num(row, "positions")
    if side is PositionSide.SHORT:
        size = -abs(size)
    elif side is PositionSide.LONG:
        size = abs(size)
    if size == 0:
        return PositionState(symbol, side, mode, 0.0, 0.0, update_ms=_int(row, "updateTime"))
    lp = _num(row, "liquidationPrice", default=0.0)
    return PositionState(
        symbol,
        side,
        mode,
        size,
        _num(row, "averagePrice"),
        isolated_wallet=_num(row, "margin") if mode is MarginMode.ISOLATED else None,
        unrealized_pnl=_num(row, "unrealizedPnl", default=0.0),
        mark_price=_num(row, "markPrice", default=0.0) or None,
        liquidation_price=lp if lp > 0 else None,
        maint_margin=_num(row, "maintenanceMargin", default=0.0) or None,
        leverage=_num(row, "leverage", default=0.0) or None,
        update_ms=_int(row, "updateTime"),
        opened_ms=_int(row, "createTime"),
    )


def positions(rows: Iterable[Mapping[str, Any]], symbols: Mapping[str, str]) -> tuple[PositionState, ...]:
    out = []
    for row in rows:
        state = position_state(row, symbols)
        if state is not None:
            out.append(state)
    return tuple(out)


def usdt_detail(balance: Mapping[str, Any]) -> Mapping[str, Any]:
    """The USDT entry of a balance body's ``data`` (REST) or push's ``data`` (WS): an object."""
    details = balance.get("details")
    if not isinstance(details, list):
        raise FrameError("missing field 'details'")
    for row in details:
        if isinstance(row, Mapping) and row.get("currency") == "USDT":
            return row
    raise FrameError("no USDT entry in 'details'")


def cross_wallet(detail: Mapping[str, Any], cross_pnl: float) -> float:
    """The cross pool's wallet: ``equity - isolatedEquity`` less the cross legs' unrealised PnL."""
    return _num(detail, "equity") - _num(detail, "isolatedEquity", default=0.0) - cross_pnl


def cross_pnl_of(detail: Mapping[str, Any]) -> float | None:
    """The cross legs' unrealised PnL, where the row says it (the ``account`` push)."""
    if detail.get("unrealizedPnl") in (None, ""):
        return None
    return _num(detail, "unrealizedPnl") - _num(detail, "isolatedUnrealizedPnl", default=0.0)


def cross_pnl_from(states: Iterable[PositionState]) -> float:
    return sum(s.unrealized_pnl or 0.0 for s in states if s.margin_mode is MarginMode.CROSS)


def marks(
    rows: Iterable[Mapping[str, Any]], symbols: Mapping[str, str], *, venue: str, received_ms: int
) -> tuple[MarkPrices, dict[str, tuple[int, float]]]:
    """GET /api/v1/market/mark-price (no ``instId``: every instrument), with each row's (ts, mark)."""
    prices: dict[str, float] = {}
    stamps: dict[str, int] = {}
    seen: dict[str, tuple[int, float]] = {}
    for row in rows:
        symbol = symbols.get(str(row.get("instId")))
        if symbol is None:
            continue
        mark = _num(row, "markPrice")
        if mark <= 0:
            raise FrameError(f"field 'markPrice' is not positive for {symbol}")
        stamp = _int(row, "ts") or received_ms
        prices[symbol] = mark
        stamps[symbol] = stamp
        seen[symbol] = (stamp, mark)
    event_ms = min(stamps.values()) if stamps else received_ms
    return MarkPrices(venue, prices, event_ms, received_ms, stamps), seen


def tier_table(
    rows: Iterable[Mapping[str, Any]], *, venue: str, account: str, symbol: str, received_ms: int
) -> TierTable:
    """GET /api/v1/market/position-tiers: bounds are sizes in contracts (BloFin does not state the
    unit; every other size of its API is in contracts), the rate excludes the fee to close, and there
    is no deduction. Each tier starts where the one below ends (BloFin prints ``minSize`` one lot
    above the previous ``maxSize``), the first at zero."""
    ordered = sorted(rows, key=lambda r: _num(r, "minSize"))
    tiers: list[Tier] = []
    for r in ordered:
        floor = tiers[-1].cap if tiers else 0.0
        tiers.append(Tier(floor, _num(r, "maxSize"), _num(r, "maintenanceMarginRate")))
    if not tiers:
        raise FrameError(f"no tiers for {symbol}")
    return TierTable(venue, account, symbol, tuple(tiers), received_ms)


_ORDER_STATE = {
    "live": "NEW",
    "effective": "NEW",
    "partially_filled": "PARTIALLY_FILLED",
    "filled": "FILLED",
    "canceled": "CANCELED",
    "partially_canceled": "CANCELED",
    "order_failed": "REJECTED",
}
_KIND = {
    "full_liquidation": OrderKind.LIQUIDATION,
    "partial_liquidation": OrderKind.LIQUIDATION,
    "adl": OrderKind.ADL,
}


def orders(
    rows: Iterable[Mapping[str, Any]],
    symbols: Mapping[str, str],
    *,
    venue: str,
    account: str,
    received_ms: int,
) -> list[OrderUpdate]:
    """The ``orders`` channel's rows (filled sizes in contracts, ``fee`` positive when charged)."""
    out = []
    for row in rows:
        symbol = symbols.get(str(row.get("instId")))
        if symbol is None:
            continue
        state = _ORDER_STATE.get(str(row.get("state")))
        if state is None:
            raise FrameError(f"field 'state' is not an order state: {str(row.get('state'))[:20]!r}")
        side = row.get("side")
        if side not in ("buy", "sell"):
            raise FrameError(f"field 'side' is not buy/sell: {str(side)[:20]!r}")
        leg = _SIDES.get(str(row.get("positionSide")))
        if leg is None:
            raise FrameError(
                f"field 'positionSide' is not net/long/short: {str(row.get('positionSide'))[:20]!r}"
            )
        category = str(row.get("orderCategory") or "normal")
        kind = _KIND.get(category, OrderKind.NORMAL)
        order_id = str(row.get("orderId") or "")
        client_id = row.get("clientOrderId") or ""
        if not client_id and kind is not OrderKind.NORMAL:
            client_id = f"{category}-{order_id}"
        filled = abs(_num(row, "filledSize", default=0.0))
        price = _num(row, "averagePrice", default=0.0)
        out.append(
            OrderUpdate(
                venue,
                account,
                symbol,
                str(client_id),
                kind,
                side,
                leg,
                str(row.get("orderType") or "").upper(),
                "TRADE" if filled > 0 else "NEW",
                state,
                str(row.get("reduceOnly")).lower() == "true",
                filled,
                filled,
                price,
                price,
                _num(row, "pnl", default=0.0),
                _num(row, "fee", default=0.0),
                _int(row, "updateTime") or received_ms,
                received_ms,
                int(order_id) if order_id.isdigit() else None,
            )
        )
    return out
