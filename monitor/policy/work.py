"""A scratch pad for one pure step: copy-on-write views of the state plus the alerts produced.

Each public policy function builds one ``Work`` from the state it was given, lets the per-subject
functions record changes on it, and returns ``work.result()``. Only the mappings that actually change
are copied, once per step, so a tick that touches three subjects costs three subjects, not the whole
state; a step that changes nothing returns the very same state object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.policy.config import PolicyConfig
from monitor.policy.episodes import Change, advance
from monitor.policy.messages import render
from monitor.policy.mutes import is_muted
from monitor.policy.state import (
    Facts,
    KnownPosition,
    LazyFacts,
    PolicyState,
    PositionKey,
    Subject,
    Track,
    materialised,
)


class Work:
    __slots__ = ("_positions", "_seen", "_tracks", "alerts", "config", "now_ms", "seq", "state")

    def __init__(self, state: PolicyState, now_ms: int, config: PolicyConfig) -> None:
        self.state = state
        self.now_ms = now_ms
        self.config = config
        self.seq = state.seq
        self.alerts: list[Alert] = []
        self._tracks: dict[str, Track] | None = None
        self._positions: dict[str, Mapping[PositionKey, KnownPosition]] | None = None
        self._seen: dict[str, int] | None = None

    # --- state views -------------------------------------------------------------------------------

    def track(self, key: str) -> Track | None:
        return (self.state.tracks if self._tracks is None else self._tracks).get(key)

    def tracks(self) -> list[Track]:
        return list((self.state.tracks if self._tracks is None else self._tracks).values())

    def set_track(self, key: str, track: Track | None) -> None:
        if self._tracks is None:
            if self.state.tracks.get(key) is track:
                return
            self._tracks = dict(self.state.tracks)
        if track is None:
            self._tracks.pop(key, None)
        else:
            self._tracks[key] = track

    def known_positions(self, account: str) -> Mapping[PositionKey, KnownPosition] | None:
        return (self.state.positions if self._positions is None else self._positions).get(account)

    def set_positions(self, account: str, positions: Mapping[PositionKey, KnownPosition]) -> None:
        if self._positions is None:
            self._positions = dict(self.state.positions)
        self._positions[account] = positions

    def seen(self, event_id: str) -> bool:
        return event_id in (self.state.seen_events if self._seen is None else self._seen)

    def mark_seen(self, event_id: str) -> None:
        if self._seen is None:
            self._seen = dict(self.state.seen_events)
        self._seen[event_id] = self.now_ms

    def prune_seen(self, older_than_ms: int) -> None:
        table = self.state.seen_events if self._seen is None else self._seen
        if any(ts < older_than_ms for ts in table.values()):
            self._seen = {k: v for k, v in table.items() if v >= older_than_ms}

    def result(self) -> PolicyState:
        if (
            self._tracks is None
            and self._positions is None
            and self._seen is None
            and self.seq == self.state.seq
        ):
            return self.state
        return replace(
            self.state,
            tracks=self.state.tracks if self._tracks is None else self._tracks,
            positions=self.state.positions if self._positions is None else self._positions,
            seen_events=self.state.seen_events if self._seen is None else self._seen,
            seq=self.seq,
        )

    # --- episodes ----------------------------------------------------------------------------------

    def step(
        self,
        key: str,
        track: Track | None,
        kind: AlertKind,
        candidate: Level,
        confirm_ticks: int,
        subject: Callable[[], Subject],
        facts: Callable[[Level], Facts],
        closed_kind: AlertKind | None = None,
    ) -> None:
        """Advance one subject to ``candidate`` and announce what changed.

        ``subject`` and ``facts`` are called only when the subject is (or becomes) part of an episode,
        so a calm position costs a level computation and a dictionary miss. An open episode keeps
        ``facts`` unbuilt (``LazyFacts``) until an alert, a save or a repeat reads them, so ``facts``
        must not capture this ``Work`` (see ``LazyFacts``).
        """
        if track is None:
            if candidate == Level.OK:
                return
            track = Track(key=key, kind=kind, subject=subject())
        new, change = advance(
            track,
            candidate,
            self.now_ms,
            confirm_ticks=confirm_ticks,
            repeat=self.config.repeat,
            seq=self.seq,
        )
        if change is not None and change.transition is Transition.OPENED:
            self.seq += 1
        if new is not None and new.is_open:
            fresh = subject()
            same = fresh is new.subject or fresh == new.subject
            new = new.refreshed(new.subject if same else fresh, LazyFacts(facts, new.level))
        self.set_track(key, new)
        if change is None:
            return
        if new is None:
            self.announce(track, closed_kind or kind, Level.OK, change, facts(Level.OK))
        else:
            self.announce(new, kind, new.level, change, new.facts)

    def close(self, key: str, kind: AlertKind, extra: Facts) -> None:
        """End an episode because its subject went away (position closed, stream dropped)."""
        track = self.track(key)
        if track is None:
            return
        self.set_track(key, None)
        if track.is_open:
            facts = {**track.facts, **extra}
            self.announce(track, kind, Level.OK, Change(Transition.CLOSED, track.level), facts)

    def announce(self, track: Track, kind: AlertKind, level: Level, change: Change, facts: Facts) -> None:
        facts = materialised(facts)
        s = track.subject
        message = render(kind, s, level, change.transition, change.previous, facts)
        self.emit(
            Alert(
                key=track.key,
                kind=kind,
                level=level,
                transition=change.transition,
                venue=s.venue,
                account=s.account,
                message=message,
                ts_ms=self.now_ms,
                symbol=s.symbol,
                position_side=s.position_side,
                margin_mode=s.margin_mode,
                episode_id=track.episode_id,
                previous_level=change.previous,
                facts=facts,
            )
        )

    def emit(self, alert: Alert) -> None:
        """Send an alert unless its subject is muted; critical, and the way out of critical, never are."""
        if (
            alert.level < Level.CRITICAL
            and alert.previous_level != Level.CRITICAL
            and is_muted(self.state.mutes, alert.account or None, alert.symbol, self.now_ms)
        ):
            return
        self.alerts.append(alert)
