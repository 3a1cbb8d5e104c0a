"""Whether alerts get through, as the notifier reports it to health: the real PTB client against the
fake Bot API refusing the token, answering 404 from a wrong base URL, or not answering at all."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from monitor.alerts import Level
from monitor.notify.channel import ChannelState, assess_channel
from monitor.notify.telegram import TelegramNotifier

from .conftest import CHAT, TOKEN, NotifierFactory, make_alert
from .fake_bot_api import FakeBotApi

OTHER_TOKEN = "987654321:AAHsomeOtherBotsTokenNotThisOne_0123"


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def state(n: TelegramNotifier) -> ChannelState:
    return n.channel_health().state


async def test_a_rejected_token_is_unhealthy_at_once_and_said_so(
    api: FakeBotApi, make_notifier: NotifierFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    n = make_notifier(token=OTHER_TOKEN)
    await n.start()
    await until(lambda: state(n) is ChannelState.REJECTED)  # nothing queued yet: at once all the same
    assert "rejected the bot token (HTTP 401" in n.channel_health().detail
    assert "rejected the bot token" in caplog.text and "api_base_url" not in caplog.text
    assert OTHER_TOKEN not in caplog.text and OTHER_TOKEN.split(":")[1] not in n.channel_health().detail


async def test_a_404_from_a_wrong_base_url_is_not_called_a_bad_token(
    api: FakeBotApi, make_notifier: NotifierFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    n = make_notifier(api_base_url=api.base_url + "/telegram")  # a path the server does not serve
    await n.start()
    await until(lambda: state(n) is ChannelState.REJECTED)
    detail = n.channel_health().detail
    assert f"no Bot API at {api.base_url}/telegram" in detail and "HTTP 404" in detail
    assert "api_base_url" in caplog.text and "rejected the bot token" not in caplog.text
    assert TOKEN not in caplog.text


async def test_undelivered_alerts_degrade_the_channel_after_the_delay_until_delivered(
    api: FakeBotApi, make_notifier: NotifierFactory
) -> None:
    await api.outage("refuse")
    n = make_notifier(degraded_after_s=0.3)
    await n.start()
    assert state(n) is ChannelState.OK  # unreachable, but nothing waits to be said
    n.enqueue([make_alert(level=Level.CRITICAL, message="stuck")])
    health = n.channel_health()
    assert health.state is ChannelState.OK and health.pending == 1  # not at once: an outage may be short
    await until(lambda: state(n) is ChannelState.DEGRADED)
    assert "1 message(s) waiting" in n.channel_health().detail
    assert "last error" in n.channel_health().detail
    await api.recover()
    await api.wait_for(lambda: any("stuck" in c.text for c in api.sent(CHAT)), timeout=10)
    await until(lambda: state(n) is ChannelState.OK)


def test_the_channel_verdict() -> None:
    def verdict(**kw: object) -> ChannelState:
        args: dict[str, object] = {"pending": 0, "rejected": None, "waiting_s": None, "degraded_after_s": 60}
        args.update(kw)
        return assess_channel("t", **args).state  # type: ignore[arg-type]

    assert verdict() is ChannelState.OK
    assert verdict(rejected="bad token") is ChannelState.REJECTED
    assert verdict(pending=3, waiting_s=59.9) is ChannelState.OK
    assert verdict(pending=3, waiting_s=60) is ChannelState.DEGRADED
    assert verdict(pending=0, waiting_s=600) is ChannelState.OK
