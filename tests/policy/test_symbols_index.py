"""The index of symbols with tracks (``Work.symbols_with_tracks``): exact after every step, and a
step that changes it leaves the state it started from as it was."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from policy_helpers import BTC, ETH, SEC, account, position

from monitor.policy import PolicyConfig, PolicyInputs, PolicyState, evaluate
from monitor.policy.state import Track
from monitor.policy.work import Work

SOL = "SOL/USDT:USDT"
NAMES = ("main", "other")


def fresh_index(tracks: dict[str, Track] | object) -> dict[str, set[str]]:
    """What the index must say: from the tracks themselves."""
    out: dict[str, set[str]] = {}
    for track in tracks.values():  # type: ignore[attr-defined]
        if track.subject.symbol is not None:
            out.setdefault(track.subject.account, set()).add(track.subject.symbol)
    return out


def index_of(state: PolicyState, now_ms: int, cfg: PolicyConfig) -> dict[str, set[str]]:
    w = Work(state, now_ms, cfg)
    return {name: set(w.symbols_with_tracks(name)) for name in NAMES if w.symbols_with_tracks(name)}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(NAMES),
            st.lists(st.sampled_from([0.1, 0.55, 0.75, 0.9, 0.3]), min_size=3, max_size=3),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_the_index_is_exact_after_every_step(ticks: list[tuple[str, list[float], bool]]) -> None:
    """Episodes open, escalate, close and positions go away (a symbol's last track ends, or one of
    its two ends); after each step the index a step starts from is the tracks'."""
    cfg = PolicyConfig()
    state = PolicyState()
    for i, (name, ratios, drop_sol) in enumerate(ticks):
        symbols = (BTC, ETH) if drop_sol else (BTC, ETH, SOL)
        legs = [position(s, ratio=r) for s, r in zip(symbols, ratios, strict=False)]
        state, _ = evaluate(state, PolicyInputs([account(*legs, name=name)]), i * SEC, cfg)
        want = {a: s for a, s in fresh_index(state.tracks).items() if a in NAMES}
        assert index_of(state, (i + 1) * SEC, cfg) == want


def test_a_step_that_changes_the_index_leaves_the_next_step_its_own() -> None:
    """A step that ends a track, then never returns (it raised): the next step from the same state
    must still find the index of that state's tracks."""
    cfg = PolicyConfig()
    hot = account(position(BTC, ratio=0.75), position(ETH, ratio=0.75))
    state, _ = evaluate(PolicyState(), PolicyInputs([hot]), 0, cfg)
    w = Work(state, SEC, cfg)
    assert set(w.symbols_with_tracks("main")) == {BTC, ETH}
    btc = next(key for key, t in state.tracks.items() if t.subject.symbol == BTC)
    w.set_track(btc, None)
    assert set(w.symbols_with_tracks("main")) == {ETH}
    assert index_of(state, SEC, cfg) == {"main": {BTC, ETH}}
