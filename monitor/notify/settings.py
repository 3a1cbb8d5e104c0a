"""Telegram settings: who gets which alerts, when, and through which Bot API server.

A plain dataclass so the TOML loader (``monitor.daemon.config``) and the environment (``from_env``) build the
same thing. The token is excluded from ``repr`` and never echoed in an error: a mistyped token must not end
up in a log line or a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path

from monitor.alerts import Level

DEFAULT_API_BASE_URL = "https://api.telegram.org"

# Credential file names looked up under $CREDENTIALS_DIRECTORY (systemd LoadCredential=).
CREDENTIAL_NAMES = ("telegram_bot_token", "telegram-bot-token", "TELEGRAM_BOT_TOKEN")

_TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")


class SettingsError(ValueError):
    """A Telegram setting is missing or malformed. The message names the setting, never its secret."""


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily UTC window (``22:00-07:00`` wraps midnight) in which non-critical alerts arrive silently.

    Quiet hours only ever turn the notification sound off; nothing is held back or dropped, and a
    critical alert always rings.
    """

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        try:
            a, b = (part.strip() for part in text.split("-"))
            return cls(time.fromisoformat(a), time.fromisoformat(b))
        except ValueError as exc:
            raise SettingsError(f"quiet hours must look like 22:00-07:00 (UTC), got {text!r}") from exc

    def contains(self, at: datetime) -> bool:
        """Whether the UTC instant ``at`` falls inside the window (start inclusive, end exclusive)."""
        t = at.time().replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """One destination. ``min_level`` filters what this chat receives; a closing alert is routed by the
    level it closes from, so a chat that saw an episode open also sees it close."""

    chat_id: int
    min_level: Level = Level.INFO
    quiet_hours: QuietHours | None = None
    pin_status: bool = True


@dataclass(frozen=True, slots=True)
class DeliveryTuning:
    """Timing knobs. The defaults follow Telegram's limits; tests shrink them to stay fast."""

    per_chat_interval_s: float = 1.0  # Telegram: about one message per second per chat
    group_interval_s: float = 3.0  # ... and 20 per minute in a group (negative chat ids)
    global_interval_s: float = 1 / 30  # ... and 30 per second over all chats
    backoff_initial_s: float = 0.5  # first wait after a network error
    backoff_max_s: float = 30.0  # cap of the exponential backoff
    status_interval_s: float = 180.0  # how often the pinned status message is edited
    status_min_interval_s: float = 10.0  # ... at most this often on a new worst level (after a burst)
    degraded_after_s: float = 120.0  # messages waiting this long, none delivered: the channel is degraded
    action_ttl_s: float = 120.0  # lifetime of a Reduce/Close/Add-margin button and of its Confirm
    ack_ttl_s: float = 86_400.0  # lifetime of an Ack button (acknowledging is harmless)
    poll_timeout_s: float = 10.0  # getUpdates long-poll
    request_timeout_s: float = 10.0  # read/write timeout of every other Bot API call
    connect_timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """Everything the Telegram notifier needs.

    ``allowed_user_ids`` are the people whose commands and button presses are obeyed (in an allowed
    chat). When empty, the ids of the configured private chats (positive chat ids) are the allowed users:
    in a private chat the chat id is the user id. A group chat needs explicit user ids.
    """

    token: str = field(repr=False)
    chats: tuple[ChatSettings, ...]
    allowed_user_ids: frozenset[int] = frozenset()
    api_base_url: str = DEFAULT_API_BASE_URL
    tuning: DeliveryTuning = field(default_factory=DeliveryTuning)

    def __post_init__(self) -> None:
        if not _TOKEN_RE.match(self.token):
            raise SettingsError("telegram bot token is malformed (expected <digits>:<secret>)")
        if not self.chats:
            raise SettingsError("telegram: at least one chat is required")
        if not self.api_base_url.startswith(("http://", "https://")):
            raise SettingsError(f"telegram api base url must be http(s), got {self.api_base_url!r}")
        if self.api_base_url.rstrip("/").endswith("/bot"):
            # the client appends /bot<token>; accepting ".../bot" would request ".../bot/bot<token>"
            raise SettingsError("telegram api base url must be the server's root, without /bot")

    @property
    def authorized_users(self) -> frozenset[int]:
        if self.allowed_user_ids:
            return self.allowed_user_ids
        return frozenset(c.chat_id for c in self.chats if c.chat_id > 0)

    @property
    def chat_ids(self) -> frozenset[int]:
        return frozenset(c.chat_id for c in self.chats)

    def chat(self, chat_id: int) -> ChatSettings | None:
        for c in self.chats:
            if c.chat_id == chat_id:
                return c
        return None

    @property
    def bot_base_url(self) -> str:
        return self.api_base_url.rstrip("/") + "/bot"

    @property
    def bot_file_base_url(self) -> str:
        return self.api_base_url.rstrip("/") + "/file/bot"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TelegramSettings | None:
        """Settings from the environment, or ``None`` when Telegram is not configured.

        - token: ``TELEGRAM_BOT_TOKEN``, else the file named by ``TELEGRAM_BOT_TOKEN_FILE``, else a
          systemd credential (``$CREDENTIALS_DIRECTORY/telegram_bot_token``);
        - ``TELEGRAM_CHAT_ID``: one chat id or several separated by commas;
        - ``TELEGRAM_API_BASE_URL``: a self-hosted Bot API server (default the public one);
        - ``TELEGRAM_ALLOWED_USER_IDS`` (optional): comma-separated user ids.

        Telegram is enabled only when both a token and a chat id are present; a malformed value raises
        ``SettingsError`` naming the variable.
        """
        env = os.environ if environ is None else environ
        token = token_from_env(env)
        chat_text = env.get("TELEGRAM_CHAT_ID", "").strip()
        if not token or not chat_text:
            return None
        chats = tuple(ChatSettings(chat_id=i) for i in _int_list(chat_text, "TELEGRAM_CHAT_ID"))
        users = frozenset(_int_list(env.get("TELEGRAM_ALLOWED_USER_IDS", ""), "TELEGRAM_ALLOWED_USER_IDS"))
        base = env.get("TELEGRAM_API_BASE_URL", "").strip() or DEFAULT_API_BASE_URL
        return cls(token=token, chats=chats, allowed_user_ids=users, api_base_url=base)


def token_from_env(env: Mapping[str, str]) -> str | None:
    """The bot token from ``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_BOT_TOKEN_FILE`` or a systemd credential."""
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if token:
        return token
    candidates: list[Path] = []
    if env.get("TELEGRAM_BOT_TOKEN_FILE"):
        candidates.append(Path(env["TELEGRAM_BOT_TOKEN_FILE"]))
    if env.get("CREDENTIALS_DIRECTORY"):
        candidates.extend(Path(env["CREDENTIALS_DIRECTORY"]) / n for n in CREDENTIAL_NAMES)
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise SettingsError(f"cannot read telegram token file {str(path)!r}: {exc.strerror}") from None
        if text:
            return text
    return None


def _int_list(text: str, name: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(int(part))
        except ValueError:
            raise SettingsError(f"{name} must be integer ids separated by commas, got {part!r}") from None
    return out
