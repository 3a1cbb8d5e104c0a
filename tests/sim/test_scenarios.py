"""Market, books and scenarios, run without a server."""

from __future__ import annotations

import json
import math
import random

import pytest

from monitor.margin.tiers import continuity_warnings
from monitor.sim.book import build_ledger, demo_book, derive_keys, small_book, synthetic_book
from monitor.sim.ledger import Ledger
from monitor.sim.market import Market
from monitor.sim.scenarios import (
    HOSTILE_FATAL_TO_CCXT,
    Action,
    Cascade,
    Demo,
    Disconnect,
    DropConnections,
    Malformed,
    Scenario,
    SendRawMarket,
    StallMarks,
    TickContext,
    Wick,
    hostile_frames,
    make_scenario,
    solve_log_move,
)
from monitor.sim.specs import major_specs


def run(
    scenario: Scenario, seconds: int, *, seed: int = 0, book_name: str = "demo"
) -> tuple[Market, Ledger, list[tuple[float, Action]], list[dict[str, float]]]:
    """Drive a scenario the way the exchange's clock does, recording actions and marks."""
    book = demo_book() if book_name == "demo" else small_book()
    ledger = build_ledger(book, seed=seed)
    market = Market(book.specs, seed)
    rng = random.Random(seed + 1)
    actions: list[tuple[float, Action]] = []
    marks: list[dict[str, float]] = [dict(market.marks)]
    for k in range(1, seconds + 1):
        ctx = TickContext(k, float(k), 1.0, 1_700_000_000_000 + k * 1000, market, ledger, rng)
        actions += [(float(k), a) for a in scenario.on_tick(ctx)]
        ledger.set_marks(market.marks)
        ledger.check_liquidations(now_ms=ctx.now_ms, sim_time=ctx.sim_time, tick_index=k)
        marks.append(dict(market.marks))
    return market, ledger, actions, marks


def test_random_walk_is_deterministic_per_seed() -> None:
    a, b, c = (Market(major_specs(), seed) for seed in (7, 7, 8))
    for m in (a, b, c):
        for _ in range(50):
            m.walk(1.0)
    assert a.marks == b.marks
    assert a.marks != c.marks
    assert all(p > 0 for p in a.marks.values())


def test_walk_is_correlated_across_symbols() -> None:
    m = Market(major_specs(), 3, correlation=0.9)
    btc, eth = [], []
    for _ in range(400):
        before = dict(m.marks)
        m.walk(1.0)
        btc.append(math.log(m.marks["BTCUSDT"] / before["BTCUSDT"]))
        eth.append(math.log(m.marks["ETHUSDT"] / before["ETHUSDT"]))
    mean_b, mean_e = sum(btc) / len(btc), sum(eth) / len(eth)
    cov = sum((x - mean_b) * (y - mean_e) for x, y in zip(btc, eth, strict=True))
    var_b = sum((x - mean_b) ** 2 for x in btc)
    var_e = sum((y - mean_e) ** 2 for y in eth)
    assert cov / math.sqrt(var_b * var_e) > 0.6


def test_cascade_crashes_every_symbol_beta_weighted_then_rebounds() -> None:
    _, _, _, marks = run(Cascade(), 60)
    start, bottom, end = marks[0], marks[40], marks[60]
    btc_drop = bottom["BTCUSDT"] / start["BTCUSDT"]
    sol_drop = bottom["SOLUSDT"] / start["SOLUSDT"]
    assert 0.70 < btc_drop < 0.80  # -25 % on beta 1, plus noise
    assert sol_drop < btc_drop  # beta 1.5 falls harder
    assert all(bottom[s] < start[s] for s in start)
    assert end["BTCUSDT"] > bottom["BTCUSDT"]


def test_cascade_liquidates_the_demo_book() -> None:
    _, ledger, _, _ = run(Cascade(), 45)
    assert {r.account for r in ledger.liquidations} >= {"cross", "isolated"}


def test_wick_is_one_tick_away_and_exactly_back() -> None:
    _, _, actions, marks = run(Wick(start=5, depth=0.1), 8)
    assert marks[5]["BTCUSDT"] == pytest.approx(marks[4]["BTCUSDT"] * 0.9, rel=1e-6)
    assert marks[6] == marks[4]
    assert len([a for _, a in actions if not isinstance(a, SendRawMarket)]) == 2


def test_stall_and_disconnect_fire_on_schedule() -> None:
    _, _, stall, _ = run(make_scenario("stall", start=3, seconds=7), 10)
    assert [(t, a) for t, a in stall if isinstance(a, StallMarks)] == [(3.0, StallMarks(7))]
    _, _, drops, _ = run(Disconnect(start=2, every=3), 10)
    assert [t for t, a in drops if isinstance(a, DropConnections)] == [2.0, 5.0, 8.0]


def test_malformed_cycles_through_hostile_frames() -> None:
    _, _, actions, _ = run(Malformed(start=2), 6)
    sent = [(t, a.text) for t, a in actions if isinstance(a, SendRawMarket)]
    assert [t for t, _ in sent] == [2.0, 3.0, 4.0, 5.0, 6.0]
    expected = hostile_frames({"BTCUSDT": 1.0}, 0)
    assert json.loads(sent[0][1])[0]["p"] == json.loads(expected[0])[0]["p"] == "NaN"


def test_hostile_frames_cover_the_required_kinds() -> None:
    frames = hostile_frames({"BTCUSDT": 60_000.0}, 1_700_000_000_000)
    parsed = []
    for text in frames[:-HOSTILE_FATAL_TO_CCXT]:
        try:
            parsed.append(json.loads(text))
        except ValueError:
            parsed.append(text)
    prices = [p[0].get("p") for p in parsed if isinstance(p, list) and p and isinstance(p[0], dict)]
    assert {"NaN", "-12.5", "0.00000000", None, 12345.5} <= {x for x in prices if not isinstance(x, dict)}
    assert any(isinstance(p, list) and len(p) >= 10_000 for p in parsed)  # the huge array
    assert any(isinstance(p, list) and p and p[0].get("s") == "NOSUCHUSDT" for p in parsed)
    truncated = frames[-1]
    with pytest.raises(ValueError):
        json.loads(truncated)


def test_unknown_scenario_names_the_choices() -> None:
    with pytest.raises(ValueError, match="calm, cascade"):
        make_scenario("crash")


def test_solve_log_move_finds_the_nearest_crossing() -> None:
    x = solve_log_move(lambda v: math.exp(-v), 2.0)
    assert x == pytest.approx(-math.log(2.0), abs=1e-9)
    assert solve_log_move(lambda v: 1.0, 2.0) is None


def test_demo_walks_every_alert_level_and_liquidates_the_isolated_position() -> None:
    scenario = Demo()
    book = demo_book()
    ledger = build_ledger(book)
    market = Market(book.specs, 0)
    rng = random.Random(1)
    peaks: dict[str, float] = {"cross": 0.0, "isolated": 0.0, "hedge": 0.0}
    actions: list[tuple[float, Action]] = []
    for k in range(1, 121):
        ctx = TickContext(k, float(k), 1.0, k * 1000, market, ledger, rng)
        actions += [(float(k), a) for a in scenario.on_tick(ctx)]
        ledger.set_marks(market.marks)
        ledger.check_liquidations(now_ms=k * 1000, sim_time=float(k), tick_index=k)
        peaks["cross"] = max(peaks["cross"], ledger.cross_pool("cross").ratio)
        peaks["hedge"] = max(peaks["hedge"], ledger.cross_pool("hedge").ratio)
        peaks["isolated"] = max(peaks["isolated"], ledger.isolated_ratio("isolated", "DOGEUSDT"))
        if k == 10:
            assert ledger.cross_pool("cross").ratio < 0.5
    assert peaks["cross"] >= 0.85 and peaks["isolated"] >= 0.85 and peaks["hedge"] >= 0.7
    (liq,) = ledger.liquidations
    assert (liq.account, liq.symbol) == ("isolated", "DOGEUSDT") and 36 < liq.sim_time <= 44
    assert [(t, a) for t, a in actions if isinstance(a, StallMarks)] == [(50.0, StallMarks(20))]
    assert [t for t, a in actions if isinstance(a, DropConnections)] == [80.0]
    assert ledger.cross_pool("cross").ratio < 0.5  # the run ends recovered
    assert scenario.duration == 120


def test_books_are_sane() -> None:
    for book in (demo_book(), small_book()):
        for spec in book.specs.values():
            assert continuity_warnings(spec.tiers) == []
        ledger = build_ledger(book)
        for name in ledger.accounts:
            assert ledger.cross_pool(name).ratio < 0.3
    btc = demo_book().specs["BTCUSDT"].tiers
    assert [(t.floor, t.cap, t.mmr, t.cum) for t in btc[:3]] == [
        (0, 50_000, 0.004, 0),
        (50_000, 250_000, 0.005, 50),
        (250_000, 1_000_000, 0.01, 1_300),
    ]
    assert derive_keys("main", 0) == derive_keys("main", 0) != derive_keys("main", 1)


def test_synthetic_book_has_the_requested_shape() -> None:
    book = synthetic_book(500, 50, 20, seed=4)
    assert len(book.specs) == 500 and len(book.accounts) == 50
    assert all(len(a.positions) == 20 for a in book.accounts)
    assert any(a.hedge_mode for a in book.accounts)
    again = synthetic_book(500, 50, 20, seed=4)
    assert again.accounts == book.accounts
    ledger = build_ledger(book)
    ratios = [ledger.cross_pool(name).ratio for name in ledger.accounts]
    assert min(ratios) > 0.0 and max(ratios) < 1.0
