"""Mutes silence below critical, keep tracking, and never replay on unmute."""

from __future__ import annotations

from policy_helpers import BTC, ETH, MIN, SEC, account, drive, position, risk_transitions

from monitor.alerts import Level, Transition
from monitor.policy import (
    PolicyConfig,
    PolicyInputs,
    PolicyState,
    due_repeats,
    evaluate,
    is_muted,
    mute,
    unmute,
    unmute_all,
)

CFG = PolicyConfig()
FOREVER = 10**15


def test_scopes_and_wildcards() -> None:
    state = mute(PolicyState(), "main", None, 100)
    assert is_muted(state.mutes, "main", BTC, 50)
    assert is_muted(state.mutes, "main", None, 50)
    assert not is_muted(state.mutes, "other", BTC, 50)
    assert not is_muted(state.mutes, "main", BTC, 100)  # ended
    state = mute(PolicyState(), None, ETH, 100)
    assert is_muted(state.mutes, "any", ETH, 0) and not is_muted(state.mutes, "any", BTC, 0)
    assert not is_muted(state.mutes, "any", None, 0)  # a symbol mute does not mute a cross account
    everything = mute(PolicyState(), None, None, 100)
    assert is_muted(everything.mutes, "x", None, 0)


def test_muted_subject_is_tracked_silently_and_critical_still_speaks() -> None:
    state = mute(PolicyState(), "main", BTC, FOREVER)
    state, alerts = drive([0.55, 0.75, 0.9, 0.75, 0.55], CFG, state=state)
    # only critical, and the way out of critical
    assert risk_transitions(alerts) == [("escalated", "critical"), ("deescalated", "danger")]
    assert state.tracks[f"risk:main:{BTC}:both"].level is Level.WARN


def test_unmute_does_not_replay_and_the_schedule_continues() -> None:
    state = mute(PolicyState(), "main", None, FOREVER)
    state, alerts = drive([0.75] * 5, CFG, step_ms=MIN)  # opened at 0, silently
    state, alerts = drive([0.75] * 5, CFG, state=mute(state, "main", None, FOREVER), step_ms=MIN)
    assert alerts == []
    state = unmute(state, "main", None)
    assert state.mutes == {}
    # the repeat clock ran while muted: danger repeats 10 min after the last (silent) announcement
    state, alerts = drive([0.75] * 8, CFG, state=state, start_ms=5 * MIN, step_ms=MIN)
    assert [(a.transition, a.ts_ms // MIN) for a in alerts] == [(Transition.REPEATED, 10)]


def test_mute_ends_by_itself_and_is_pruned() -> None:
    state = mute(PolicyState(), None, None, 30 * SEC)
    state, alerts = evaluate(state, PolicyInputs(risks=[account(position(ratio=0.1))]), 0, CFG)
    state, alerts = evaluate(state, PolicyInputs(risks=[account(position(ratio=0.75))]), 10 * SEC, CFG)
    assert alerts == []
    state, alerts = evaluate(state, PolicyInputs(risks=[account(position(ratio=0.9))]), 20 * SEC, CFG)
    assert [a.level for a in alerts] == [Level.CRITICAL]
    state, _ = due_repeats(state, 31 * SEC, CFG)
    assert state.mutes == {}


def test_unmute_of_an_unknown_scope_is_a_no_op() -> None:
    state = PolicyState()
    assert unmute(state, "main", None) is state


def test_unmute_all() -> None:
    state = mute(mute(PolicyState(), "main", None, FOREVER), None, BTC, FOREVER)
    assert unmute_all(state).mutes == {}
    empty = PolicyState()
    assert unmute_all(empty) is empty
