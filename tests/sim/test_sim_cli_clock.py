"""``monitor sim``: the scenario waits for its first client, so a monitor started after pasting the
printed config still sees the crash coming instead of arriving after it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re

import ccxt.pro

from monitor.sim.cli import run_sim
from monitor.venues.binance.urls import point_at


class Screen(io.StringIO):
    """What ``monitor sim`` prints, readable while it runs; ``until`` waits for a text to appear."""

    def __init__(self) -> None:
        super().__init__()
        self.wrote = asyncio.Event()

    def write(self, text: str) -> int:
        self.wrote.set()
        return super().write(text)

    async def until(self, text: str) -> None:
        while text not in self.getvalue():
            self.wrote.clear()
            await self.wrote.wait()


async def test_the_cascade_starts_when_a_client_subscribes_not_before() -> None:
    screen = Screen()
    # at x200 the cascade liquidates the cross account 26 sim seconds in: 0.13 s of real time
    task = asyncio.create_task(run_sim("demo", "cascade", speed=200, port=0, out=screen))
    client = None
    try:
        async with asyncio.timeout(10):
            await screen.until("export ")
        match = re.search(r"REST\s+(http://127\.0\.0\.1:\d+)", screen.getvalue())
        assert match is not None, screen.getvalue()
        http = match.group(1)
        await asyncio.sleep(1.0)  # 200 sim seconds of a running clock: long past the crash
        assert "LIQUIDATED" not in screen.getvalue(), screen.getvalue()

        client = ccxt.pro.binanceusdm({"options": {"fetchCurrencies": False}})
        client.timeout_on_exit = 0
        point_at(client, http, http.replace("http://", "ws://"))
        watching = asyncio.create_task(client.watch_mark_prices())
        async with asyncio.timeout(20):
            await screen.until("the scenario starts")
            await screen.until("LIQUIDATED cross")
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watching
    finally:
        if client is not None:
            await client.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
