"""OKX v5 payloads -> the project's events: pure, validated, errors naming the field path.

OKX's spellings: every number a decimal string, ``""`` for "not applicable" (``liqPx`` without a
liquidation price, ``margin`` of a cross position, the account-level risk fields in Futures mode);
the envelope's ``code`` is the string "0" on success. Sizes are contracts (``pos``, signed in net
mode, positive in long/short mode, where ``posSide`` says which). A position is keyed by
``instId`` + ``mgnMode`` + ``posSide``; the monitor keys it by symbol and side, so one instrument held
in both margin modes at once is refused, naming it. Position tiers count contracts and start each
tier one contract above the last one's maximum: they are joined into a continuous table.
Sources: ``tests/venues/fixtures/okx``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.events import AccountUpdate, MarkPrices, OrderKind, OrderUpdate, PositionState
from monitor.margin.rules import ratio_from_okx
from monitor.model import MarginMode, PositionSide, Tier
from monitor.venues.wire import FrameError, Obj, index_path, refuse_repeats

MAX_ROWS = 5_000
SIDES = {"net": PositionSide.BOTH, "long": PositionSide.LONG, "short": PositionSide.SHORT}
POS_SIDE = {v: k for k, v in SIDES.items()}
MODES = {"cross": MarginMode.CROSS, "isolated": MarginMode.ISOLATED}


class OkxObj(Obj):
    """OKX's accessors over the shared ones."""

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

    def choice(self, key: str, table: Mapping[str, object]) -> object:
        raw = self.get(key)
        if not isinstance(raw, str) or raw not in table:
            raise self.error(key, f"not one of {', '.join(table)}", raw)
        return table[raw]


def _rows(body: object, source: str) -> list[OkxObj]:
    """``data`` of an envelope whose ``code`` is "0"."""
    top = OkxObj(body, source=source, path="")
    code = top.get("code")
    if code != "0":
        raise top.error("code", "the venue answered an error", code)
    rows = top.array("data", max_len=MAX_ROWS)
    return [OkxObj(r, source=source, path=index_path("data", i)) for i, r in enumerate(rows)]


# ---- positions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OkxPosition:
    """A position and OKX's own ratio for it, converted to the project's direction
    (requirement / equity): the figure to show beside ours."""

    state: PositionState
    okx_ratio: float | None


def parse_position(row: OkxObj, symbols: Mapping[str, str]) -> OkxPosition | None:
    """One ``account/positions`` row (or ``positions`` channel item); None for an instrument the
    monitor does not watch."""
    symbol = symbols.get(row.symbol_id("instId"))
    if symbol is None:
        return None
    side = row.choice("posSide", SIDES)
    assert isinstance(side, PositionSide)
    mode = row.choice("mgnMode", MODES)
    assert isinstance(mode, MarginMode)
    pos = row.maybe_decimal("pos") or 0.0
    if side is PositionSide.BOTH:
        amount = pos
    else:
        if pos < 0:
            raise row.error("pos", "negative in long/short mode", row.get("pos"))
        amount = pos if side is PositionSide.LONG else -pos
    entry = 0.0 if amount == 0 else row.price("avgPx")
    ratio = row.maybe_decimal("mgnRatio")
    state = PositionState(
        symbol=symbol,
        position_side=side,
        margin_mode=mode,
        amount=amount,
        entry_price=entry,
        isolated_wallet=row.maybe_decimal("margin") if mode is MarginMode.ISOLATED else None,
        unrealized_pnl=row.maybe_decimal("upl"),
        mark_price=row.maybe_price("markPx"),
        liquidation_price=row.maybe_price("liqPx"),
        maint_margin=row.maybe_decimal("mmr"),
        leverage=row.maybe_decimal("lever"),
        update_ms=row.ms("uTime", allow_zero=True) if row.has("uTime") and row.get("uTime") != "" else 0,
    )
    return OkxPosition(state, ratio_from_okx(ratio) if ratio is not None and amount != 0 else None)


def _positions(rows: list[OkxObj], symbols: Mapping[str, str], source: str, path: str) -> list[OkxPosition]:
    out = [p for row in rows if (p := parse_position(row, symbols)) is not None]
    _refuse_two_modes(out, source, path)
    return out


def _refuse_two_modes(positions: list[OkxPosition], source: str, path: str) -> None:
    """One instrument and side in both margin modes at once: OKX allows it, the monitor's model
    keys a position by symbol and side and cannot hold both."""
    modes: dict[tuple[str, PositionSide], MarginMode] = {}
    for p in positions:
        key = (p.state.symbol, p.state.position_side)
        if p.state.amount == 0:
            continue
        if key in modes and modes[key] is not p.state.margin_mode:
            raise FrameError(
                source, path, f"{key[0]} is held in cross and isolated margin at once: not supported"
            )
        modes[key] = p.state.margin_mode
    refuse_repeats([k for k in modes], source=source, path=path)


def parse_positions(
    body: object, symbols: Mapping[str, str], *, source: str = "account/positions"
) -> tuple[OkxPosition, ...]:
    """The open positions of a REST reply (OKX lists no flat one; a ``pos`` "0" row is dropped)."""
    return tuple(p for p in _positions(_rows(body, source), symbols, source, "data") if p.state.amount != 0)


def parse_positions_push(
    frame: object, *, venue: str, account: str, symbols: Mapping[str, str], received_ms: int
) -> tuple[AccountUpdate, tuple[OkxPosition, ...]]:
    """A ``positions`` push (a page of a snapshot, or an ``event_update``): its rows as deltas. A
    closed position comes as ``pos`` "0"; a snapshot lists the open ones only, so what it lacks is
    dropped by the REST resync, not here (ccxt never drops it at all)."""
    top = OkxObj(frame, source="positions", path="")
    rows = [
        OkxObj(r, source="positions", path=index_path("data", i))
        for i, r in enumerate(top.array("data", max_len=MAX_ROWS))
    ]
    positions = _positions(rows, symbols, "positions", "data")
    stamps = [p.state.update_ms for p in positions if p.state.update_ms]
    event_ms = max(stamps) if stamps else received_ms
    legs = tuple(p.state for p in positions)
    return AccountUpdate(venue, account, "POSITIONS", None, legs, event_ms, received_ms), tuple(positions)


# ---- balance and account -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Balance:
    """One currency of ``account/balance`` in Futures mode. ``cash`` is the cross wallet (the
    isolated positions' margin is in ``isoEq``, not in it); ``okx_ratio`` the currency's cross ratio
    in the project's direction; ``maint_margin`` OKX's cross ``mmr`` (the fee to close left out)."""

    cash: float
    equity: float
    maint_margin: float | None
    okx_ratio: float | None


def _balance_row(row: OkxObj, ccy: str) -> Balance | None:
    for i, raw in enumerate(row.array("details", max_len=MAX_ROWS)):
        d = OkxObj(raw, source=row.source, path=index_path(row.at("details"), i))
        if d.get("ccy") == ccy:
            ratio = d.maybe_decimal("mgnRatio")
            return Balance(
                d.decimal("cashBal"),
                d.decimal("eq"),
                d.maybe_decimal("mmr"),
                ratio_from_okx(ratio) if ratio is not None else None,
            )
    return None


def parse_balance(body: object, ccy: str = "USDT", *, source: str = "account/balance") -> Balance:
    rows = _rows(body, source)
    if not rows:
        raise FrameError(source, "data", "no account listed")
    found = _balance_row(rows[0], ccy)
    return found if found is not None else Balance(0.0, 0.0, None, None)


def parse_account_push(
    frame: object, *, venue: str, account: str, ccy: str, received_ms: int
) -> AccountUpdate | None:
    """An ``account`` push: the currency's cash balance as the cross wallet."""
    top = OkxObj(frame, source="account", path="")
    for i, raw in enumerate(top.array("data", max_len=16)):
        row = OkxObj(raw, source="account", path=index_path("data", i))
        found = _balance_row(row, ccy)
        if found is not None:
            stamp = row.ms("uTime") if row.has("uTime") and row.get("uTime") != "" else received_ms
            return AccountUpdate(venue, account, "ACCOUNT", found.cash, (), stamp, received_ms)
    return None


@dataclass(frozen=True, slots=True)
class AccountConfig:
    level: str
    hedge: bool


class UnsupportedAccount(ValueError):
    """An account the monitor refuses to watch, and why, naming it."""

    def __init__(self, account: str, why: str) -> None:
        super().__init__(f"OKX account {account!r}: {why}")
        self.account = account


_LEVELS = {
    "1": "is in Spot mode, which holds no swaps: switch it to Futures mode",
    "3": "is in Multi-currency margin mode, not supported yet (its pool is in USD with haircuts):"
    " use Futures mode",
    "4": "is in Portfolio margin mode, not supported (its requirement is a portfolio stress test)",
}


def parse_config(body: object, account: str, *, source: str = "account/config") -> AccountConfig:
    """``account/config``: the account mode (``acctLv``; only 2, Futures mode, is watched: the
    others are refused by name) and the position mode (``posMode``)."""
    rows = _rows(body, source)
    if not rows:
        raise FrameError(source, "data", "no account listed")
    row = rows[0]
    level = row.get("acctLv")
    if isinstance(level, str) and level in _LEVELS:
        raise UnsupportedAccount(account, _LEVELS[level])
    if level != "2":
        raise row.error("acctLv", "unknown account mode", level)
    hedge = row.choice("posMode", {"net_mode": False, "long_short_mode": True})
    return AccountConfig("2", bool(hedge))


# ---- market data -------------------------------------------------------------------------------


def parse_tiers(body: object, *, source: str = "position-tiers") -> dict[str, tuple[Tier, ...]]:
    """``public/position-tiers`` rows by instrument family, as continuous tiers in contracts: each
    floor is the previous tier's maximum (OKX starts the next tier one contract above it), the rate
    is ``mmr``, there is no deduction."""
    by_family: dict[str, list[tuple[int, float, float]]] = {}
    for row in _rows(body, source):
        family = row.symbol_id("instFamily")
        tier = row.get("tier")
        if not isinstance(tier, str) or not tier.isdigit():
            raise row.error("tier", "not a tier number", tier)
        by_family.setdefault(family, []).append((int(tier), row.positive("maxSz"), row.non_negative("mmr")))
    out: dict[str, tuple[Tier, ...]] = {}
    for family, rows in by_family.items():
        rows.sort()
        tiers: list[Tier] = []
        for _, cap, mmr in rows:
            floor = tiers[-1].cap if tiers else 0.0
            if not cap > floor:
                raise FrameError(source, "data", f"{family}: tier maxSz {cap:g} not above {floor:g}")
            tiers.append(Tier(floor, cap, mmr, 0.0))
        out[family] = tuple(tiers)
    return out


def parse_mark_push(
    frame: object, symbols: Mapping[str, str], received_ms: int, venue: str
) -> MarkPrices | None:
    """A ``mark-price`` push: the marks of the watched instruments in it (None if none)."""
    top = OkxObj(frame, source="mark-price", path="")
    arg = top.obj("arg")
    if arg.get("channel") != "mark-price":
        raise arg.error("channel", "not the mark-price channel", arg.get("channel"))
    return _marks(
        [
            OkxObj(r, source="mark-price", path=index_path("data", i))
            for i, r in enumerate(top.array("data", max_len=MAX_ROWS))
        ],
        symbols,
        received_ms,
        venue,
    )


def parse_mark_rows(
    body: object,
    symbols: Mapping[str, str],
    received_ms: int,
    venue: str,
    *,
    source: str = "public/mark-price",
) -> MarkPrices | None:
    return _marks(_rows(body, source), symbols, received_ms, venue)


def _marks(rows: list[OkxObj], symbols: Mapping[str, str], received_ms: int, venue: str) -> MarkPrices | None:
    prices: dict[str, float] = {}
    stamps: dict[str, int] = {}
    for row in rows:
        symbol = symbols.get(row.symbol_id("instId"))
        if symbol is None:
            continue
        prices[symbol] = row.price("markPx")
        stamps[symbol] = row.ms("ts")
    if not prices:
        return None
    return MarkPrices(venue, prices, max(stamps.values()), received_ms, stamps)


# ---- orders ------------------------------------------------------------------------------------

_STATUS = {
    "live": "NEW",
    "partially_filled": "PARTIALLY_FILLED",
    "filled": "FILLED",
    "canceled": "CANCELED",
    "mmp_canceled": "CANCELED",
}
_KIND = {
    "full_liquidation": OrderKind.LIQUIDATION,
    "partial_liquidation": OrderKind.LIQUIDATION,
    "adl": OrderKind.ADL,
    "delivery": OrderKind.SETTLEMENT,
}


def parse_orders_push(
    frame: object, *, venue: str, account: str, symbols: Mapping[str, str], received_ms: int
) -> list[OrderUpdate]:
    """``orders`` channel items. A forced order is told by ``category``: ``full_liquidation`` or
    ``partial_liquidation`` (a liquidation), ``adl``. ``reduceOnly`` is the string "true"/"false";
    sizes are contracts; a fill's own size, price and PnL are ``fillSz``, ``fillPx``, ``fillPnl``."""
    top = OkxObj(frame, source="orders", path="")
    out = []
    for i, raw in enumerate(top.array("data", max_len=MAX_ROWS)):
        o = OkxObj(raw, source="orders", path=index_path("data", i))
        symbol = symbols.get(o.symbol_id("instId"))
        if symbol is None:
            continue
        state = o.get("state")
        if not isinstance(state, str) or state not in _STATUS:
            raise o.error("state", "unknown order state", state)
        category = o.get("category") if o.has("category") else "normal"
        kind = _KIND.get(category, OrderKind.NORMAL) if isinstance(category, str) else OrderKind.NORMAL
        side = o.choice("side", {"buy": "buy", "sell": "sell"})
        pos_side = o.get("posSide") if o.has("posSide") else ""
        position_side = (
            SIDES.get(pos_side, PositionSide.BOTH) if isinstance(pos_side, str) else PositionSide.BOTH
        )
        last = o.maybe_decimal("fillSz") or 0.0
        filled = o.maybe_decimal("accFillSz") or 0.0
        oid = o.get("ordId")
        cl = o.get("clOrdId")
        out.append(
            OrderUpdate(
                venue,
                account,
                symbol,
                cl if isinstance(cl, str) else "",
                kind,
                str(side),
                position_side,
                str(o.get("ordType")).upper(),
                "TRADE" if last > 0 else "NEW",
                _STATUS[state],
                o.get("reduceOnly") == "true",
                last,
                filled,
                o.maybe_decimal("fillPx") or 0.0,
                o.maybe_decimal("avgPx") or 0.0,
                o.maybe_decimal("fillPnl") or 0.0,
                -(o.maybe_decimal("fillFee") or 0.0),
                o.ms("uTime"),
                received_ms,
                int(oid) if isinstance(oid, str) and oid.isdigit() else None,
            )
        )
    return out


__all__ = [
    "AccountConfig",
    "Balance",
    "FrameError",
    "OkxPosition",
    "UnsupportedAccount",
    "parse_account_push",
    "parse_balance",
    "parse_config",
    "parse_mark_push",
    "parse_mark_rows",
    "parse_orders_push",
    "parse_positions",
    "parse_positions_push",
    "parse_tiers",
]
