"""Delivery through the real PTB client against the fake Bot API: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.alerts import Level, Transition
from monitor.notify.render import RESENT_PREFIX, utf16_len
from monitor.notify.settings import ChatSettings, QuietHours

from .conftest import CHAT, CHAT2, GROUP, NotifierFactory, make_alert
from .fake_bot_api import FakeBotApi

# PTB itself reads its deprecated ``RetryAfter.retry_after`` while building the exception.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")


# How long the simulated Telegram outages last. The code path does not depend on the length; the
# suite keeps it short to stay fast (a ten-second outage behaves the same).
OUTAGE_S = 2.0


def texts(api: FakeBotApi, chat_id: int | None = None) -> list[str]:
    return [c.text for c in api.sent(chat_id)]


def count(api: FakeBotApi, marker: str) -> int:
    return sum(t.count(marker) for t in texts(api))


async def test_the_right_text_reaches_the_right_chat(api: FakeBotApi, make_notifier: NotifierFactory) -> None:
    n = make_notifier(chats=[ChatSettings(CHAT), ChatSettings(GROUP, min_level=Level.DANGER)])
    await n.start()
    n.enqueue([make_alert("risk:main:BTC", Level.WARN, message="warn-only-for-private")])
    n.enqueue([make_alert("risk:main:ETH", Level.CRITICAL, message="critical-for-both")])
    assert await n.wait_idle(5)
    private, group = texts(api, CHAT), texts(api, GROUP)
    assert len(private) == 2 and len(group) == 1
    assert any("warn-only-for-private" in t for t in private)
    assert "critical-for-both" in group[0] and "CRITICAL" in group[0]
    assert "liq 58,000.00 (4.92 % away)" in group[0]
    by_text = {c.text: c for c in api.sent(CHAT)}
    warn_call = next(c for t, c in by_text.items() if "warn-only" in t)
    crit_call = next(c for t, c in by_text.items() if "critical-for-both" in t)
    assert warn_call.silent and not crit_call.silent


async def test_one_evaluation_is_one_message_per_chat(
    api: FakeBotApi, make_notifier: NotifierFactory
) -> None:
    n = make_notifier()
    await n.start()
    n.enqueue([make_alert(f"risk:main:S{i}", Level.WARN, message=f"coalesced-{i}") for i in range(5)])
    assert await n.wait_idle(5)
    [text] = texts(api, CHAT)
    assert text.startswith("5 alerts")
    assert all(f"coalesced-{i}" in text for i in range(5))


async def test_a_long_message_is_split_in_order_with_buttons_on_the_last_part(
    api: FakeBotApi, make_notifier: NotifierFactory
) -> None:
    n = make_notifier()
    await n.start()
    alerts = [
        make_alert(f"risk:main:S{i}", Level.DANGER, message=f"part-{i:02d} " + "x" * 400) for i in range(20)
    ]
    n.enqueue(alerts)
    assert await n.wait_idle(5)
    calls = api.sent(CHAT)
    assert len(calls) >= 3
    assert all(utf16_len(c.text) <= 4096 for c in calls)
    joined = "\n\n".join(c.text for c in calls)
    positions = [joined.index(f"part-{i:02d} ") for i in range(20)]
    assert positions == sorted(positions) == [joined.index(f"part-{i:02d} ") for i in range(20)]
    assert all(not c.buttons for c in calls[:-1]) and calls[-1].buttons


async def test_critical_goes_first_then_newest_first(api: FakeBotApi, make_notifier: NotifierFactory) -> None:
    n = make_notifier()
    # queued before Telegram is reachable, e.g. at start-up after a crash
    n.enqueue([make_alert("risk:a", Level.WARN, message="warn-old")])
    n.enqueue([make_alert("risk:b", Level.WARN, message="warn-new")])
    n.enqueue([make_alert("risk:c", Level.DANGER, message="danger")])
    n.enqueue([make_alert("risk:d", Level.CRITICAL, message="critical")])
    await n.start()
    assert await n.wait_idle(5)
    order = [next(m for m in ("critical", "danger", "warn-new", "warn-old") if m in t) for t in texts(api)]
    assert order == ["critical", "danger", "warn-new", "warn-old"]


async def test_at_most_one_message_per_second_per_chat(
    api: FakeBotApi, make_notifier: NotifierFactory
) -> None:
    n = make_notifier(chats=[ChatSettings(CHAT), ChatSettings(CHAT2)], per_chat_interval_s=1.0)
    for i in range(3):
        n.enqueue([make_alert(f"risk:{i}", Level.WARN, message=f"paced-{i}")])
    started = time.monotonic()
    await n.start()
    assert await n.wait_idle(6)
    for chat in (CHAT, CHAT2):
        times = [c.at for c in api.sent(chat)]
        assert len(times) == 3
        assert all(b - a >= 0.95 for a, b in itertools.pairwise(times))
    # the two chats are paced independently: 3 messages each take about 2 s, not 5 s
    assert time.monotonic() - started < 4.0


async def test_a_429_delays_but_loses_nothing(api: FakeBotApi, make_notifier: NotifierFactory) -> None:
    n = make_notifier()
    await n.start()
    assert await n.wait_ready(5)
    api.rate_limit("sendMessage", times=1, retry_after=1)
    n.enqueue([make_alert("risk:a", message="after-429-a")])
    n.enqueue([make_alert("risk:b", message="after-429-b")])
    assert await n.wait_idle(6)
    limited = [c for c in api.calls_to("sendMessage", ok_only=False) if c.status == 429]
    assert len(limited) == 1
    assert count(api, "after-429-a") == 1 and count(api, "after-429-b") == 1
    first_ok = min(c.at for c in api.sent(CHAT))
    assert first_ok - limited[0].at >= 0.95  # retry_after honoured


async def test_bad_request_is_marked_failed_not_retried(
    api: FakeBotApi, make_notifier: NotifierFactory
) -> None:
    n = make_notifier()
    await n.start()
    assert await n.wait_ready(5)
    api.bad_request("sendMessage", times=1, description="Bad Request: chat not found")
    n.enqueue([make_alert("risk:a", message="refused-by-telegram")])
    assert await n.wait_idle(5)
    n.enqueue([make_alert("risk:b", message="next-one")])
    assert await n.wait_idle(5)
    attempts = [c for c in api.calls_to("sendMessage", ok_only=False) if "refused-by-telegram" in c.text]
    assert [c.status for c in attempts] == [400]
    assert count(api, "next-one") == 1
    assert n.outbox.counts()["parts.failed"] == 1


@pytest.mark.parametrize("mode", ["refuse", "502"])
async def test_an_outage_then_recovery_delivers_the_latest_of_each_subject_once(
    api: FakeBotApi, make_notifier: NotifierFactory, mode: str
) -> None:
    n = make_notifier()
    await n.start()
    n.enqueue([make_alert("risk:k1", Level.WARN, message="m-before")])
    assert await n.wait_idle(5)
    await api.outage(mode)
    outage_started = time.monotonic()
    n.enqueue([make_alert("risk:k1", Level.WARN, Transition.OPENED, message="m-open")])
    for i in range(3):
        await asyncio.sleep(OUTAGE_S / 6)
        n.enqueue([make_alert("risk:k1", Level.WARN, Transition.REPEATED, message=f"m-repeat-{i}")])
    n.enqueue([make_alert("risk:k2", Level.CRITICAL, message="m-critical")])
    await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_started)))
    assert count(api, "m-open") == 0  # nothing got through during the outage
    await api.recover()
    assert await n.wait_idle(5)
    for marker in ("m-before", "m-repeat-2", "m-critical"):
        assert count(api, marker) == 1, marker
    # what k1's latest message superseded is folded, never sent after it
    for marker in ("m-open", "m-repeat-0", "m-repeat-1"):
        assert count(api, marker) == 0, marker
    after = [t for t in texts(api) if "m-before" not in t]
    order = [next(m for m in ("m-critical", "m-repeat-2") if m in t) for t in after]
    assert order == ["m-critical", "m-repeat-2"]
    assert not any(t.startswith(RESENT_PREFIX) for t in texts(api))
    if mode == "502":
        failed = [c for c in api.calls_to("sendMessage", ok_only=False) if c.status == 502]
        assert 1 <= len(failed) < 40  # retried with backoff, not in a hot loop


async def test_a_restart_during_an_outage_delivers_once(
    api: FakeBotApi, make_notifier: NotifierFactory, db_path: Path
) -> None:
    first = make_notifier()
    await first.start()
    first.enqueue([make_alert("risk:a", message="r-0")])
    assert await first.wait_idle(5)
    await api.outage("refuse")
    first.enqueue([make_alert("risk:b", message="r-1")])
    first.enqueue([make_alert("risk:c", Level.CRITICAL, message="r-2")])
    await asyncio.sleep(0.3)
    await first.stop(flush_timeout_s=0.3)
    assert first.outbox.pending_count() == 2

    second = make_notifier(path=db_path)
    await second.start()
    second.enqueue([make_alert("risk:d", message="r-3")])
    await asyncio.sleep(OUTAGE_S / 2)
    await api.recover()
    assert await second.wait_idle(5)
    for marker in ("r-0", "r-1", "r-2", "r-3"):
        assert count(api, marker) == 1, marker


async def test_a_send_that_timed_out_after_delivery_is_resent_marked_as_possible_duplicate(
    api: FakeBotApi, make_notifier: NotifierFactory
) -> None:
    """The documented at-least-once case: Telegram got the message but the answer never came back."""
    n = make_notifier(request_timeout_s=0.4)
    await n.start()
    assert await n.wait_ready(5)
    api.slow("sendMessage", seconds=1.0, times=1)
    n.enqueue([make_alert("risk:a", Level.CRITICAL, message="slow-one")])
    assert await n.wait_idle(6)
    calls = [c for c in api.sent(CHAT) if "slow-one" in c.text]
    assert len(calls) == 2
    assert not calls[0].text.startswith(RESENT_PREFIX) and calls[1].text.startswith(RESENT_PREFIX)


async def test_quiet_hours_silence_danger_but_never_critical(
    api: FakeBotApi, make_notifier: NotifierFactory
) -> None:
    night = datetime(2025, 3, 1, 23, 30, tzinfo=UTC).timestamp()
    n = make_notifier(
        chats=[ChatSettings(CHAT, quiet_hours=QuietHours.parse("22:00-07:00"))], wall_clock=lambda: night
    )
    await n.start()
    n.enqueue([make_alert("risk:a", Level.DANGER, message="night-danger")])
    n.enqueue([make_alert("risk:b", Level.CRITICAL, message="night-critical")])
    n.enqueue([make_alert("risk:c", Level.WARN, message="night-warn")])
    assert await n.wait_idle(5)
    silent = {
        next(m for m in ("danger", "critical", "warn") if f"night-{m}" in c.text): c.silent
        for c in api.sent()
    }
    assert silent == {"danger": True, "critical": False, "warn": True}


async def test_danger_rings_outside_quiet_hours(api: FakeBotApi, make_notifier: NotifierFactory) -> None:
    noon = datetime(2025, 3, 1, 12, 0, tzinfo=UTC).timestamp()
    n = make_notifier(
        chats=[ChatSettings(CHAT, quiet_hours=QuietHours.parse("22:00-07:00"))], wall_clock=lambda: noon
    )
    await n.start()
    n.enqueue([make_alert("risk:a", Level.DANGER)])
    assert await n.wait_idle(5)
    assert not api.sent()[0].silent


async def test_stop_flushes_what_it_can_within_the_deadline(
    api: FakeBotApi, make_notifier: NotifierFactory
) -> None:
    n = make_notifier()
    await n.start()
    n.enqueue([make_alert("risk:a", message="flushed")])
    await n.stop(flush_timeout_s=3)
    assert count(api, "flushed") == 1

    m = make_notifier()
    await m.start()
    assert await m.wait_ready(5)
    await api.outage("refuse")
    m.enqueue([make_alert("risk:b", message="kept")])
    started = time.monotonic()
    await m.stop(flush_timeout_s=0.5)
    assert time.monotonic() - started < 1.5
    assert m.outbox.pending_count() == 1


async def test_critical_alerts_carry_ack_and_cross_ones_carry_de_risk_buttons(
    api: FakeBotApi, make_notifier: NotifierFactory
) -> None:
    n = make_notifier()
    await n.start()
    n.enqueue([make_alert("risk:main:BTC/USDT:USDT:both", Level.CRITICAL)])
    n.enqueue([make_alert("risk:main:ETH", Level.DANGER, symbol="ETH/USDT:USDT", margin_mode="isolated")])
    assert await n.wait_idle(5)
    crit, iso = api.sent(CHAT)
    labels = [label for label, _ in crit.buttons]
    assert labels == ["BTC/USDT −25 %", "BTC/USDT −50 %", "BTC/USDT Close", "✅ Ack"]
    assert [label for label, _ in iso.buttons] == ["ETH/USDT Add margin +50 %"]
    assert all(len(data.encode()) <= 64 for _, data in crit.buttons + iso.buttons)
