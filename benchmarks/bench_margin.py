"""Full revaluations per second: ratio, maintenance margin and liquidation price of every position.

20 accounts of 50 positions (cross and isolated mixed, some hedge-mode legs, Binance-like tier tables),
marks moved before every pass so nothing is reused. One process, one core. Target: 200,000 position
revaluations per second. Run: ``make bench`` or ``python benchmarks/bench_margin.py``.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

from monitor.margin.account import evaluate_account
from monitor.model import Account, MarginMode, Position, PositionSide, Side, Tier, Venue

TIERS = (
    Tier(0, 50_000, 0.004, 0),
    Tier(50_000, 250_000, 0.005, 50),
    Tier(250_000, 1_000_000, 0.01, 1_300),
    Tier(1_000_000, 10_000_000, 0.025, 16_300),
    Tier(10_000_000, 1e12, 0.05, 266_300),
)


def make_accounts(n_accounts: int = 20, per_account: int = 50, seed: int = 7) -> list[Account]:
    rng = random.Random(seed)
    accounts = []
    for a in range(n_accounts):
        positions = []
        for i in range(per_account):
            price = rng.uniform(1, 60_000)
            side = rng.choice(list(Side))
            iso = i % 3 == 0
            hedge = i % 10 == 9
            contracts = rng.uniform(1_000, 200_000) / price
            positions.append(
                Position(
                    symbol=f"S{i}",
                    side=side,
                    margin_mode=MarginMode.ISOLATED if iso else MarginMode.CROSS,
                    contracts=contracts,
                    entry_price=price * rng.uniform(0.95, 1.05),
                    mark_price=price,
                    tiers=TIERS,
                    position_side=(PositionSide.LONG if side is Side.LONG else PositionSide.SHORT)
                    if hedge
                    else PositionSide.BOTH,
                    isolated_wallet=contracts * price / 10 if iso else None,
                    leverage=10,
                )
            )
        accounts.append(Account(Venue.BINANCE_USDM, 400_000.0, tuple(positions), f"acct{a}"))
    return accounts


def main(seconds: float = 3.0) -> None:
    accounts = make_accounts()
    rng = random.Random(1)
    # pre-build moved copies so the timed loop measures the maths, not the copying
    variants = [
        [
            replace(
                acct,
                positions=tuple(
                    replace(p, mark_price=p.mark_price * rng.uniform(0.97, 1.03)) for p in acct.positions
                ),
            )
            for acct in accounts
        ]
        for _ in range(8)
    ]
    n_positions = sum(len(a.positions) for a in accounts)
    passes = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for acct in variants[passes % len(variants)]:
            evaluate_account(acct)
        passes += 1
    elapsed = time.perf_counter() - start
    rate = passes * n_positions / elapsed
    print(f"accounts: {len(accounts)}  positions per account: {n_positions // len(accounts)}")
    print(f"full passes: {passes} in {elapsed:.2f} s  ({elapsed / passes * 1e3:.2f} ms per pass)")
    print(f"position revaluations per second: {rate:,.0f}  (target 200,000)")
    print(f"per position: {1e6 / rate:.2f} us")


if __name__ == "__main__":
    main()
