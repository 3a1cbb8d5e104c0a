"""Engine and policy per all-market mark frame, in-process: no network, no parsing, no event loop.

The synthetic book (50 accounts x 20 positions over 500 symbols, the one ``bench_pipeline`` serves
through the simulator) is turned into the engine's inputs the way the Binance venue does it (markets,
tier tables, one REST snapshot per account), then N frames of ``MarkPrices`` move all 500 marks by a
small random walk. Per frame it times:

- engine: ``Engine.on_marks`` (every account holds a ticked symbol, so every account is revalued);
- policy: ``evaluate(state, PolicyInputs(risks), now_ms, config)`` on what the engine returned;
- commit: ``episode_store.save(conn, old, new)`` into an in-memory SQLite, as ``Daemon._commit`` does
  whenever the policy returns a new state object.

With ``--churn K`` every K-th frame is preceded by a user-stream delta to one account (round robin):
one of its legs closes, and on the account's next turn reopens, as fills and liquidations change a
live book. The delta is applied and judged as the daemon does (``Engine.on_account_update``, then the
policy and the commit), untimed; the frame after it is timed, and such frames are also reported on
their own, since they are the ones that meet rebuilt columns.

After each delta and each frame the daemon's idle step runs, untimed, as when nothing is queued:
``monitor.daemon.idle.IdleStep.run`` (``--lazy`` leaves all but freeing the replaced marks to the next tick).

Also reported: how often the policy state object changes, alerts per frame, and a digest of every
``AccountRisk`` and alert so that two runs (before and after a change) can be checked for identical
output. Frames, marks and clock are deterministic for a given ``--seed``.

Run: ``python benchmarks/bench_engine_policy.py [--frames 300] [--churn 10 [--lazy]]
[--profile engine|policy]``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import pstats
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from monitor.alerts import Alert
from monitor.daemon.engine import Engine, MarketInfo
from monitor.daemon.idle import IdleStep
from monitor.daemon.store import IdleCheckpoint, open_db
from monitor.events import AccountSnapshotEvent, AccountUpdate, MarkPrices, PositionState, TierTable
from monitor.model import AccountRisk, PositionSide, Venue
from monitor.policy import PolicyConfig, PolicyInputs, PolicyState, episode_store, evaluate
from monitor.policy.screen_cache import ScreenCache
from monitor.sim.book import build_ledger, synthetic_book
from monitor.sim.ledger import Ledger

VENUE = Venue.BINANCE_USDM
FRAME_MS = 1_000
START_MS = 1_700_000_000_000


def unified(ledger: Ledger, market_id: str) -> str:
    """``BTCUSDT`` -> ``BTC/USDT:USDT``, the ccxt symbol the engine keys everything by."""
    spec = ledger.specs[market_id]
    return f"{spec.base}/{spec.quote}:{spec.quote}"


def build_engine(ledger: Ledger) -> Engine:
    """An engine holding what a daemon holds after start-up: markets, brackets, one resync each."""
    engine = Engine()
    engine.set_markets(VENUE.value, [MarketInfo(unified(ledger, s)) for s in ledger.specs])
    for name, acct in ledger.accounts.items():
        engine.add_account(name, VENUE, acct.taker_fee)
        for market_id in {leg.symbol for leg in acct.open_legs()}:
            tiers = ledger.specs[market_id].tiers
            engine.on_tiers(TierTable(VENUE.value, name, unified(ledger, market_id), tiers, START_MS))
        engine.on_snapshot(snapshot(ledger, name))
    return engine


def snapshot(ledger: Ledger, name: str) -> AccountSnapshotEvent:
    acct = ledger.account(name)
    positions = []
    for leg in acct.open_legs():
        cfg = acct.config(leg.symbol)
        state = ledger.leg_state(acct, leg)
        positions.append(
            PositionState(
                symbol=unified(ledger, leg.symbol),
                position_side=PositionSide(leg.position_side.lower()),
                margin_mode=cfg.margin_mode,
                amount=leg.amount,
                entry_price=leg.entry_price,
                isolated_wallet=leg.isolated_wallet if leg.isolated_wallet else None,
                unrealized_pnl=state.unrealized,
                mark_price=state.mark_price,
                liquidation_price=ledger.liquidation_price(acct, leg),
                maint_margin=state.maint_margin,
                leverage=float(cfg.leverage),
            )
        )
    return AccountSnapshotEvent(VENUE.value, name, acct.cross_wallet, tuple(positions), START_MS)


def make_frames(ledger: Ledger, n: int, seed: int, step: float) -> list[MarkPrices]:
    """``n`` frames, each moving every symbol's mark by a normal step of relative size ``step``."""
    rng = random.Random(seed)
    marks = {unified(ledger, s): p for s, p in ledger.marks.items()}
    frames = []
    for i in range(n):
        marks = {s: round(p * (1.0 + rng.gauss(0.0, step)), 8) for s, p in marks.items()}
        ms = START_MS + (i + 1) * FRAME_MS
        frames.append(MarkPrices(VENUE.value, dict(marks), ms, ms))
    return frames


def make_deltas(ledger: Ledger, frames: list[MarkPrices], churn: int) -> dict[int, AccountUpdate]:
    """By frame index, the delta applied just before it: every ``churn``-th frame, the next account in
    turn closes its first leg, or reopens it where its last turn closed it."""
    if churn <= 0:
        return {}
    names = sorted(ledger.accounts)
    closed: set[str] = set()
    deltas = {}
    for turn, i in enumerate(range(churn, len(frames), churn)):
        name = names[turn % len(names)]
        leg = snapshot(ledger, name).positions[0]
        if name in closed:
            closed.discard(name)
        else:
            closed.add(name)
            leg = PositionState(leg.symbol, leg.position_side, leg.margin_mode, 0.0, 0.0)
        ms = frames[i].received_ms - 1
        deltas[i] = AccountUpdate(VENUE.value, name, "ORDER", None, (leg,), ms, ms)
    return deltas


@dataclass
class Timings:
    engine_us: list[float]
    policy_us: list[float]
    commit_us: list[float]
    cpu_us: list[float]
    after_delta: list[int]
    state_changes: int = 0
    alerts: int = 0
    positions: int = 0


def digest_risks(h: hashlib._Hash, risks: list[AccountRisk]) -> None:
    for r in risks:
        h.update(repr(r).encode())


def digest_alerts(h: hashlib._Hash, alerts: list[Alert]) -> None:
    for a in alerts:
        h.update(
            repr((a.key, a.level, a.transition, a.episode_id, a.message, sorted(a.facts.items()))).encode()
        )


def run(
    frames: list[MarkPrices],
    engine: Engine,
    config: PolicyConfig,
    deltas: dict[int, AccountUpdate] | None = None,
    prepare: bool = True,
) -> tuple[Timings, str, str]:
    conn = open_db(":memory:")  # the daemon's kind of connection, in memory
    episode_store.ensure_schema(conn)
    cache = ScreenCache()
    idle = IdleStep(engine, cache, IdleCheckpoint(conn))
    state = PolicyState()
    # the start-up resyncs are a baseline, as in the daemon
    state, _ = evaluate(state, PolicyInputs(list(engine.risks.values())), START_MS, config)
    episode_store.save(conn, PolicyState(), state)
    t = Timings([], [], [], [], [])
    risk_hash, alert_hash = hashlib.sha256(), hashlib.sha256()
    clock, cpu_clock = time.perf_counter, time.thread_time
    for i, frame in enumerate(frames):
        delta = (deltas or {}).get(i)
        if delta is not None:
            changed = engine.on_account_update(delta)
            new, alerts = evaluate(
                state, PolicyInputs([changed] if changed else []), delta.received_ms, config, cache
            )
            episode_store.save(conn, state, new)
            state = new
            t.after_delta.append(i)
            digest_alerts(alert_hash, alerts)
            if prepare:
                idle.run(state, config, after_marks=False)
        c0 = cpu_clock()
        t0 = clock()
        risks = engine.on_marks(frame)
        t1 = clock()
        new, alerts = evaluate(state, PolicyInputs(risks), frame.received_ms, config, cache)
        t2 = clock()
        if new is not state:
            t.state_changes += 1
            episode_store.save(conn, state, new)
            state = new
        t3 = clock()
        t.cpu_us.append((cpu_clock() - c0) * 1e6)
        t.engine_us.append((t1 - t0) * 1e6)
        t.policy_us.append((t2 - t1) * 1e6)
        t.commit_us.append((t3 - t2) * 1e6)
        t.alerts += len(alerts)
        t.positions = sum(len(r.positions) for r in risks)
        digest_risks(risk_hash, risks)
        digest_alerts(alert_hash, alerts)
        # untimed, as the daemon does between decisions (without its garbage collector)
        if prepare:
            idle.run(state, config, after_marks=True)
        else:
            engine.release()
    open_tracks = sum(1 for tr in state.tracks.values() if tr.is_open)
    print(f"open episodes at the end: {open_tracks} of {len(state.tracks)} tracks")
    return t, risk_hash.hexdigest()[:16], alert_hash.hexdigest()[:16]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def report(t: Timings, n: int, risk_digest: str, alert_digest: str) -> None:
    total = [a + b + c for a, b, c in zip(t.engine_us, t.policy_us, t.commit_us, strict=True)]
    per_pos = t.positions or 1
    print(f"frames: {n}, positions revalued per frame: {t.positions}")
    for label, values in (
        ("engine", t.engine_us),
        ("policy", t.policy_us),
        ("commit", t.commit_us),
        ("total ", total),
    ):
        print(
            f"  {label}: mean {mean(values) / 1000:6.2f} ms  p50 {pct(values, 0.5) / 1000:6.2f} ms"
            f"  p99 {pct(values, 0.99) / 1000:6.2f} ms  per position {mean(values) / per_pos:5.2f} us"
        )
    # CPU time is what a busy machine disturbs least: wall time also counts time spent descheduled
    cpu = t.cpu_us
    print(f"  CPU time per frame: mean {mean(cpu) / 1000:.2f} ms  p50 {pct(cpu, 0.5) / 1000:.2f} ms")
    if t.after_delta:
        print(f"  the {len(t.after_delta)} frames right after an account changed:")
        for label, values in (("engine", t.engine_us), ("policy", t.policy_us), ("total ", total)):
            picked = [values[i] for i in t.after_delta]
            print(f"    {label}: p50 {pct(picked, 0.5) / 1000:6.2f} ms  max {max(picked) / 1000:6.2f} ms")
    print(f"  CPU at 1 frame/s (engine + policy + commit): {mean(cpu) / 1e6 * 100:.2f} % of one core")
    print(f"  policy state object changed on {t.state_changes} of {n} frames; alerts: {t.alerts}")
    print(f"  digest: risks {risk_digest}  alerts {alert_digest}")


def profile(frames: list[MarkPrices], engine: Engine, config: PolicyConfig, what: str) -> None:
    state, _ = evaluate(PolicyState(), PolicyInputs(list(engine.risks.values())), START_MS, config)
    batches = [engine.on_marks(f) for f in frames] if what == "policy" else []
    cache = ScreenCache()
    prof = cProfile.Profile()
    step: Callable[[int], None]
    if what == "engine":

        def step(i: int) -> None:
            engine.on_marks(frames[i])

    else:

        def step(i: int) -> None:
            nonlocal state
            state, _ = evaluate(state, PolicyInputs(batches[i]), frames[i].received_ms, config, cache)

    prof.enable()
    for i in range(len(frames)):
        step(i)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--step", type=float, default=0.002, help="relative size of a mark move")
    parser.add_argument("--churn", type=int, default=0, help="a delta to one account every K frames")
    parser.add_argument("--lazy", action="store_true", help="no idle step between frames")
    parser.add_argument("--profile", choices=("engine", "policy"), default=None)
    args = parser.parse_args()

    ledger = build_ledger(synthetic_book())
    config = PolicyConfig(cross_positions_use_account_ratio=False)
    engine = build_engine(ledger)
    frames = make_frames(ledger, args.frames, args.seed, args.step)
    churn = f", a delta to one account every {args.churn} frames" if args.churn > 0 else ""
    print(f"book: 50 accounts x 20 positions, frames of 500 symbols (in-process){churn}")
    if args.profile:
        profile(frames, engine, config, args.profile)
        return
    # a few frames to warm caches, then a fresh engine so every run sees the same frame sequence
    run(frames[:10], build_engine(ledger), config)
    gc.collect()
    deltas = make_deltas(ledger, frames, args.churn)
    timings, risk_digest, alert_digest = run(frames, engine, config, deltas, prepare=not args.lazy)
    report(timings, len(frames), risk_digest, alert_digest)


if __name__ == "__main__":
    main()
