"""From the simulator's tick that crosses a level to the Bot API receiving ``sendMessage``.

The whole path, each part real: the simulated exchange publishes a mark frame on a WebSocket, ccxt.pro
receives it in the daemon, the engine and the policy turn it into an alert, the Telegram outbox stores
it, and python-telegram-bot posts it to the fake Bot API on 127.0.0.1 (the one the test suite uses).
Each round moves the isolated SOL position from calm to 3 % from its liquidation price (critical at
once) and back, 1.2 s apart so Telegram's 1 message/s per chat pacing, left on as in production, never
holds a message back. Target (issue): p99 under 250 ms.

Run: ``python benchmarks/bench_tick_to_telegram.py [--rounds 40]``. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.daemon.ports import DaemonControl, DaemonStatus
from monitor.daemon.service import Daemon, DaemonOptions
from monitor.daemon.store import open_db
from monitor.logs import configure
from monitor.model import Venue
from monitor.notify.ports import every_action
from monitor.notify.settings import ChatSettings, TelegramSettings
from monitor.notify.telegram import TelegramNotifier
from monitor.notify.wiring import UnwiredActions
from monitor.policy.settings import PolicyConfig
from monitor.sim.exchange import SimExchange
from monitor.venues.base import Endpoints, VenueAccount
from monitor.venues.binance.venue import BinanceVenue
from tests.notify.fake_bot_api import Call, FakeBotApi

TOKEN = "123456789:AAHbenchTokenNotARealOne_0123456789abc"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(rounds: int) -> None:
    configure("console", "error")
    api = FakeBotApi(TOKEN)
    await api.start()
    sim = SimExchange("small", clock=False)
    await sim.start()
    with tempfile.TemporaryDirectory() as tmp:
        accounts = tuple(VenueAccount(n, k.api_key, k.secret) for n, k in sim.accounts.items())
        options = DaemonOptions(
            state_file=str(Path(tmp) / "state.sqlite3"),
            policy=PolicyConfig(cross_positions_use_account_ratio=False),
            venues={Venue.BINANCE_USDM: accounts},
            endpoints={Venue.BINANCE_USDM: Endpoints(sim.http_url, sim.ws_url)},
            resync_seconds=3600,
        )
        daemon = Daemon(
            options,
            [],
            adapter_factory=lambda v, a, sink, ep: BinanceVenue(v, a, sink, endpoints=ep, close_wait_ms=0),
        )
        settings = TelegramSettings(token=TOKEN, chats=(ChatSettings(1001),), api_base_url=api.base_url)
        bot = TelegramNotifier(
            settings,
            open_db(options.state_file),
            status=DaemonStatus(daemon),
            control=DaemonControl(daemon),
            actions=UnwiredActions(),
            allowed_actions=every_action,  # buttons on the alert, as for an account in suggest mode
        )
        daemon.notifiers.append(bot)
        await bot.start()
        await daemon.start()
        bot.daemon_ready()
        await bot.wait_ready(10)
        await asyncio.wait_for(sim.wait_market_subscribers(), 10)
        sol = next(p for p in daemon.engine.risks["main"].positions if p.symbol == "SOL/USDT:USDT")
        lp = sol.liquidation_price
        assert lp is not None
        arrived = asyncio.Event()
        sent_at: list[float] = []

        def on_call(call: Call) -> None:
            if call.method == "sendMessage" and "SOL/USDT" in call.text:
                sent_at.append(call.at)
                arrived.set()

        # start from calm, and let the start-up messages (status, baseline alerts) go first: they
        # hold the chat's one-per-second slot
        sim.set_mark("SOLUSDT", lp * 1.40)
        await sim.publish_marks()
        await asyncio.sleep(1.0)
        await bot.wait_idle(10)
        await asyncio.sleep(1.2)
        api.on_call = on_call
        latencies: list[float] = []
        for i in range(rounds * 2):
            critical = i % 2 == 0
            sim.set_mark("SOLUSDT", lp * (1.03 if critical else 1.40))
            arrived.clear()
            start = time.monotonic()
            await sim.publish_marks()
            try:
                await asyncio.wait_for(arrived.wait(), 5)
                latencies.append((sent_at[-1] - start) * 1000)
            except TimeoutError:
                print(f"round {i}: no message within 5 s")
            await asyncio.sleep(1.2)
        api.on_call = None
        await daemon.stop()
        await bot.stop()
    await sim.stop()
    await api.stop()
    print(f"tick crossing a level -> sendMessage received, {len(latencies)} alerts (escalations and closes):")
    p50, p90, p99 = (pct(latencies, q) for q in (0.5, 0.9, 0.99))
    print(f"  p50 {p50:.1f} ms  p90 {p90:.1f} ms  p99 {p99:.1f} ms  max {max(latencies):.1f} ms")
    print("  (target p99 < 250 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    asyncio.run(main(parser.parse_args().rounds))
