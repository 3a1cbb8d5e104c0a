"""Properties over arbitrary histories: episode grammar, hysteresis, mutes, restarts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_helpers import BTC, SEC, account, position

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.daemon.store import open_db
from monitor.model import MarginMode
from monitor.policy import (
    LevelThresholds,
    PolicyConfig,
    PolicyInputs,
    PolicyState,
    ack,
    due_repeats,
    evaluate,
    mute,
)
from monitor.policy.episode_store import load, save
from monitor.policy.levels import ratio_level

KEY = f"risk:main:{BTC}:both"

ratios = st.one_of(
    st.floats(min_value=0.0, max_value=1.2, allow_nan=False),
    st.sampled_from([0.45, 0.4499, 0.5, 0.65, 0.6499, 0.7, 0.8, 0.7999, 0.85, math.inf]),
)


@dataclass(frozen=True)
class Tick:
    dt_ms: int
    ratio: float


@dataclass(frozen=True)
class Timer:
    dt_ms: int


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class Gone:
    """The position closes for one tick (it reopens on the next tick)."""

    dt_ms: int


Op = Tick | Timer | Ack | Gone

ops = st.lists(
    st.one_of(
        st.builds(Tick, st.integers(0, 20 * 60 * SEC), ratios),
        st.builds(Tick, st.integers(0, 5 * SEC), ratios),
        st.builds(Timer, st.integers(0, 10 * 60 * SEC)),
        st.just(Ack()),
        st.builds(Gone, st.integers(0, 60 * SEC)),
    ),
    max_size=40,
)


def apply(state: PolicyState, op: Op, now: int, cfg: PolicyConfig) -> tuple[PolicyState, list[Alert], int]:
    if isinstance(op, Tick):
        now += op.dt_ms
        risk = account(position(ratio=op.ratio, distance=None, mode=MarginMode.ISOLATED))
        state, alerts = evaluate(state, PolicyInputs(risks=[risk]), now, cfg)
    elif isinstance(op, Gone):
        now += op.dt_ms
        state, alerts = evaluate(state, PolicyInputs(risks=[account()]), now, cfg)
    elif isinstance(op, Timer):
        now += op.dt_ms
        state, alerts = due_repeats(state, now, cfg)
    else:
        state, _ = ack(state, KEY, now)
        alerts = []
    return state, alerts, now


def run(
    history: Sequence[Op], cfg: PolicyConfig, state: PolicyState | None = None
) -> tuple[PolicyState, list[Alert], list[PolicyState]]:
    state = state if state is not None else PolicyState()
    # a baseline tick so the position is known and later reappearances are lifecycle events
    state, alerts = evaluate(state, PolicyInputs(risks=[account(position(ratio=0.0))]), 0, cfg)
    states = [state]
    now = 0
    for op in history:
        state, more, now = apply(state, op, now, cfg)
        alerts += more
        states.append(state)
    return state, alerts, states


configs = st.builds(lambda n: PolicyConfig(levels=LevelThresholds(confirm_ticks=n)), st.integers(1, 3))


@given(history=ops, cfg=configs)
def test_episode_grammar(history: list[Op], cfg: PolicyConfig) -> None:
    """Per subject: OPENED only when closed; everything else only when open; levels move the way the
    transition says; CLOSED goes to OK and is the only way there; ids never reused."""
    _, alerts, _ = run(history, cfg)
    level = Level.OK
    episode: str | None = None
    used: set[str] = set()
    for a in (a for a in alerts if a.key == KEY):
        if a.transition is Transition.OPENED:
            assert level == Level.OK and a.level > Level.OK
            assert a.episode_id is not None and a.episode_id not in used
            episode = a.episode_id
            used.add(episode)
        else:
            assert level > Level.OK and a.episode_id == episode
            if a.transition is Transition.ESCALATED:
                assert a.level > level and a.previous_level == level
            elif a.transition is Transition.DEESCALATED:
                assert Level.OK < a.level < level and a.previous_level == level
            elif a.transition is Transition.REPEATED:
                assert a.level == level
            else:
                assert a.transition is Transition.CLOSED
                assert a.level == Level.OK and a.previous_level == level
        level = a.level


@given(history=ops, cfg=configs)
def test_state_and_alerts_agree(history: list[Op], cfg: PolicyConfig) -> None:
    """The level held in the state is the level last announced: no silent change of level, and in
    particular no return to OK without a CLOSED."""
    state = evaluate(PolicyState(), PolicyInputs(risks=[account(position(ratio=0.0))]), 0, cfg)[0]
    announced = Level.OK
    now = 0
    for op in history:
        state, alerts, now = apply(state, op, now, cfg)
        for a in alerts:
            if a.key == KEY:
                announced = a.level
        track = state.tracks.get(KEY)
        assert (track.level if track is not None else Level.OK) == announced


@given(history=ops)
def test_without_confirmation_the_level_stays_within_the_band(history: list[Op]) -> None:
    cfg = PolicyConfig()
    thr = cfg.levels
    state = evaluate(PolicyState(), PolicyInputs(risks=[account(position(ratio=0.0))]), 0, cfg)[0]
    now = 0
    for op in history:
        state, _, now = apply(state, op, now, cfg)
        if isinstance(op, Tick):
            held = state.tracks[KEY].level if KEY in state.tracks else Level.OK
            assert (
                ratio_level(op.ratio, Level.OK, thr)
                <= held
                <= ratio_level(op.ratio + thr.ratio_band, Level.OK, thr)
            )


@given(history=ops, cfg=configs)
def test_a_mute_only_removes_alerts_below_critical(history: list[Op], cfg: PolicyConfig) -> None:
    loud_state, loud, _ = run(history, cfg)
    quiet_state, quiet, _ = run(history, cfg, state=mute(PolicyState(), None, None, 10**15))
    expected = [a for a in loud if a.level == Level.CRITICAL or a.previous_level == Level.CRITICAL]
    assert quiet == expected
    assert quiet_state.tracks == loud_state.tracks


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=ops, split=st.integers(0, 40), cfg=configs)
def test_a_restart_anywhere_changes_nothing(
    history: list[Op], split: int, cfg: PolicyConfig, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Stopping after any step, saving, and loading into a new process gives the same future alerts
    (the same subjects, transitions, episodes and times) as never stopping."""
    _, straight, _ = run(history, cfg)
    split = min(split, len(history))
    first_state, first, _ = run(history[:split], cfg)
    path = tmp_path_factory.mktemp("restart") / "state.db"
    conn = open_db(path)
    save(conn, PolicyState(), first_state)
    conn.close()
    conn = open_db(path)
    state = load(conn)
    assert state == first_state
    now = sum(getattr(op, "dt_ms", 0) for op in history[:split])
    rest: list[Alert] = []
    for op in history[split:]:
        state, more, now = apply(state, op, now, cfg)
        rest += more
    conn.close()

    def sig(alerts: list[Alert]) -> list[tuple[str, AlertKind, Transition, Level, str | None, int]]:
        return [(a.key, a.kind, a.transition, a.level, a.episode_id, a.ts_ms) for a in alerts]

    assert sig(first + rest) == sig(straight)
