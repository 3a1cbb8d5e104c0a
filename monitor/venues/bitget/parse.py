"""Bitget's raw rows -> :mod:`monitor.events` values. Pure functions; the shapes are those of
``tests/venues/fixtures/bitget/``.

What is read, and why:
- Positions (REST ``all-position`` and the WS ``positions`` channel share the row): ``total`` is the size
  in base coin (``available`` is also a size: ccxt.pro's ``collateral`` is built from it and is not
  money), ``marginSize`` the isolated margin, ``liquidationPrice`` "0" means none, ``cTime`` the open
  time that picks Bitget's maintenance rule. One-way legs are reported long/short: signed here.
- The cross wallet is not a field: it is ``accountEquity - unrealizedPL - sum(isolated marginSize)``
  (equity counts every wallet and every unrealised PnL). Derived, and exact against the simulator.
- ``assetMode`` "union" (multi-asset) is refused by the adapter before anything is recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monitor.events import MarkPrices, PositionState, TierTable
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


def position_state(row: Mapping[str, Any], symbols: Mapping[str, str]) -> PositionState | None:
    """One position row; None for a symbol outside the markets watched."""
    market_id = row.get("symbol") or row.get("instId")
    symbol = symbols.get(str(market_id))
    if symbol is None:
        return None
    hold = row.get("holdSide")
    if hold not in ("long", "short"):
        raise FrameError(f"field 'holdSide' is not long/short: {str(hold)[:20]!r}")
    mode = MarginMode.ISOLATED if row.get("marginMode") == "isolated" else MarginMode.CROSS
    size = abs(_num(row, "total"))
    amount = size if hold == "long" else -size
    if row.get("posMode") == "hedge_mode":
        side = PositionSide.LONG if hold == "long" else PositionSide.SHORT
    else:
        side = PositionSide.BOTH
    lp = _num(row, "liquidationPrice", default=0.0)
    return PositionState(
        symbol,
        side,
        mode,
        amount,
        _num(row, "openPriceAvg"),
        isolated_wallet=_num(row, "marginSize") if mode is MarginMode.ISOLATED else None,
        unrealized_pnl=_num(row, "unrealizedPL", default=0.0),
        mark_price=_num(row, "markPrice", default=0.0) or None,
        liquidation_price=lp if lp > 0 else None,
        leverage=_num(row, "leverage", default=0.0) or None,
        update_ms=_int(row, "uTime"),
        opened_ms=_int(row, "cTime"),
    )


def positions(rows: Iterable[Mapping[str, Any]], symbols: Mapping[str, str]) -> tuple[PositionState, ...]:
    out = []
    for row in rows:
        state = position_state(row, symbols)
        if state is not None:
            out.append(state)
    return tuple(out)


def hedge_mode(account_row: Mapping[str, Any]) -> bool:
    return account_row.get("posMode") == "hedge_mode"


def is_union(row: Mapping[str, Any]) -> bool:
    """Multi-asset ("union") mode, on an account or a position row."""
    return row.get("assetMode") == "union"


def cross_wallet(equity: float, rows: Iterable[Mapping[str, Any]]) -> float:
    """The cross wallet: equity less every unrealised PnL and every isolated margin."""
    total = equity
    for row in rows:
        total -= _num(row, "unrealizedPL", default=0.0)
        if row.get("marginMode") == "isolated":
            total -= _num(row, "marginSize", default=0.0)
    return total


def usdt_row(rows: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    for row in rows:
        if row.get("marginCoin") == "USDT":
            return row
    raise FrameError("no USDT row in the account reply")


def marks_from_tickers(
    tickers: Mapping[str, Mapping[str, Any]], *, venue: str, received_ms: int
) -> MarkPrices:
    """ccxt.pro tickers (unified symbol -> ticker): the mark is ``info['markPrice']`` (ccxt's ticker
    leaves it there), its time ``info['ts']``."""
    prices: dict[str, float] = {}
    stamps: dict[str, int] = {}
    for symbol, ticker in tickers.items():
        info = ticker.get("info") or {}
        mark = _num(info, "markPrice", default=0.0)
        if mark > 0:
            prices[symbol] = mark
            stamps[symbol] = _int(info, "ts") or received_ms
    event_ms = min(stamps.values()) if stamps else received_ms
    return MarkPrices(venue, prices, event_ms, received_ms, stamps)


def marks_from_rest(
    rows: Iterable[Mapping[str, Any]], symbols: Mapping[str, str], *, venue: str, received_ms: int
) -> MarkPrices:
    """GET /api/v2/mix/market/tickers: every symbol's mark in one call."""
    tickers = {symbols[str(r.get("symbol"))]: {"info": r} for r in rows if str(r.get("symbol")) in symbols}
    return marks_from_tickers(tickers, venue=venue, received_ms=received_ms)


def tier_table(
    rows: Iterable[Mapping[str, Any]], *, venue: str, account: str, symbol: str, received_ms: int
) -> TierTable:
    """GET /api/v2/mix/market/query-position-lever: bounds in USDT value, ``keepMarginRate`` without
    the taker fee and no deduction (the rules add both, by the position's open time)."""
    tiers = tuple(
        Tier(_num(r, "startUnit"), _num(r, "endUnit"), _num(r, "keepMarginRate"))
        for r in sorted(rows, key=lambda r: _num(r, "startUnit"))
    )
    if not tiers:
        raise FrameError(f"no tiers for {symbol}")
    return TierTable(venue, account, symbol, tiers, received_ms)
