"""A dead alert channel makes the daemon unhealthy: ``/healthz`` over HTTP, ``monitor status`` and the
systemd status line, for a whole ``serve`` run against the simulator whose Telegram notifier (the real
python-telegram-bot client) talks to a fake Bot API that rejects its token. The watchdog is not
withheld: a restart cannot mend a rejected token, and would stop the watching that still works."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
from pathlib import Path

import aiohttp
import pytest

from monitor.commands import cli
from monitor.daemon.config import parse_config
from monitor.daemon.runner import serve
from monitor.daemon.store import open_db
from monitor.notify.settings import ChatSettings, TelegramSettings
from monitor.notify.telegram import TelegramNotifier
from monitor.notify.wiring import UnwiredActions, UnwiredControl, UnwiredStatus
from monitor.sim.exchange import SimExchange
from tests.notify.conftest import FAST
from tests.notify.fake_bot_api import FakeBotApi

from .conftest import NotifySocket
from .helpers import free_port

API_TOKEN = "123456789:AAHtheTokenTheBotApiKnows_0123456789ab"
OUR_TOKEN = "123456789:AAHaRevokedTokenOfThisBot_0123456789ab"


async def test_a_rejected_bot_token_makes_health_and_status_unhealthy_but_keeps_the_watchdog(
    path_socket: NotifySocket, sim: SimExchange, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeBotApi(API_TOKEN)
    await api.start()
    keys = sim.accounts["main"]
    port = free_port()
    state_file = tmp_path / "state.sqlite3"
    settings = parse_config(
        {
            "service": {"state_file": str(state_file)},
            "accounts": [{"name": "main", "venue": "binanceusdm"}],
            "endpoints": {"binanceusdm": {"rest_url": sim.http_url, "ws_url": sim.ws_url}},
            "policy": {"staleness": {"marks_seconds": 120, "symbol_mark_seconds": 120}},
            "health": {"listen": f"127.0.0.1:{port}"},
        },
        {"MONITOR_MAIN_API_KEY": keys.api_key, "MONITOR_MAIN_API_SECRET": keys.secret},
    )
    telegram = TelegramNotifier(
        TelegramSettings(
            token=OUR_TOKEN,
            chats=(ChatSettings(1001),),
            api_base_url=api.base_url,
            tuning=dataclasses.replace(FAST, degraded_after_s=3600),
        ),
        open_db(state_file),
        status=UnwiredStatus(),
        control=UnwiredControl(),
        actions=UnwiredActions(),
    )
    env = {"NOTIFY_SOCKET": path_socket.env_name, "WATCHDOG_USEC": "400000"}
    datagrams: list[list[str]] = []

    async def listen() -> None:
        loop = asyncio.get_running_loop()
        path_socket.sock.setblocking(False)
        while True:
            datagrams.append((await loop.sock_recv(path_socket.sock, 4096)).decode().split("\n"))

    def unhealthy_status() -> int | None:
        for i, d in enumerate(datagrams):
            if any(line.startswith("STATUS=DEGRADED") and "alert channel telegram" in line for line in d):
                return i
        return None

    stop = asyncio.Event()
    listener = asyncio.create_task(listen())
    runner = asyncio.create_task(serve(settings, stop, [telegram], environ=env))
    try:
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as http:
            while True:
                assert time.monotonic() < deadline, "never unhealthy"
                assert not runner.done(), runner
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        body = await resp.json()
                        if resp.status == 503 and body["ready"]:
                            break
                await asyncio.sleep(0.05)
        assert body["channels"]["telegram"]["state"] == "rejected"
        assert not any("stale" in p for p in body["problems"]), body["problems"]  # the data is fresh
        [problem] = body["problems"]
        assert problem.startswith("alert channel telegram rejected: the Bot API rejected the bot token")

        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            metrics = await resp.text()
        assert 'monitor_alert_channel_up{channel="telegram"} 0.0' in metrics
        assert "monitor_healthy 0.0" in metrics

        code = await asyncio.to_thread(cli.main, ["status", "--url", f"http://127.0.0.1:{port}"])
        out = capsys.readouterr().out
        assert code == 1 and "UNHEALTHY" in out and "alert channel telegram" in out

        # the supervisor ticks several times per watchdog interval: a ping follows the status line
        while (since := unhealthy_status()) is None or not any("WATCHDOG=1" in d for d in datagrams[since:]):
            assert time.monotonic() < deadline, datagrams
            await asyncio.sleep(0.05)
        stop.set()
        assert await asyncio.wait_for(runner, 15) == 0
        # a datagram of our own after everything the run sent: once it is read, so is all the rest
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as end:
            end.sendto(b"END-OF-TEST", path_socket.sock.getsockname())
        while datagrams[-1:] != [["END-OF-TEST"]]:
            assert time.monotonic() < deadline, datagrams
            await asyncio.sleep(0.01)
        datagrams.pop()
    finally:
        stop.set()
        for task in (listener, runner):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await api.stop()
    since = unhealthy_status()
    assert since is not None
    assert not any(line.startswith("STATUS=UNHEALTHY") for d in datagrams for line in d), datagrams
    assert [d for d in datagrams[since:] if "WATCHDOG=1" in d], "the watchdog goes on"
