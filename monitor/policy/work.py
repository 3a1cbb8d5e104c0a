"""A scratch pad for one pure step: copy-on-write views of the state plus the alerts produced.

Each public policy function builds one ``Work`` from the state it was given, lets the per-subject
functions record changes on it, and returns ``work.result()``. Only the mappings that actually change
are copied, once per step, so a tick that touches three subjects costs three subjects, not the whole
state; a step that changes nothing returns the very same state object.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import replace

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.model import AccountRisk
from monitor.policy import keys
from monitor.policy.episodes import Change, advance
from monitor.policy.facts import live_facts
from monitor.policy.messages import render
from monitor.policy.mutes import is_muted
from monitor.policy.screen_cache import ScreenCache
from monitor.policy.settings import PolicyConfig
from monitor.policy.state import (
    Evaluation,
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
    __slots__ = (
        "_current",
        "_latest",
        "_positions",
        "_seen",
        "_symbols",
        "_tracks",
        "alerts",
        "cache",
        "config",
        "evaluation",
        "now_ms",
        "seq",
        "sheets",
        "state",
    )

    def __init__(
        self, state: PolicyState, now_ms: int, config: PolicyConfig, cache: ScreenCache | None = None
    ) -> None:
        self.state = state
        # what the batch screen keeps between steps (a fresh one: this step's alone)
        self.cache = ScreenCache() if cache is None else cache
        self.now_ms = now_ms
        self.config = config
        self.seq = state.seq
        self.alerts: list[Alert] = []
        self._tracks: dict[str, Track] | None = None  # this step's copy, once something changed
        self._current: Mapping[str, Track] = state.tracks  # ``_tracks`` once it exists
        self._positions: dict[str, Mapping[PositionKey, KnownPosition]] | None = None
        self._latest: dict[str, Evaluation] | None = None
        self.evaluation: Evaluation | None = None  # the account risk being judged (see ``begin_evaluation``)
        self._seen: dict[str, int] | None = None
        self._symbols: dict[str, dict[str, int]] | None = None
        # per batch evaluation seen in this step (by id, with the sheet kept alive): the rows with
        # news, grouped by account, and the accounts screened so far (see ``screen``)
        self.sheets: dict[int, tuple[object, list[list[int]], set[int]]] = {}

    # --- state views -------------------------------------------------------------------------------

    def track(self, key: str) -> Track | None:
        return self._current.get(key)

    def tracks(self) -> list[Track]:
        return list(self._current.values())

    def current_tracks(self) -> Mapping[str, Track]:
        """The tracks as this step has them so far: the state's own mapping until one changes."""
        return self._current

    def symbols_with_tracks(self, account: str) -> Collection[str]:
        """The symbols of ``account`` that have a track of any kind (an episode, or a level waiting
        for confirmation), by each track's subject.

        The row-by-row screen asks this of every position of a ticked account, nearly all calm and
        without a track, and ``judged`` of every account: one lookup spares each of them the key and
        track lookups. The index counts the tracks per account and symbol, and ``set_track`` keeps
        it exact. It is built with one pass over all the tracks, at the first question of a step.
        """
        if self._symbols is None:
            self._symbols = {}
            for track in self._current.values():
                _count(self._symbols, track.subject, 1)
        return self._symbols.get(account, ())

    def set_track(self, key: str, track: Track | None) -> None:
        if self._tracks is None:
            if self.state.tracks.get(key) is track:
                return
            self._tracks = dict(self.state.tracks)
            self._current = self._tracks
        old = self._tracks.get(key)
        if self._symbols is not None:
            before = None if old is None else old.subject
            after = None if track is None else track.subject
            if _where(before) != _where(after):
                if before is not None:
                    _count(self._symbols, before, -1)
                if after is not None:
                    _count(self._symbols, after, 1)
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

    def begin_evaluation(self, risk: AccountRisk) -> Evaluation:
        """Start judging ``risk``: the evaluation that the facts of the episodes it changes come from
        (``step``'s ``source``), recorded as its account's latest by ``record_evaluation``."""
        self.evaluation = Evaluation(risk, self.config)
        return self.evaluation

    def record_evaluation(self, seen: Evaluation) -> None:
        """Record ``seen`` as its account's latest evaluation, once the step has judged it (until
        then, an episode that ends with its position reads its numbers from the one before). Only an
        account with a track needs it: for the others the entry is dropped, so that a calm tick
        leaves the state the very same object."""
        account = seen.risk.account
        if not self.symbols_with_tracks(account) and self.track(keys.account_risk(account)) is None:
            if account in (self.state.latest if self._latest is None else self._latest):
                self._own_latest().pop(account)
            return
        self._own_latest()[account] = seen

    def _own_latest(self) -> dict[str, Evaluation]:
        if self._latest is None:
            self._latest = dict(self.state.latest)
        return self._latest

    def facts(self, track: Track) -> Facts:
        """The current numbers of ``track`` (see ``monitor.policy.facts.live_facts``), as of the
        latest evaluation judged: while an account is being judged, the one before, which is what an
        episode ending with its position (``close``, before any of its subjects is stepped) reports."""
        return live_facts(self.state.latest if self._latest is None else self._latest, track)

    def seen(self, event_id: str) -> bool:
        return event_id in (self.state.seen_events if self._seen is None else self._seen)

    def seen_at(self, event_id: str) -> int | None:
        """When ``event_id`` was marked seen (the policy's clock), or ``None``."""
        return (self.state.seen_events if self._seen is None else self._seen).get(event_id)

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
            and self._latest is None
            and self.seq == self.state.seq
        ):
            return self.state
        return replace(
            self.state,
            tracks=self.state.tracks if self._tracks is None else self._tracks,
            positions=self.state.positions if self._positions is None else self._positions,
            seen_events=self.state.seen_events if self._seen is None else self._seen,
            seq=self.seq,
            latest=self.state.latest if self._latest is None else self._latest,
        )

    # --- episodes ----------------------------------------------------------------------------------

    def step(
        self,
        key: str,
        track: Track | None,
        kind: AlertKind,
        candidate: Level,
        confirm_ticks: int,
        subject: Subject | Callable[[], Subject],
        facts: Callable[[Level], Facts],
        closed_kind: AlertKind | None = None,
        source: Evaluation | None = None,
    ) -> None:
        """Advance one subject to ``candidate`` and announce what changed.

        ``subject`` is the subject itself, or a function building it that is called only when the
        subject is (or becomes) part of an episode: a caller whose subject is cheap to have (a cached
        one) passes it, one whose subject costs to build passes the function. ``facts`` too is called
        only then. An open episode keeps ``facts`` unbuilt (``LazyFacts``) until an alert, a save or
        a repeat reads them, so ``facts`` must not capture this ``Work`` (see ``LazyFacts``).

        ``source`` is the evaluation ``facts`` come from (``judge``), for a risk or deviation subject:
        an episode that holds its level is then left as it is (its numbers are read from the state's
        latest evaluation, see ``monitor.policy.facts``). Without it the track takes the new facts.
        """
        if track is None:
            if candidate == Level.OK:
                return
            track = Track(key=key, kind=kind, subject=subject if isinstance(subject, Subject) else subject())
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
            fresh = subject if isinstance(subject, Subject) else subject()
            same = fresh is new.subject or fresh == new.subject
            if same and new is track and source is not None and _facts_source(track) is not source:
                return  # holds: nothing to say, save or refresh
            new = new.refreshed(new.subject if same else fresh, LazyFacts(facts, new.level, source))
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
            facts = {**self.facts(track), **extra}
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


def _facts_source(track: Track) -> object:
    """The evaluation a track's facts came from, if any. A subject stepped twice by one evaluation
    (two positions under one key, which only a malformed input has) takes the later one's numbers
    even when it holds, as it would have before holding episodes were left untouched."""
    facts = track.facts
    return facts.source if isinstance(facts, LazyFacts) else None


def _where(subject: Subject | None) -> tuple[str, str] | None:
    """What a track counts for in the index: its account and symbol (``None``: nothing)."""
    if subject is None or subject.symbol is None:
        return None
    return subject.account, subject.symbol


def _count(index: dict[str, dict[str, int]], subject: Subject, step: int) -> None:
    where = _where(subject)
    if where is None:
        return
    account, symbol = where
    counts = index.setdefault(account, {})
    total = counts.get(symbol, 0) + step
    if total:
        counts[symbol] = total
    else:
        del counts[symbol]
        if not counts:
            del index[account]
