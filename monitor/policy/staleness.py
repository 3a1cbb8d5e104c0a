"""Silence is never safety: a stream, or a held symbol's mark, that stops delivering is an alert.

The shell keeps the clocks (when each stream last delivered a valid frame, when each held symbol last
got a mark) and a timer hands them to ``check_staleness`` about once a second. That keeps the mark-tick
path free of staleness work. Each stale subject is an episode at ``StalenessConfig.level``: STALE when
it opens and on the repeat schedule, RECOVERED (a CLOSED transition, level OK) when data flows again.

Symbols: a mark stream that carries many symbols can keep delivering while one symbol goes quiet, so
each symbol held in a position has its own clock. While the venue's mark stream is itself stale
(``<venue>:marks``) no new per-symbol episode opens: one alert says it all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from monitor.alerts import Alert, AlertKind, FactValue, Level
from monitor.policy import keys
from monitor.policy.settings import PolicyConfig
from monitor.policy.state import Facts, PolicyState, Subject
from monitor.policy.work import Work


@dataclass(frozen=True, slots=True)
class Freshness:
    """Clocks, in epoch ms of our own receive time (``received_ms``).

    ``streams``: stream name (``binanceusdm:marks``, ``binanceusdm:main:user``) -> last valid frame; a
    stream that never delivered is given the time it was subscribed. ``marks``: ``(venue, symbol)`` ->
    last mark, for the symbols currently held in a position only. A stream or symbol absent from the
    mapping is no longer watched; an episode it had ends with a CLOSED (kind STALE).
    """

    streams: Mapping[str, int] = field(default_factory=dict)
    marks: Mapping[tuple[str, str], int] = field(default_factory=dict)


def stream_subject(stream: str) -> Subject:
    """``<venue>:<account>:user`` names an account (so an account mute applies); anything else is the
    venue's."""
    parts = stream.split(":")
    account = parts[1] if len(parts) == 3 and parts[2] == "user" else ""
    return Subject(venue=parts[0], account=account, stream=stream)


def mark_subject(venue: str, symbol: str) -> Subject:
    """A symbol's mark is the venue's, shared by every account holding it."""
    return Subject(venue=venue, account="", symbol=symbol)


def check_staleness(
    state: PolicyState, freshness: Freshness, now_ms: int, config: PolicyConfig
) -> tuple[PolicyState, list[Alert]]:
    """Open, repeat and close staleness episodes. Cost: the number of streams and held symbols."""
    w = Work(state, now_ms, config)
    cfg = config.staleness
    stale_streams: set[str] = set()
    watched: set[str] = set()
    for stream, last_ms in freshness.streams.items():
        key = keys.stream_stale(stream)
        watched.add(key)
        threshold = cfg.threshold_ms(stream)
        age = now_ms - last_ms
        if age >= threshold:
            stale_streams.add(stream)
        _step(w, key, age, threshold, last_ms, partial(stream_subject, stream), opens=True)

    for (venue, symbol), last_ms in freshness.marks.items():
        key = keys.mark_stale(venue, symbol)
        watched.add(key)
        age = now_ms - last_ms
        opens = f"{venue}:marks" not in stale_streams
        _step(w, key, age, cfg.symbol_mark_ms, last_ms, partial(mark_subject, venue, symbol), opens=opens)

    for track in w.tracks():
        if track.kind is AlertKind.STALE and track.key not in watched:
            w.close(track.key, AlertKind.STALE, {"reason": "not_watched"})
    return w.result(), w.alerts


def _step(
    w: Work,
    key: str,
    age_ms: int,
    threshold_ms: int,
    last_ms: int,
    subject: Callable[[], Subject],
    *,
    opens: bool,
) -> None:
    track = w.track(key)
    stale = age_ms >= threshold_ms
    if track is None and (not stale or not opens):
        return
    level = w.config.staleness.level if stale else Level.OK
    since = track.facts.get("last_ms") if track is not None else None
    first_silent = since if isinstance(since, int) else last_ms

    def facts(lv: Level) -> Facts:
        out: dict[str, FactValue] = {
            "age_ms": age_ms,
            "threshold_ms": threshold_ms,
            "last_ms": first_silent if lv > Level.OK else last_ms,
        }
        if lv == Level.OK:
            out["gap_ms"] = last_ms - first_silent
            out["silent_since_ms"] = first_silent
        return out

    w.step(key, track, AlertKind.STALE, level, 1, subject, facts, closed_kind=AlertKind.RECOVERED)
