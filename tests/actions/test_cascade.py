"""Automatic de-risking in the simulator's cascade crash, over real ccxt and real sockets.

The same seeded crash is run with and without de-risking: without it the simulator's own liquidation
engine takes both accounts; with it the cross account is cut down in time, and the isolated position
survives only when margin may be added (reducing it does not move its liquidation price).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from monitor.actions.gateway import Outcome
from monitor.actions.journal import EntryState
from monitor.actions.settings import Caps, DeriskSettings, IsolatedFallback, Mode, Targets
from monitor.alerts import AlertKind
from monitor.sim.book import ISOLATED, AccountSeed, Book
from monitor.sim.scenarios import Cascade

from .conftest import RigFactory, make_book, seed

CRASH_TICKS = 45  # the crash bottoms out at t = 40 s, then rebounds


def cascade_book() -> Book:
    doge = seed("DOGEUSDT", 25_000.0, 0.2, margin_mode=ISOLATED, leverage=50, isolated_wallet=100.0)
    return make_book(
        # 90k of longs at 20x on 4,500: liquidated about 4 % down
        AccountSeed("cross", 4_500.0, (seed("BTCUSDT", 1.0, 60_000.0), seed("ETHUSDT", 10.0, 3_000.0))),
        # 5k of DOGE at 50x with 100 of margin: liquidated within the first seconds of the crash
        AccountSeed("iso", 3_000.0, (doge,)),
    )


def settings(*, derisk: bool, add_margin: bool = True, dry_run: bool = False) -> DeriskSettings:
    return DeriskSettings(
        modes={"cross": Mode.AUTO, "iso": Mode.AUTO} if derisk else {},
        dry_run=dry_run,
        caps=Caps(cooldown_s=0, max_actions_per_hour=1_000, max_fraction=0.5),
        targets=Targets(
            cross_trigger_ratio=0.12,
            cross_target_ratio=0.04,
            isolated_trigger_distance_pct=5.0,
            isolated_target_distance_pct=15.0,
        ),
        isolated_add_margin=add_margin,
        isolated_fallback=IsolatedFallback.REDUCE,
    )


@pytest.mark.parametrize("derisk", [False, True], ids=["without", "with"])
async def test_cross_account_survives_the_cascade_only_with_derisking(rig: RigFactory, derisk: bool) -> None:
    s = replace(settings(derisk=derisk), modes={"cross": Mode.AUTO} if derisk else {})
    r = await rig(cascade_book(), s, scenario=Cascade())
    await r.tick(CRASH_TICKS)
    if not derisk:
        assert sorted(r.liquidated("cross")) == ["BTCUSDT", "ETHUSDT"]
        assert r.order_requests() == []
        return
    assert r.liquidated("cross") == []
    orders = r.orders("cross")
    assert len(orders) >= 2
    assert all(o.reduce_only and o.side == "SELL" for o in orders)
    sold = Counter[str]()
    for o in orders:
        sold[o.symbol] += o.executed_qty
    assert sold["BTCUSDT"] <= 1.0 + 1e-9 and sold["ETHUSDT"] <= 10.0 + 1e-9
    filled = [
        a
        for a in r.alerts
        if a.kind is AlertKind.ACTION and a.account == "cross" and a.facts.get("outcome") == "filled"
    ]
    assert len(filled) == len(orders)
    for a in filled:
        before, after = a.facts["ratio_before"], a.facts["ratio_after"]
        assert isinstance(before, float) and isinstance(after, float) and after < before
    assert r.derisking.derisker.outcomes[Outcome.UNKNOWN] == 0


@pytest.mark.parametrize("add_margin", [False, True], ids=["reduce", "add_margin"])
async def test_added_margin_saves_an_isolated_position_that_reducing_does_not(
    rig: RigFactory, add_margin: bool
) -> None:
    s = replace(
        settings(derisk=True, add_margin=add_margin),
        modes={"iso": Mode.AUTO},
        caps=Caps(cooldown_s=2, max_actions_per_hour=1_000, max_fraction=0.25),
    )
    r = await rig(cascade_book(), s, scenario=Cascade(), sim_clock=True)
    await r.tick(CRASH_TICKS)
    doge = [rec for rec in r.sim.liquidations if rec.account == "iso"]
    if not add_margin:
        # each reduce released margin in proportion: what was left went at the same price anyway
        assert [rec.symbol for rec in doge] == ["DOGEUSDT"]
        sold = sum(o.executed_qty for o in r.orders("iso"))
        assert sold > 0 and doge[0].contracts == pytest.approx(25_000 - sold)
        return
    assert doge == []
    transfers = [e for e in r.gateway.journal.entries("iso") if e.kind == "add_margin"]
    assert transfers and all(e.state is EntryState.DONE for e in transfers)
    leg = r.sim.ledger.account("iso").legs["DOGEUSDT", "BOTH"]
    assert leg.amount == 25_000
    assert leg.isolated_wallet == pytest.approx(100 + sum(e.amount for e in transfers), rel=1e-9)
    assert r.orders("iso") == []


async def test_caps_hold_in_a_fast_crash(rig: RigFactory) -> None:
    """A crash four times faster: the de-risker asks on every tick; the gateway lets one order per leg
    per cool-down through, three per hour, each within the fraction and notional caps."""
    s = DeriskSettings(
        modes={"cross": Mode.AUTO},
        dry_run=False,
        caps=Caps(cooldown_s=3_600, max_actions_per_hour=3, max_fraction=0.25, max_notional=10_000),
        targets=Targets(cross_trigger_ratio=0.12, cross_target_ratio=0.04),
    )
    r = await rig(cascade_book(), s, scenario=Cascade(start=2, length=8), sim_clock=True)
    await r.tick(12)
    orders = r.orders("cross")
    assert 1 <= len(orders) <= 3
    per_leg = Counter(o.symbol for o in orders)
    assert all(n == 1 for n in per_leg.values())  # the cool-down
    held = {"BTCUSDT": 1.0, "ETHUSDT": 10.0}
    for o in orders:
        assert o.reduce_only
        assert o.orig_qty <= 0.25 * held[o.symbol] + 1e-9  # the fraction cap, of the live size
        assert o.orig_qty * o.avg_price <= 10_000 + 1e-6  # the notional cap
        held[o.symbol] -= o.executed_qty
    assert r.derisking.derisker.outcomes[Outcome.REFUSED] > 0  # it kept asking; the caps said no


async def test_dry_run_sends_nothing_and_journals_what_it_would_do(rig: RigFactory) -> None:
    s = settings(derisk=True, dry_run=True)
    s = DeriskSettings(
        modes=s.modes,
        dry_run=True,
        caps=Caps(cooldown_s=3_600),
        targets=s.targets,
    )
    r = await rig(cascade_book(), s, scenario=Cascade())
    await r.tick(25)
    assert r.order_requests() == []
    assert r.orders("cross") == [] and r.orders("iso") == []
    assert sorted(r.liquidated("cross")) == ["BTCUSDT", "ETHUSDT"]  # nothing was done about it
    rows = r.gateway.journal.entries()
    assert rows and all(e.state is EntryState.DRY_RUN for e in rows)
    kinds = Counter((e.account, e.symbol, e.kind) for e in rows)
    assert kinds[("iso", "DOGE/USDT:USDT", "add_margin")] == 1  # one per leg per cool-down
    assert kinds[("cross", "BTC/USDT:USDT", "reduce")] == 1
    dry = [a for a in r.alerts if a.kind is AlertKind.ACTION]
    assert dry and all(a.facts["dry_run"] is True for a in dry)
    assert all("would" in a.message for a in dry)
