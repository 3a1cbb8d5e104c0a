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

from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.alerts import AlertKind, FactValue, Level
from monitor.model import MarginMode, PositionSide, Side

Facts = Mapping[str, FactValue]
MuteScope = tuple[str | None, str | None]
"""``(account, symbol)``; ``None`` is a wildcard: ``(None, None)`` mutes everything."""
PositionKey = tuple[str, PositionSide]

NO_STREAK: tuple[int, int, int] = (0, 0, 0)


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
    while that level is above the current one. ``facts`` are the latest numbers, kept so a timer can
    repeat an alert without a fresh evaluation; they are excluded from equality so a tick that only
    moves the numbers does not count as a change worth persisting.
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
        """The same episode with the latest subject and numbers. Built directly rather than with
        ``dataclasses.replace``: this runs for every open episode on every tick."""
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


@dataclass(frozen=True, slots=True)
class PolicyState:
    """Everything the policy remembers between evaluations.

    ``positions`` has an entry (possibly empty) for every account seen so far; an account without an
    entry has never been seen and its first positions are a baseline. ``seq`` numbers episodes so ids
    stay unique across restarts.
    """

    tracks: Mapping[str, Track] = field(default_factory=dict)
    positions: Mapping[str, Mapping[PositionKey, KnownPosition]] = field(default_factory=dict)
    mutes: Mapping[MuteScope, int] = field(default_factory=dict)
    seen_events: Mapping[str, int] = field(default_factory=dict)
    seq: int = 0

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
