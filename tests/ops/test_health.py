"""``/healthz``, ``/metrics`` and ``monitor status`` over real loopback HTTP, on a daemon watching the
simulator. The daemon's clock is the wall clock plus an offset the tests move, so "20 s later" needs no
waiting."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from monitor.commands import cli
from monitor.daemon.health import Extras, HealthServer, HealthView, is_loopback, make_registry, parse_listen
from monitor.daemon.service import Daemon, DaemonOptions
from monitor.model import MarginMode, PositionRisk, Venue
from monitor.notify.channel import ChannelHealth, ChannelState
from monitor.policy.settings import PolicyConfig
from monitor.sim.exchange import SimExchange
from monitor.venues.base import Endpoints, VenueAccount, now_ms

DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Watched:
    sim: SimExchange
    daemon: Daemon
    view: HealthView
    server: HealthServer
    offset_ms: list[int]

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(self.server.url + path) as resp:
            return resp.status, await resp.text()

    async def healthz(self) -> tuple[int, dict[str, object]]:
        async with aiohttp.ClientSession() as http, http.get(self.server.url + "/healthz") as resp:
            return resp.status, await resp.json()

    async def metrics(self) -> Metrics:
        status, text = await self.get("/metrics")
        assert status == 200
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    async def tick(self) -> None:
        """Publish the simulator's marks and wait until the daemon has applied them."""
        before = self.daemon.freshness.get("binanceusdm:marks", 0)
        for _ in range(200):  # the first frames may go out before the subscription is in place
            await self.sim.publish_marks()
            await asyncio.sleep(0.05)
            await self.daemon.drain()
            if self.daemon.freshness.get("binanceusdm:marks", 0) > before:
                return
        raise AssertionError("the marks never arrived")


# one daemon for the module: starting one costs seconds; each test leaves it as it found it
module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Watched]:
    sim = SimExchange("small", clock=False)
    await sim.start()
    offset = [0]
    accounts = tuple(VenueAccount(n, sim.accounts[n].api_key, sim.accounts[n].secret) for n in ("main",))
    daemon = Daemon(
        DaemonOptions(
            state_file=str(tmp_path_factory.mktemp("health") / "state.sqlite3"),
            policy=PolicyConfig(),
            venues={Venue.BINANCE_USDM: accounts},
            endpoints={Venue.BINANCE_USDM: Endpoints(sim.http_url, sim.ws_url)},
        ),
        [],
        clock=lambda: now_ms() + offset[0],
    )
    view = HealthView(
        daemon,
        Extras(
            outbox_pending=lambda: 3,
            trading_state=lambda: "REDUCING",
            orders=lambda: {"sent": 2, "refused": 1},
            channels=lambda: [ChannelHealth("telegram", ChannelState.OK, 3)],
        ),
    )
    server = HealthServer(view, make_registry(view), "127.0.0.1:0")
    await server.start()
    await daemon.start()
    w = Watched(sim, daemon, view, server, offset)
    await w.tick()
    try:
        yield w
    finally:
        await server.stop()
        await daemon.stop()
        await sim.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def watched(shared: Watched) -> AsyncIterator[Watched]:
    shared.offset_ms[0] = 0
    await shared.tick()
    yield shared
    shared.offset_ms[0] = 0


@module_loop
async def test_healthz_fresh_then_stale(watched: Watched) -> None:
    status, body = await watched.healthz()
    assert status == 200, body
    assert body["ok"] is True and body["ready"] is True and body["problems"] == []
    streams = body["streams"]
    assert isinstance(streams, dict)
    assert set(streams) == {"binanceusdm:marks", "binanceusdm:main:user"}
    marks = streams["binanceusdm:marks"]
    assert marks["stale"] is False and marks["threshold_s"] == 15 and 0 <= marks["age_s"] < 5
    assert body["outbox_pending"] == 3 and body["trading_state"] == "REDUCING"
    symbols = body["symbols"]
    assert isinstance(symbols, dict) and "binanceusdm:BTC/USDT:USDT" in symbols

    watched.offset_ms[0] = 20_000  # 20 s of silence on the mark stream (threshold 15 s)
    status, body = await watched.healthz()
    assert status == 503
    assert body["ok"] is False
    assert "stream binanceusdm:marks stale" in body["problems"]  # type: ignore[operator]
    assert "stream binanceusdm:main:user stale" not in body["problems"]  # type: ignore[operator]

    watched.offset_ms[0] = 0
    await watched.tick()
    assert (await watched.healthz())[0] == 200


@module_loop
async def test_a_dead_stream_is_stale_whatever_the_clock(watched: Watched) -> None:
    fresh = watched.daemon.freshness["binanceusdm:main:user"]
    watched.daemon.freshness["binanceusdm:main:user"] = 0  # what an expired listen key does
    try:
        status, body = await watched.healthz()
        assert status == 503
        user = body["streams"]["binanceusdm:main:user"]  # type: ignore[index]
        assert user["age_s"] is None and user["stale"] is True
        metrics = await watched.metrics()
        assert metrics[("monitor_stream_age_seconds", (("stream", "binanceusdm:main:user"),))] == math.inf
        assert metrics[("monitor_stream_stale", (("stream", "binanceusdm:main:user"),))] == 1
    finally:
        watched.daemon.freshness["binanceusdm:main:user"] = fresh


async def test_not_ready_is_unhealthy(tmp_path: Path) -> None:
    daemon = Daemon(
        DaemonOptions(state_file=str(tmp_path / "s.sqlite3"), policy=PolicyConfig(), venues={}), []
    )
    try:
        report = HealthView(daemon).assess()
        assert not report.ok and not report.ready and report.problems == ("starting: streams not live yet",)
        assert report.outbox_pending is None and report.trading_state is None
    finally:
        daemon.conn.close()


@module_loop
async def test_metrics_read_the_daemon_at_scrape_time(watched: Watched) -> None:
    d = watched.daemon
    m = await watched.metrics()
    risk = d.engine.risks["main"]
    cross = next(p for p in risk.positions if p.margin_mode is MarginMode.CROSS)
    isolated = next(p for p in risk.positions if p.margin_mode is MarginMode.ISOLATED)

    def pos(metrics: Metrics, name: str, p: PositionRisk) -> float:
        labels = {
            "venue": "binanceusdm",
            "account": "main",
            "symbol": p.symbol,
            "position_side": p.position_side.value,
            "side": p.side.value,
            "margin_mode": p.margin_mode.value,
        }
        return metrics[(name, tuple(sorted(labels.items())))]

    assert pos(m, "monitor_position_margin_ratio", isolated) == pytest.approx(isolated.margin_ratio)
    assert pos(m, "monitor_position_distance_percent", cross) == pytest.approx(cross.distance_pct)
    assert pos(m, "monitor_position_liquidation_price", cross) == pytest.approx(cross.liquidation_price)
    acct = (("account", "main"), ("venue", "binanceusdm"))
    assert risk.cross is not None
    assert m[("monitor_account_margin_ratio", acct)] == pytest.approx(risk.cross.margin_ratio)
    assert m[("monitor_account_max_margin_ratio", acct)] == pytest.approx(
        max(risk.cross.margin_ratio, isolated.margin_ratio)
    )
    distances = [p.distance_pct for p in risk.positions if p.distance_pct is not None]
    assert m[("monitor_account_min_distance_percent", acct)] == pytest.approx(min(distances))
    assert m[("monitor_account_positions", acct)] == len(risk.positions)
    assert m[("monitor_events_total", (("type", "MarkPrices"),))] == d.stats.events["MarkPrices"] > 0
    assert m[("monitor_outbox_pending", ())] == 3
    assert m[("monitor_trading_state", (("state", "REDUCING"),))] == 1
    assert m[("monitor_orders_total", (("kind", "sent"),))] == 2
    assert m[("monitor_ready", ())] == 1 and m[("monitor_healthy", ())] == 1
    assert ("process_resident_memory_bytes", ()) in m
    for key, n in d.stats.alerts.items():
        kind, level = key.split(":")
        assert m[("monitor_alerts_total", (("kind", kind), ("level", level)))] == n

    # nothing but the event path changes: the next scrape sees the new mark and the rejected frame
    btc = watched.sim.market.mark("BTCUSDT")
    watched.sim.set_mark("BTCUSDT", btc * 0.9)
    await watched.sim.send_raw_market('{"e": "markPriceUpdate", "s": "BTCUSDT", "p": "not a number"}')
    await watched.tick()
    m2 = await watched.metrics()
    cross_after = next(p for p in d.engine.risks["main"].positions if p.symbol == cross.symbol)
    assert cross_after.mark_price == pytest.approx(cross.mark_price * 0.9, rel=1e-3)
    assert pos(m2, "monitor_position_mark_price", cross) == pytest.approx(cross_after.mark_price)
    assert pos(m2, "monitor_position_margin_ratio", cross) == pytest.approx(cross_after.margin_ratio)
    rejected = sum(v for (n, _), v in m2.items() if n == "monitor_frames_rejected_total")
    assert rejected == sum(d.stats.rejected.values()) >= 1

    watched.offset_ms[0] = 20_000
    m3 = await watched.metrics()
    assert m3[("monitor_healthy", ())] == 0
    assert m3[("monitor_stream_age_seconds", (("stream", "binanceusdm:marks"),))] >= 20


@module_loop
async def test_status_command(watched: Watched, capsys: pytest.CaptureFixture[str]) -> None:
    code = await asyncio.to_thread(cli.main, ["status", "--url", watched.server.url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "healthy" in out and "binanceusdm:main:user" in out and "outbox 3 pending" in out

    watched.offset_ms[0] = 20_000
    code = await asyncio.to_thread(cli.main, ["status", "--url", watched.server.url])
    out = capsys.readouterr().out
    assert code == 1
    assert "UNHEALTHY" in out and "stream binanceusdm:marks stale" in out

    code = await asyncio.to_thread(cli.main, ["status", "--url", watched.server.url, "--json"])
    assert code == 1 and '"ok": false' in capsys.readouterr().out


@module_loop
async def test_status_unreachable_or_not_a_monitor(
    watched: Watched, capsys: pytest.CaptureFixture[str]
) -> None:
    from .helpers import free_port

    code = await asyncio.to_thread(
        cli.main, ["status", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "1"]
    )
    assert code == 2 and "unreachable" in capsys.readouterr().err
    # a server that answers, but not with a monitor's health document
    code = await asyncio.to_thread(cli.main, ["status", "--url", watched.server.url + "/metrics"])
    assert code == 2


@module_loop
async def test_index_and_unknown_paths(watched: Watched) -> None:
    status, text = await watched.get("/")
    assert status == 200 and "/healthz" in text
    assert (await watched.get("/nothing"))[0] == 404


def test_listen_parsing_and_loopback() -> None:
    assert parse_listen("127.0.0.1:9108") == ("127.0.0.1", 9108)
    for bad in ("9108", "host:", ":9108", "host:99999"):
        with pytest.raises(ValueError):
            parse_listen(bad)
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.com")


@module_loop
async def test_a_port_in_use_is_an_oserror(watched: Watched) -> None:
    other = HealthServer(
        watched.view, make_registry(watched.view, process=False), f"127.0.0.1:{watched.server.port}"
    )
    with pytest.raises(OSError):
        await other.start()


@module_loop
async def test_every_documented_metric_is_exported(watched: Watched) -> None:
    doc = DOC.read_text()
    table = doc[doc.index("| metric |") :]
    documented = set(re.findall(r"`(monitor_[a-z_]+)`", table[: table.index("\n\n")]))
    assert len(documented) > 20
    status, text = await watched.get("/metrics")
    assert status == 200
    exported = {f.name for f in text_string_to_metric_families(text)}
    exported |= {f"{name}_total" for name in exported}
    assert documented <= exported, documented - exported


@module_loop
async def test_status_shows_positions_as_calc_does(
    watched: Watched, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "status" means the positions too: liquidation price, distance and ratio of each, from /metrics."""
    from monitor.commands.calc import fmt, pct, ratio_text

    code = await asyncio.to_thread(cli.main, ["status", "--url", watched.server.url])
    out = capsys.readouterr().out
    assert code == 0, out
    risks = watched.daemon.engine.risks["main"].positions
    assert risks
    for p in risks:
        rows = [line for line in out.splitlines() if p.symbol in line and p.side.value in line]
        assert rows, out
        row = rows[0]
        assert fmt(p.liquidation_price, 8) in row and pct(p.distance_pct) in row
        assert ratio_text(p.margin_ratio) in row


@module_loop
async def test_status_json_when_unreachable(watched: Watched, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from .helpers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    code = await asyncio.to_thread(cli.main, ["status", "--url", url, "--json", "--timeout", "1"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2
    assert doc["ok"] is False and doc["reachable"] is False and doc["url"] == url and doc["error"]


@module_loop
async def test_levels_over_http_and_in_status(watched: Watched, capsys: pytest.CaptureFixture[str]) -> None:
    """Each position's and each cross pool's current alert level: in /healthz, in /metrics, and in
    `monitor status` beside the position's numbers, human and --json. A position the market pushed to
    1.5 % from its liquidation price is CRITICAL; the calm ones, and the calm cross pool, are OK."""
    import json

    d = watched.daemon
    sol = next(p for p in d.engine.risks["main"].positions if p.symbol == "SOL/USDT:USDT")
    assert sol.margin_mode is MarginMode.ISOLATED and sol.liquidation_price is not None
    before = watched.sim.market.mark("SOLUSDT")
    watched.sim.set_mark("SOLUSDT", sol.liquidation_price * 1.015)
    try:
        await watched.tick()
        risk = d.engine.risks["main"]
        assert risk.cross is not None and risk.cross.margin_ratio < 0.4
        calm = [p for p in risk.positions if p.symbol != sol.symbol]
        assert calm and all(p.distance_pct is not None and p.distance_pct > 20 for p in calm)

        status, doc = await watched.healthz()
        assert status == 200
        accounts = doc["accounts"]
        assert isinstance(accounts, dict)
        main = accounts["main"]
        assert main["venue"] == "binanceusdm" and main["cross_level"] == "ok"
        levels = {(p["symbol"], p["position_side"]): p["level"] for p in main["positions"]}
        assert levels[(sol.symbol, "both")] == "critical"
        assert all(levels[(p.symbol, p.position_side.value)] == "ok" for p in calm)
        assert len(levels) == len(risk.positions)

        m = await watched.metrics()
        sol_labels = {
            "venue": "binanceusdm",
            "account": "main",
            "symbol": sol.symbol,
            "position_side": "both",
            "side": "long",
            "margin_mode": "isolated",
        }
        assert m[("monitor_position_alert_level", tuple(sorted(sol_labels.items())))] == 4
        acct = (("account", "main"), ("venue", "binanceusdm"))
        assert m[("monitor_account_alert_level", acct)] == 0

        code = await asyncio.to_thread(cli.main, ["status", "--url", watched.server.url])
        out = capsys.readouterr().out
        assert code == 0, out
        rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["main"]]
        assert rows[0][1:3] == ["(cross", "pool)"] and rows[0][-1] == "OK", out
        by_symbol = {row[1]: row for row in rows[1:]}
        assert by_symbol[sol.symbol][-1] == "CRITICAL", out
        assert all(by_symbol[p.symbol][-1] == "OK" for p in calm), out

        code = await asyncio.to_thread(cli.main, ["status", "--url", watched.server.url, "--json"])
        shown = json.loads(capsys.readouterr().out)
        assert code == 0 and shown["accounts"] == accounts
    finally:
        watched.sim.set_mark("SOLUSDT", before)
        await watched.tick()
