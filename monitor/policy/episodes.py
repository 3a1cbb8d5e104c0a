"""The episode state machine, shared by risk, deviation and staleness subjects.

An episode is the life of one subject above OK: it opens on entering a level, escalates and
de-escalates, repeats on a schedule while nobody acknowledged it, and closes when the subject is back to
OK. The caller has already applied hysteresis: ``advance`` receives the *candidate* level and decides
what happens, so one machine serves every kind of subject.

Confirmation (``confirm_ticks`` > 1) delays only upward moves: a level must be seen on that many
consecutive evaluations before it opens or escalates. Critical is exempt (a margin ratio of 0.9 is not
a wick to sit out), and falling is never delayed: the hysteresis band already guards against that.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from monitor.alerts import Level, Transition
from monitor.policy.settings import RepeatSchedule
from monitor.policy.state import NO_STREAK, Track

_CONFIRMABLE = (Level.INFO, Level.WARN, Level.DANGER)


@dataclass(frozen=True, slots=True)
class Change:
    """What ``advance`` decided to say. ``previous`` is the level before (None for a repeat)."""

    transition: Transition
    previous: Level | None


def episode_id(now_ms: int, seq: int) -> str:
    """Unique across restarts: the sequence is persisted, and the time guards against a sequence
    reused after a crash that lost the last save."""
    return f"{now_ms:x}-{seq}"


def _bump(streak: tuple[int, int, int], candidate: Level, current: Level, need: int) -> tuple[int, int, int]:
    a, b, c = (
        min(streak[i] + 1, need) if current < level <= candidate else 0
        for i, level in enumerate(_CONFIRMABLE)
    )
    return (a, b, c)


def _settle(streak: tuple[int, int, int], level: Level) -> tuple[int, int, int]:
    """Forget the counts for levels now held; keep those still climbing above."""
    if streak == NO_STREAK:
        return streak
    a, b, c = (n if lv > level else 0 for n, lv in zip(streak, _CONFIRMABLE, strict=True))
    return (a, b, c)


def advance(
    track: Track,
    candidate: Level,
    now_ms: int,
    *,
    confirm_ticks: int,
    repeat: RepeatSchedule,
    seq: int,
) -> tuple[Track | None, Change | None]:
    """One evaluation of one subject. Returns the new track (``None`` once back to OK with nothing
    pending) and the change to announce, if any. An OPENED change used ``seq`` for its episode id:
    the caller advances its counter.

    The returned track is ``track`` itself when nothing changed, so callers can test identity.
    """
    current = track.level
    streak = track.streak
    if candidate > current and candidate < Level.CRITICAL and confirm_ticks > 1:
        streak = _bump(streak, candidate, current, confirm_ticks)
        target = current
        for level, seen in zip(_CONFIRMABLE, streak, strict=True):
            if level > current and seen >= confirm_ticks:
                target = level
        streak = _settle(streak, target)
    else:
        streak = NO_STREAK
        target = candidate

    if target == current:
        if current == Level.OK:
            return (None if streak == NO_STREAK else _with_streak(track, streak)), None
        if track.acked_ms is None and _repeat_due(track, now_ms, repeat):
            return replace(track, last_alert_ms=now_ms, streak=streak), Change(Transition.REPEATED, None)
        return _with_streak(track, streak), None

    if target == Level.OK:
        return None, Change(Transition.CLOSED, current)
    if current == Level.OK:
        opened = replace(
            track,
            level=target,
            episode_id=episode_id(now_ms, seq),
            opened_ms=now_ms,
            changed_ms=now_ms,
            last_alert_ms=now_ms,
            acked_ms=None,
            streak=streak,
        )
        return opened, Change(Transition.OPENED, Level.OK)
    if target > current:
        escalated = replace(
            track, level=target, changed_ms=now_ms, last_alert_ms=now_ms, acked_ms=None, streak=streak
        )
        return escalated, Change(Transition.ESCALATED, current)
    lowered = replace(track, level=target, changed_ms=now_ms, last_alert_ms=now_ms, streak=streak)
    return lowered, Change(Transition.DEESCALATED, current)


def repeat_if_due(track: Track, now_ms: int, repeat: RepeatSchedule) -> Track | None:
    """The timer's half of repeating: the track with its clock reset if a repeat is due, else None."""
    if not track.is_open or track.acked_ms is not None or not _repeat_due(track, now_ms, repeat):
        return None
    return replace(track, last_alert_ms=now_ms)


def _repeat_due(track: Track, now_ms: int, repeat: RepeatSchedule) -> bool:
    interval = repeat.interval_ms(track.level)
    return interval > 0 and now_ms - track.last_alert_ms >= interval


def _with_streak(track: Track, streak: tuple[int, int, int]) -> Track:
    return track if streak == track.streak else replace(track, streak=streak)
