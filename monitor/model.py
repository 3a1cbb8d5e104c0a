"""Domain types shared by every layer.

Everything here is an immutable value: the margin maths and the policy are pure functions over these
snapshots, so a snapshot can be recorded, replayed and compared without a running exchange.

Numbers are ``float``. Exchange payloads carry decimal strings; they are parsed once at the edge
(``monitor.snapshot`` and the venue normalisers). Float keeps a full revaluation cheap enough to run on
every mark tick, and its relative error (about 1e-16 per operation) is far below the exchanges' own
rounding (8 decimals, truncated to the tick). Tolerances in tests are relative, never ``==``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from itertools import chain
from typing import Any, NamedTuple, TypeVar, cast, overload

import numpy as np
import numpy.typing as npt

_T = TypeVar("_T")


class Side(StrEnum):
    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1


class PositionSide(StrEnum):
    """``both`` is one-way mode; ``long``/``short`` are the legs of a hedge-mode symbol."""

    BOTH = "both"
    LONG = "long"
    SHORT = "short"


class MarginMode(StrEnum):
    CROSS = "cross"
    ISOLATED = "isolated"


class Venue(StrEnum):
    """A rule set: how a venue turns a position into a requirement and a liquidation price."""

    BINANCE_USDM = "binanceusdm"
    BINANCE_COINM = "binancecoinm"
    BYBIT = "bybit"
    OKX = "okx"
    BITGET = "bitget"


@dataclass(frozen=True, slots=True)
class Tier:
    """One maintenance tier. ``floor``/``cap`` are in the venue's own unit (see ``TierTable``)."""

    floor: float
    cap: float
    mmr: float
    cum: float = 0.0


@dataclass(frozen=True, slots=True)
class Position:
    """One open position (a hedge-mode leg is a position of its own).

    ``contracts`` is always positive; the direction is ``side``. ``isolated_wallet`` is the margin held
    by an isolated position excluding unrealised PnL (Binance ``isolatedWallet``).
    """

    symbol: str
    side: Side
    margin_mode: MarginMode
    contracts: float
    entry_price: float
    mark_price: float
    tiers: tuple[Tier, ...]
    contract_size: float = 1.0
    inverse: bool = False
    position_side: PositionSide = PositionSide.BOTH
    isolated_wallet: float | None = None
    leverage: float | None = None
    exchange_liquidation_price: float | None = None
    # When the position was opened (epoch seconds), for venues whose rule depends on it (Bitget's
    # tiered maintenance margin applies to positions opened after a cut-over instant).
    opened_at: float | None = None

    @property
    def key(self) -> tuple[str, PositionSide]:
        """Identity inside an account: a symbol, and the leg in hedge mode."""
        return (self.symbol, self.position_side)


@dataclass(frozen=True, slots=True)
class Collateral:
    """A non-settlement asset counted in the cross pool (Binance Multi-Assets mode, Bybit UTA).

    Its value is ``amount x price x (1 - haircut)`` in the settlement asset (a debt, ``amount < 0``, is
    counted in full). When ``symbol`` names a symbol with a mark (a position's, or one in the marks an
    evaluation is given) the price moves with that symbol's mark (BTC collateral with BTC/USDT:USDT).
    Behind a position in that symbol there is no closed-form liquidation price: long BTC against BTC
    collateral loses twice on the way down.
    """

    asset: str
    amount: float
    price: float
    haircut: float = 0.0
    symbol: str | None = None

    def value(self, price: float | None = None) -> float:
        p = self.price if price is None else price
        v = self.amount * p
        return v * (1.0 - self.haircut) if v > 0 else v


@dataclass(frozen=True, slots=True)
class Account:
    """An account at one instant: the cross wallet and every open position.

    ``wallet_balance`` is the cross wallet in the settlement asset (coin for inverse), excluding
    isolated wallets and unrealised PnL.
    """

    venue: Venue
    wallet_balance: float
    positions: tuple[Position, ...] = ()
    name: str = ""
    taker_fee: float = 0.0
    collateral: tuple[Collateral, ...] = ()


class CrossRisk(NamedTuple):
    """The cross pool of an account. ``margin_ratio`` is requirement / equity, liquidation at 1.0;
    ``inf`` when equity is not positive.

    Results are NamedTuples rather than frozen dataclasses: equally immutable, and about seven times
    cheaper to build, which matters at one per position per tick.
    """

    equity: float
    maint_margin: float
    margin_ratio: float


class PositionRisk(NamedTuple):
    symbol: str
    side: Side
    position_side: PositionSide
    margin_mode: MarginMode
    notional: float
    unrealized_pnl: float
    maint_margin: float
    margin_ratio: float
    liquidation_price: float | None
    distance_pct: float | None
    mark_price: float
    exchange_liquidation_price: float | None = None
    deviation_pct: float | None = None
    contracts: float | None = None
    isolated_wallet: float | None = None

    @property
    def key(self) -> tuple[str, PositionSide]:
        return (self.symbol, self.position_side)


class PositionColumns(NamedTuple):
    """The fields of a run of ``PositionRisk`` values that the policy reads from every position on
    every tick, one sequence per field."""

    symbol: Sequence[str]
    side: Sequence[Side]
    position_side: Sequence[PositionSide]
    margin_mode: Sequence[MarginMode]
    margin_ratio: Sequence[float]
    distance_pct: Sequence[float | None]
    deviation_pct: Sequence[float | None]


class LayoutPart:
    """One account's rows of a batch evaluation: the row fields that stay the same from one tick to
    the next while the account's positions do not change.

    One object per compiled account, shared by every layout that account's columns are part of, so
    that what a consumer derives from one account's rows (kept in ``memo``, under a key of its own,
    in the part's own row numbers) survives another account's change: a fill or a liquidation in
    one account then costs the work of that account alone, not of all of them."""

    __slots__ = ("account", "memo", "modes", "position_sides", "sides", "symbols")

    def __init__(
        self,
        account: str,
        symbols: Sequence[str],
        sides: Sequence[Side],
        position_sides: Sequence[PositionSide],
        modes: Sequence[MarginMode],
    ) -> None:
        self.account = account
        self.symbols = symbols
        self.sides = sides
        self.position_sides = position_sides
        self.modes = modes
        self.memo: dict[str, Any] = {}


class Layout:
    """Which rows of a batch evaluation belong to which account, and the row fields that stay the
    same from one tick to the next while no account's positions change: its accounts' parts end to
    end, with the fields of every row as one sequence each.

    One object per set of compiled accounts, kept across ticks and replaced when any of them
    changes, so that a consumer may keep what it derives from these fields in ``memo`` (under a key
    of its own) and trust it for as long as the layout is the one it sees: the policy's thresholds
    per row, say, which otherwise it would look up per position on every tick. What can be derived
    per account is better kept in the parts' memos, which outlive the layout.
    """

    __slots__ = (
        "accounts",
        "index",
        "memo",
        "modes",
        "parts",
        "position_sides",
        "sides",
        "starts",
        "symbols",
    )

    def __init__(self, parts: Sequence[LayoutPart]) -> None:
        self.parts = tuple(parts)
        self.accounts = tuple(part.account for part in self.parts)
        self.index = {name: k for k, name in enumerate(self.accounts)}
        starts = [0]
        for part in self.parts:
            starts.append(starts[-1] + len(part.symbols))
        self.starts = tuple(starts)
        self.symbols: list[str] = concatenated([part.symbols for part in self.parts])
        self.sides: list[Side] = concatenated([part.sides for part in self.parts])
        self.position_sides: list[PositionSide] = concatenated([part.position_sides for part in self.parts])
        self.modes: list[MarginMode] = concatenated([part.modes for part in self.parts])
        self.memo: dict[str, Any] = {}


def concatenated(parts: Sequence[Sequence[_T]]) -> list[_T]:
    """Per-account sequences end to end, as one list (a layout's or a batch's rows)."""
    return list(chain.from_iterable(parts))


class Sheet(NamedTuple):
    """One batch evaluation's screened numbers for all of its rows at once, as arrays: what lets a
    consumer ask a question of every position of every account in one vectorised pass.

    ``distance_pct`` is NaN where the row's is ``None``; ``deviated`` lists the rows that have a
    ``deviation_pct`` (each row's, ``None`` or not, is in ``deviation_pct``)."""

    layout: Layout
    margin_ratio: npt.NDArray[np.float64]
    distance_pct: npt.NDArray[np.float64]
    deviated: Sequence[int]
    deviation_pct: Sequence[float | None]


class RowColumns:
    """One evaluation's columns, one per ``PositionRisk`` field in field order, shared by the
    ``RiskRows`` of all its accounts. A column is a list, or a float64 array (NaN standing for
    ``None`` in an optional field) whose values become Python floats only for the rows read.

    Why arrays: turning every number of 1,000 legs into a Python float each tick allocated some 6,000
    objects that nothing read, and in a daemon that idles between ticks those allocations land on
    cold memory (about half a millisecond of every tick); the policy reads whole rows for the hundred
    or so positions with something to say."""

    __slots__ = ("_get", "_nan", "columns")

    def __init__(self, columns: Sequence[Sequence[Any] | npt.NDArray[np.float64]]) -> None:
        if len(columns) != len(PositionRisk._fields):
            raise ValueError(f"RiskRows needs {len(PositionRisk._fields)} columns, got {len(columns)}")
        self.columns = tuple(columns)
        self._get: tuple[Callable[[int], Any], ...] = tuple(
            c.item if isinstance(c, np.ndarray) else c.__getitem__ for c in self.columns
        )
        self._nan = tuple(k for k in _OPTIONAL if isinstance(self.columns[k], np.ndarray))

    def row(self, i: int) -> PositionRisk:
        values = [get(i) for get in self._get]
        for k in self._nan:
            if values[k] != values[k]:
                values[k] = None
        return _new_position_risk(values)

    def span(self, k: int, a: int, b: int) -> Sequence[Any]:
        """Rows ``a:b`` of column ``k`` as Python values."""
        column = self.columns[k]
        if not isinstance(column, np.ndarray):
            return column[a:b]
        part = column[a:b]
        out: list[Any] = part.tolist()
        if k in self._nan:
            for i in np.flatnonzero(np.isnan(part)).tolist():
                out[i] = None
        return out


class RiskRows(Sequence[PositionRisk]):
    """An account's ``PositionRisk`` values kept as rows of columns (``RowColumns``, shared by all
    the accounts of one evaluation), each row built only when it is read.

    Why: the batch evaluator has every number as a column already, and on an all-market tick the
    policy looks at a handful of fields of each position (``columns``, or the evaluation's ``sheet``)
    and reads whole rows only for the few with something to say. Building 1,000 tuples per tick that
    nothing reads was the largest cost left in the engine. To everything else this is an immutable
    sequence equal to the tuple of its rows: same ``==``, ``hash`` and ``repr``.
    """

    __slots__ = ("_columns", "_start", "_stop", "_tuple", "sheet")

    def __init__(
        self,
        columns: RowColumns | Sequence[Sequence[Any]],
        start: int,
        stop: int,
        sheet: Sheet | None = None,
    ) -> None:
        self._columns = columns if isinstance(columns, RowColumns) else RowColumns(columns)
        self._start = start
        self._stop = stop
        self._tuple: tuple[PositionRisk, ...] | None = None
        # the whole evaluation's arrays (these rows are ``start:stop`` of them), when it made them
        self.sheet = sheet

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, index: int) -> PositionRisk: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[PositionRisk, ...]: ...

    def __getitem__(self, index: int | slice) -> PositionRisk | tuple[PositionRisk, ...]:
        if isinstance(index, slice) or self._tuple is not None:
            return self.rows()[index]
        n = self._stop - self._start
        if not -n <= index < n:
            raise IndexError("RiskRows index out of range")
        return self._columns.row(self._start + (index if index >= 0 else n + index))

    def __iter__(self) -> Iterator[PositionRisk]:
        return iter(self.rows())

    def rows(self) -> tuple[PositionRisk, ...]:
        """Every row, built once."""
        if self._tuple is None:
            a, b, cols = self._start, self._stop, self._columns
            fields = (cols.span(k, a, b) for k in range(len(cols.columns)))
            self._tuple = tuple(map(_new_position_risk, zip(*fields, strict=True)))
        return self._tuple

    def columns(self) -> PositionColumns:
        a, b = self._start, self._stop
        return PositionColumns(*(self._columns.span(k, a, b) for k in _SCREENED))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RiskRows | tuple):
            return self.rows() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.rows())

    def __repr__(self) -> str:
        return repr(self.rows())


# ``PositionRisk._make`` without its Python frame: ``tuple.__new__`` over exactly the fields, in order
_new_position_risk = cast(Callable[[Iterable[Any]], PositionRisk], partial(tuple.__new__, PositionRisk))
# where each field of ``PositionColumns`` sits among ``PositionRisk``'s
_SCREENED = tuple(PositionRisk._fields.index(name) for name in PositionColumns._fields)
# the fields that may be ``None`` (NaN in an array column)
_OPTIONAL = tuple(
    PositionRisk._fields.index(name)
    for name in (
        "liquidation_price",
        "distance_pct",
        "exchange_liquidation_price",
        "deviation_pct",
        "contracts",
        "isolated_wallet",
    )
)


def position_columns(positions: Sequence[PositionRisk]) -> PositionColumns:
    """``PositionColumns`` of any run of positions: sliced from ``RiskRows``, else read row by row."""
    if isinstance(positions, RiskRows):
        return positions.columns()
    return PositionColumns(
        [p.symbol for p in positions],
        [p.side for p in positions],
        [p.position_side for p in positions],
        [p.margin_mode for p in positions],
        [p.margin_ratio for p in positions],
        [p.distance_pct for p in positions],
        [p.deviation_pct for p in positions],
    )


class AccountRisk(NamedTuple):
    venue: Venue
    account: str
    cross: CrossRisk | None
    positions: Sequence[PositionRisk] = ()
