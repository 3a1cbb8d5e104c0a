"""Bybit v5 payloads -> the project's events: pure, validated, errors naming the field path.

Bybit's spellings: every number a decimal string (``""`` for "none": a flat row's ``side``, a cross
``liqPrice`` outside the instrument's price band, the lowest tier's ``mmDeduction``), ``positionIdx``
0 one-way, 1 hedge buy side, 2 hedge sell side, ``side`` ``Buy``/``Sell``. Ticker deltas carry only
the fields that changed: a delta without ``markPrice`` says nothing about the mark (never zero), and
``merge_ticker`` keeps the last one known. Sources: ``tests/venues/fixtures/bybit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.events import (
    AccountUpdate,
    MarkPrices,
    OrderKind,
    OrderUpdate,
    PositionState,
)
from monitor.model import MarginMode, PositionSide, Tier
from monitor.venues.wire import FrameError, Obj, excerpt, index_path, refuse_repeats

MAX_ROWS = 5_000
SIDE_OF_IDX = {0: PositionSide.BOTH, 1: PositionSide.LONG, 2: PositionSide.SHORT}
IDX_OF_SIDE = {v: k for k, v in SIDE_OF_IDX.items()}


class BybitObj(Obj):
    """Bybit's accessors over the shared ones."""

    __slots__ = ()

    def maybe_decimal(self, key: str) -> float | None:
        """A decimal where ``""`` (or an absent key) means "not given"."""
        if not self.has(key) or self.get(key) == "":
            return None
        return self.decimal(key)

    def maybe_price(self, key: str) -> float | None:
        """A price where ``""`` and ``"0"`` mean "none"."""
        if not self.has(key) or self.get(key) == "":
            return None
        return self.optional_price(key)

    def position_idx(self, key: str = "positionIdx") -> PositionSide:
        raw = self.get(key)
        if isinstance(raw, str) and raw.isdigit():
            raw = int(raw)
        if isinstance(raw, bool) or raw not in SIDE_OF_IDX:
            raise self.error(key, "not a position index (0, 1 or 2)", raw)
        return SIDE_OF_IDX[raw]

    def buy_sell(self, key: str) -> str:
        raw = self.get(key)
        if raw == "Buy":
            return "buy"
        if raw == "Sell":
            return "sell"
        raise self.error(key, "not Buy or Sell", raw)


def _rows(body: object, source: str) -> list[BybitObj]:
    """``result.list`` of an envelope whose ``retCode`` is 0."""
    top = BybitObj(body, source=source, path="")
    code = top.get("retCode")
    if code not in (0, "0"):
        raise top.error("retCode", "the venue answered an error", code)
    result = top.obj("result")
    rows = result.array("list", max_len=MAX_ROWS)
    return [BybitObj(r, source=source, path=index_path("result.list", i)) for i, r in enumerate(rows)]


def parse_position(
    row: BybitObj, symbols: Mapping[str, str], margin_mode: MarginMode
) -> PositionState | None:
    """One ``position/list`` row (or ``position`` topic item); None for a symbol we do not watch.
    ``tradeMode`` 1 marks an isolated leg; Bybit deprecated it (always 0) in favour of the account's
    mode (``account/info``), which ``margin_mode`` carries."""
    symbol = symbols.get(row.symbol_id("symbol"))
    if symbol is None:
        return None
    side = row.get("side")
    size = row.non_negative("size")
    amount = 0.0 if side == "" else size if row.buy_sell("side") == "buy" else -size
    mode = margin_mode
    if row.has("tradeMode") and row.get("tradeMode") in (1, "1"):
        mode = MarginMode.ISOLATED
    entry = 0.0 if amount == 0 else row.price("avgPrice")
    return PositionState(
        symbol=symbol,
        position_side=row.position_idx(),
        margin_mode=mode,
        amount=amount,
        entry_price=entry,
        isolated_wallet=row.maybe_decimal("positionIM") if mode is MarginMode.ISOLATED else None,
        unrealized_pnl=row.maybe_decimal("unrealisedPnl"),
        mark_price=row.maybe_price("markPrice"),
        liquidation_price=row.maybe_price("liqPrice"),
        maint_margin=row.maybe_decimal("positionMM"),
        leverage=row.maybe_decimal("leverage"),
        update_ms=row.ms("updatedTime", allow_zero=True) if row.has("updatedTime") else 0,
    )


def parse_positions(
    body: object, symbols: Mapping[str, str], margin_mode: MarginMode, *, source: str = "position/list"
) -> tuple[PositionState, ...]:
    legs = [p for row in _rows(body, source) if (p := parse_position(row, symbols, margin_mode)) is not None]
    legs = [p for p in legs if p.amount != 0]
    refuse_repeats([(p.symbol, p.position_side) for p in legs], source=source, path="result.list")
    return tuple(legs)


@dataclass(frozen=True, slots=True)
class Wallet:
    """The UTA's account-wide figures (USD) and the settlement coin's wallet."""

    wallet_balance: float
    margin_balance: float | None
    total_maint_margin: float | None
    account_mm_rate: float | None


def parse_wallet(body: object, coin: str = "USDT", *, source: str = "wallet-balance") -> Wallet:
    """``account/wallet-balance`` (UNIFIED): the coin's ``walletBalance`` is the pool's wallet;
    ``totalMaintenanceMargin``, ``totalMarginBalance`` and ``accountMMRate`` are Bybit's own figures
    (``""`` where an isolated-margin account has none)."""
    rows = _rows(body, source)
    if not rows:
        raise FrameError(source, "result.list", "no account listed")
    acct = rows[0]
    balance = 0.0
    coins = acct.array("coin", max_len=MAX_ROWS)
    for i, raw in enumerate(coins):
        c = BybitObj(raw, source=source, path=index_path(acct.at("coin"), i))
        if c.get("coin") == coin:
            balance = c.decimal("walletBalance")
    return Wallet(
        balance,
        acct.maybe_decimal("totalMarginBalance"),
        acct.maybe_decimal("totalMaintenanceMargin"),
        acct.maybe_decimal("accountMMRate"),
    )


def parse_margin_mode(body: object, account: str, *, source: str = "account/info") -> MarginMode:
    """The account-wide margin mode. Refused, naming the account: portfolio margin (its requirement
    is a portfolio stress test no per-position rule reproduces), classic accounts and UTA 1.0
    (``unifiedMarginStatus`` 1, 3, 4: other endpoints and margin rules, not built)."""
    top = BybitObj(body, source=source, path="")
    result = top.obj("result")
    status = result.get("unifiedMarginStatus") if result.has("unifiedMarginStatus") else None
    if status in (1, "1"):
        raise UnsupportedAccount(
            account, "a classic account is not supported: upgrade it to a Unified Trading Account"
        )
    if status in (3, 4, "3", "4"):
        raise UnsupportedAccount(account, "UTA 1.0 is not supported: upgrade it to UTA 2.0")
    mode = result.get("marginMode")
    if mode == "REGULAR_MARGIN":
        return MarginMode.CROSS
    if mode == "ISOLATED_MARGIN":
        return MarginMode.ISOLATED
    if mode == "PORTFOLIO_MARGIN":
        raise UnsupportedAccount(
            account, "portfolio margin is not supported (its requirement is a stress test)"
        )
    raise result.error("marginMode", "unknown margin mode", mode)


class UnsupportedAccount(ValueError):
    """An account the monitor refuses to watch, and why, naming it."""

    def __init__(self, account: str, why: str) -> None:
        super().__init__(f"Bybit account {account!r}: {why}")
        self.account = account


def parse_tiers(body: object, symbol_id: str, *, source: str = "risk-limit") -> tuple[Tier, ...]:
    """``market/risk-limit`` rows of one symbol as tiers: floors from the previous cap, MMR as a
    fraction (a first-tier rate of 0.1 or more is a percent, as the inverse examples print it),
    ``mmDeduction`` ``""`` = 0."""
    rows = [r for r in _rows(body, source) if r.get("symbol") == symbol_id]
    if not rows:
        raise FrameError(source, "result.list", f"no tier for {symbol_id}")
    caps = [(r.positive("riskLimitValue"), r) for r in rows]
    caps.sort(key=lambda c: c[0])
    percent = caps[0][1].non_negative("maintenanceMargin") >= 0.1
    tiers = []
    floor = 0.0
    for cap, r in caps:
        mmr = r.non_negative("maintenanceMargin")
        tiers.append(Tier(floor, cap, mmr / 100 if percent else mmr, r.maybe_decimal("mmDeduction") or 0.0))
        floor = cap
    return tuple(tiers)


def merge_ticker(
    known: dict[str, float], frame: object, symbols: Mapping[str, str], received_ms: int, venue: str
) -> MarkPrices | None:
    """A ``tickers.<symbol>`` snapshot or delta: the mark it carries (a delta usually has none: then
    None, and the last known mark stays), remembered in ``known``."""
    top = BybitObj(frame, source="tickers", path="")
    topic = top.get("topic")
    if not isinstance(topic, str) or not topic.startswith("tickers."):
        raise top.error("topic", "not a ticker topic", topic)
    kind = top.get("type")
    if kind not in ("snapshot", "delta"):
        raise top.error("type", "not snapshot or delta", kind)
    data = top.obj("data")
    symbol = symbols.get(data.symbol_id("symbol"))
    if symbol is None or not data.has("markPrice"):
        return None
    mark = data.price("markPrice")
    ts = top.ms("ts")
    known[symbol] = mark
    return MarkPrices(venue, {symbol: mark}, ts, received_ms)


def parse_position_topic(
    frame: object,
    *,
    venue: str,
    account: str,
    symbols: Mapping[str, str],
    margin_mode: MarginMode,
    received_ms: int,
) -> AccountUpdate:
    top = BybitObj(frame, source="position", path="")
    rows = top.array("data", max_len=MAX_ROWS)
    legs = []
    for i, raw in enumerate(rows):
        p = parse_position(BybitObj(raw, source="position", path=index_path("data", i)), symbols, margin_mode)
        if p is not None:
            legs.append(p)
    refuse_repeats([(p.symbol, p.position_side) for p in legs], source="position", path="data")
    return AccountUpdate(venue, account, "POSITION", None, tuple(legs), top.ms("creationTime"), received_ms)


def parse_wallet_topic(
    frame: object, *, venue: str, account: str, coin: str, received_ms: int
) -> AccountUpdate | None:
    top = BybitObj(frame, source="wallet", path="")
    rows = top.array("data", max_len=16)
    for i, raw in enumerate(rows):
        acct = BybitObj(raw, source="wallet", path=index_path("data", i))
        for j, c in enumerate(acct.array("coin", max_len=MAX_ROWS)):
            row = BybitObj(c, source="wallet", path=index_path(acct.at("coin"), j))
            if row.get("coin") == coin:
                return AccountUpdate(
                    venue,
                    account,
                    "WALLET",
                    row.decimal("walletBalance"),
                    (),
                    top.ms("creationTime"),
                    received_ms,
                )
    return None


_STATUS = {
    "New": "NEW",
    "PartiallyFilled": "PARTIALLY_FILLED",
    "Filled": "FILLED",
    "Cancelled": "CANCELED",
    "Rejected": "REJECTED",
    "Deactivated": "EXPIRED",
    "Untriggered": "NEW",
    "Triggered": "NEW",
    "PartiallyFilledCanceled": "CANCELED",
}


def parse_order_topic(
    frame: object, *, venue: str, account: str, symbols: Mapping[str, str], received_ms: int
) -> list[OrderUpdate]:
    """``order`` topic items. A liquidation's order is Bybit's ``BustTrade`` (``createType``
    ``CreateByLiq``, ``orderType`` Market) or an ADL (``CreateByAdl_PassThrough``)."""
    top = BybitObj(frame, source="order", path="")
    out = []
    for i, raw in enumerate(top.array("data", max_len=MAX_ROWS)):
        o = BybitObj(raw, source="order", path=index_path("data", i))
        symbol = symbols.get(o.symbol_id("symbol"))
        if symbol is None:
            continue
        create = o.get("createType") if o.has("createType") else ""
        kind = (
            OrderKind.LIQUIDATION
            if create == "CreateByLiq"
            else OrderKind.ADL
            if isinstance(create, str) and create.startswith("CreateByAdl")
            else OrderKind.NORMAL
        )
        status_raw = o.get("orderStatus")
        if status_raw not in _STATUS:
            raise o.error("orderStatus", "unknown order status", status_raw)
        link = o.get("orderLinkId")
        oid = o.get("orderId")
        filled = o.non_negative("cumExecQty")
        avg = o.maybe_decimal("avgPrice") or 0.0
        out.append(
            OrderUpdate(
                venue,
                account,
                symbol,
                link if isinstance(link, str) else "",
                kind,
                o.buy_sell("side"),
                o.position_idx(),
                str(o.get("orderType")).upper(),
                "TRADE" if filled > 0 else "NEW",
                _STATUS[status_raw],
                bool(o.get("reduceOnly")),
                filled,
                filled,
                avg,
                avg,
                0.0,
                o.maybe_decimal("cumExecFee") or 0.0,
                o.ms("updatedTime"),
                received_ms,
                int(oid) if isinstance(oid, str) and oid.isdigit() else None,
            )
        )
    return out


__all__ = [
    "FrameError",
    "UnsupportedAccount",
    "Wallet",
    "excerpt",
    "merge_ticker",
    "parse_margin_mode",
    "parse_order_topic",
    "parse_position_topic",
    "parse_positions",
    "parse_tiers",
    "parse_wallet",
    "parse_wallet_topic",
]


def ticker_rows(body: object, *, source: str = "market/tickers") -> list[tuple[str, float]]:
    """``market/tickers`` as (market id, mark) pairs."""
    out = []
    for row in _rows(body, source):
        out.append((row.symbol_id("symbol"), row.price("markPrice")))
    return out


def envelope_time(body: object, *, source: str = "envelope") -> int:
    return BybitObj(body, source=source, path="").ms("time")


def parse_all_tiers(
    body: object, symbols: Mapping[str, str], *, source: str = "risk-limit"
) -> dict[str, tuple[Tier, ...]]:
    """Every listed symbol's tiers (``parse_tiers`` per symbol), by unified symbol."""
    ids = {r.symbol_id("symbol") for r in _rows(body, source)}
    return {symbols[i]: parse_tiers(body, i, source=source) for i in sorted(ids) if i in symbols}
