"""Bitunix payloads -> the project's values: pure, validated, errors naming the field path.

Bitunix's spellings (shared fixtures, ``bitunix/README.md``): ``data`` an object where the docs show
an array and the reverse (read both), numbers as decimal strings or JSON numbers (``leverage``,
``basePrecision``, ``ctime``), margin modes ``ISOLATION``/``CROSS``, position modes
``ONE_WAY``/``HEDGE``, position sides ``LONG``/``SHORT`` (live REST has answered ``BUY``/``SELL``),
``liqPrice`` at or below 0 for "none", ``fundingRate`` in percent. USDT-M only: a market quoted in
USD (coin-M) is left out of the market list, and a position in one is refused naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.daemon.engine import MarketInfo
from monitor.events import PositionState
from monitor.margin.tiers import cumulative_amount
from monitor.model import MarginMode, PositionSide, Tier
from monitor.venues.markets import MarketRules
from monitor.venues.wire import MIN_PRICE, FrameError, Obj, excerpt, index_path, refuse_repeats

MAX_ROWS = 5_000
SETTLE = "USDT"
MARGIN_MODES = {"ISOLATION": MarginMode.ISOLATED, "CROSS": MarginMode.CROSS}
LONG_WORDS = ("LONG", "BUY")
SHORT_WORDS = ("SHORT", "SELL")


class BitunixObj(Obj):
    """Bitunix's accessors over the shared ones."""

    __slots__ = ()

    def number(self, key: str) -> float:
        """A decimal sent as a string or a JSON number (``leverage`` is either, by endpoint)."""
        return self.decimal(key)

    def liquidation_price(self, key: str = "liqPrice") -> float | None:
        """Bitunix: "if the value <= 0, there is no liquidation price"."""
        number = self.decimal(key)
        if number <= 0:
            return None
        if number < MIN_PRICE:
            raise self.error(key, "not a usable price", self.get(key))
        return number

    def margin_mode(self, key: str = "marginMode") -> MarginMode:
        raw = self.get(key)
        mode = MARGIN_MODES.get(raw) if isinstance(raw, str) else None
        if mode is None:
            raise self.error(key, "not a margin mode (ISOLATION or CROSS)", raw)
        return mode

    def hedge(self, key: str = "positionMode") -> bool:
        raw = self.get(key)
        if raw not in ("ONE_WAY", "HEDGE"):
            raise self.error(key, "not a position mode (ONE_WAY or HEDGE)", raw)
        return raw == "HEDGE"

    def is_long(self, key: str = "side") -> bool:
        raw = self.get(key)
        if raw in LONG_WORDS:
            return True
        if raw in SHORT_WORDS:
            return False
        raise self.error(key, "not a position side (LONG or SHORT)", raw)


def rows(data: object, *, source: str) -> list[BitunixObj]:
    """``data`` as a list of objects: an array, or one object where the docs show an array."""
    if isinstance(data, Mapping):
        return [BitunixObj(data, source=source, path="data")]
    if not isinstance(data, list):
        raise FrameError(source, "data", "neither an array nor an object", excerpt(data))
    if len(data) > MAX_ROWS:
        raise FrameError(source, "data", f"array longer than {MAX_ROWS}", excerpt(data))
    return [BitunixObj(row, source=source, path=index_path("data", i)) for i, row in enumerate(data)]


def unified(symbol_id: str) -> str | None:
    """``BTCUSDT`` -> ``BTC/USDT:USDT``; None for anything not USDT-margined."""
    if symbol_id.endswith(SETTLE) and len(symbol_id) > len(SETTLE):
        return f"{symbol_id[: -len(SETTLE)]}/{SETTLE}:{SETTLE}"
    return None


@dataclass(frozen=True, slots=True)
class Market:
    id: str
    symbol: str
    info: MarketInfo
    rules: MarketRules
    qty_decimals: int


def parse_markets(data: object) -> list[Market]:
    """``trading_pairs``: the USDT-M markets that trade (coin-M, and markets that do not open, left out)."""
    source = "trading_pairs"
    out = []
    for row in rows(data, source=source):
        symbol_id = row.symbol_id("symbol")
        if row.get("quote") != SETTLE or unified(symbol_id) is None:
            continue
        if row.has("symbolStatus") and row.get("symbolStatus") not in ("OPEN", "CANCEL_ONLY"):
            continue
        symbol = f"{symbol_id[: -len(SETTLE)]}/{SETTLE}:{SETTLE}"
        qty_decimals = _decimals(row, "basePrecision")
        price_decimals = _decimals(row, "quotePrecision")
        rules = MarketRules(
            symbol,
            amount_step=10.0**-qty_decimals,
            min_amount=row.non_negative("minTradeVolume"),
            price_tick=10.0**-price_decimals,
        )
        out.append(Market(symbol_id, symbol, MarketInfo(symbol, 1.0, False), rules, qty_decimals))
    return out


def _decimals(row: BitunixObj, key: str) -> int:
    raw = row.get(key)
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= 18:
        raise row.error(key, "not a number of decimals", raw)
    return raw


def parse_marks(data: object, symbols: Mapping[str, str]) -> dict[str, float]:
    """``funding_rate/batch`` or ``tickers``: the mark of every known symbol (a ``markPrice`` of 0,
    as a delisted row has, is no mark)."""
    out: dict[str, float] = {}
    for row in rows(data, source="marks"):
        symbol = symbols.get(row.symbol_id("symbol"))
        if symbol is None:
            continue
        mark = row.decimal("markPrice")
        if mark > 0:
            out[symbol] = row.price("markPrice")
    return out


def parse_price_push(frame: object, symbols: Mapping[str, str]) -> tuple[str, float, int] | None:
    """A ``price`` channel push -> (unified symbol, mark, exchange ms); None for a symbol not known."""
    obj = BitunixObj(frame, source="price", path="")
    symbol = symbols.get(obj.symbol_id("symbol"))
    if symbol is None:
        return None
    data = obj.obj("data")
    return symbol, data.price("mp"), obj.ms("ts")


def parse_tiers(data: object) -> tuple[Tier, ...]:
    """``get_position_tiers`` rows as tiers by position value. Bitunix publishes no deduction: the
    maintenance is taken continuous across tiers (Binance's recurrence), which is what a tiered rate
    without a jump amounts to; an empty last ``endValue`` is "no cap"."""
    source = "position_tiers"
    out: list[Tier] = []
    for row in sorted(rows(data, source=source), key=lambda r: r.non_negative("startValue")):
        floor = row.non_negative("startValue")
        cap = float("inf") if row.get("endValue") in ("", None) else row.positive("endValue")
        mmr = row.non_negative("maintenanceMarginRate")
        if mmr >= 1:
            raise row.error("maintenanceMarginRate", "not a rate below 1", row.get("maintenanceMarginRate"))
        tier = Tier(floor, cap, mmr)
        out.append(Tier(floor, cap, mmr, cumulative_amount(out[-1], tier)) if out else tier)
    if not out:
        raise FrameError(source, "data", "no tiers")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class PendingPosition:
    """One ``get_pending_positions`` row: the leg, its id (hedge closes and margin name it) and the
    exchange's margin rate (kept as read: Bitunix does not define it)."""

    state: PositionState
    position_id: str
    margin_rate: float


def parse_positions(
    data: object, symbols: Mapping[str, str], *, hedge: bool
) -> tuple[list[PendingPosition], list[FrameError]]:
    """The open legs, and a refusal per row in a market the monitor does not watch (coin-M)."""
    source = "pending_positions"
    out: list[PendingPosition] = []
    refused: list[FrameError] = []
    for row in rows(data, source=source) if data is not None else []:
        symbol_id = row.symbol_id("symbol")
        symbol = symbols.get(symbol_id)
        if symbol is None:
            what = (
                "coin-M (USD) futures are not supported"
                if unified(symbol_id) is None
                else "not a listed market"
            )
            refused.append(row.error("symbol", what, symbol_id))
            continue
        qty = row.non_negative("qty")
        if qty == 0:
            continue
        is_long = row.is_long()
        mode = row.margin_mode()
        side = PositionSide.BOTH
        if hedge:
            side = PositionSide.LONG if is_long else PositionSide.SHORT
        margin = row.non_negative("margin")
        state = PositionState(
            symbol=symbol,
            position_side=side,
            margin_mode=mode,
            amount=qty if is_long else -qty,
            entry_price=row.price("avgOpenPrice"),
            isolated_wallet=margin if mode is MarginMode.ISOLATED else None,
            unrealized_pnl=row.decimal("unrealizedPNL"),
            liquidation_price=row.liquidation_price(),
            leverage=row.positive("leverage"),
            update_ms=row.ms("mtime", allow_zero=True) if row.has("mtime") else 0,
            opened_ms=row.ms("ctime", allow_zero=True) if row.has("ctime") else 0,
        )
        pid = row.get("positionId")
        if not isinstance(pid, str | int) or isinstance(pid, bool) or not str(pid):
            raise row.error("positionId", "not an id", pid)
        out.append(PendingPosition(state, str(pid), row.decimal("marginRate")))
    refuse_repeats([(p.state.symbol, p.state.position_side) for p in out], source=source, path="data")
    return out, refused


@dataclass(frozen=True, slots=True)
class AccountFigures:
    available: float
    frozen: float
    margin: float
    hedge: bool


def parse_account(data: object) -> AccountFigures:
    """The USDT account row (``data`` an object live, an array in the docs)."""
    for row in rows(data, source="account"):
        if row.get("marginCoin") != SETTLE:
            continue
        return AccountFigures(
            row.decimal("available"), row.non_negative("frozen"), row.non_negative("margin"), row.hedge()
        )
    raise FrameError("account", "data", "no USDT row")


def cross_wallet(account: AccountFigures, positions: list[PendingPosition]) -> float:
    """The cross wallet: ``available`` is the wallet without what positions and orders hold
    (``margin``, ``frozen``); the isolated legs' margin is theirs, not the pool's."""
    isolated = sum(
        p.state.isolated_wallet or 0.0 for p in positions if p.state.margin_mode is MarginMode.ISOLATED
    )
    return account.available + account.frozen + account.margin - isolated


PRIVATE_CHANNELS = frozenset({"position", "balance", "order"})


def private_channel(frame: object) -> str:
    """The channel of a private push (``position``, ``balance``, ``order``), checked to carry data
    as an object or a list; anything else is an error naming it."""
    obj = BitunixObj(frame, source="private", path="")
    ch = obj.get("ch")
    if ch not in PRIVATE_CHANNELS:
        raise obj.error("ch", "not a channel the monitor reads", ch)
    rows(obj.get("data"), source=f"private {ch}")
    return str(ch)
