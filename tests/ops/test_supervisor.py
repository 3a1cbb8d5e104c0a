"""Watchdog, heartbeat and stale exit: what the supervisor does with each health verdict, and the whole
``serve`` lifecycle seen from systemd's notification socket."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from monitor.daemon.config import Settings, parse_config
from monitor.daemon.health import Extras, HealthReport, Heartbeat
from monitor.daemon.runner import Supervisor, serve, stale_exit_seconds
from monitor.daemon.sdnotify import SdNotifier
from monitor.daemon.service import Daemon
from monitor.sim.exchange import SimExchange

from .conftest import NotifySocket
from .helpers import free_port


def report(ok: bool) -> HealthReport:
    return HealthReport(
        ok=ok,
        ready=True,
        stopping=False,
        now_ms=0,
        uptime_s=1.0,
        streams=(),
        symbols=(),
        open_episodes=0,
        problems=() if ok else ("stream x:marks stale",),
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def notify(path_socket: NotifySocket) -> Iterator[NotifySocket]:
    yield path_socket


def _kinds(datagrams: list[list[str]]) -> list[str]:
    return [line for d in datagrams for line in d if not line.startswith("STATUS=")]


def test_watchdog_only_while_fresh_at_half_the_timeout(notify: NotifySocket, tmp_path: Path) -> None:
    sd = SdNotifier({"NOTIFY_SOCKET": notify.env_name, "WATCHDOG_USEC": "10000000"})
    healthy = [True]
    clock = Clock()
    beat = Heartbeat(tmp_path / "hb")
    sup = Supervisor(lambda: report(healthy[0]), sd, heartbeat=beat, clock=clock)
    assert sup.period == pytest.approx(1.0)

    pings = []
    for _ in range(12):  # 12 s healthy: a ping at 0, 5 and 10 s
        assert sup.tick()
        pings.append(_kinds(notify.pending()).count("WATCHDOG=1"))
        clock.now += 1
    assert sum(pings) == 3 and pings[0] == pings[5] == pings[10] == 1
    assert beat.age() is not None

    healthy[0] = False
    beat.clear()
    for _ in range(30):  # 30 s stale: never a ping, never a heartbeat
        assert sup.tick()
        clock.now += 1
    assert "WATCHDOG=1" not in _kinds(notify.pending())
    assert beat.age() is None

    healthy[0] = True  # fresh again: ping and beat at once
    assert sup.tick()
    assert _kinds(notify.pending()) == ["WATCHDOG=1"]
    assert beat.age() is not None


def test_status_line_follows_health(notify: NotifySocket) -> None:
    sd = SdNotifier({"NOTIFY_SOCKET": notify.env_name})
    healthy = [True]
    sup = Supervisor(lambda: report(healthy[0]), sd, clock=Clock())
    sup.tick()
    sup.tick()  # unchanged: not sent again
    healthy[0] = False
    sup.tick()
    statuses = [line for d in notify.pending() for line in d]
    assert statuses[0].startswith("STATUS=watching")
    assert statuses[1] == "STATUS=UNHEALTHY: stream x:marks stale"
    assert len(statuses) == 2


def test_problems_outside_the_daemon_degrade_but_keep_the_watchdog(
    notify: NotifySocket, tmp_path: Path
) -> None:
    """A dead alert channel or an exchange's ban is reported, but no restart would mend it: the
    watchdog, the heartbeat and the stale-exit clock go on as if healthy."""
    sd = SdNotifier({"NOTIFY_SOCKET": notify.env_name, "WATCHDOG_USEC": "10000000"})
    problem = "alert channel telegram rejected: the Bot API rejected the bot token"
    degraded = dataclasses.replace(report(True), ok=False, problems=(problem,), external=(problem,))
    assert degraded.watching and not report(False).watching
    clock = Clock()
    beat = Heartbeat(tmp_path / "hb")
    sup = Supervisor(lambda: degraded, sd, heartbeat=beat, stale_exit_s=5, clock=clock)
    for _ in range(12):
        assert sup.tick()  # never exits
        clock.now += 1
    lines = [line for d in notify.pending() for line in d]
    assert lines.count("WATCHDOG=1") == 3 and beat.age() is not None
    assert [line for line in lines if line.startswith("STATUS=")] == [f"STATUS=DEGRADED: {problem}"]


def test_stale_exit_after_the_hard_limit_only() -> None:
    healthy = [True]
    clock = Clock()
    sup = Supervisor(lambda: report(healthy[0]), SdNotifier({}), stale_exit_s=30, clock=clock)
    healthy[0] = False
    for _ in range(30):
        assert sup.tick()
        clock.now += 1
    assert not sup.tick()  # 30 s unhealthy


def test_recovery_resets_the_stale_clock() -> None:
    healthy = [False]
    clock = Clock()
    sup = Supervisor(lambda: report(healthy[0]), SdNotifier({}), stale_exit_s=10, clock=clock)
    for step in range(40):
        healthy[0] = step % 10 == 9  # 9 s stale, 1 s fresh, repeatedly: never 10 s in a row
        assert sup.tick()
        clock.now += 1


def test_zero_means_never_exit() -> None:
    clock = Clock()
    sup = Supervisor(lambda: report(False), SdNotifier({}), stale_exit_s=0, clock=clock)
    for _ in range(100):
        assert sup.tick()
        clock.now += 60


def test_stale_exit_limit_from_config_or_environment() -> None:
    def settings(seconds: float) -> Settings:
        return parse_config(
            {"service": {"stale_exit_seconds": seconds}, "accounts": [{"name": "a", "venue": "binanceusdm"}]},
            {"MONITOR_A_API_KEY": "k" * 16, "MONITOR_A_API_SECRET": "s" * 16},
        )

    assert stale_exit_seconds(settings(0), {}) == 0
    assert stale_exit_seconds(settings(0), {"MONITOR_STALE_EXIT_SECONDS": "300"}) == 300
    assert stale_exit_seconds(settings(60), {"MONITOR_STALE_EXIT_SECONDS": "300"}) == 60  # the file wins
    assert stale_exit_seconds(settings(0), {"MONITOR_STALE_EXIT_SECONDS": "soon"}) == 0


def test_heartbeat_file(tmp_path: Path) -> None:
    beat = Heartbeat(tmp_path / "sub" / "heartbeat")
    assert beat.age() is None
    beat.beat()
    age = beat.age()
    assert age is not None and 0 <= age < 5
    old = time.time() - 600
    os.utime(beat.path, (old, old))
    beat.beat()
    age = beat.age()
    assert age is not None and age < 5
    beat.clear()
    assert beat.age() is None
    beat.clear()  # idempotent


class Gate:
    """A stand-in for the de-risking gateway: records what it saw of the daemon when started and
    stopped."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.started_ready: bool | None = None
        self.stopped_with_daemon_open: bool | None = None
        GATES.append(self)

    async def start(self) -> None:
        self.started_ready = self.daemon.ready.is_set()

    async def stop(self) -> None:
        try:
            self.daemon.conn.execute("SELECT 1")
            self.stopped_with_daemon_open = True
        except sqlite3.ProgrammingError:  # closed: the daemon stopped first
            self.stopped_with_daemon_open = False

    def extras(self) -> Extras:
        return Extras(trading_state=lambda: "HALTED")


GATES: list[Gate] = []
END = "END-OF-TEST"


async def test_serve_speaks_sd_notify_through_a_whole_run(
    notify: NotifySocket, sim: SimExchange, tmp_path: Path
) -> None:
    """READY=1 only once the streams are live; WATCHDOG=1 while marks flow, withheld while they
    stall, back when they resume; STOPPING=1 at the end; exit 0. A component (the de-risker's place)
    starts after the streams and stops before the daemon; its extras reach /healthz."""
    keys = sim.accounts["main"]
    port = free_port()
    settings = parse_config(
        {
            "service": {"state_file": str(tmp_path / "state.sqlite3")},
            "accounts": [{"name": "main", "venue": "binanceusdm"}],
            "endpoints": {"binanceusdm": {"rest_url": sim.http_url, "ws_url": sim.ws_url}},
            "policy": {"staleness": {"marks_seconds": 1, "symbol_mark_seconds": 1}},
            "health": {"listen": f"127.0.0.1:{port}"},
        },
        {"MONITOR_MAIN_API_KEY": keys.api_key, "MONITOR_MAIN_API_SECRET": keys.secret},
    )
    env = {"NOTIFY_SOCKET": notify.env_name, "WATCHDOG_USEC": "400000", "WATCHDOG_PID": str(os.getpid())}
    stop = asyncio.Event()
    feeding = asyncio.Event()

    async def feed() -> None:
        while True:
            await feeding.wait()
            await sim.publish_marks()
            await asyncio.sleep(0.1)

    datagrams: list[tuple[float, list[str]]] = []

    async def listen() -> None:
        loop = asyncio.get_running_loop()
        notify.sock.setblocking(False)
        while True:
            data = await loop.sock_recv(notify.sock, 4096)
            datagrams.append((time.monotonic(), data.decode().split("\n")))

    def seen(line: str, since: float = 0.0) -> int:
        return sum(line in d for t, d in datagrams if t >= since)

    async def until(condition: Callable[[], bool], what: str, running: bool = True) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not condition():
            assert not (running and runner.done()), f"serve ended while waiting for {what}: {runner}"
            assert loop.time() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)

    feeder = asyncio.create_task(feed())
    listener = asyncio.create_task(listen())
    GATES.clear()
    runner = asyncio.create_task(serve(settings, stop, components=[Gate], environ=env))
    try:
        async with asyncio.timeout(20):
            while not seen("READY=1"):
                assert not runner.done(), runner
                await asyncio.sleep(0.02)
        assert seen("WATCHDOG=1") == 0, "no watchdog ping before READY"
        assert GATES and GATES[0].started_ready is True
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert (await resp.json())["trading_state"] == "HALTED"
        ready_at = time.monotonic()
        feeding.set()
        await until(lambda: seen("WATCHDOG=1", ready_at) >= 2, "two watchdog pings while marks flow")

        feeding.clear()  # the feed goes silent: pings stop once the 1 s threshold passes
        stalled = len(datagrams)

        def unhealthy_since_stall() -> int | None:
            return next(
                (
                    i
                    for i in range(stalled, len(datagrams))
                    if any(line.startswith("STATUS=UNHEALTHY") for line in datagrams[i][1])
                ),
                None,
            )

        await until(lambda: unhealthy_since_stall() is not None, "the status line to say UNHEALTHY")
        unhealthy = unhealthy_since_stall()
        assert unhealthy is not None
        quiet_from = datagrams[unhealthy][0]
        # no ping for the whole stall: kept silent past two watchdog intervals (0.4 s each)
        await asyncio.sleep(max(0.0, quiet_from + 1.0 - time.monotonic()))
        resumed = time.monotonic()
        feeding.set()
        await until(lambda: seen("WATCHDOG=1", resumed) >= 1, "a watchdog ping once marks resume")
        first_ping_after_stall = next(t for t, d in datagrams[unhealthy:] if "WATCHDOG=1" in d)
        assert first_ping_after_stall >= resumed, "a watchdog ping while the marks were stale"

        stop.set()
        code = await asyncio.wait_for(runner, 10)
        # a datagram of our own after everything the run sent: once it is read, so is all the rest
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as end:
            end.sendto(END.encode(), notify.sock.getsockname())
        await until(lambda: seen(END) > 0, "the listener to read every datagram", running=False)
        assert datagrams.pop()[1] == [END]
    finally:
        stop.set()
        for task in (feeder, listener, runner):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    assert code == 0
    assert datagrams[-1][1][0] == "STOPPING=1"
    lines = [line for _, d in datagrams for line in d]
    assert lines.index("READY=1") < lines.index("STOPPING=1")
    assert lines.count("READY=1") == 1
    assert GATES[0].stopped_with_daemon_open is True, "actions must stop before the daemon"


def _settings(state_file: Path, rest_port: int) -> Settings:
    return parse_config(
        {
            "service": {"state_file": str(state_file)},
            "accounts": [{"name": "main", "venue": "binanceusdm"}],
            "endpoints": {
                "binanceusdm": {
                    "rest_url": f"http://127.0.0.1:{rest_port}",
                    "ws_url": f"ws://127.0.0.1:{rest_port}",
                }
            },
            "health": {"enabled": False},
        },
        {"MONITOR_MAIN_API_KEY": "k" * 16, "MONITOR_MAIN_API_SECRET": "s" * 16},
    )


async def test_unreachable_exchange_fails_start_up_with_exit_1(notify: NotifySocket, tmp_path: Path) -> None:
    env = {"NOTIFY_SOCKET": notify.env_name}
    code = await asyncio.wait_for(
        serve(_settings(tmp_path / "s.sqlite3", free_port()), asyncio.Event(), environ=env), 30
    )
    assert code == 1
    lines = [line for d in notify.pending() for line in d]
    assert "READY=1" not in lines and "STOPPING=1" in lines


async def test_unusable_state_file_exits_1(tmp_path: Path) -> None:
    # a path the configuration cannot judge (a directory where the file should be; a file in the way
    # of its directory is refused when the configuration is read, exit 2)
    occupied = tmp_path / "state.sqlite3"
    occupied.mkdir()
    code = await serve(_settings(occupied, free_port()), asyncio.Event(), environ={})
    assert code == 1
