"""The demo's reconnect, over the wire: a resync that spans a moving market raises no level the market
did not.

At t=80 of the demo scenario every socket is dropped while the cross account sits at ratio 0.87, and
from t=84 a relief rally takes it down to 0.45. The daemon reconnects and resyncs every account over
REST during the rally; a resync's bodies are valued when the exchange answers, and by the time the
last one is back the stream has moved on. Judged at the bodies' marks, the cross account went back to
critical for one evaluation, between two ticks that had it lower: two pushed alerts about a state that
was already gone."""

from __future__ import annotations

import asyncio
from typing import Any

from monitor.alerts import AlertKind, Transition
from monitor.sim.exchange import SimExchange

from .conftest import StartDaemon


async def test_the_demo_reconnect_during_the_rally_raises_no_level(
    make_sim: Any, start_daemon: StartDaemon
) -> None:
    sim: SimExchange = await make_sim("demo", "demo", clock=False, seed=7)
    await sim.step(79)  # the stall is over; the cross account is critical
    run = await start_daemon(sim)
    cross = run.daemon.engine.risks["cross"].cross
    assert cross is not None and cross.margin_ratio > 0.85
    seen = len(run.alerts.alerts)
    snapshots = run.daemon.stats.events["AccountSnapshotEvent"]
    # REST answers slowly, as it does under load: each resync then spans several ticks of the rally
    sim.faults.rest_delay = 0.25
    await sim.step(1)  # t=80: every connection is dropped
    while not (
        run.daemon.stats.events["AccountSnapshotEvent"] >= snapshots + len(sim.accounts)
        and sum(s.endswith(":user") for s in run.daemon.connected) == len(sim.accounts)
    ):
        assert sim.sim_time < 118, "the daemon did not resync every account during the rally"
        await asyncio.sleep(0.15)
        await sim.step(1)
    for _ in range(3):  # the rally goes on, every account watched again
        await run.deliver(sim.step(1), marks=True)
    relieved = run.daemon.engine.risks["cross"].cross
    assert relieved is not None and relieved.margin_ratio < 0.7  # the rally was seen
    raised = [
        (a.key, a.previous_level, a.level)
        for a in run.alerts.alerts[seen:]
        if a.account == "cross" and a.kind is AlertKind.RISK and a.transition is Transition.ESCALATED
    ]
    assert raised == []  # the market only relieved the cross account
