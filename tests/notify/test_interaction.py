"""Commands and buttons through the real PTB client: who is answered, and the preview/confirm flow."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest

from monitor.actions.port import allowed_actions
from monitor.actions.settings import DeriskSettings
from monitor.alerts import Level, Transition
from monitor.notify.ports import ActionKind, FeedStatus, StatusSummary
from monitor.notify.settings import ChatSettings

from .conftest import CHAT, GROUP, STRANGER, NotifierFactory, Ports, make_alert
from .fake_bot_api import Call, FakeBotApi


async def polling(api: FakeBotApi, n: object) -> None:
    await api.wait_for(lambda: len(api.calls_to("getUpdates")) >= 1, timeout=5)


async def ask(api: FakeBotApi, chat: int, user: int, text: str) -> Call:
    before = len(api.sent(chat))
    api.push_command(chat, user, text)
    await api.wait_for(lambda: len(api.sent(chat)) > before)
    return api.sent(chat)[-1]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/status", "3 accounts, 4 positions, all feeds fresh"),
        ("/positions", "main BTC/USDT:USDT long cross 0.5 @ 61,000.00"),
        ("/risk main", "cross: ratio 83.00 %"),
        ("/risk nobody", "No account named 'nobody'."),
        ("/risk", "Usage: /risk ACCOUNT"),
        ("/levels", "CRITICAL: margin ratio ≥ 90 %"),
        ("/help", "/mute DURATION [SYMBOL]"),
        ("/mute soon", "bad duration"),
        ("/frobnicate", "Unknown command."),
    ],
)
async def test_commands_answer_allowed_users(
    api: FakeBotApi, make_notifier: NotifierFactory, command: str, expected: str
) -> None:
    n = make_notifier()
    await n.start()
    await polling(api, n)
    reply = await ask(api, CHAT, CHAT, command)
    assert expected in reply.text


async def test_control_commands_reach_the_control_port(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    n = make_notifier()
    await n.start()
    await polling(api, n)
    assert "muted BTC/USDT:USDT for 7200 s" in (await ask(api, CHAT, CHAT, "/mute 2h BTC/USDT:USDT")).text
    await ask(api, CHAT, CHAT, "/unmute")
    await ask(api, CHAT, CHAT, "/ack")
    assert "halted" in (await ask(api, CHAT, CHAT, "/halt")).text
    await ask(api, CHAT, CHAT, "/resume")
    assert ports.control.calls == [
        ("mute", 7200, "BTC/USDT:USDT", CHAT),
        ("unmute", CHAT),
        ("ack", None, CHAT),
        ("halt", CHAT),
        ("resume", CHAT),
    ]


async def test_strangers_get_nothing_and_are_logged(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    n = make_notifier(chats=[ChatSettings(CHAT), ChatSettings(GROUP)], users=frozenset({CHAT}))
    await n.start()
    await polling(api, n)
    api.push_command(CHAT, STRANGER, "/halt")  # an allowed chat, but not an allowed user
    api.push_command(999, 999, "/status")  # a chat nobody configured
    api.push_command(GROUP, STRANGER, "/positions")
    reply = await ask(api, CHAT, CHAT, "/status")  # handled after the three above
    assert [c.chat_id for c in api.sent()] == [CHAT]
    assert "updated" in reply.text
    assert ports.control.calls == []
    assert f"refused /halt from chat {CHAT} user {STRANGER}" in caplog.text
    assert "refused /status from chat 999 user 999" in caplog.text
    # a group needs explicit users: the allowed user is answered there
    assert "cross: ratio" in (await ask(api, GROUP, CHAT, "/risk main")).text


# --- buttons ----------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


async def alert_message(api: FakeBotApi, n: object, level: Level = Level.DANGER, **kw: object) -> Call:
    before = len(api.sent(CHAT))
    n.enqueue([make_alert(level=level, **kw)])  # type: ignore[attr-defined]
    await api.wait_for(lambda: len(api.sent(CHAT)) > before)
    assert await n.wait_idle(5)  # type: ignore[attr-defined]  # delivery recorded, button clocks started
    return api.sent(CHAT)[-1]


def button(call: Call, label_part: str) -> str:
    return next(data for label, data in call.buttons if label_part in label)


async def press(api: FakeBotApi, user: int, message: Call, data: str) -> dict[str, str]:
    before = len(api.answers)
    api.push_callback(CHAT, user, message.message_id, data)
    await api.wait_for(lambda: len(api.answers) > before)
    return api.answers[-1]


async def test_preview_then_confirm_executes_once(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    n = make_notifier()
    await n.start()
    await polling(api, n)
    alert = await alert_message(api, n)
    reduce = button(alert, "−25 %")
    await press(api, CHAT, alert, reduce)
    await api.wait_for(lambda: len(api.sent(CHAT)) == 2)
    preview = api.sent(CHAT)[-1]
    assert [r.action for r in ports.actions.previews] == [ActionKind.REDUCE]
    assert "margin ratio 83.00 % → 62.25 %" in preview.text and "contracts to sell: 0.125" in preview.text
    assert [label for label, _ in preview.buttons] == ["Confirm", "Cancel"]
    assert preview.json("reply_parameters")["message_id"] == alert.message_id

    assert "already used" in (await press(api, CHAT, alert, reduce))["text"]
    assert len(ports.actions.previews) == 1

    confirm = button(preview, "Confirm")
    await press(api, CHAT, preview, confirm)
    await api.wait_for(lambda: "dry-run" in api.messages[(CHAT, preview.message_id)]["text"])
    assert len(ports.actions.executed) == 1
    request, expected_size, user = ports.actions.executed[0]
    assert (request.symbol, request.fraction, request.amount, expected_size, user) == (
        "BTC/USDT:USDT",
        0.25,
        0.125,
        0.5,
        CHAT,
    )
    assert api.messages[(CHAT, preview.message_id)]["reply_markup"] is None  # keyboard removed
    assert "already used" in (await press(api, CHAT, preview, confirm))["text"]
    assert len(ports.actions.executed) == 1


async def test_confirm_is_refused_when_the_size_changed(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    n = make_notifier()
    await n.start()
    await polling(api, n)
    alert = await alert_message(api, n)
    await press(api, CHAT, alert, button(alert, "Close"))
    await api.wait_for(lambda: len(api.sent(CHAT)) == 2)
    preview = api.sent(CHAT)[-1]
    ports.actions.sizes[("main", "BTC/USDT:USDT", "both")] = 0.3  # a fill happened meanwhile
    await press(api, CHAT, preview, button(preview, "Confirm"))
    await api.wait_for(lambda: "refused" in api.messages[(CHAT, preview.message_id)]["text"])
    assert ports.actions.executed == [] and ports.actions.refused == ["BTC/USDT:USDT"]


async def test_expired_buttons_are_refused(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    clock = Clock()
    n = make_notifier(wall_clock=clock)
    await n.start()
    await polling(api, n)
    alert = await alert_message(api, n)
    clock.t += 121  # action buttons live two minutes
    answer = await press(api, CHAT, alert, button(alert, "−50 %"))
    assert "expired" in answer["text"]
    assert ports.actions.previews == []

    fresh = await alert_message(api, n, symbol="BTC/USDT:USDT")
    await press(api, CHAT, fresh, button(fresh, "−50 %"))
    await api.wait_for(
        lambda: len(ports.actions.previews) == 1 and "Confirm" in str(api.sent(CHAT)[-1].buttons)
    )
    preview = api.sent(CHAT)[-1]
    clock.t += 121
    assert "expired" in (await press(api, CHAT, preview, button(preview, "Confirm")))["text"]
    assert ports.actions.executed == []


async def test_a_preview_that_could_not_be_sent_leaves_the_button_usable(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    n = make_notifier()
    await n.start()
    await polling(api, n)
    alert = await alert_message(api, n)
    data = button(alert, "−25 %")
    api.bad_request("sendMessage", times=1)
    assert "Could not send the preview" in (await press(api, CHAT, alert, data))["text"]
    await press(api, CHAT, alert, data)
    await api.wait_for(lambda: "Confirm" in str(api.sent(CHAT)[-1].buttons))
    assert len(ports.actions.previews) == 2


async def test_a_failing_port_is_reported_not_swallowed(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("gateway down")

    ports.actions.preview = broken  # type: ignore[method-assign,assignment]
    ports.status.positions = lambda: 1 / 0  # type: ignore[method-assign,assignment,misc,return-value]
    n = make_notifier()
    await n.start()
    await polling(api, n)
    alert = await alert_message(api, n)
    assert "Failed inside the daemon" in (await press(api, CHAT, alert, button(alert, "−25 %")))["text"]
    assert "/positions failed inside the daemon" in (await ask(api, CHAT, CHAT, "/positions")).text
    assert "gateway down" in caplog.text and "ZeroDivisionError" in caplog.text


async def test_a_strangers_press_is_refused_and_leaves_the_button_usable(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    n = make_notifier()
    await n.start()
    await polling(api, n)
    alert = await alert_message(api, n)
    data = button(alert, "−25 %")
    assert (await press(api, STRANGER, alert, data))["text"] == "Not allowed."
    assert ports.actions.previews == []
    await press(api, CHAT, alert, data)
    await api.wait_for(lambda: len(ports.actions.previews) == 1)


async def test_cancel_ends_the_preview(api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports) -> None:
    n = make_notifier()
    await n.start()
    await polling(api, n)
    alert = await alert_message(api, n, symbol="ETH/USDT:USDT", margin_mode="isolated", key="risk:main:ETH")
    await press(api, CHAT, alert, button(alert, "Add margin"))
    await api.wait_for(lambda: len(api.sent(CHAT)) == 2)
    impossible = api.sent(CHAT)[-1]
    assert "Not possible: no such position" in impossible.text and impossible.buttons == []

    ports.actions.sizes[("main", "ETH/USDT:USDT", "both")] = 2.0
    alert = await alert_message(api, n, symbol="ETH/USDT:USDT", margin_mode="isolated", key="risk:main:ETH")
    await press(api, CHAT, alert, button(alert, "Add margin"))
    await api.wait_for(lambda: len(api.sent(CHAT)) == 4)
    preview = api.sent(CHAT)[-1]
    assert "margin to add: 50" in preview.text
    await press(api, CHAT, preview, button(preview, "Cancel"))
    await api.wait_for(lambda: "Cancelled." in api.messages[(CHAT, preview.message_id)]["text"])
    assert "already used" in (await press(api, CHAT, preview, button(preview, "Confirm")))["text"]
    assert ports.actions.executed == []


async def test_ack_button_reports_the_keys_and_disappears(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    n = make_notifier()
    await n.start()
    await polling(api, n)
    alert = await alert_message(api, n, level=Level.CRITICAL, key="risk:main:BTC/USDT:USDT:both")
    answer = await press(api, CHAT, alert, button(alert, "Ack"))
    assert answer["text"] == "acknowledged"
    assert ports.control.calls == [("ack", ["risk:main:BTC/USDT:USDT:both"], CHAT)]
    await api.wait_for(lambda: api.calls_to("editMessageReplyMarkup") != [])
    remaining = api.messages[(CHAT, alert.message_id)]["reply_markup"]["inline_keyboard"]
    texts = [b["text"] for row in remaining for b in row]  # not the random callback tokens
    assert "Ack" not in texts and any("Close" in t for t in texts)


async def test_buttons_follow_the_derisk_mode_of_each_account(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    modes = DeriskSettings(modes={"main": "suggest", "watch": "off"}, isolated_add_margin=False)
    n = make_notifier(allowed_actions=allowed_actions(modes))
    await n.start()
    await polling(api, n)
    suggested = await alert_message(api, n, level=Level.CRITICAL)
    assert [label for label, _ in suggested.buttons] == [
        "BTC/USDT −25 %",
        "BTC/USDT −50 %",
        "BTC/USDT Close",
        "✅ Ack",
    ]
    watched = await alert_message(api, n, level=Level.CRITICAL, account="watch", key="risk:watch:BTC")
    assert [label for label, _ in watched.buttons] == ["✅ Ack"]
    isolated = await alert_message(
        api, n, margin_mode="isolated", key="risk:main:ETH", symbol="ETH/USDT:USDT"
    )
    assert isolated.buttons == []  # no margin transfers: no Add margin button


async def test_a_press_the_accounts_mode_no_longer_allows_is_refused(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    before = make_notifier(allowed_actions=allowed_actions(DeriskSettings(modes={"main": "suggest"})))
    await before.start()
    await polling(api, before)
    alert = await alert_message(api, before)
    reduce, close = button(alert, "−25 %"), button(alert, "Close")
    await press(api, CHAT, alert, close)
    await api.wait_for(lambda: "Confirm" in str(api.sent(CHAT)[-1].buttons))
    preview = api.sent(CHAT)[-1]
    await before.stop()

    polls = len(api.calls_to("getUpdates"))
    after = make_notifier(allowed_actions=allowed_actions(DeriskSettings()))  # restarted with main off
    await after.start()
    await api.wait_for(lambda: len(api.calls_to("getUpdates")) > polls)
    assert "not allowed for account main" in (await press(api, CHAT, alert, reduce))["text"]
    assert (
        "not allowed for account main"
        in (await press(api, CHAT, preview, button(preview, "Confirm")))["text"]
    )
    assert len(ports.actions.previews) == 1 and ports.actions.executed == []


# --- pinned status ----------------------------------------------------------------------------------


async def test_status_message_is_pinned_once_then_edited(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    n = make_notifier(status_interval_s=0.2)
    await n.start()
    n.daemon_ready()
    await api.wait_for(lambda: len(api.calls_to("editMessageText")) >= 1)
    [pin] = api.calls_to("pinChatMessage")
    status_id = int(pin.params["message_id"])
    assert api.pinned[CHAT] == status_id
    assert "all feeds fresh" in api.messages[(CHAT, status_id)]["text"]
    assert api.sent()[0].silent

    ports.status.summary = StatusSummary(
        accounts=3, positions=4, feeds=(FeedStatus("binanceusdm:marks", 95, True),)
    )
    await api.wait_for(lambda: "STALE DATA" in api.messages[(CHAT, status_id)]["text"])
    await n.stop()

    again = make_notifier(status_interval_s=0.2)  # a restart keeps editing the same message
    edits = len(api.calls_to("editMessageText"))
    await again.start()
    again.daemon_ready()
    await api.wait_for(lambda: len(api.calls_to("editMessageText")) > edits)
    assert len(api.calls_to("pinChatMessage")) == 1
    assert int(api.calls_to("editMessageText")[-1].params["message_id"]) == status_id


def status_calls(api: FakeBotApi) -> list[Call]:
    """Status messages posted: the only silent messages without buttons that mention the accounts."""
    return [c for c in api.sent(CHAT) if "accounts," in c.text]


async def test_no_status_is_pinned_until_the_daemon_is_ready(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    n = make_notifier(status_interval_s=0.05)
    await n.start()
    await polling(api, n)
    assert "3 accounts" in (await ask(api, CHAT, CHAT, "/status")).text  # commands work meanwhile
    await alert_message(api, n)
    assert api.calls_to("pinChatMessage") == [] and api.pinned == {}

    n.daemon_ready()
    await api.wait_for(lambda: CHAT in api.pinned)
    assert "3 accounts, 4 positions" in api.messages[(CHAT, api.pinned[CHAT])]["text"]


async def test_a_restart_edits_the_pinned_status_and_pins_anew_only_when_it_is_gone(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    first = make_notifier(status_interval_s=3600)
    await first.start()
    first.daemon_ready()
    await api.wait_for(lambda: CHAT in api.pinned)
    status_id = api.pinned[CHAT]
    await first.stop()

    # an edit refused for another reason keeps the message: no second pin
    api.bad_request("editMessageText", description="Bad Request: can't parse entities")
    second = make_notifier(status_interval_s=3600)
    await second.start()
    second.daemon_ready()
    await api.wait_for(lambda: api.calls_to("editMessageText", ok_only=False) != [])
    await second.stop()
    assert len(status_calls(api)) == 1 and len(api.calls_to("pinChatMessage")) == 1

    ports.status.summary = dataclasses.replace(ports.status.summary, accounts=5)
    third = make_notifier(status_interval_s=3600)
    await third.start()
    third.daemon_ready()
    await api.wait_for(lambda: "5 accounts" in api.messages[(CHAT, status_id)]["text"])
    await third.stop()
    assert len(status_calls(api)) == 1 and api.pinned[CHAT] == status_id

    del api.messages[(CHAT, status_id)]  # deleted in the chat: "message to edit not found"
    fourth = make_notifier(status_interval_s=3600)
    await fourth.start()
    fourth.daemon_ready()
    await api.wait_for(lambda: api.pinned[CHAT] != status_id)
    assert len(status_calls(api)) == 2


async def test_the_status_follows_a_new_worst_level_without_waiting_for_the_timer(
    api: FakeBotApi, make_notifier: NotifierFactory, ports: Ports
) -> None:
    n = make_notifier(status_interval_s=3600, status_min_interval_s=0)
    await n.start()
    n.daemon_ready()
    await api.wait_for(lambda: CHAT in api.pinned)
    status_id = api.pinned[CHAT]
    assert "worst level warn" in api.messages[(CHAT, status_id)]["text"]

    ports.status.summary = dataclasses.replace(ports.status.summary, worst_level=Level.CRITICAL)
    n.enqueue([make_alert(level=Level.CRITICAL)])  # the policy's alert and its new state
    await api.wait_for(lambda: "worst level critical" in api.messages[(CHAT, status_id)]["text"])
    edits = len(api.calls_to("editMessageText"))
    n.enqueue([make_alert(level=Level.CRITICAL, transition=Transition.REPEATED)])  # same worst level
    await alert_message(api, n, level=Level.CRITICAL)
    assert len(api.calls_to("editMessageText")) == edits  # nothing new to show: no edit
