"""The policy's entry points for the engine: evaluate a tick, repeat on a timer, acknowledge.

``evaluate`` is called on every mark tick with only the accounts that tick changed, so its cost is the
positions of those accounts (plus one pass over the tracks, see ``Work.symbols_with_tracks``), not of
everything watched. Anything that must happen
while nothing ticks (repeats of an episode whose numbers hold still, staleness) runs from a timer
through ``due_repeats`` and ``monitor.policy.staleness.check_staleness``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.model import AccountRisk
from monitor.policy.episodes import Change, repeat_if_due
from monitor.policy.exchange_alarms import ExchangeEvent, exchange_event
from monitor.policy.lifecycle import track_positions
from monitor.policy.mutes import prune_mutes
from monitor.policy.risk import step_account_risk
from monitor.policy.screen import screen_positions
from monitor.policy.screen_cache import ScreenCache
from monitor.policy.settings import PolicyConfig
from monitor.policy.state import PolicyState, Track
from monitor.policy.work import Work


@dataclass(frozen=True, slots=True)
class PolicyInputs:
    """What changed since the last evaluation.

    ``risks``: the full, current ``AccountRisk`` of each account that changed (all its positions: a
    position missing from it is a position that closed). ``events``: exchange events to pass on.
    """

    risks: Sequence[AccountRisk] = ()
    events: Sequence[ExchangeEvent] = ()


def evaluate(
    state: PolicyState,
    inputs: PolicyInputs,
    now_ms: int,
    config: PolicyConfig,
    cache: ScreenCache | None = None,
) -> tuple[PolicyState, list[Alert]]:
    """Apply one batch of changes. Returns the new state (the same object when nothing changed) and
    the alerts to send, in order: exchange events, then per account its lifecycle and risk.

    A first look at an account's positions (``screen_positions``) tells whether lifecycle has any
    news (not when they are the known ones) and which positions are worth evaluating (all of them
    when they are not the known ones).

    ``cache`` holds what the batch screen derives from the engine's layouts between steps (the
    daemon passes its own; without one, each step derives it afresh: the same answers)."""
    w = Work(state, now_ms, config, cache)
    for event in inputs.events:
        exchange_event(w, event)
    for risk in inputs.risks:
        seen = w.begin_evaluation(risk)
        worth = screen_positions(w, risk)
        if worth is None:
            track_positions(w, risk)
        step_account_risk(w, risk, risk.positions if worth is None else worth)
        w.record_evaluation(seen)
    return w.result(), w.alerts


def due_repeats(state: PolicyState, now_ms: int, config: PolicyConfig) -> tuple[PolicyState, list[Alert]]:
    """Repeat risk and deviation episodes whose schedule is due, with the numbers last seen.

    A tick repeats its own subjects with fresh numbers; this catches the ones whose numbers did not
    move (so the engine did not evaluate them). Staleness repeats come from ``check_staleness``, which
    knows the current age. Also drops ended mutes and expired event ids. Cost: the open episodes.
    """
    w = Work(prune_mutes(state, now_ms), now_ms, config)
    for track in w.tracks():
        if track.kind is AlertKind.STALE:
            continue
        repeated = repeat_if_due(track, now_ms, config.repeat)
        if repeated is not None:
            w.set_track(track.key, repeated)
            w.announce(
                repeated, track.kind, repeated.level, Change(Transition.REPEATED, None), w.facts(track)
            )
    w.prune_seen(now_ms - config.event_dedupe_ttl_ms)
    return w.result(), w.alerts


def ack(state: PolicyState, ref: str, now_ms: int) -> tuple[PolicyState, Track | None]:
    """Acknowledge an open episode by subject key or episode id: its repeats stop until it escalates
    (a de-escalation keeps the acknowledgement). Returns the acknowledged track, or ``None`` (and the
    state unchanged) when nothing open matches."""
    track = state.find(ref)
    if track is None:
        return state, None
    acked = replace(track, acked_ms=now_ms)
    return replace(state, tracks={**state.tracks, track.key: acked}), acked


def ack_all(
    state: PolicyState, now_ms: int, min_level: Level = Level.CRITICAL
) -> tuple[PolicyState, list[Track]]:
    """Acknowledge every open, unacknowledged episode at ``min_level`` or above (a chat's bare
    ``/ack``). Returns the tracks acknowledged, in key order."""
    hits = sorted(
        (t for t in state.tracks.values() if t.level >= max(min_level, Level.INFO) and t.acked_ms is None),
        key=lambda t: t.key,
    )
    if not hits:
        return state, []
    acked = [replace(t, acked_ms=now_ms) for t in hits]
    return replace(state, tracks={**state.tracks, **{t.key: t for t in acked}}), acked
