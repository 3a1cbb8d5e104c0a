"""Reading untrusted venue payloads: the checks every adapter's parsers share.

Every value that enters from an exchange passes through one of these readers, so the rules live in one
place: what a decimal may look like, how large a number may be, how a timestamp is spelled. A reader
either returns a plain Python value the rest of the program can trust, or raises ``FrameError`` naming
the payload (``source``), the position inside it (``path``, e.g. ``a.P[2].iw``) and why. A venue's own
spellings (its margin modes, position sides, id alphabets) live in its folder
(``venues/binance/fields.py``).

Bounds are deliberately generous for real data and tight for hostile data: venues send at most 8-9
decimals and no balance or quantity near 1e20, while a float near 1e300 or 1e-300 would overflow the
margin maths (``1/price`` for inverse contracts, ``price * amount``) into ``inf``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Self

from monitor.events import Rejected
from monitor.model import PositionSide

MAX_MAGNITUDE = 1e20
"""Largest absolute value accepted for any decimal. Above every real balance, quantity or notional and
above Binance's 2^63-1 "no cap" bracket bound (about 9.2e18)."""

MIN_PRICE = 1e-12
"""Smallest price accepted. Binance quotes at most 8-9 decimals, so anything smaller is garbage, and it
keeps ``1/price`` (inverse notional) far from overflow."""

MAX_PRICE = 1e15

MAX_MS = 10**14
"""Largest epoch-millisecond timestamp accepted (the year 5138); rejects seconds/nanosecond mix-ups."""

MAX_DECIMAL_TEXT = 64
MAX_EXCERPT = 80

DECIMAL_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
DECIMAL_CHARS = "0123456789+-.eE"
"""Every character ``DECIMAL_RE`` can match."""
_DIGITS_RE = re.compile(r"\d{1,16}", re.ASCII)
_WORD_RE = re.compile(r"[A-Za-z0-9_]{1,40}", re.ASCII)
_MAX_SYMBOL_ID = 40


class FrameError(ValueError):
    """A payload from a venue that cannot be trusted.

    ``str()`` reads ``<source> <path>: <reason>[: <excerpt>]``. The excerpt shows the offending value,
    truncated to ``MAX_EXCERPT`` characters; objects and arrays are summarised by size, never dumped,
    so a secret elsewhere in the frame (a listenKey) cannot leak into a log line through an error.
    """

    def __init__(self, source: str, path: str, reason: str, excerpt: str = "") -> None:
        self.source = source
        self.path = path
        self.reason = reason
        self.excerpt = excerpt
        super().__init__(self.message())

    def message(self) -> str:
        where = f"{self.source} {self.path}" if self.path else self.source
        text = f"{where}: {self.reason}"
        return f"{text}: {self.excerpt}" if self.excerpt else text

    def __str__(self) -> str:
        return self.message()

    def __reduce__(self) -> tuple[type[FrameError], tuple[str, str, str, str]]:
        # The default would replay ``args`` (the message alone) into ``__init__``.
        return (FrameError, (self.source, self.path, self.reason, self.excerpt))

    def to_rejected(self, received_ms: int) -> Rejected:
        """The event the daemon logs and counts instead of applying the frame."""
        reason = f"{self.path}: {self.reason}" if self.path else self.reason
        return Rejected(source=self.source, reason=reason, excerpt=self.excerpt, received_ms=received_ms)


def excerpt(value: object) -> str:
    """A short, log-safe rendering of an offending value (at most ``MAX_EXCERPT`` characters)."""
    if isinstance(value, Mapping):
        text = f"<object with {len(value)} keys>"
    elif isinstance(value, list | tuple):
        text = f"<array of {len(value)}>"
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**40:
        text = f"<integer of {value.bit_length()} bits>"
    elif isinstance(value, str):
        text = repr(value[:MAX_EXCERPT])
    elif value is None or isinstance(value, int | float):
        text = repr(value)
    else:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= MAX_EXCERPT else text[: MAX_EXCERPT - 1] + "…"


def key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index_path(path: str, index: int) -> str:
    return f"{path}[{index}]"


def parse_decimal(value: object, *, source: str, path: str) -> float:
    """A finite decimal from a JSON string (how most venues send them) or a JSON number.

    Refuses booleans (``True`` is an ``int`` in Python), NaN and infinities (``json.loads`` accepts
    ``NaN``/``Infinity``), empty or padded strings, Python-only spellings (``"1_000"``, ``"inf"``) and
    magnitudes above ``MAX_MAGNITUDE``. ``-0`` becomes ``0.0``.
    """
    if isinstance(value, bool):
        raise FrameError(source, path, "not a decimal", excerpt(value))
    if isinstance(value, int):
        if abs(value) > MAX_MAGNITUDE:
            raise FrameError(source, path, "out of range", excerpt(value))
        return float(value) + 0.0
    if isinstance(value, float):
        number = value
    elif isinstance(value, str):
        if len(value) > MAX_DECIMAL_TEXT or not DECIMAL_RE.fullmatch(value):
            raise FrameError(source, path, "not a decimal", excerpt(value))
        number = float(value)
    else:
        raise FrameError(source, path, "not a decimal", excerpt(value))
    if not math.isfinite(number) or abs(number) > MAX_MAGNITUDE:
        raise FrameError(source, path, "out of range", excerpt(value))
    return number + 0.0


def parse_ms(value: object, *, source: str, path: str, allow_zero: bool = False) -> int:
    """An epoch-millisecond timestamp: a JSON integer or a string of digits (Binance sends
    ``listenKeyExpired.E`` both ways; OKX and Bybit send strings). JSON floats are refused: no venue
    sends one, and ``1.5e12`` would silently drop precision."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS_RE.fullmatch(value):
        number = int(value)
    if number is None:
        raise FrameError(source, path, "not a millisecond timestamp", excerpt(value))
    if number < 0 or number > MAX_MS or (number == 0 and not allow_zero):
        raise FrameError(source, path, "timestamp out of range", excerpt(value))
    return number


def parse_word(value: object, *, source: str, path: str) -> str:
    """An enum-like ASCII word (``ORDER``, ``TRADE``, ``FILLED``): short, letters, digits, ``_``."""
    if not isinstance(value, str) or not _WORD_RE.fullmatch(value):
        raise FrameError(source, path, "not a word", excerpt(value))
    return value


def parse_symbol_id(value: object, *, source: str, path: str) -> str:
    """A venue's market id. Only shape is checked here (listings may use non-ASCII names); whether it
    is known is the symbol map's job."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= _MAX_SYMBOL_ID
        or not value.isprintable()
        or any(ch.isspace() for ch in value)
    ):
        raise FrameError(source, path, "not a market id", excerpt(value))
    return value


def parse_bool(value: object, *, source: str, path: str) -> bool:
    if not isinstance(value, bool):
        raise FrameError(source, path, "not a boolean", excerpt(value))
    return value


class Obj:
    """A JSON object being read: every accessor names ``source`` and the full path in its errors.
    A venue subclasses it for its own spellings (``venues.binance.fields.Obj``)."""

    __slots__ = ("_data", "path", "source")

    def __init__(self, value: object, *, source: str, path: str) -> None:
        if not isinstance(value, Mapping):
            raise FrameError(source, path, "not an object", excerpt(value))
        self._data: Mapping[object, object] = value
        self.source = source
        self.path = path

    def at(self, key: str) -> str:
        return key_path(self.path, key)

    def has(self, key: str) -> bool:
        return key in self._data

    def get(self, key: str) -> object:
        """The raw value; a missing key is an error. ``None`` (JSON null) is returned as is."""
        if key not in self._data:
            raise FrameError(self.source, self.at(key), "missing")
        return self._data[key]

    def error(self, key: str, reason: str, value: object = None, *, show: bool = True) -> FrameError:
        return FrameError(self.source, self.at(key), reason, excerpt(value) if show else "")

    def obj(self, key: str) -> Self:
        """A nested object, read by the same class (a venue's subclass keeps its own accessors)."""
        return type(self)(self.get(key), source=self.source, path=self.at(key))

    def array(self, key: str, *, max_len: int) -> list[object]:
        return parse_array(self.get(key), source=self.source, path=self.at(key), max_len=max_len)

    def decimal(self, key: str) -> float:
        return parse_decimal(self.get(key), source=self.source, path=self.at(key))

    def non_negative(self, key: str) -> float:
        number = self.decimal(key)
        if number < 0:
            raise self.error(key, "must not be negative", self.get(key))
        return number

    def positive(self, key: str) -> float:
        number = self.decimal(key)
        if not number > 0:
            raise self.error(key, "must be positive", self.get(key))
        return number

    def price(self, key: str) -> float:
        """A price that must exist: ``MIN_PRICE <= p <= MAX_PRICE``."""
        number = self.decimal(key)
        if not MIN_PRICE <= number <= MAX_PRICE:
            raise self.error(key, "not a usable price", self.get(key))
        return number

    def optional_price(self, key: str) -> float | None:
        """A price where ``0`` means "none" (Binance's ``liquidationPrice`` "0": nothing liquidates).
        Negative values are still errors."""
        number = self.decimal(key)
        if number == 0:
            return None
        if not MIN_PRICE <= number <= MAX_PRICE:
            raise self.error(key, "not a usable price", self.get(key))
        return number

    def ms(self, key: str, *, allow_zero: bool = False) -> int:
        return parse_ms(self.get(key), source=self.source, path=self.at(key), allow_zero=allow_zero)

    def word(self, key: str) -> str:
        return parse_word(self.get(key), source=self.source, path=self.at(key))

    def symbol_id(self, key: str) -> str:
        return parse_symbol_id(self.get(key), source=self.source, path=self.at(key))

    def boolean(self, key: str) -> bool:
        return parse_bool(self.get(key), source=self.source, path=self.at(key))


def parse_array(value: object, *, source: str, path: str, max_len: int) -> list[object]:
    """A JSON array no longer than ``max_len``: a hostile frame cannot make us iterate millions."""
    if not isinstance(value, list):
        raise FrameError(source, path, "not an array", excerpt(value))
    if len(value) > max_len:
        raise FrameError(source, path, f"array longer than {max_len}", excerpt(value))
    return value


def refuse_repeats(keys: Sequence[tuple[str, PositionSide]], *, source: str, path: str) -> None:
    """One payload must not state a leg twice: there would be no telling which row is true."""
    seen: set[tuple[str, PositionSide]] = set()
    for symbol, side in keys:
        if (symbol, side) in seen:
            raise FrameError(source, path, f"{symbol} {side.value} listed twice")
        seen.add((symbol, side))
