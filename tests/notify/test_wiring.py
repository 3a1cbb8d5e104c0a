"""Building the notifier from the environment or the ``[telegram]`` config table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from monitor.alerts import Level
from monitor.notify.wiring import settings_from_config, telegram_notifier_from_env

from .conftest import CHAT, TOKEN, make_alert
from .fake_bot_api import FakeBotApi


@dataclass
class Chat:
    chat_id: int
    min_level: str = "warn"
    quiet_hours: str | None = None


@dataclass
class Cfg:
    enabled: bool = True
    token_env: str = "TELEGRAM_BOT_TOKEN"
    token_file: str | None = None
    chats: list[Chat] = field(default_factory=list)
    allowed_user_ids: list[int] = field(default_factory=list)
    api_base_url: str | None = None
    status_minutes: float = 5
    degraded_after_seconds: float = 120


def test_config_table_with_env_token_and_overrides(tmp_path: Path) -> None:
    cfg = Cfg(
        token_env="MY_BOT_TOKEN",
        chats=[Chat(-100, "danger", "22:00-07:00"), Chat(5)],
        allowed_user_ids=[5, 6],
        api_base_url="http://10.0.0.1:8081",
    )
    s = settings_from_config(cfg, {"MY_BOT_TOKEN": TOKEN})
    assert s is not None and s.token == TOKEN
    assert [(c.chat_id, c.min_level) for c in s.chats] == [(-100, Level.DANGER), (5, Level.WARN)]
    assert str(s.chats[0].quiet_hours) == "22:00-07:00"
    assert s.authorized_users == frozenset({5, 6})
    assert s.api_base_url == "http://10.0.0.1:8081" and s.tuning.status_interval_s == 300
    overridden = settings_from_config(
        cfg, {"MY_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": "http://127.0.0.1:1"}
    )
    assert overridden is not None and overridden.api_base_url == "http://127.0.0.1:1"


def test_config_table_falls_back_to_token_file_and_chat_env(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    s = settings_from_config(Cfg(token_file=str(token_file)), {"TELEGRAM_CHAT_ID": "7"})
    assert s is not None and s.token == TOKEN and [c.chat_id for c in s.chats] == [7]
    assert settings_from_config(Cfg(enabled=False, chats=[Chat(1)]), {"TELEGRAM_BOT_TOKEN": TOKEN}) is None
    assert settings_from_config(Cfg(chats=[Chat(1)]), {}) is None  # no token anywhere


async def test_a_notifier_from_the_environment_delivers_without_action_buttons(
    api: FakeBotApi, tmp_path: Path
) -> None:
    """No de-risking behind it: no Reduce / Close / Add-margin button that could only be refused."""
    n = telegram_notifier_from_env(
        {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": str(CHAT), "TELEGRAM_API_BASE_URL": api.base_url},
        state_file=tmp_path / "s.sqlite3",
    )
    await n.start()
    try:
        n.enqueue([make_alert(level=Level.CRITICAL, message="from-env")])
        await api.wait_for(lambda: any("from-env" in c.text for c in api.sent(CHAT)))
        assert [label for label, _ in api.sent(CHAT)[-1].buttons] == ["✅ Ack"]
    finally:
        await n.stop(flush_timeout_s=1)
