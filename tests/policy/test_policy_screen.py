"""The per-tick screen skips only positions that would have said nothing, and refreshing a track is a copy.

``screen_positions`` lets a position of a ticked account go unevaluated when its positions are the
known ones, its symbol has no track, it stays at OK and has no deviation to compare. Whatever the
batches (several accounts, the same account twice, positions opened, closed, flipped, reordered or
listed twice), every alert and every state must be what evaluating every position gave.
"""

from __future__ import annotations

import gc
import weakref
from dataclasses import dataclass, fields, replace
from typing import Any

import policy_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_helpers import BTC, ETH, SEC, account, position
from policy_reference import Evaluate

from monitor.alerts import AlertKind, Level, Transition
from monitor.margin.batch import AccountColumns
from monitor.margin.batch import Batch as BatchOfAccounts
from monitor.margin.rows import RiskRows
from monitor.model import Account, AccountRisk, MarginMode, Position, PositionSide, Side, Tier, Venue
from monitor.policy import (
    DeviationConfig,
    LevelThresholds,
    PolicyConfig,
    PolicyInputs,
    PolicyState,
    Subject,
    ThresholdOverride,
    Track,
    due_repeats,
    evaluate,
)
from monitor.policy.facts import live_facts
from monitor.policy.screen import prepare_layout, screen_positions
from monitor.policy.screen_cache import ScreenCache
from monitor.policy.state import LazyFacts
from monitor.policy.work import Work
from tests.strategies import accounts, named

SOL = "SOL/USDT:USDT"
SLOTS = [
    (BTC, PositionSide.BOTH),
    (ETH, PositionSide.LONG),
    (ETH, PositionSide.SHORT),
    (SOL, PositionSide.BOTH),
]

# --- batches against the slow path ------------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    slot: int
    side: Side
    mode: MarginMode
    ratio: float
    distance: float | None
    deviation: float | None


@dataclass(frozen=True)
class Batch:
    dt_ms: int
    risks: tuple[tuple[str, float | None, tuple[Leg, ...]], ...]  # (account, cross ratio, legs in order)


@dataclass(frozen=True)
class Timer:
    dt_ms: int


legs = st.builds(
    Leg,
    st.integers(0, len(SLOTS) - 1),
    st.sampled_from(list(Side)),
    st.sampled_from(list(MarginMode)),
    st.sampled_from([0.1, 0.45, 0.52, 0.68, 0.72, 0.9]),
    st.sampled_from([None, 3.0, 7.5, 9.0, 14.0, 16.0, 40.0]),
    st.sampled_from([None, None, None, 0.2, 0.45, 0.9]),
)
batches = st.builds(
    Batch,
    st.integers(0, 5 * 60 * SEC),
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.sampled_from([None, 0.2, 0.6, 0.75, 0.95]),
            st.lists(legs, max_size=5).map(tuple),  # a slot may come twice: the screen must not care
        ),
        max_size=3,
    ).map(tuple),
)
histories = st.lists(st.one_of(batches, st.builds(Timer, st.integers(0, 20 * 60 * SEC))), max_size=20)
configs = st.sampled_from(
    [
        PolicyConfig(),
        PolicyConfig(cross_positions_use_account_ratio=False),
        PolicyConfig(
            levels=LevelThresholds(confirm_ticks=2),
            accounts={"b": ThresholdOverride(distance_warn_pct=20.0)},
            symbols={ETH: ThresholdOverride(ratio_warn=0.3)},
        ),
    ]
)


def risk_of(name: str, cross_ratio: float | None, legs: tuple[Leg, ...]) -> AccountRisk:
    positions = []
    for leg in legs:
        symbol, position_side = SLOTS[leg.slot]
        positions.append(
            position(
                symbol,
                ratio=leg.ratio,
                distance=leg.distance,
                side=leg.side,
                mode=leg.mode,
                position_side=position_side,
                deviation=leg.deviation,
            )
        )
    return account(*positions, name=name, cross_ratio=cross_ratio)


def replay(
    history: list[Batch | Timer], cfg: PolicyConfig, evaluate: Evaluate = evaluate
) -> tuple[list[Any], list[Any]]:
    """Every alert (facts as plain dicts) and, after each step, every track with its facts and every
    known position."""
    state = PolicyState()
    now = 0
    alerts: list[Any] = []
    states: list[Any] = []
    for op in history:
        now += op.dt_ms
        if isinstance(op, Batch):
            inputs = PolicyInputs([risk_of(*r) for r in op.risks])
            state, more = evaluate(state, inputs, now, cfg)
        else:
            state, more = due_repeats(state, now, cfg)
        alerts += [(a, dict(a.facts)) for a in more]
        tracks = sorted((k, t, dict(live_facts(state.latest, t))) for k, t in state.tracks.items())
        states.append((tracks, {a: dict(m) for a, m in state.positions.items()}, state.seq))
    return alerts, states


@settings(max_examples=300, deadline=None)
@given(histories, configs)
def test_screen_changes_nothing(history: list[Batch | Timer], cfg: PolicyConfig) -> None:
    fast = replay(history, cfg)
    slow = replay(history, cfg, policy_reference.evaluate)
    assert fast == slow


# --- the screen itself ------------------------------------------------------------------------------


def test_a_track_opened_earlier_in_the_step_is_not_skipped() -> None:
    """The same account twice in one batch: the second look must see the episode the first opened,
    and close it."""
    cfg = PolicyConfig()
    state, _ = evaluate(PolicyState(), PolicyInputs([account(position(BTC))]), 0, cfg)
    hot, calm = account(position(BTC, ratio=0.75)), account(position(BTC, ratio=0.1))
    state, alerts = evaluate(state, PolicyInputs([hot, calm]), SEC, cfg)
    assert [(a.kind, a.transition) for a in alerts] == [
        (AlertKind.RISK, Transition.OPENED),
        (AlertKind.RISK, Transition.CLOSED),
    ]
    assert state.tracks == {}


def test_only_positions_with_something_to_say_are_kept() -> None:
    cfg = PolicyConfig()
    calm, near, drifting = position(BTC), position(ETH, distance=12.0), position(SOL, deviation=0.3)
    state, _ = evaluate(PolicyState(), PolicyInputs([account(calm, near, drifting)]), 0, cfg)
    w = Work(state, SEC, cfg)
    assert screen_positions(w, account(calm, near, drifting)) == [near, drifting]
    # not the known positions: another order, one more, another side
    assert screen_positions(w, account(near, calm, drifting)) is None
    assert (
        screen_positions(w, account(calm, near, drifting, position(BTC, position_side=PositionSide.LONG)))
        is None
    )
    assert screen_positions(w, account(position(BTC, side=Side.SHORT), near, drifting)) is None
    assert screen_positions(w, account(calm, name="new")) is None


def test_a_symbol_with_a_track_is_kept_even_when_calm() -> None:
    cfg = PolicyConfig()
    state, _ = evaluate(PolicyState(), PolicyInputs([account(position(BTC), position(ETH))]), 0, cfg)
    state, _ = evaluate(state, PolicyInputs([account(position(BTC, ratio=0.75), position(ETH))]), SEC, cfg)
    calm_btc, eth = position(BTC, ratio=0.66), position(ETH)  # inside the danger band: still an episode
    w = Work(state, 2 * SEC, cfg)
    assert screen_positions(w, account(calm_btc, eth)) == [calm_btc]
    assert set(w.symbols_with_tracks("main")) == {BTC}
    assert w.symbols_with_tracks("other") == ()


# --- rows of a batch evaluation ---------------------------------------------------------------------


def plain(risk: AccountRisk) -> AccountRisk:
    """The same risk with its positions as a tuple: the screen's row-by-row path."""
    return risk._replace(positions=tuple(risk.positions))


def changed(account: Account) -> Account:
    """The account after a fill: its last position closed, or (its only one) its wallet moved."""
    if len(account.positions) > 1:
        return replace(account, positions=account.positions[:-1])
    return replace(account, wallet_balance=account.wallet_balance * 1.01)


@settings(max_examples=150, deadline=None)
@given(
    st.data(),
    st.integers(1, 4),
    st.lists(
        st.tuples(st.floats(0.5, 1.6), st.booleans(), st.sampled_from(["none", "lazy", "prepared"])),
        min_size=1,
        max_size=8,
    ),
    configs,
)
def test_the_batch_screen_says_what_the_row_screen_says(
    data: st.DataObject, n: int, moves: list[tuple[float, bool, str]], cfg: PolicyConfig
) -> None:
    """Batch rows are screened from the batch's arrays and per-layout memos (``_screen_sheet``);
    the same risks as plain tuples are screened row by row. Over several ticks of one batch (so the
    memos carry over), some ticks revaluing only some accounts, every alert and state must agree.

    Before some ticks one account changes and the batch is joined again from the others' very same
    columns, so that their parts' memos (thresholds, keys, the known answer) carry over into the new
    layout; then either the tick fills the new layout's memos itself or ``prepare_layout`` has, as
    the daemon does between decisions."""
    accts = named([data.draw(accounts(Venue.BINANCE_USDM)) for _ in range(n)])
    columns = [AccountColumns(a) for a in accts]
    batch = BatchOfAccounts(columns)
    fast_state = slow_state = PolicyState()
    cache = ScreenCache()
    for tick, (move, some, change) in enumerate(moves):
        if change != "none" and tick:
            j = tick % n
            accts[j] = changed(accts[j])
            columns[j] = AccountColumns(accts[j])
            batch = BatchOfAccounts(columns)
            if change == "prepared":
                prepare_layout(cache, batch.layout, fast_state, cfg)
        marks = {p.symbol: p.mark_price * move for a in accts for p in a.positions}
        risks = batch.evaluate(marks, list(range(0, n, 2)) if some else None)
        assert all(isinstance(r.positions, RiskRows) and r.positions.sheet for r in risks)
        now = tick * 30 * SEC
        fast_state, fast = evaluate(fast_state, PolicyInputs(risks), now, cfg, cache)
        slow_state, slow = evaluate(slow_state, PolicyInputs([plain(r) for r in risks]), now, cfg)
        assert [(a, dict(a.facts)) for a in fast] == [(a, dict(a.facts)) for a in slow]
        assert sorted(
            (k, t, dict(live_facts(fast_state.latest, t))) for k, t in fast_state.tracks.items()
        ) == (sorted((k, t, dict(live_facts(slow_state.latest, t))) for k, t in slow_state.tracks.items()))
        assert fast_state.positions == slow_state.positions


def test_the_batch_screen_keeps_what_could_speak() -> None:
    """Calm rows are skipped, hot and deviating rows kept, and the known-positions answer follows the
    state's mapping, not what the cache kept for an earlier one."""
    tiers = (Tier(0.0, 1e9, 0.01),)
    calm = Position(BTC, Side.LONG, MarginMode.ISOLATED, 1.0, 100.0, 100.0, tiers, isolated_wallet=20.0)
    accts = [Account(Venue.BINANCE_USDM, 10_000.0, (calm,), "x")]
    batch = BatchOfAccounts([AccountColumns(a) for a in accts])
    cfg = PolicyConfig()
    (risk,) = batch.evaluate({BTC: 100.0})
    state, _ = evaluate(PolicyState(), PolicyInputs([risk]), 0, cfg)
    cache = ScreenCache()  # shared by every look below, as the daemon's is
    w = Work(state, SEC, cfg, cache)
    assert screen_positions(w, risk) == []
    assert screen_positions(Work(PolicyState(), SEC, cfg), risk) is None  # not known: lifecycle looks
    hot = PolicyConfig(levels=LevelThresholds(distance_warn_pct=99.0, distance_danger_pct=98.0))
    assert screen_positions(Work(state, SEC, hot, cache), risk) == list(risk.positions)
    # the state knows other positions for "x": what the cache kept for the known ones must not answer
    other, _ = evaluate(PolicyState(), PolicyInputs([account(position(ETH), name="x")]), 0, cfg)
    assert screen_positions(Work(other, SEC, cfg, cache), risk) is None
    assert screen_positions(Work(state, SEC, cfg, cache), risk) == []
    # a second look at an account within one step sees every row: its episodes may have moved
    assert screen_positions(w, risk) == list(risk.positions)
    # a track opened at a wider threshold keeps a calm row in: it may still have to close
    distance = risk.positions[0].distance_pct
    assert distance is not None and 19.0 < distance < 20.0
    wide = PolicyConfig(levels=LevelThresholds(distance_warn_pct=25.0))
    tracked, alerts = evaluate(state, PolicyInputs([risk]), SEC, wide)
    assert [a.transition for a in alerts] == [Transition.OPENED]
    narrow = PolicyConfig(levels=LevelThresholds(distance_warn_pct=17.0))  # past its band: closes
    assert screen_positions(Work(tracked, 2 * SEC, narrow, cache), risk) == list(risk.positions)
    # inside its band the episode holds and has nothing to say: its row is not even built
    held = PolicyConfig(levels=LevelThresholds(distance_warn_pct=19.0))
    assert screen_positions(Work(tracked, 2 * SEC, held, cache), risk) == []
    # ... unless a repeat is due (warn repeats after 30 minutes by default)
    assert screen_positions(Work(tracked, 31 * 60 * SEC, held, cache), risk) == list(risk.positions)


def test_a_row_is_kept_when_either_of_its_episodes_would_change() -> None:
    """A position with a risk and a deviation episode: skipped while both hold, kept (and the change
    said) as soon as one of them would move, whichever one it is."""
    tiers = (Tier(0.0, 1e9, 0.01),)
    leg = Position(
        BTC,
        Side.LONG,
        MarginMode.ISOLATED,
        1.0,
        100.0,
        100.0,
        tiers,
        isolated_wallet=20.0,
        exchange_liquidation_price=90.0,
    )
    batch = BatchOfAccounts([AccountColumns(Account(Venue.BINANCE_USDM, 10_000.0, (leg,), "x"))])
    cfg = PolicyConfig(levels=LevelThresholds(distance_warn_pct=25.0))
    (risk,) = batch.evaluate({BTC: 100.0})
    state, alerts = evaluate(PolicyState(), PolicyInputs([risk]), 0, cfg)
    assert {(a.kind, a.transition) for a in alerts} == {
        (AlertKind.RISK, Transition.OPENED),
        (AlertKind.DEVIATION, Transition.OPENED),
    }
    assert screen_positions(Work(state, SEC, cfg), risk) == []
    for changed in (
        replace(cfg, deviation=DeviationConfig(tolerance_pct=50.0)),  # the deviation closes
        replace(cfg, levels=LevelThresholds(distance_warn_pct=10.0)),  # the risk closes
        replace(cfg, levels=LevelThresholds(distance_warn_pct=40.0, distance_danger_pct=25.0)),  # escalates
    ):
        assert screen_positions(Work(state, SEC, changed), risk) == list(risk.positions)
        _, alerts = evaluate(state, PolicyInputs([risk]), SEC, changed)
        assert len(alerts) == 1


def test_episodes_opened_after_the_screen_looked_are_seen_next_step() -> None:
    """Here a plain account goes first and opens an episode, so the batch screen looks at a mapping
    this step is still changing (account "b" opens an episode after it): the next step must see "b"'s
    episode, and close it, not reuse what the screen saw half-way."""
    tiers = (Tier(0.0, 1e9, 0.01),)

    def leg(wallet: float) -> Position:
        return Position(BTC, Side.LONG, MarginMode.ISOLATED, 1.0, 100.0, 100.0, tiers, isolated_wallet=wallet)

    accts = [
        Account(Venue.BINANCE_USDM, 10_000.0, (leg(wallet),), name)
        for name, wallet in (("a", 20.0), ("b", 10.0))
    ]
    batch = BatchOfAccounts([AccountColumns(a) for a in accts])
    cfg = PolicyConfig()
    hot = account(position(ETH, ratio=0.75))
    state, _ = evaluate(
        PolicyState(), PolicyInputs([account(position(ETH)), *batch.evaluate({BTC: 200.0})]), 0, cfg
    )
    state, alerts = evaluate(state, PolicyInputs([hot, *batch.evaluate({BTC: 100.0})]), SEC, cfg)
    assert [(a.account, a.transition) for a in alerts] == [
        ("main", Transition.OPENED),
        ("b", Transition.OPENED),
    ]
    state, alerts = evaluate(state, PolicyInputs([hot, *batch.evaluate({BTC: 200.0})]), 2 * SEC, cfg)
    assert [(a.account, a.transition) for a in alerts] == [("b", Transition.CLOSED)]


# --- Track.refreshed --------------------------------------------------------------------------------


def test_refreshed_is_replace() -> None:
    """``refreshed`` fills a new track slot by slot: every field must be there, as ``replace`` has it."""
    subject = Subject("binanceusdm", "main", BTC, "both", "isolated", "long")
    track = Track(
        key="k",
        kind=AlertKind.RISK,
        subject=subject,
        level=Level.DANGER,
        episode_id="e-1",
        opened_ms=1,
        changed_ms=2,
        last_alert_ms=3,
        acked_ms=4,
        streak=(1, 0, 0),
        facts={"margin_ratio": 0.7},
    )
    fresh = replace(subject, side="short")
    facts = LazyFacts(lambda level: {"level": level.label}, Level.DANGER)
    new = track.refreshed(fresh, facts)
    expected = replace(track, subject=fresh, facts=facts)
    assert type(new) is Track
    assert {f.name: getattr(new, f.name) for f in fields(Track)} == {
        f.name: getattr(expected, f.name) for f in fields(Track)
    }
    assert new.facts is facts and new == expected and track.subject is subject


def test_the_screen_cache_keeps_no_layout_alive() -> None:
    """What the policy keeps per layout goes with the layout: the margin engine drops a venue's
    layout when an account changes, and the cache must not hold it (or its arrays) past that."""
    tiers = (Tier(0.0, 1e9, 0.01),)
    leg = Position(BTC, Side.LONG, MarginMode.ISOLATED, 1.0, 100.0, 100.0, tiers, isolated_wallet=20.0)
    batch = BatchOfAccounts([AccountColumns(Account(Venue.BINANCE_USDM, 10_000.0, (leg,), "x"))])
    cfg = PolicyConfig()
    cache = ScreenCache()
    state = PolicyState()
    assert not cache.ready(batch.layout, cfg, state.tracks)
    prepare_layout(cache, batch.layout, state, cfg)
    assert cache.ready(batch.layout, cfg, state.tracks)
    gone = weakref.ref(batch.layout)
    del batch
    gc.collect()
    assert gone() is None
