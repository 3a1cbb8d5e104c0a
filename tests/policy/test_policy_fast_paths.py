"""The per-tick shortcuts of the policy change nothing a user or the state file can see.

- ``leaves_ok`` stops a calm position without an episode before its levels are computed: it must agree
  with ``risk_level`` at OK.
- An open episode keeps its facts unbuilt (``LazyFacts``) until something reads them, and an episode
  that holds its level is not touched at all (its numbers are read from the state's latest evaluation,
  ``live_facts``): every alert, message, saved row and restart must be what building them on every
  tick gave, alerts must carry plain dicts, and a state must not keep earlier states alive through an
  unbuilt builder.
- Keys and position subjects are cached: equal to building them.
"""

from __future__ import annotations

import gc
import json
import math
import sqlite3
import types
from dataclasses import dataclass
from typing import Any

import policy_reference
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_helpers import BTC, ETH, SEC, account, position, thresholds
from policy_reference import Evaluate

from monitor.alerts import Alert, FactValue, Level
from monitor.model import MarginMode, PositionSide, Side
from monitor.policy import (
    LevelThresholds,
    PolicyConfig,
    PolicyInputs,
    PolicyState,
    Subject,
    ThresholdOverride,
    due_repeats,
    episode_store,
    evaluate,
    keys,
)
from monitor.policy import facts as policy_facts
from monitor.policy import risk as policy_risk
from monitor.policy.facts import live_facts
from monitor.policy.levels import leaves_ok, risk_level
from monitor.policy.state import LazyFacts
from monitor.policy.work import Work

# --- leaves_ok -------------------------------------------------------------------------------------


metric = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0.0, 60.0),
    st.sampled_from([0.0, math.inf, math.nan]),
)


@given(thresholds(), metric, metric)
def test_leaves_ok_agrees_with_the_levels(
    thr: LevelThresholds, ratio: float | None, dist: float | None
) -> None:
    assert leaves_ok(ratio, dist, thr) == (risk_level(ratio, dist, Level.OK, thr) > Level.OK)


@given(thresholds())
def test_leaves_ok_at_the_thresholds_themselves(thr: LevelThresholds) -> None:
    for ratio, dist in [(thr.ratio_warn, None), (None, thr.distance_warn_pct)]:
        assert leaves_ok(ratio, dist, thr) and risk_level(ratio, dist, Level.OK, thr) > Level.OK


# --- lazy facts against facts built on every tick ---------------------------------------------------


@dataclass(frozen=True)
class Tick:
    dt_ms: int
    btc_ratio: float
    btc_distance: float | None
    eth_distance: float | None
    cross_ratio: float
    deviation: float | None


@dataclass(frozen=True)
class Timer:
    dt_ms: int


@dataclass(frozen=True)
class Restart:
    """Save, then carry on from what the file holds (facts included)."""


# negative: past the liquidation price; minus infinity: past it with no price that restores it
distances = st.one_of(st.none(), st.floats(-30.0, 30.0), st.just(-math.inf))
histories = st.lists(
    st.one_of(
        st.builds(
            Tick,
            st.integers(0, 15 * 60 * SEC),
            st.floats(0.0, 1.2),
            distances,
            distances,
            st.one_of(st.floats(0.0, 1.2), st.just(math.inf)),
            st.one_of(st.none(), st.floats(-2.0, 2.0)),
        ),
        st.builds(Timer, st.integers(0, 15 * 60 * SEC)),
        st.just(Restart()),
    ),
    max_size=25,
)
configs = st.sampled_from(
    [
        PolicyConfig(),
        PolicyConfig(cross_positions_use_account_ratio=False),
        PolicyConfig(
            levels=LevelThresholds(confirm_ticks=2), symbols={ETH: ThresholdOverride(ratio_warn=0.3)}
        ),
    ]
)


def risk_of(tick: Tick) -> Any:
    cross = MarginMode.CROSS
    return account(
        position(BTC, ratio=tick.btc_ratio, distance=tick.btc_distance, mode=cross, deviation=tick.deviation),
        position(
            ETH,
            ratio=tick.btc_ratio / 2,
            distance=tick.eth_distance,
            side=Side.SHORT,
            position_side=PositionSide.SHORT,
            maint=25.0,
        ),
        cross_ratio=tick.cross_ratio,
    )


def replay(
    history: list[Tick | Timer | Restart], cfg: PolicyConfig, evaluate: Evaluate = evaluate
) -> tuple[list[Any], list[Any]]:
    """Alerts (every field, facts as plain dicts) and, after each step, every track with its facts."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    state, _ = evaluate(PolicyState(), PolicyInputs([risk_of(Tick(0, 0.1, None, None, 0.1, None))]), 0, cfg)
    saved = PolicyState()
    now = 0
    alerts: list[Alert] = []
    states: list[Any] = []
    for op in history:
        if isinstance(op, Tick):
            now += op.dt_ms
            state, more = evaluate(state, PolicyInputs([risk_of(op)]), now, cfg)
        elif isinstance(op, Timer):
            now += op.dt_ms
            state, more = due_repeats(state, now, cfg)
        else:
            episode_store.save(conn, saved, state)
            state = saved = episode_store.load(conn)
            more = []
        alerts += more
        states.append(sorted((k, t, dict(live_facts(state.latest, t))) for k, t in state.tracks.items()))
    return [(a, dict(a.facts)) for a in alerts], states


@settings(max_examples=150, deadline=None)
@given(histories, configs)
def test_shortcuts_change_nothing(history: list[Tick | Timer | Restart], cfg: PolicyConfig) -> None:
    """Every alert (facts included) and every state (facts included) equal the slow path's."""
    fast = replay(history, cfg)
    slow = replay(history, cfg, policy_reference.evaluate)
    assert fast == slow


@settings(max_examples=50, deadline=None)
@given(histories, configs)
def test_alerts_carry_plain_facts(history: list[Tick | Timer | Restart], cfg: PolicyConfig) -> None:
    """Notifiers and the outbox serialise facts: they must be plain dicts, never a lazy mapping."""
    for alert, _ in replay(history, cfg)[0]:
        assert type(alert.facts) is dict
        json.dumps(alert.facts)


KEY = f"risk:main:{BTC}:both"


def ticks_at(ratio: float, n: int, cfg: PolicyConfig, state: PolicyState | None = None) -> PolicyState:
    state = state or PolicyState()
    for i in range(n):
        risk = account(position(BTC, ratio=ratio + i * 1e-4, distance=None))
        state, _ = evaluate(state, PolicyInputs([risk]), i * SEC, cfg)
    return state


def test_an_episode_that_holds_is_not_touched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ticks that move the numbers but not the level leave the track the very same object and build
    no facts; reading them then gives the last tick's numbers, built once per read."""
    built: list[Level] = []
    real = policy_facts.position_facts

    def counting(*args: Any) -> Any:
        built.append(args[-1])
        return real(*args)

    monkeypatch.setattr(policy_risk, "position_facts", counting)
    monkeypatch.setattr(policy_facts, "position_facts", counting)
    cfg = PolicyConfig()
    state = ticks_at(0.75, 1, cfg)
    assert len(built) == 1  # the OPENED alert read them
    track = state.tracks[KEY]
    state = ticks_at(0.75, 30, cfg, state)  # numbers move on every tick, nothing is said
    assert state.tracks[KEY] is track and len(built) == 1
    assert track.facts["margin_ratio"] == 0.75  # the track keeps those of its opening
    facts = live_facts(state.latest, track)
    assert facts["margin_ratio"] == pytest.approx(0.75 + 29e-4) and len(built) == 2
    assert facts["trigger"] == "margin_ratio" and facts["ratio_level"] == "danger"


def test_facts_of_the_changing_tick_keep_the_level_held_before() -> None:
    """An escalation's facts name the trigger judged from the level held before it (the hysteresis
    needs it): read later from the same evaluation they must not be rebuilt at the new level."""
    cfg = PolicyConfig()
    state = ticks_at(0.6, 1, cfg)  # warn, by ratio
    # danger by distance while the ratio sits in danger's band: not enough to enter danger by ratio
    risk = account(position(BTC, ratio=0.68, distance=6.0))
    state, alerts = evaluate(state, PolicyInputs([risk]), 10 * SEC, cfg)
    assert [a.transition.value for a in alerts] == ["escalated"] and alerts[0].facts["trigger"] == "distance"
    assert live_facts(state.latest, state.tracks[KEY])["trigger"] == "distance"
    # the same numbers again, even the very same object, are judged from danger now: the band holds it
    for i in (11, 12):
        state, alerts = evaluate(state, PolicyInputs([risk]), i * SEC, cfg)
        assert (
            alerts == [] and live_facts(state.latest, state.tracks[KEY])["trigger"] == "margin_ratio+distance"
        )


def test_saved_facts_are_those_of_the_last_tick_even_unread() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    cfg = PolicyConfig()
    state = ticks_at(0.75, 1, cfg)
    episode_store.save(conn, PolicyState(), state)
    later, _ = evaluate(state, PolicyInputs([account(position(BTC, ratio=0.9, distance=None))]), SEC, cfg)
    assert episode_store.save(conn, state, later)  # escalated: the row is rewritten with its facts
    loaded = episode_store.load(conn).tracks[KEY].facts
    assert loaded["margin_ratio"] == 0.9 and loaded["trigger"] == "margin_ratio"


def referents(obj: object) -> list[object]:
    """What ``obj`` holds, following a function's closure and defaults but not its globals, nor
    classes and modules (which reach everything)."""
    if isinstance(obj, types.FunctionType):
        cells = [c.cell_contents for c in obj.__closure__ or () if c.cell_contents is not None]
        return [*cells, *(obj.__defaults__ or ())]
    if isinstance(obj, type | types.ModuleType):
        return []
    return list(gc.get_referents(obj))


def reachable(root: object) -> list[object]:
    seen = {id(root)}
    todo = [root]
    out = []
    while todo:
        obj = todo.pop()
        out.append(obj)
        for ref in referents(obj):
            if id(ref) not in seen:
                seen.add(id(ref))
                todo.append(ref)
    return out


def test_unread_facts_do_not_keep_earlier_states_alive() -> None:
    cfg = PolicyConfig()
    state = PolicyState()
    for i in range(20):
        risk = account(position(BTC, ratio=0.75, mode=MarginMode.CROSS, deviation=0.9), cross_ratio=0.75)
        state, _ = evaluate(state, PolicyInputs([risk]), i * SEC, cfg)
    assert any(isinstance(t.facts, LazyFacts) for t in state.tracks.values())
    objs = reachable(state)
    assert not [o for o in objs if isinstance(o, Work)]
    assert [o for o in objs if isinstance(o, PolicyState)] == [state]


# --- keys and subjects ------------------------------------------------------------------------------


@pytest.mark.parametrize("side", list(PositionSide))
def test_position_keys_equal_the_key_functions(side: PositionSide) -> None:
    expected = (keys.position_risk("a", BTC, side.value), keys.deviation("a", BTC, side.value))
    assert keys.position_subjects("a", BTC, side) == expected
    assert keys.position_subjects("a", BTC, side.value) == expected
    assert all(type(k) is str for k in keys.position_subjects("a", BTC, side))


def test_a_position_subject_holds_plain_strings() -> None:
    risk = account(position(ETH, side=Side.SHORT, position_side=PositionSide.SHORT))
    subject = policy_risk.position_subject(risk, risk.positions[0])
    assert subject == Subject("binanceusdm", "main", ETH, "short", "isolated", "short")
    fields: list[FactValue] = [subject.venue, subject.position_side, subject.margin_mode, subject.side]
    assert all(type(f) is str for f in fields)
