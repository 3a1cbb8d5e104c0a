"""The policy's memory: one immutable value, replaced (never mutated) by each pure step.

What it must remember so that a restart neither forgets nor repeats: each open episode with its level,
last notification time and acknowledgement (``Track``), a pending confirmation streak, the positions
each account held (to tell a new position from a known one), mutes, and the exchange events already
alerted. ``monitor.policy.episode_store`` writes exactly this to SQLite.

Mappings inside the state are plain dicts that no function mutates after building the state: a step
copies the mapping it changes (copy-on-write), so an old state stays valid and can be diffed against
the new one when saving.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from monitor.alerts import AlertKind, FactValue, Level
from monitor.model import AccountRisk, MarginMode, PositionSide, Side
from monitor.policy.settings import PolicyConfig

Facts = Mapping[str, FactValue]
MuteScope = tuple[str | None, str | None]
"""``(account, symbol)``; ``None`` is a wildcard: ``(None, None)`` mutes everything."""
PositionKey = tuple[str, PositionSide]

NO_STREAK: tuple[int, int, int] = (0, 0, 0)


class LazyFacts(Mapping[str, FactValue]):
    """Facts at ``level``, built by ``build(level)`` the first time anything reads them.

    An episode's facts are read only when an alert is said, the state is saved, or a timer repeats the
    episode, so they are not built for a change that says nothing (a confirmation streak, say).
    ``build`` must be a pure function of values that do not change (a ``functools.partial`` over the
    risk snapshot, say), never of a ``Work``: a builder kept in the state must not hold the previous
    state alive. It is dropped once the facts are built, and the facts are then the same object on
    every read. ``source`` is the evaluation the facts come from, when there is one (see
    ``monitor.policy.facts.live_facts``), while it is alive.

    ``source`` is held weakly. It is only ever compared by identity with an account's latest
    evaluation, and an episode that holds its level keeps the facts of the tick that last changed
    it: held strongly, each such episode kept that tick's whole evaluation alive (its arrays for
    every account), and the daemon's memory grew with every tick that changed an episode.
    """

    __slots__ = ("_build", "_facts", "_level", "_source")

    def __init__(self, build: Callable[[Level], Facts], level: Level, source: object = None) -> None:
        self._build: Callable[[Level], Facts] | None = build
        self._level = level
        self._facts: Facts | None = None
        self._source = None if source is None else weakref.ref(source)

    @property
    def source(self) -> object:
        ref = self._source
        return None if ref is None else ref()

    def materialised(self) -> Facts:
        facts = self._facts
        if facts is None:
            assert self._build is not None
            facts = self._facts = self._build(self._level)
            self._build = None
        return facts

    def __getitem__(self, name: str) -> FactValue:
        return self.materialised()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.materialised())

    def __len__(self) -> int:
        return len(self.materialised())

    def __repr__(self) -> str:
        return f"LazyFacts({self.materialised()!r})"


def materialised(facts: Facts) -> Facts:
    """Plain facts (what an ``Alert`` carries): lazy ones built, anything else as it is."""
    return facts.materialised() if isinstance(facts, LazyFacts) else facts


@dataclass(frozen=True, slots=True)
class Subject:
    """What an episode is about: enough to address an alert and to decide whether it is muted."""

    venue: str
    account: str
    symbol: str | None = None
    position_side: str | None = None
    margin_mode: str | None = None
    side: str | None = None
    stream: str | None = None


@dataclass(frozen=True, slots=True)
class Track:
    """One subject's episode state under one key.

    ``level`` OK with a non-zero ``streak`` is a subject waiting for confirmation: no episode yet.
    ``streak[i]`` counts consecutive evaluations at or above level ``i + 1`` (INFO, WARN, DANGER)
    while that level is above the current one. ``facts`` are the numbers of the last change, kept so
    a timer can repeat an alert without a fresh evaluation; they are excluded from equality so numbers
    alone never count as a change worth persisting. A risk or deviation episode that a tick leaves at
    its level is not touched at all: its current numbers are read from the state's latest evaluation
    of its account (``monitor.policy.facts.live_facts``, which every reader uses).
    """

    key: str
    kind: AlertKind
    subject: Subject
    level: Level = Level.OK
    episode_id: str | None = None
    opened_ms: int = 0
    changed_ms: int = 0
    last_alert_ms: int = 0
    acked_ms: int | None = None
    streak: tuple[int, int, int] = NO_STREAK
    facts: Facts = field(default_factory=dict, compare=False)

    @property
    def is_open(self) -> bool:
        return self.level > Level.OK

    def refreshed(self, subject: Subject, facts: Facts) -> Track:
        """The same episode with the latest subject and numbers."""
        return Track(
            self.key,
            self.kind,
            subject,
            self.level,
            self.episode_id,
            self.opened_ms,
            self.changed_ms,
            self.last_alert_ms,
            self.acked_ms,
            self.streak,
            facts,
        )

    @property
    def acked(self) -> bool:
        return self.acked_ms is not None


@dataclass(frozen=True, slots=True)
class KnownPosition:
    side: Side
    margin_mode: MarginMode


@dataclass(frozen=True, slots=True, weakref_slot=True, eq=False)
class Evaluation:
    """An account's latest evaluation and the config it was judged by: where the numbers of its open
    risk and deviation episodes are read from (``monitor.policy.facts.live_facts``). Compared by
    identity; an episode's facts refer to theirs weakly (``LazyFacts.source``)."""

    risk: AccountRisk
    config: PolicyConfig


@dataclass(frozen=True, slots=True)
class PolicyState:
    """Everything the policy remembers between evaluations.

    ``positions`` has an entry (possibly empty) for every account seen so far; an account without an
    entry has never been seen and its first positions are a baseline. ``seq`` numbers episodes so ids
    stay unique across restarts. ``latest`` is each account's latest evaluation: like a track's facts,
    numbers rather than memory, so it is neither compared nor saved.
    """

    tracks: Mapping[str, Track] = field(default_factory=dict)
    positions: Mapping[str, Mapping[PositionKey, KnownPosition]] = field(default_factory=dict)
    mutes: Mapping[MuteScope, int] = field(default_factory=dict)
    seen_events: Mapping[str, int] = field(default_factory=dict)
    seq: int = 0
    latest: Mapping[str, Evaluation] = field(default_factory=dict, compare=False)

    def open_episodes(self) -> list[Track]:
        return [t for t in self.tracks.values() if t.is_open]

    def find(self, ref: str) -> Track | None:
        """An open episode by subject key or by episode id."""
        track = self.tracks.get(ref)
        if track is not None and track.is_open:
            return track
        for t in self.tracks.values():
            if t.episode_id == ref and t.is_open:
                return t
        return None
