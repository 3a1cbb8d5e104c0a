"""Binance's own spellings and conventions in its payloads; the venue-neutral readers (decimals,
timestamps, bounds, error paths) are :mod:`monitor.venues.wire`.

Binance signs position amounts (negative = short) in both position modes, spells margin modes four
ways, writes "no entry" as an entry price of 0, lower-cases market ids in stream names and allows its
own alphabet in client order ids. ``Obj`` here is the wire reader with Binance's accessors added.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from monitor.model import MarginMode, PositionSide
from monitor.venues import wire
from monitor.venues.wire import MAX_PRICE, MIN_PRICE, FrameError, excerpt

_DIGITS_RE = re.compile(r"\d{1,16}", re.ASCII)
_CLIENT_ID_RE = re.compile(r"[A-Za-z0-9._:/\-]{1,64}", re.ASCII)

_MARGIN_MODES = {
    "cross": MarginMode.CROSS,
    "crossed": MarginMode.CROSS,
    "isolated": MarginMode.ISOLATED,
}
_POSITION_SIDES = {
    "BOTH": PositionSide.BOTH,
    "LONG": PositionSide.LONG,
    "SHORT": PositionSide.SHORT,
}


def parse_client_id(value: object, *, source: str, path: str) -> str:
    """A client order id in the character set Binance allows (``autoclose-…``, ``web_…``)."""
    if not isinstance(value, str) or not _CLIENT_ID_RE.fullmatch(value):
        raise FrameError(source, path, "not a client order id", excerpt(value))
    return value


def parse_margin_mode(value: object, *, source: str, path: str) -> MarginMode:
    """All of Binance's spellings: ``cross``/``isolated`` (positionRisk, ACCOUNT_UPDATE),
    ``CROSSED``/``ISOLATED`` (MARGIN_CALL, symbolConfig)."""
    mode = _MARGIN_MODES.get(value.lower()) if isinstance(value, str) and value.isascii() else None
    if mode is None:
        raise FrameError(source, path, "not a margin type", excerpt(value))
    return mode


def parse_position_side(value: object, *, source: str, path: str) -> PositionSide:
    side = _POSITION_SIDES.get(value.upper()) if isinstance(value, str) and value.isascii() else None
    if side is None:
        raise FrameError(source, path, "not a position side", excerpt(value))
    return side


def lookup_symbol(symbols: Mapping[str, str], market_id: str) -> str | None:
    """The unified symbol for a Binance id, or ``None``. Stream names are lower case
    (``btcusdt@markPrice``), so an id is also tried upper-cased."""
    unified = symbols.get(market_id)
    if unified is None and not market_id.isupper():
        unified = symbols.get(market_id.upper())
    return unified


class Obj(wire.Obj):
    """A Binance JSON object: the wire reader plus Binance's margin-mode and position-side spellings."""

    __slots__ = ()

    def margin_mode(self, key: str) -> MarginMode:
        return parse_margin_mode(self.get(key), source=self.source, path=self.at(key))

    def position_side(self, key: str) -> PositionSide:
        return parse_position_side(self.get(key), source=self.source, path=self.at(key))


def check_side_sign(side: PositionSide, amount: float, *, source: str, path: str, raw: object = None) -> None:
    """Binance signs amounts (negative = short) in both modes, so a hedge leg with the wrong sign is a
    corrupt row, not a position to guess about."""
    if (side is PositionSide.LONG and amount < 0) or (side is PositionSide.SHORT and amount > 0):
        raise FrameError(source, path, f"amount has the wrong sign for a {side.value} leg", excerpt(raw))


def entry_price(row: Obj, key: str, amount: float) -> float:
    """Entry price: ``0`` is how Binance spells "no entry" on a flat row, but an open position needs a
    usable price or its PnL would be nonsense."""
    number = row.non_negative(key)
    if number == 0 and amount == 0:
        return 0.0
    if not MIN_PRICE <= number <= MAX_PRICE:
        raise row.error(key, "not a usable entry price", row.get(key))
    return number


def position_symbol(row: Obj, key: str, amount: float, symbols: Mapping[str, str]) -> str | None:
    """The unified symbol of a position row, or ``None`` for a flat row of an unknown market (the
    caller drops it). An open position in an unknown market is an error: see ``streams`` for why."""
    market_id = row.symbol_id(key)
    symbol = lookup_symbol(symbols, market_id)
    if symbol is None and amount != 0:
        raise row.error(key, "unknown symbol with an open position", market_id)
    return symbol


def parse_order_id(value: object, *, source: str, path: str) -> int:
    """An exchange order id: a non-negative JSON integer or a string of digits."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _DIGITS_RE.fullmatch(value):
        return int(value)
    raise FrameError(source, path, "not an order id", excerpt(value))
