"""What de-risking costs the event path, and how long a plan takes.

- The trigger check runs in the daemon's risk listener on every event, for every account the event
  re-evaluated: it must stay a small fraction of the evaluation itself.
- Planning runs in its own task only once a trigger is crossed; it evaluates modified snapshots many
  times (bisection per step, the market-move guard), so its latency is what delays the first order.

Run: ``python benchmarks/bench_derisk.py``.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

from monitor.actions.planner import Lot, plan_account, triggered
from monitor.actions.settings import DeriskSettings, Targets
from monitor.margin.account import evaluate_account
from monitor.model import Account, MarginMode, Position, PositionSide, Side, Tier, Venue

TIERS = (
    Tier(0, 50_000, 0.004, 0),
    Tier(50_000, 250_000, 0.005, 50),
    Tier(250_000, 1_000_000, 0.01, 1_300),
    Tier(1_000_000, 10_000_000, 0.025, 16_300),
    Tier(10_000_000, 1e12, 0.05, 266_300),
)


def make_account(n: int, seed: int = 7) -> Account:
    rng = random.Random(seed)
    positions = []
    for i in range(n):
        price = rng.uniform(1, 60_000)
        iso = i % 4 == 0
        contracts = rng.uniform(5_000, 100_000) / price
        positions.append(
            Position(
                symbol=f"S{i}",
                side=Side.LONG if i % 3 else Side.SHORT,
                margin_mode=MarginMode.ISOLATED if iso else MarginMode.CROSS,
                contracts=contracts,
                entry_price=price,
                mark_price=price * rng.uniform(0.93, 0.99),
                tiers=TIERS,
                position_side=PositionSide.BOTH,
                isolated_wallet=contracts * price / 25 if iso else None,
                leverage=20,
            )
        )
    notional = sum(p.contracts * p.entry_price for p in positions if p.margin_mode is MarginMode.CROSS)
    return Account(Venue.BINANCE_USDM, notional * 0.06, tuple(positions), "bench", 0.0005)


def main() -> None:
    settings = DeriskSettings(targets=Targets(cross_trigger_ratio=0.3, cross_target_ratio=0.1))
    lots = {f"S{i}": Lot(0.001, 0.001) for i in range(50)}

    risks = [evaluate_account(make_account(50, seed)) for seed in range(20)]
    rounds = 2_000
    t0 = time.perf_counter()
    for _ in range(rounds):
        for risk in risks:
            triggered(risk, settings.targets)
    per_check = (time.perf_counter() - t0) / (rounds * len(risks)) * 1e6
    print(f"trigger check, 50 positions: {per_check:.2f} us per account per event")

    for n in (5, 20, 50):
        account = make_account(n)
        assert triggered(evaluate_account(account), settings.targets), "the bench account must be at risk"
        for guard in (True, False):
            s = replace(settings, guard_market_move=guard)
            runs = 20
            t0 = time.perf_counter()
            for _ in range(runs):
                plans = plan_account(account, s, lots)
            ms = (time.perf_counter() - t0) / runs * 1e3
            steps = sum(len(p.steps) for p in plans)
            print(f"plan, {n:2d} positions, guard {'on ' if guard else 'off'}: {ms:7.2f} ms ({steps} steps)")


if __name__ == "__main__":
    main()
