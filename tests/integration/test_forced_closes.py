"""A liquidation is never reported as a plain close, whether or not the stream was there to see it.

When a leg vanishes from a REST snapshot, the adapter asks the exchange's forced orders what closed it
and passes each liquidation on as the stream would have: one critical alert per leg, the same one (by
client order id) the stream gives when it was connected.
"""

from __future__ import annotations

from pathlib import Path

from monitor.alerts import Alert, AlertKind, Level
from monitor.sim.exchange import SimExchange

from .conftest import Running, StartDaemon


def _cascade(sim: SimExchange) -> None:
    """BTC at 10,000 and SOL at 100: every leg of ``main`` (cross BTC and ETH, isolated SOL) and both
    hedge-mode BTC legs of ``hedge`` are liquidated at the next publish, five in all."""
    sim.set_mark("BTCUSDT", 10_000.0)
    sim.set_mark("SOLUSDT", 100.0)


def _liquidated_legs(sim: SimExchange) -> list[tuple[str, str, str]]:
    return sorted((r.account, r.symbol, r.position_side.value) for r in sim.liquidations)


def _forced(run: Running) -> list[Alert]:
    return [a for a in run.alerts.alerts if a.kind in (AlertKind.LIQUIDATION, AlertKind.ADL)]


def _legs_of(alerts: list[Alert]) -> list[tuple[str, str, str]]:
    ids = {"BTC/USDT:USDT": "BTCUSDT", "ETH/USDT:USDT": "ETHUSDT", "SOL/USDT:USDT": "SOLUSDT"}
    return sorted((a.account, ids[a.symbol or ""], a.position_side or "") for a in alerts)


async def test_liquidations_while_the_daemon_was_down_are_critical_on_restart(
    sim: SimExchange, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    state = tmp_path / "down.sqlite3"
    run = await start_daemon(sim, state_file=state)
    await run.tick()
    await run.daemon.stop()
    _cascade(sim)
    await sim.publish_marks()  # nobody listens: the user frames are lost
    assert len(sim.liquidations) == 5
    again = await start_daemon(sim, state_file=state)
    await again.settle()
    forced = _forced(again)
    assert _legs_of(forced) == _liquidated_legs(sim)  # one each, no more
    assert all(a.kind is AlertKind.LIQUIDATION and a.level is Level.CRITICAL for a in forced)
    assert all("LIQUIDATED" in a.message for a in forced)
    closes = [a for a in again.alerts.alerts if a.kind is AlertKind.POSITION_CLOSED]
    assert len(closes) == 5 and all(a.message.endswith("position closed by liquidation") for a in closes)
    # the liquidation is said before the close it explains
    assert again.alerts.alerts.index(forced[0]) < again.alerts.alerts.index(closes[0])


async def test_liquidations_while_the_user_stream_was_down_are_critical_after_its_resync(
    sim: SimExchange, start_daemon: StartDaemon
) -> None:
    run = await start_daemon(sim)
    await run.tick()
    # the user streams cannot come back (no listen key) until the faults are cleared
    sim.faults.fail_rest(times=10_000, path_prefix="/fapi/v1/listenKey")
    await sim.drop_connections()
    await run.until(lambda: not any(s.endswith(":user") for s in run.daemon.connected), what="user down")
    _cascade(sim)
    await sim.publish_marks()
    await run.settle()
    assert len(sim.liquidations) == 5 and not _forced(run)
    sim.faults.clear()
    await run.until(lambda: len(_forced(run)) >= 5, within=30, what="liquidation alerts")
    await run.until(
        lambda: sum(s.endswith(":user") for s in run.daemon.connected) == 3, within=30, what="user back"
    )
    await run.settle()
    forced = _forced(run)
    assert _legs_of(forced) == _liquidated_legs(sim)
    assert all(a.level is Level.CRITICAL for a in forced)


async def test_a_liquidation_the_stream_reported_is_not_repeated_by_a_resync(
    sim: SimExchange, start_daemon: StartDaemon
) -> None:
    run = await start_daemon(sim)
    await run.tick()
    _cascade(sim)
    await run.tick()
    await run.until(lambda: len(_forced(run)) >= 5, what="liquidations from the stream")
    await run.daemon.resync_all()
    await run.settle()
    assert _legs_of(_forced(run)) == _liquidated_legs(sim)
