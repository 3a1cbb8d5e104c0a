"""``monitor run`` as a real process against the simulator: start, health, SIGTERM, stale exit."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from monitor.sim.exchange import SimExchange

from .helpers import MONITOR, DaemonProcess, clean_env, free_port, key_env, write_config

pytestmark = pytest.mark.slow

ACCOUNTS = ["main"]


def _daemon(tmp_path: Path, sim: SimExchange, **config: object) -> DaemonProcess:
    port = free_port()
    cfg = write_config(
        tmp_path / "config.toml",
        sim,
        ACCOUNTS,
        health_port=port,
        state_file=tmp_path / "state" / "state.sqlite3",
        **config,  # type: ignore[arg-type]
    )
    return DaemonProcess(
        [MONITOR, "run", "--config", str(cfg)],
        clean_env(**key_env(sim, ACCOUNTS)),
        tmp_path,
        f"http://127.0.0.1:{port}",
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_stops_cleanly_within_ten_seconds(
    tmp_path: Path, make_sim: object, sig: signal.Signals
) -> None:
    sim: SimExchange = await make_sim("small", "calm", speed=5)  # type: ignore[operator]
    heartbeat = tmp_path / "run" / "heartbeat"
    daemon = _daemon(tmp_path, sim, heartbeat=heartbeat)
    await daemon.start()
    try:
        health = await daemon.wait_healthy()
        assert set(health["streams"]) == {"binanceusdm:marks", "binanceusdm:main:user"}
        async with aiohttp.ClientSession() as http, http.get(daemon.health_url + "/metrics") as resp:
            metrics = await resp.text()
        assert 'monitor_position_margin_ratio{account="main"' in metrics
        code, took = await daemon.signal_and_wait(sig)
    finally:
        await daemon.kill()
    out = daemon.output()
    assert code == 0, out[-3000:]
    assert took < 10.0
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    events = [r["event"] for r in records]
    assert "signal received; stopping" in events and events[-1] == "stopped"
    assert not [r for r in records if r.get("level") in ("error", "critical")]
    alerts = [r for r in records if r["event"] == "alert"]
    assert alerts and all(r["alert_level"] in ("ok", "info", "warn", "danger", "critical") for r in alerts)
    assert not heartbeat.exists(), "a heartbeat must not outlive the process that wrote it"

    state = tmp_path / "state" / "state.sqlite3"
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "schema_versions" in tables
        episodes = [t for t in tables if "episode" in t or "track" in t]
        assert episodes, tables
        assert sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in episodes) > 0
    finally:
        conn.close()


async def test_exits_non_zero_when_data_stays_stale(tmp_path: Path, make_sim: object) -> None:
    """The hard limit Docker relies on: no restart happens unless the process exits."""
    sim: SimExchange = await make_sim("small", "calm", speed=5)  # type: ignore[operator]
    heartbeat = tmp_path / "heartbeat"
    daemon = _daemon(tmp_path, sim, heartbeat=heartbeat, marks_seconds=1, stale_exit_seconds=2)
    await daemon.start()
    try:
        await daemon.wait_healthy()
        for _ in range(50):  # the first supervisor tick follows readiness closely, not atomically
            if heartbeat.exists():
                break
            await asyncio.sleep(0.05)
        assert heartbeat.exists()
        sim.faults.stall_marks(10_000)
        code = await daemon.wait_exit(within=15)
    finally:
        await daemon.kill()
    out = daemon.output()
    assert code == 1, out[-3000:]
    assert "data stale past the hard limit" in out
    assert not heartbeat.exists()


async def test_bad_config_exits_2_before_connecting(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[[accounts]]\nname = "main"\nvenue = "binanceusdm"\napi_key = "inline"\n')
    daemon = DaemonProcess([MONITOR, "run", "--config", str(cfg)], clean_env(), tmp_path, "")
    await daemon.start()
    assert await daemon.wait_exit(within=15) == 2
    assert "accounts[0]" in daemon.output()
