"""The acid test: every liquidation the simulated exchange performs during a scenario was predicted by
the monitor at the same price within one tick, and preceded by a critical alert.

The exchange liquidates from its own ledger by the definition (equity <= requirement at the mark); the
monitor only knows what reached it over the wire. See ``monitor.commands.prediction`` for the three
checks. Part of the contract suite: it runs on every simulator dialect (``conftest.CASES``).
"""

from __future__ import annotations

import asyncio

import pytest

from monitor.alerts import AlertKind
from monitor.commands.demo import demo_policy
from monitor.sim.dialects import DIALECTS
from monitor.sim.exchange import SimExchange
from monitor.sim.scenarios import make_scenario
from tests.dialect_cases import VenueCase

from .conftest import Running, StartDaemon


def closed(run: Running) -> set[tuple[str, str]]:
    """The (account, symbol) of every position the daemon has said closed."""
    return {
        (a.account, a.symbol) for a in run.alerts.alerts if a.kind is AlertKind.POSITION_CLOSED and a.symbol
    }


SPEED = 24.0
# Bitunix's positions and liquidation prices come from a REST read that each push triggers: at 24x a
# read can land after the next tick, and the leg is gone from the monitor's view when it is liquidated
SPEED_OF = {"bitunix": 12.0}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("book", "scenario", "cross_liquidated"),
    [
        ("demo", "demo", set()),  # the demo liquidates isolated legs only, on every venue
        ("demo", "cascade", set(DIALECTS)),  # the cascade takes a cross account on every venue
        # COIN-M's small book holds its cross legs on thinner coin wallets: the crash takes them too
        ("small", "cascade", {"binancecoinm"}),
    ],
)
async def test_every_liquidation_was_predicted(
    make_sim: object,
    start_daemon: StartDaemon,
    dialect: VenueCase,
    book: str,
    scenario: str,
    cross_liquidated: set[str],
) -> None:
    # the cascade crashes from t=10 s over 30 s and rebounds for 20 s: 65 s shows all of it
    speaks = DIALECTS[dialect.venue]
    speed = SPEED_OF.get(dialect.venue, SPEED)
    plan = speaks.make_scenario("demo") if scenario == "demo" else make_scenario(scenario, duration=65.0)
    sim: SimExchange = await make_sim(  # type: ignore[operator]
        book, plan, speed=speed, seed=3, clock=False, dialect=dialect.venue
    )
    run = await start_daemon(sim, policy=demo_policy(speed), staleness_check_seconds=0.2)
    sim.resume()
    duration = (sim.scenario.duration or 60.0) / speed
    await asyncio.wait_for(sim.finished.wait(), duration + 20)
    assert sim.liquidations, "the scenario is meant to liquidate something"
    symbols = run.daemon.adapters[next(iter(run.daemon.adapters))].symbols  # type: ignore[attr-defined]
    unified = {s: symbols[speaks.market_id(spec)] for s, spec in sim.ledger.specs.items()}
    # the liquidation events of the last ticks: every liquidation's alert has reached the log
    unified = {s: symbols[speaks.market_id(spec)] for s, spec in sim.ledger.specs.items()}
    legs = {(r.account, unified[r.symbol], r.position_side.value) for r in sim.liquidations}
    if dialect.reports_liquidations:
        await run.until(lambda: legs <= run.log.liquidation_seq.keys(), within=10, what="liquidation alerts")
    else:  # the critical alerts are judged without it: they came before the closes that followed
        await run.until(lambda: {(a, s) for a, s, _ in legs} <= closed(run), within=10, what="the closes")
    await run.daemon.drain()
    verdicts = [
        run.log.verdict(
            r.account, unified[r.symbol], r.position_side.value, r.margin_mode.value, r.mark_price
        )
        for r in sim.liquidations
    ]
    for v in verdicts:
        assert v.predicted_at_price, f"not predicted at the exchange's price: {v}"
        assert v.within_one_tick is not False, f"liquidation price off by more than a tick: {v}"
        assert v.critical_first, f"no critical alert before the liquidation: {v}"
    assert any(r.margin_mode.value == "cross" for r in sim.liquidations) == (
        dialect.venue in cross_liquidated
    )
