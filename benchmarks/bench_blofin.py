"""BloFin's per-poll cost: reading one all-instrument mark-price reply and revaluing every account.

BloFin streams no mark price; the adapter polls ``/api/v1/market/mark-price`` for every instrument
once a second (``venues/blofin/venue.py``). Each poll costs the parse of one reply
(``venues/blofin/parse.marks``, JSON decoding included here, no socket) and one decision's worth of
revaluation: BloFin's rules are not in the numpy batch, so every account takes the scalar path
(``margin/account.evaluate_account``, the derived closed forms). 500 instruments, 20 accounts of 50
positions on BloFin's rules (contracts of 0.001 to 1 base unit, tiers by contracts). One process.

Run: ``python benchmarks/bench_blofin.py [--seconds 3]``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace

from monitor.margin.account import evaluate_account
from monitor.model import Account, MarginMode, Position, PositionSide, Side, Tier, Venue
from monitor.venues.blofin import parse

TIERS = (Tier(0, 10_000, 0.004), Tier(10_000, 50_000, 0.006), Tier(50_000, 1e12, 0.01))
N_INSTRUMENTS = 500


def mark_reply(rng: random.Random) -> tuple[str, dict[str, str]]:
    """One reply of GET /api/v1/market/mark-price (BloFin's envelope, strings), and its ids."""
    symbols = {f"S{i:03d}-USDT": f"S{i:03d}/USDT:USDT" for i in range(N_INSTRUMENTS)}
    ts = 1_767_225_600_000
    rows = []
    for inst in symbols:
        price = f"{rng.uniform(0.01, 60_000):.8f}"
        rows.append({"instId": inst, "indexPrice": price, "markPrice": price, "ts": str(ts)})
    return json.dumps({"code": "0", "msg": "success", "data": rows}), symbols


def make_accounts(rng: random.Random, n_accounts: int = 20, per_account: int = 50) -> list[Account]:
    accounts = []
    for a in range(n_accounts):
        positions = []
        for i in range(per_account):
            price = rng.uniform(1, 60_000)
            cv = rng.choice((0.001, 0.01, 0.1, 1.0))
            side = rng.choice(list(Side))
            iso = i % 3 == 0
            contracts = round(rng.uniform(1_000, 100_000) / price / cv) or 1.0
            positions.append(
                Position(
                    symbol=f"S{i:03d}/USDT:USDT",
                    side=side,
                    margin_mode=MarginMode.ISOLATED if iso else MarginMode.CROSS,
                    contracts=contracts,
                    entry_price=price * rng.uniform(0.95, 1.05),
                    mark_price=price,
                    tiers=TIERS,
                    contract_size=cv,
                    position_side=PositionSide.BOTH,
                    isolated_wallet=contracts * cv * price / 10 if iso else None,
                    leverage=10,
                )
            )
        accounts.append(Account(Venue.BLOFIN, 400_000.0, tuple(positions), f"acct{a}", 0.0006))
    return accounts


def main(seconds: float) -> None:
    rng = random.Random(7)
    body, symbols = mark_reply(rng)
    accounts = make_accounts(rng)
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
    parses: list[float] = []
    decisions: list[float] = []
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        parse.marks(json.loads(body)["data"], symbols, venue="blofin", received_ms=0)
        t1 = time.perf_counter()
        for acct in variants[n % len(variants)]:
            evaluate_account(acct)
        t2 = time.perf_counter()
        parses.append(t1 - t0)
        decisions.append(t2 - t1)
        n += 1

    def q(values: list[float], p: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1e3

    positions = sum(len(a.positions) for a in accounts)
    print(f"polls timed: {n}  instruments a reply: {N_INSTRUMENTS}  positions: {positions}")
    print(f"parse (JSON + rows) p50 {q(parses, 0.5):.2f} ms  p99 {q(parses, 0.99):.2f} ms")
    print(f"revaluation of every account p50 {q(decisions, 0.5):.2f} ms  p99 {q(decisions, 0.99):.2f} ms")
    per_poll = q(parses, 0.5) + q(decisions, 0.5)
    print(f"one poll a second: about {per_poll / 10:.2f} % of a core")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    main(parser.parse_args().seconds)
