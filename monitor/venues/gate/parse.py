"""Gate's raw rows -> :mod:`monitor.events` values. Pure functions; the shapes are those of
``tests/venues/fixtures/gate/``.

What is read, and why:
- Positions (REST ``/futures/usdt/positions`` and the ``futures.positions`` channel share the row; REST
  sends strings, the channel JSON numbers): ``size`` is signed contracts (a decimal string with
  ``X-Gate-Size-Decimal``, an integer without), ``mode`` names the leg (``single``, ``dual_long``,
  ``dual_short``), ``margin`` is an isolated leg's wallet. The margin mode is ``pos_margin_mode``
  when the row has it (the current docs pair ``leverage`` "0" with ``pos_margin_mode`` "isolated", so
  the classic rule can be wrong); else the mode last read for that leg; else the classic rule,
  ``leverage`` 0 = cross. ``liq_price`` "0" and "99999999" both mean none. The channel has no mark or
  unrealised PnL: the engine pairs the rows with the tickers' marks.
- The cross wallet is not a field: it is the account's ``total`` (every wallet, no unrealised PnL) less
  the isolated legs' ``margin``; the balances channel sends the new ``total`` after each change.
- Account modes refused before anything is recomputed (``refusal``): split-position mode
  (``dual_plus``) and the unified multi-currency / portfolio modes (``margin_mode`` 1 / 2), whose
  positions are margined at the unified account's level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitor.events import MarkPrices, OrderKind, OrderUpdate, PositionState, TierTable
from monitor.margin.rules import with_fee
from monitor.model import MarginMode, PositionSide, Tier

# ``liq_price`` values that mean "no liquidation price" (a short's sentinel, and zero)
NO_LIQUIDATION = 99_999_999.0
LegKey = tuple[str, PositionSide]
_SIDES = {"single": PositionSide.BOTH, "dual_long": PositionSide.LONG, "dual_short": PositionSide.SHORT}


class FrameError(ValueError):
    """A row that cannot be read, naming the field."""


def number(row: Mapping[str, Any], key: str, *, default: float | None = None, where: str = "") -> float:
    """A finite number from a string (REST) or a JSON number (WebSocket); the error names the field."""
    raw = row.get(key)
    if raw is None or raw == "":
        if default is not None:
            return default
        raise FrameError(f"{where}missing field '{key}'")
    if isinstance(raw, bool):
        raise FrameError(f"{where}field '{key}' is not a number: {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise FrameError(f"{where}field '{key}' is not a number: {str(raw)[:20]!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise FrameError(f"{where}field '{key}' is not finite")
    return value


def _seconds_ms(row: Mapping[str, Any], key: str) -> int:
    raw = row.get(key)
    try:
        return int(float(raw) * 1000) if raw not in (None, "") else 0
    except (TypeError, ValueError):
        return 0


def leg_side(row: Mapping[str, Any], where: str = "") -> PositionSide:
    mode = row.get("mode", "single")
    side = _SIDES.get(str(mode))
    if side is None:
        raise FrameError(f"{where}field 'mode' is not single/dual_long/dual_short: {str(mode)[:20]!r}")
    return side


def margin_mode(row: Mapping[str, Any], known: MarginMode | None) -> MarginMode:
    """``pos_margin_mode`` first, then what was last read for the leg, then ``leverage`` 0 = cross."""
    explicit = row.get("pos_margin_mode")
    if explicit in ("isolated", "cross"):
        return MarginMode.ISOLATED if explicit == "isolated" else MarginMode.CROSS
    if known is not None:
        return known
    return MarginMode.CROSS if number(row, "leverage", default=0.0) == 0 else MarginMode.ISOLATED


def liquidation_price(row: Mapping[str, Any], where: str = "") -> float | None:
    lp = number(row, "liq_price", default=0.0, where=where)
    return None if lp <= 0 or lp >= NO_LIQUIDATION else lp


def position_state(
    row: Mapping[str, Any], symbols: Mapping[str, str], known: Mapping[LegKey, MarginMode], where: str = ""
) -> PositionState | None:
    """One position row; None for a contract outside the markets watched."""
    symbol = symbols.get(str(row.get("contract")))
    if symbol is None:
        return None
    side = leg_side(row, where)
    contracts = number(row, "size", where=where)
    if side is PositionSide.LONG:
        contracts = abs(contracts)
    elif side is PositionSide.SHORT:
        contracts = -abs(contracts)
    mode = margin_mode(row, known.get((symbol, side)))
    lever = number(row, "lever", default=0.0, where=where) or number(
        row, "leverage", default=0.0, where=where
    )
    maint = number(row, "maintenance_margin", default=0.0, where=where)
    update = int(number(row, "time_ms", default=0.0)) or _seconds_ms(row, "update_time")
    return PositionState(
        symbol,
        side,
        mode,
        contracts,
        number(row, "entry_price", default=0.0, where=where),
        isolated_wallet=number(row, "margin", default=0.0, where=where)
        if mode is MarginMode.ISOLATED
        else None,
        unrealized_pnl=number(row, "unrealised_pnl", where=where) if "unrealised_pnl" in row else None,
        mark_price=number(row, "mark_price", default=0.0, where=where) or None,
        liquidation_price=liquidation_price(row, where),
        maint_margin=maint or None,
        leverage=lever or None,
        update_ms=update,
        opened_ms=_seconds_ms(row, "open_time"),
    )


def positions(
    rows: Iterable[Mapping[str, Any]], symbols: Mapping[str, str], known: Mapping[LegKey, MarginMode]
) -> tuple[PositionState, ...]:
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise FrameError(f"result[{i}]: not an object")
        state = position_state(row, symbols, known, f"result[{i}]: ")
        if state is not None:
            out.append(state)
    return tuple(out)


def cross_wallet(total: float, states: Iterable[PositionState]) -> float:
    """The cross wallet: the account's ``total`` less every isolated leg's margin."""
    return total - sum(s.isolated_wallet or 0.0 for s in states if s.margin_mode is MarginMode.ISOLATED)


def refusal(account_row: Mapping[str, Any]) -> str | None:
    """Why an account cannot be watched here, or None."""
    if account_row.get("position_mode") == "dual_plus" or account_row.get("enable_dual_plus") is True:
        return (
            "Gate split-position mode (dual_plus) is not supported yet: switch to single or dual (hedge) mode"
        )
    unified = {1: "multi-currency", 2: "portfolio"}.get(int(number(account_row, "margin_mode", default=0.0)))
    if unified is not None:
        return (
            f"Gate unified {unified} accounts are liquidated at the unified account's level, which is not"
            " recomputed here; not supported"
        )
    return None


def hedge_mode(account_row: Mapping[str, Any]) -> bool:
    return account_row.get("in_dual_mode") is True or account_row.get("position_mode") == "dual"


def marks(
    rows: Iterable[Mapping[str, Any]],
    symbols: Mapping[str, str],
    *,
    venue: str,
    event_ms: int,
    received_ms: int,
) -> MarkPrices:
    """Ticker rows (the ``futures.tickers`` push, or REST ``/futures/usdt/tickers``): ``mark_price``."""
    prices: dict[str, float] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise FrameError(f"result[{i}]: not an object")
        symbol = symbols.get(str(row.get("contract")))
        if symbol is None:
            continue
        mark = number(row, "mark_price", default=0.0, where=f"result[{i}]: ")
        if mark > 0:
            prices[symbol] = mark
    return MarkPrices(venue, prices, event_ms, received_ms)


def tier_tables(
    rows: Iterable[Mapping[str, Any]], symbols: Mapping[str, str], taker_fees: Mapping[str, float]
) -> dict[str, tuple[Tier, ...]]:
    """``/futures/usdt/risk_limit_tiers`` rows, per watched symbol: each tier from the previous
    ceiling to its ``risk_limit``, the published ``maintenance_rate`` plus the contract's default taker
    rate (``rules.with_fee``), and Gate's ``deduction``."""
    by_symbol: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        symbol = symbols.get(str(row.get("contract")))
        if symbol is not None:
            by_symbol.setdefault(symbol, []).append(row)
    out: dict[str, tuple[Tier, ...]] = {}
    for symbol, rs in by_symbol.items():
        floor = 0.0
        tiers: list[Tier] = []
        for r in sorted(rs, key=lambda r: number(r, "tier")):
            cap = number(r, "risk_limit", where=f"{symbol}: ")
            tiers.append(Tier(floor, cap, number(r, "maintenance_rate"), number(r, "deduction", default=0.0)))
            floor = cap
        out[symbol] = with_fee(tiers, taker_fees.get(symbol, 0.0))
    return out


def tier_events(
    tables: Mapping[str, tuple[Tier, ...]], *, venue: str, accounts: Sequence[str], received_ms: int
) -> list[TierTable]:
    return [
        TierTable(venue, name, symbol, tiers, received_ms)
        for name in accounts
        for symbol, tiers in tables.items()
    ]


def liquidations(
    rows: Iterable[Mapping[str, Any]],
    symbols: Mapping[str, str],
    *,
    venue: str,
    account: str,
    hedge: bool,
    received_ms: int,
) -> list[OrderUpdate]:
    """``futures.liquidates`` rows: the account's own liquidations, as the orders that closed them.
    ``size`` is the position liquidated (negative for a short); ``order_id`` may exceed 2^53 and is
    kept as an integer (never through a float)."""
    out = []
    for i, row in enumerate(rows):
        where = f"result[{i}]: "
        symbol = symbols.get(str(row.get("contract")))
        if symbol is None:
            continue
        size = number(row, "size", where=where)
        price = number(row, "fill_price", default=0.0, where=where) or number(row, "mark_price", where=where)
        raw_id = row.get("order_id")
        order_id = (
            int(raw_id) if isinstance(raw_id, int) or (isinstance(raw_id, str) and raw_id.isdigit()) else None
        )
        side = (PositionSide.LONG if size > 0 else PositionSide.SHORT) if hedge else PositionSide.BOTH
        out.append(
            OrderUpdate(
                venue,
                account,
                symbol,
                f"liq-{order_id}" if order_id is not None else "liq",
                OrderKind.LIQUIDATION,
                "sell" if size > 0 else "buy",
                side,
                "MARKET",
                "TRADE",
                "FILLED",
                False,
                abs(size),
                abs(size),
                price,
                price,
                0.0,
                0.0,
                int(number(row, "time_ms", default=0.0)) or received_ms,
                received_ms,
                order_id,
            )
        )
    return out
