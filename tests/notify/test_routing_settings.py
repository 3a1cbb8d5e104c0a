"""Pure delivery rules (routing, lanes, sound, buttons, durations) and the settings they read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from monitor.actions.port import allowed_actions
from monitor.actions.settings import DeriskSettings
from monitor.alerts import AlertKind, Level, Transition
from monitor.notify.ports import ActionKind, every_action, no_actions
from monitor.notify.routing import (
    LANE_CRITICAL,
    LANE_DANGER,
    LANE_NORMAL,
    ack_keys,
    chat_accepts,
    is_silent,
    lane_for,
    offers_for,
    parse_duration,
)
from monitor.notify.settings import ChatSettings, QuietHours, SettingsError, TelegramSettings

from .conftest import TOKEN, make_alert

NIGHT = datetime(2025, 1, 1, 23, 30, tzinfo=UTC)
DAY = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_a_chat_gets_alerts_at_or_above_its_level_and_the_close_of_what_it_saw() -> None:
    chat = ChatSettings(1, min_level=Level.DANGER)
    assert not chat_accepts(chat, make_alert(level=Level.WARN))
    assert chat_accepts(chat, make_alert(level=Level.DANGER))
    closed_from_danger = make_alert(level=Level.OK, transition=Transition.CLOSED, previous_level=Level.DANGER)
    closed_from_warn = make_alert(level=Level.OK, transition=Transition.CLOSED, previous_level=Level.WARN)
    assert chat_accepts(chat, closed_from_danger)
    assert not chat_accepts(chat, closed_from_warn)


def test_lanes() -> None:
    assert lane_for(Level.CRITICAL) == LANE_CRITICAL
    assert lane_for(Level.DANGER) == LANE_DANGER
    assert lane_for(Level.WARN) == lane_for(Level.INFO) == LANE_NORMAL


def test_quiet_hours_wrap_midnight() -> None:
    q = QuietHours.parse("22:00-07:00")
    assert q.contains(NIGHT) and q.contains(datetime(2025, 1, 1, 6, 59, tzinfo=UTC))
    assert not q.contains(datetime(2025, 1, 1, 7, 0, tzinfo=UTC)) and not q.contains(DAY)
    day_window = QuietHours.parse("09:00-17:30")
    assert day_window.contains(DAY) and not day_window.contains(NIGHT)
    assert str(q) == "22:00-07:00"
    with pytest.raises(SettingsError):
        QuietHours.parse("late")


def test_quiet_hours_never_mute_critical() -> None:
    chat = ChatSettings(1, quiet_hours=QuietHours(time(22), time(7)))
    assert is_silent(Level.INFO, chat, DAY) and is_silent(Level.WARN, chat, DAY)
    assert not is_silent(Level.DANGER, chat, DAY)
    assert is_silent(Level.DANGER, chat, NIGHT)
    assert not is_silent(Level.CRITICAL, chat, NIGHT)
    assert not is_silent(Level.DANGER, ChatSettings(1), NIGHT)


def test_cross_positions_offer_reduce_and_close_isolated_offer_add_margin() -> None:
    cross = offers_for([make_alert(level=Level.DANGER, margin_mode="cross")], allowed=every_action)
    assert [(o.action, o.fraction) for o in cross] == [
        (ActionKind.REDUCE, 0.25),
        (ActionKind.REDUCE, 0.5),
        (ActionKind.CLOSE, 1.0),
    ]
    assert all(o.size_seen == 0.5 and o.symbol == "BTC/USDT:USDT" for o in cross)
    iso = offers_for(
        [make_alert(key="risk:main:ETH", symbol="ETH/USDT:USDT", margin_mode="isolated")],
        allowed=every_action,
    )
    assert [o.action for o in iso] == [ActionKind.ADD_MARGIN]


def test_no_add_margin_button_on_a_venue_whose_api_cannot_add_margin() -> None:
    """BloFin has no margin-transfer API: its isolated alerts offer nothing the gateway would refuse."""
    iso = make_alert(key="risk:main:ETH", symbol="ETH/USDT:USDT", margin_mode="isolated")
    assert offers_for([replace(iso, venue="blofin")], allowed=every_action) == []
    cross = replace(make_alert(level=Level.DANGER, margin_mode="cross"), venue="blofin")
    offered = offers_for([cross], allowed=every_action)
    assert [o.action for o in offered] == [ActionKind.REDUCE, ActionKind.REDUCE, ActionKind.CLOSE]


def test_cross_account_alert_offers_buttons_for_its_top_contributor() -> None:
    alert = make_alert(
        key="risk:main:cross",
        symbol=None,
        level=Level.CRITICAL,
        facts={"margin_ratio": 0.9, "top1_symbol": "ETH/USDT:USDT short", "top1_share": 0.7},
    )
    offers = offers_for([alert], allowed=every_action)
    assert {(o.symbol, o.position_side) for o in offers} == {("ETH/USDT:USDT", "short")}
    assert all(o.size_seen is None for o in offers)


def test_no_buttons_for_closed_low_or_non_risk_alerts() -> None:
    assert (
        offers_for(
            [make_alert(level=Level.OK, transition=Transition.CLOSED, previous_level=Level.DANGER)],
            allowed=every_action,
        )
        == []
    )
    assert offers_for([make_alert(level=Level.INFO)], allowed=every_action) == []
    assert offers_for([make_alert(kind=AlertKind.STALE, level=Level.CRITICAL)], allowed=every_action) == []


def test_buttons_only_for_what_the_accounts_derisk_mode_allows() -> None:
    settings = DeriskSettings(modes={"main": "suggest", "bot": "auto", "watch": "off"})
    allowed = allowed_actions(settings)

    def actions(account: str, margin_mode: str) -> list[ActionKind]:
        alert = make_alert(level=Level.CRITICAL, account=account, margin_mode=margin_mode)
        return [o.action for o in offers_for([alert], allowed=allowed)]

    assert actions("main", "cross") == [ActionKind.REDUCE, ActionKind.REDUCE, ActionKind.CLOSE]
    assert actions("bot", "isolated") == [ActionKind.ADD_MARGIN]
    assert actions("watch", "cross") == [] and actions("watch", "isolated") == []
    assert actions("unnamed", "cross") == []  # the default mode is off
    no_transfers = allowed_actions(DeriskSettings(default_mode="suggest", isolated_add_margin=False))
    iso = make_alert(level=Level.CRITICAL, margin_mode="isolated")
    assert offers_for([iso], allowed=no_transfers) == []
    assert offers_for([iso], allowed=no_actions) == []


def test_ack_only_for_open_critical_alerts() -> None:
    alerts = [
        make_alert("a", Level.CRITICAL),
        make_alert("b", Level.DANGER),
        make_alert("c", Level.OK, Transition.CLOSED, previous_level=Level.CRITICAL),
        make_alert("a", Level.CRITICAL, Transition.REPEATED),
    ]
    assert ack_keys(alerts) == ["a"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("15", 900)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "5h3", "8d", "0m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# --- settings ---------------------------------------------------------------------------------------


def test_from_env_needs_token_and_chat() -> None:
    assert TelegramSettings.from_env({}) is None
    assert TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN}) is None
    assert TelegramSettings.from_env({"TELEGRAM_CHAT_ID": "5"}) is None
    s = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "5, -100200"})
    assert s is not None
    assert [c.chat_id for c in s.chats] == [5, -100200]
    assert s.api_base_url == "https://api.telegram.org"
    assert s.bot_base_url == "https://api.telegram.org/bot"
    assert s.authorized_users == frozenset({5})  # the private chat; a group needs explicit users


def test_from_env_reads_the_base_url_and_users() -> None:
    s = TelegramSettings.from_env(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_CHAT_ID": "-100200",
            "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/",
            "TELEGRAM_ALLOWED_USER_IDS": "7,8",
        }
    )
    assert s is not None
    assert s.bot_base_url == "http://127.0.0.1:8081/bot"
    assert s.authorized_users == frozenset({7, 8})


def test_token_from_a_file_or_a_systemd_credential(tmp_path: Path) -> None:
    f = tmp_path / "tok"
    f.write_text(TOKEN + "\n")
    s = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN_FILE": str(f), "TELEGRAM_CHAT_ID": "5"})
    assert s is not None and s.token == TOKEN
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "telegram_bot_token").write_text(TOKEN)
    s = TelegramSettings.from_env({"CREDENTIALS_DIRECTORY": str(creds), "TELEGRAM_CHAT_ID": "5"})
    assert s is not None and s.token == TOKEN


def test_the_token_never_shows_in_repr_or_errors() -> None:
    s = TelegramSettings(token=TOKEN, chats=(ChatSettings(5),))
    assert TOKEN not in repr(s)
    bad = TOKEN.replace(":", "-")
    with pytest.raises(SettingsError) as err:
        TelegramSettings(token=bad, chats=(ChatSettings(5),))
    assert bad not in str(err.value)
    with pytest.raises(SettingsError, match="TELEGRAM_CHAT_ID"):
        TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "me"})
