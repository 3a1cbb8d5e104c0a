"""The acid test: every liquidation the simulated exchange performs during a scenario was predicted by
the monitor at the same price within one tick, and preceded by a critical alert.

The exchange liquidates from its own ledger by the definition (equity <= requirement at the mark); the
monitor only knows what reached it over the wire. See ``monitor.prediction`` for the three checks.
"""

from __future__ import annotations

import asyncio

import pytest

from monitor.demo import demo_policy
from monitor.sim.exchange import SimExchange
from monitor.sim.scenarios import make_scenario

from .conftest import StartDaemon

SPEED = 12.0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("book", "scenario", "cross_expected"),
    [("demo", "demo", False), ("demo", "cascade", True), ("small", "cascade", False)],
)
async def test_every_liquidation_was_predicted(
    make_sim: object, start_daemon: StartDaemon, book: str, scenario: str, cross_expected: bool
) -> None:
    # the cascade crashes from t=10 s over 30 s and rebounds for 20 s: 65 s shows all of it
    plan = make_scenario(scenario) if scenario == "demo" else make_scenario(scenario, duration=65.0)
    sim: SimExchange = await make_sim(book, plan, speed=SPEED, seed=3, clock=False)  # type: ignore[operator]
    run = await start_daemon(sim, policy=demo_policy(SPEED), staleness_check_seconds=0.2)
    sim.resume()
    duration = (sim.scenario.duration or 60.0) / SPEED
    await asyncio.wait_for(sim.finished.wait(), duration + 20)
    await run.settle()
    await asyncio.sleep(0.3)  # the liquidation events of the last ticks
    await run.settle()

    assert sim.liquidations, "the scenario is meant to liquidate something"
    symbols = run.daemon.adapters[next(iter(run.daemon.adapters))].symbols  # type: ignore[attr-defined]
    verdicts = [
        run.log.verdict(
            r.account, symbols[r.symbol], r.position_side.value, r.margin_mode.value, r.mark_price
        )
        for r in sim.liquidations
    ]
    for v in verdicts:
        assert v.predicted_at_price, f"not predicted at the exchange's price: {v}"
        assert v.within_one_tick is not False, f"liquidation price off by more than a tick: {v}"
        assert v.critical_first, f"no critical alert before the liquidation: {v}"
    assert any(r.margin_mode.value == "cross" for r in sim.liquidations) == cross_expected
