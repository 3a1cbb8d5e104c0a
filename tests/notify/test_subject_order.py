"""What reaches the phone is current: a subject's messages never arrive older than one already sent.

The outbox sends the most urgent first (critical, then danger, then the rest; newest first within a
lane) and retries what failed. Neither may put an older message about a subject after a newer one:
the chat's last word about it would be a stale level. What a newer message supersedes is folded.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from monitor.alerts import Level, Transition
from monitor.notify.render import RESENT_PREFIX

from .conftest import CHAT, NotifierFactory, make_alert
from .fake_bot_api import FakeBotApi

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")

ACCOUNT = "risk:main"  # the cross account's episode: one subject
OTHER = "risk:main:ETH/USDT:USDT:both"


def said(api: FakeBotApi, markers: Sequence[str]) -> list[str]:
    """The markers of one subject in the order Telegram received them (a resend counts again)."""
    out: list[str] = []
    for call in api.sent(CHAT):
        out += [m for m in markers if m in call.text]
    return out


def assert_never_older(api: FakeBotApi, markers: Sequence[str]) -> None:
    """``markers`` in the order their alerts were decided: Telegram got them in that order (gaps are
    folded messages), and the last one it got is the newest."""
    got = said(api, markers)
    rank = [markers.index(m) for m in got]
    assert rank == sorted(rank), f"an older message came after a newer one: {got}"
    assert got and got[-1] == markers[-1], got


async def test_a_burst_never_ends_a_subject_on_an_older_level(
    api: FakeBotApi, make_notifier: NotifierFactory
) -> None:
    n = make_notifier(per_chat_interval_s=0.5)
    await n.start()
    assert await n.wait_ready(5)
    n.enqueue([make_alert(ACCOUNT, Level.WARN, symbol=None, message="acct-warn-opened")])
    await api.wait_for(lambda: bool(said(api, ["acct-warn-opened"])))
    # one burst while the chat's slot is taken: the account escalates and resolves, another opens
    n.enqueue(
        [
            make_alert(
                ACCOUNT,
                Level.DANGER,
                Transition.ESCALATED,
                symbol=None,
                previous_level=Level.WARN,
                message="acct-danger",
            )
        ]
    )
    n.enqueue([make_alert(OTHER, Level.WARN, message="eth-warn")])
    n.enqueue(
        [
            make_alert(
                ACCOUNT,
                Level.OK,
                Transition.CLOSED,
                symbol=None,
                previous_level=Level.DANGER,
                message="acct-resolved",
            )
        ]
    )
    assert await n.wait_idle(10)
    assert_never_older(api, ["acct-warn-opened", "acct-danger", "acct-resolved"])
    assert said(api, ["eth-warn"]) == ["eth-warn"]  # another subject is not held back or dropped


async def test_a_message_resent_after_a_timeout_goes_before_a_newer_one_about_its_subject(
    api: FakeBotApi, make_notifier: NotifierFactory
) -> None:
    """The newer one is critical, the resent one only a warning: urgency does not reorder a subject."""
    n = make_notifier(request_timeout_s=0.4)
    await n.start()
    assert await n.wait_ready(5)
    api.slow("sendMessage", seconds=1.0, text_contains="acct-warn")
    n.enqueue([make_alert(ACCOUNT, Level.WARN, symbol=None, message="acct-warn")])
    await api.wait_for(lambda: bool(said(api, ["acct-warn"])))  # Telegram has it; its answer is late
    n.enqueue(
        [
            make_alert(
                ACCOUNT,
                Level.CRITICAL,
                Transition.ESCALATED,
                symbol=None,
                previous_level=Level.WARN,
                message="acct-critical",
            )
        ]
    )
    assert await n.wait_idle(10)
    assert said(api, ["acct-warn", "acct-critical"]) == ["acct-warn", "acct-warn", "acct-critical"]
    resent = [c for c in api.sent(CHAT) if "acct-warn" in c.text][1]
    assert resent.text.startswith(RESENT_PREFIX)


async def test_a_critical_behind_an_unfinished_message_of_its_subject_still_goes_before_other_news(
    api: FakeBotApi, make_notifier: NotifierFactory
) -> None:
    """The message a critical waits for is sent in the critical lane, not after every warning."""
    n = make_notifier(request_timeout_s=0.4)
    await n.start()
    assert await n.wait_ready(5)
    api.slow("sendMessage", seconds=1.0, text_contains="acct-warn")
    n.enqueue([make_alert(ACCOUNT, Level.WARN, symbol=None, message="acct-warn")])
    await api.wait_for(lambda: bool(said(api, ["acct-warn"])))
    n.enqueue([make_alert(OTHER, Level.WARN, message="eth-warn")])
    n.enqueue(
        [
            make_alert(
                ACCOUNT,
                Level.CRITICAL,
                Transition.ESCALATED,
                symbol=None,
                previous_level=Level.WARN,
                message="acct-critical",
            )
        ]
    )
    assert await n.wait_idle(10)
    assert said(api, ["acct-warn", "acct-critical", "eth-warn"]) == [
        "acct-warn",
        "acct-warn",
        "acct-critical",
        "eth-warn",
    ]
