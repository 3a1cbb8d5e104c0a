"""A batch evaluation's results as columns: the rows, their layout and the screened numbers.

``monitor.margin.batch`` computes every position of many accounts at once over numpy columns; these
types hand the results on without turning every number into a Python object. ``RiskRows`` is an
account's ``AccountRisk.positions``: a sequence equal to the tuple of its ``PositionRisk`` rows, each
built only when read. ``RiskArrays`` and ``RowLabels`` let the policy ask a question of every row of every
account in one vectorised pass (``monitor.policy.screen``). Positions from elsewhere (snapshots, the
scalar path) are plain tuples; ``position_columns`` reads either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import chain
from typing import Any, NamedTuple, TypeVar, cast, overload

import numpy as np
import numpy.typing as npt

from monitor.model import MarginMode, PositionRisk, PositionSide, Side

_T = TypeVar("_T")


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


class AccountRowLabels:
    """One account's rows of a batch evaluation: the row fields that stay the same from one tick to
    the next while the account's positions do not change.

    One object per compiled account, shared by every layout that account's columns are part of, so
    that what a consumer derives from one account's rows (keyed by this object, weakly: the policy's
    ``ScreenCache``) survives another account's change: a fill or a liquidation in one account then
    costs the work of that account alone, not of all of them."""

    __slots__ = ("__weakref__", "account", "modes", "position_sides", "sides", "symbols")

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


class RowLabels:
    """Which rows of a batch evaluation belong to which account, and the row fields that stay the
    same from one tick to the next while no account's positions change: its accounts' parts end to
    end, with the fields of every row as one sequence each.

    One object per set of compiled accounts, kept across ticks and replaced when any of them
    changes, so that a consumer may key what it derives from these fields by this object and trust
    it for as long as the layout is the one it sees: the policy's thresholds per row, say, which
    otherwise it would look up per position on every tick. What can be derived per account is
    better keyed by the parts, which outlive the layout.
    """

    __slots__ = (
        "__weakref__",
        "accounts",
        "index",
        "modes",
        "parts",
        "position_sides",
        "sides",
        "starts",
        "symbols",
    )

    def __init__(self, parts: Sequence[AccountRowLabels]) -> None:
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


def concatenated(parts: Sequence[Sequence[_T]]) -> list[_T]:
    """Per-account sequences end to end, as one list (a layout's or a batch's rows)."""
    return list(chain.from_iterable(parts))


class RiskArrays(NamedTuple):
    """One batch evaluation's screened numbers for all of its rows at once, as arrays: what lets a
    consumer ask a question of every position of every account in one vectorised pass.

    ``distance_pct`` is NaN where the row's is ``None``; ``deviated`` lists the rows that have a
    ``deviation_pct`` (each row's, ``None`` or not, is in ``deviation_pct``)."""

    layout: RowLabels
    margin_ratio: npt.NDArray[np.float64]
    distance_pct: npt.NDArray[np.float64]
    deviated: Sequence[int]
    deviation_pct: Sequence[float | None]


class RowColumns:
    """One evaluation's columns, one per ``PositionRisk`` field in field order, shared by the
    ``RiskRows`` of all its accounts. A column is a list, or a float64 array (NaN standing for
    ``None`` in an optional field) whose values become Python floats only for the rows read.

    Why arrays: turning every number of every leg into a Python float each tick allocated objects
    that nothing read, and in a daemon that idles between ticks those allocations land on cold
    memory (docs/performance.md); the policy reads whole rows only for the few positions with
    something to say."""

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
        sheet: RiskArrays | None = None,
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
