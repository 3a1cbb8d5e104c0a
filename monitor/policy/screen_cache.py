"""What the batch screen derives from a layout, kept between ticks: the policy's own cache.

A batch evaluation's ``RowLabels`` (and each account's ``AccountRowLabels``) stays the same object from one
tick to the next while the accounts' positions do not change, so what the screen derives from its
row fields (thresholds per row and level, the rows' keys, whether an account's rows are the known
positions, the open episodes as arrays) holds for as long as that object lives. The cache is keyed
weakly by those objects: an entry goes when the margin engine drops the layout or part it describes,
and the margin code knows nothing of it.

The daemon owns one ``ScreenCache`` and passes it to every ``evaluate`` and ``prepare_layout``; a
caller that passes none gets an empty one per step (the same answers, computed afresh).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from monitor.margin.rows import AccountRowLabels, RowLabels

if TYPE_CHECKING:
    from monitor.policy.levels_batch import Tables, Tracked
    from monitor.policy.settings import PolicyConfig, RepeatSchedule
    from monitor.policy.state import KnownPosition, PositionKey, Track


@dataclass(slots=True)
class PartEntry:
    """One account's rows: their tables (for the config they were made for), their risk and
    deviation keys, and whether they are the known positions (for the known mapping asked about:
    a state replaces that mapping, never mutates it)."""

    tables: tuple[PolicyConfig, Tables] | None = None
    keys: tuple[list[str], list[str]] | None = None
    known: tuple[Mapping[PositionKey, KnownPosition], bool] | None = None


@dataclass(slots=True)
class LayoutEntry:
    """A whole layout: its parts' tables joined, each row's keys to its row, and the episodes of one
    tracks mapping (a state's, never mutated) on its rows."""

    tables: tuple[PolicyConfig, Tables] | None = None
    row_of_key: dict[str, int] | None = None
    tracked: tuple[Mapping[str, Track], RepeatSchedule, Tracked] | None = None


class ScreenCache:
    """Entries per layout and per account part, each dropped with the object it describes."""

    __slots__ = ("_layouts", "_parts")

    def __init__(self) -> None:
        self._layouts: WeakKeyDictionary[RowLabels, LayoutEntry] = WeakKeyDictionary()
        self._parts: WeakKeyDictionary[AccountRowLabels, PartEntry] = WeakKeyDictionary()

    def layout(self, layout: RowLabels) -> LayoutEntry:
        entry = self._layouts.get(layout)
        if entry is None:
            entry = self._layouts[layout] = LayoutEntry()
        return entry

    def part(self, part: AccountRowLabels) -> PartEntry:
        entry = self._parts.get(part)
        if entry is None:
            entry = self._parts[part] = PartEntry()
        return entry

    def ready(self, layout: RowLabels, config: PolicyConfig, tracks: Mapping[str, Track]) -> bool:
        """Whether a tick on ``layout`` judged by ``config`` from a state with ``tracks`` finds its
        tables and episode arrays made (``prepare_layout`` makes them between decisions)."""
        entry = self._layouts.get(layout)
        return (
            entry is not None
            and entry.tables is not None
            and entry.tables[0] is config
            and entry.tracked is not None
            and entry.tracked[0] is tracks
            and entry.tracked[1] is config.repeat
        )
