"""A resync that fails after a reconnect is retried, and the account is not fresh until one succeeds.

Whatever happened while a user stream was down is only known from the REST resync that follows the
reconnect. If that resync fails (a 503, a -1021 timestamp error, a timeout) and the stream is declared
live anyway, a fill made while it was down stays unseen until the next scheduled resync.
"""

from __future__ import annotations

import asyncio
from typing import Any

from monitor.alerts import AlertKind
from monitor.daemon.health import HealthView
from monitor.policy import keys
from monitor.sim.exchange import SimExchange

from .conftest import StartDaemon, fast_policy

USER = "binanceusdm:trader:user"


def _requests(sim: SimExchange, path: str) -> int:
    return sum(p == path for _, p in sim.rest.requests)


async def test_a_fill_made_while_disconnected_is_seen_after_failed_resyncs(
    sim: SimExchange, start_daemon: StartDaemon, make_ccxt: Any
) -> None:
    run = await start_daemon(sim)  # the scheduled resync is an hour away
    trader = make_ccxt(sim, "trader", rest_only=True)
    await trader.load_markets()
    # the user streams stay down (no listen key) while the trader fills
    sim.faults.fail_rest(times=10_000, path_prefix="/fapi/v1/listenKey")
    await sim.drop_connections()
    await run.until(lambda: USER not in run.daemon.connected, what="user stream down")
    await trader.create_order("BTC/USDT:USDT", "market", "buy", 0.01)
    # the streams may come back; the first resyncs after that fail: a 503, then a -1021
    sim.faults.clear()
    sim.faults.fail_rest(times=2, path_prefix="/fapi/v3/positionRisk")
    sim.faults.fail_rest(
        times=2,
        status=400,
        code=-1021,
        msg="Timestamp for this request is outside of the recvWindow.",
        path_prefix="/fapi/v3/positionRisk",
    )
    await run.until(
        lambda: "BTC/USDT:USDT" in run.daemon.engine.books["trader"].symbols,
        within=30,
        what="the fill seen by a resync",
    )
    await run.until(lambda: USER in run.daemon.connected, what="declared live after the resync")


async def test_the_account_is_stale_and_unhealthy_until_a_resync_succeeds(
    sim: SimExchange, start_daemon: StartDaemon
) -> None:
    run = await start_daemon(sim, policy=fast_policy(user_ms=1_000), staleness_check_seconds=0.1)
    health = HealthView(run.daemon)
    before = _requests(sim, "/fapi/v3/positionRisk")
    sim.faults.fail_rest(times=10_000, path_prefix="/fapi/v3/positionRisk")
    await sim.drop_connections()
    await asyncio.wait_for(sim.wait_user_connections("trader"), 10)  # the socket itself is back
    # retried, not given up on: each account asks again
    await run.until(lambda: _requests(sim, "/fapi/v3/positionRisk") >= before + 6, within=20, what="retries")
    key = keys.stream_stale(USER)
    await run.until(lambda: bool(run.alerts.of(key)), within=10, what="user stream stale alert")
    assert run.alerts.of(key)[0].kind is AlertKind.STALE
    assert USER not in run.daemon.connected
    report = health.assess()
    assert not report.ok and f"stream {USER} stale" in report.problems
    sim.faults.clear()
    await run.until(
        lambda: any(a.kind is AlertKind.RECOVERED for a in run.alerts.of(key)), within=30, what="recovered"
    )
    await run.until(lambda: USER in run.daemon.connected, what="declared live")
