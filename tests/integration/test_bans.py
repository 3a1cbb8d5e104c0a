"""An exchange ban (HTTP 418) or rate limit (429) is honoured: no REST call until its end, one alert,
health degraded meanwhile, and the daemon resumes by itself."""

from __future__ import annotations

import asyncio

import pytest

from monitor.alerts import AlertKind, Level
from monitor.daemon.health import HealthView
from monitor.sim.exchange import SimExchange

from .conftest import StartDaemon

BANNED = (
    "Way too many requests; IP(127.0.0.1) banned until {until}. "
    "Please use the websocket for live updates to avoid bans."
)
LIMITED = "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute."


@pytest.mark.parametrize("status", [418, 429])
async def test_a_ban_is_waited_out_with_no_rest_call_and_one_alert(
    sim: SimExchange, start_daemon: StartDaemon, status: int
) -> None:
    run = await start_daemon(sim)
    health = HealthView(run.daemon)
    retry_after = 3
    until = sim.now_ms() + retry_after * 1000
    msg = BANNED.format(until=until) if status == 418 else LIMITED
    sim.faults.fail_rest(times=1, status=status, code=-1003, msg=msg, retry_after=retry_after)
    first = len(sim.rest.requests)
    await run.daemon.resync_all()  # the first call meets the ban
    await run.settle()
    refused = len(sim.rest.requests)
    assert refused > first
    # everything that would call REST meanwhile: scheduled jobs, and reconnects that need listen keys
    await run.daemon.resync_all()
    await run.daemon.refresh_tiers()
    await sim.drop_connections()
    await run.until(lambda: bool(run.alerts.of("ban:binanceusdm")), what="the ban alert")
    alert = run.alerts.of("ban:binanceusdm")[0]
    assert alert.kind is AlertKind.BAN and alert.level is Level.DANGER
    assert "banned by the exchange until" in alert.message
    report = health.assess()
    assert not report.ok and any("banned by the exchange until" in p for p in report.problems)
    # a restart cannot end a ban (its start-up calls would extend it): the watchdog is not withheld
    assert report.watching and all("banned" in p or "stale" in p for p in report.external), report
    # it resumes by itself: the user streams come back, over new listen keys, once the ban is over
    await asyncio.wait_for(sim.wait_market_subscribers(), 10)
    await run.until(
        lambda: sum(s.endswith(":user") for s in run.daemon.connected) == 3, within=30, what="streams back"
    )
    after = sim.rest.request_times[refused:]
    assert after, "nothing was asked after the ban"
    assert min(after) >= until  # not one request went out while it ran
    assert len(run.alerts.of("ban:binanceusdm")) == 1
    await run.until(lambda: health.assess().ok or not any("banned" in p for p in health.assess().problems))
