"""Alert-to-Telegram latency: from ``TelegramNotifier.enqueue`` of a crossing alert to the Bot API
receiving ``sendMessage``.

The real python-telegram-bot client talks HTTP to the fake Bot API from the test suite on 127.0.0.1,
through the SQLite outbox (WAL, a file in a temporary directory). Two runs:

- *sequential*: one alert at a time, each waited for; the per-chat pacing is switched off so the
  figure is the pipeline's own cost (outbox write, render, buttons, HTTP), not Telegram's 1 msg/s rule;
- *burst*: a few evaluations enqueued at once, each a message to every one of N chats, paced as in
  production (1 msg/s per chat, 30 msg/s overall), to show how a backlog drains.

Run: ``python benchmarks/bench_telegram.py [--alerts 300]``. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.daemon.store import open_db
from monitor.notify.ports import every_action
from monitor.notify.settings import ChatSettings, DeliveryTuning, TelegramSettings
from monitor.notify.telegram import TelegramNotifier
from tests.notify.conftest import FakeActions, FakeControl, FakeStatus
from tests.notify.fake_bot_api import Call, FakeBotApi

TOKEN = "123456789:AAHbenchTokenNotARealOne_0123456789abc"


def crossing_alert(i: int, level: Level = Level.DANGER) -> Alert:
    return Alert(
        key=f"risk:main:SYM{i}/USDT:USDT:both",
        kind=AlertKind.RISK,
        level=level,
        transition=Transition.ESCALATED,
        previous_level=Level.WARN,
        venue="binanceusdm",
        account="main",
        message=f"marker-{i}",
        ts_ms=int(time.time() * 1000),
        symbol=f"SYM{i}/USDT:USDT",
        position_side="both",
        margin_mode="cross",
        facts={
            "side": "long",
            "contracts": 0.5,
            "mark_price": 61000.0,
            "liquidation_price": 58000.0,
            "distance_pct": 4.9,
            "margin_ratio": 0.81,
        },
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, ms: list[float]) -> None:
    print(
        f"{name:<11} n={len(ms):<4} p50={pct(ms, 0.5):7.2f} ms  p90={pct(ms, 0.9):7.2f} ms  "
        f"p99={pct(ms, 0.99):7.2f} ms  max={max(ms):7.2f} ms  mean={statistics.fmean(ms):7.2f} ms"
    )


def notifier(
    api: FakeBotApi, db: Path, chats: list[int], interval: float, global_interval: float = 0.0
) -> TelegramNotifier:
    tuning = dataclasses.replace(
        DeliveryTuning(), per_chat_interval_s=interval, global_interval_s=global_interval, status_interval_s=0
    )
    settings = TelegramSettings(
        token=TOKEN, chats=tuple(ChatSettings(c) for c in chats), api_base_url=api.base_url, tuning=tuning
    )
    return TelegramNotifier(
        settings,
        open_db(db),
        status=FakeStatus(),
        control=FakeControl(),
        actions=FakeActions(),
        allowed_actions=every_action,  # the buttons are part of the measured cost
    )


async def sequential(api: FakeBotApi, db: Path, n_alerts: int) -> list[float]:
    n = notifier(api, db, [1001], interval=0.0)
    await n.start()
    await n.wait_ready(10)
    received: dict[str, float] = {}
    arrived = asyncio.Event()

    def on_call(call: Call) -> None:
        if call.method == "sendMessage":
            received[call.text.split("marker-")[1].split()[0]] = call.at
            arrived.set()

    api.on_call = on_call
    latencies: list[float] = []
    for i in range(n_alerts + 20):  # the first 20 warm up connections and caches
        key = str(i)
        arrived.clear()
        started = time.monotonic()
        n.enqueue([crossing_alert(i)])
        await asyncio.wait_for(arrived.wait(), timeout=10)
        if i >= 20:
            latencies.append((received[key] - started) * 1000)
        await n.wait_idle(5)
    api.on_call = None
    await n.stop()
    return latencies


async def burst(api: FakeBotApi, db: Path, n_chats: int, evaluations: int) -> tuple[list[float], float]:
    """``evaluations`` enqueue calls at once, each one message to every chat, paced as in production."""
    n = notifier(api, db, [2000 + i for i in range(n_chats)], interval=1.0, global_interval=1 / 30)
    await n.start()
    await n.wait_ready(10)
    before = len(api.calls)
    started = time.monotonic()
    for i in range(evaluations):
        n.enqueue([crossing_alert(100_000 + i, Level.CRITICAL)])
    enqueue_s = time.monotonic() - started
    await n.wait_idle(120)
    sends = [c for c in api.calls[before:] if c.method == "sendMessage"]
    latencies = [(c.at - started) * 1000 for c in sends]
    await n.stop()
    print(
        f"burst: {evaluations} enqueue() calls x {n_chats} chats took {enqueue_s * 1000:.1f} ms to persist; "
        f"{len(sends)} messages"
    )
    return latencies, (max(c.at for c in sends) - started) if sends else 0.0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--chats", type=int, default=20, help="chats in the burst run")
    parser.add_argument("--evaluations", type=int, default=3, help="enqueue calls in the burst run")
    args = parser.parse_args()
    api = FakeBotApi(TOKEN)
    await api.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            seq = await sequential(api, Path(tmp) / "seq.sqlite3", args.alerts)
            report("sequential", seq)
            lat, drain = await burst(api, Path(tmp) / "burst.sqlite3", args.chats, args.evaluations)
            report("burst", lat)
            print(f"burst drained in {drain * 1000:.0f} ms ({len(lat) / drain if drain else 0:.0f} msg/s)")
    finally:
        await api.stop()


if __name__ == "__main__":
    asyncio.run(main())
