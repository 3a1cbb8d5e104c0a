"""Building a ``TelegramNotifier`` from the environment or the TOML config, with placeholder ports.

The daemon passes its real ports (status, control, actions). Where there is nothing to wire them to
yet (``monitor demo`` before the daemon exposes them), the ``Unwired*`` ports answer commands politely
and refuse every action, so the alert path works on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from monitor.alerts import Level
from monitor.daemon.store import open_db
from monitor.notify.ports import (
    AccountRiskView,
    ActionPort,
    ActionRequest,
    ActionResult,
    ActionStatus,
    ControlPort,
    ControlResult,
    LevelRule,
    PositionRow,
    Preview,
    StatusPort,
    StatusSummary,
)
from monitor.notify.settings import (
    DEFAULT_API_BASE_URL,
    ChatSettings,
    DeliveryTuning,
    QuietHours,
    SettingsError,
    TelegramSettings,
    token_from_env,
)
from monitor.notify.telegram import TelegramNotifier

NOT_WIRED = "not available: this process has no daemon behind the bot"


class UnwiredStatus:
    def status(self) -> StatusSummary:
        return StatusSummary(accounts=0, positions=0)

    def positions(self) -> Sequence[PositionRow]:
        return []

    def account_risk(self, account: str) -> AccountRiskView | None:
        return None

    def levels(self) -> Sequence[LevelRule]:
        return []


class UnwiredControl:
    async def mute(self, duration_s: int, symbol: str | None, by_user: int) -> ControlResult:
        return ControlResult(False, NOT_WIRED)

    async def unmute(self, by_user: int) -> ControlResult:
        return ControlResult(False, NOT_WIRED)

    async def ack(self, keys: Sequence[str] | None, by_user: int) -> ControlResult:
        return ControlResult(False, NOT_WIRED)

    async def halt(self, by_user: int) -> ControlResult:
        return ControlResult(False, NOT_WIRED)

    async def resume(self, by_user: int) -> ControlResult:
        return ControlResult(False, NOT_WIRED)


class UnwiredActions:
    async def preview(self, request: ActionRequest) -> Preview:
        return Preview(ok=False, message=NOT_WIRED)

    async def execute(
        self, request: ActionRequest, expected_size: float | None, by_user: int
    ) -> ActionResult:
        return ActionResult(ActionStatus.REFUSED, NOT_WIRED)


class ChatConfig(Protocol):
    @property
    def chat_id(self) -> int: ...
    @property
    def min_level(self) -> str: ...
    @property
    def quiet_hours(self) -> str | None: ...


class TelegramConfig(Protocol):
    """The shape of the ``[telegram]`` table as ``monitor.daemon.config`` validates it (read-only)."""

    @property
    def enabled(self) -> bool: ...
    @property
    def token_env(self) -> str: ...
    @property
    def token_file(self) -> str | None: ...
    @property
    def chats(self) -> Sequence[ChatConfig]: ...
    @property
    def allowed_user_ids(self) -> Sequence[int]: ...
    @property
    def api_base_url(self) -> str | None: ...
    @property
    def status_minutes(self) -> float: ...
    @property
    def degraded_after_seconds(self) -> float: ...


def settings_from_config(cfg: TelegramConfig, environ: Mapping[str, str]) -> TelegramSettings | None:
    """Settings from the ``[telegram]`` table plus the environment, or None when Telegram is off.

    Token: the variable named by ``token_env``, else ``token_file``, else ``TELEGRAM_BOT_TOKEN_FILE`` or a
    systemd credential. Chats: the table's, else ``TELEGRAM_CHAT_ID``. ``TELEGRAM_API_BASE_URL`` overrides
    ``api_base_url``. Enabled with no token or no chat is None (the caller says why; no secret involved).
    """
    if not cfg.enabled:
        return None
    env = dict(environ)
    if cfg.token_env != "TELEGRAM_BOT_TOKEN" and environ.get(cfg.token_env):
        env["TELEGRAM_BOT_TOKEN"] = environ[cfg.token_env]
    if cfg.token_file and not env.get("TELEGRAM_BOT_TOKEN"):
        env.setdefault("TELEGRAM_BOT_TOKEN_FILE", cfg.token_file)
    token = token_from_env(env)
    chats = tuple(
        ChatSettings(
            chat_id=c.chat_id,
            min_level=Level[c.min_level.upper()],
            quiet_hours=QuietHours.parse(c.quiet_hours) if c.quiet_hours else None,
        )
        for c in cfg.chats
    )
    if not chats:
        from_env = TelegramSettings.from_env({**env, "TELEGRAM_BOT_TOKEN": token or ""}) if token else None
        chats = from_env.chats if from_env else ()
    if not token or not chats:
        return None
    base = environ.get("TELEGRAM_API_BASE_URL") or cfg.api_base_url or DEFAULT_API_BASE_URL
    return TelegramSettings(
        token=token,
        chats=chats,
        allowed_user_ids=frozenset(cfg.allowed_user_ids),
        api_base_url=base,
        tuning=DeliveryTuning(
            status_interval_s=cfg.status_minutes * 60, degraded_after_s=cfg.degraded_after_seconds
        ),
    )


def telegram_notifier_from_env(
    environ: Mapping[str, str],
    *,
    state_file: str | Path = ":memory:",
    status: StatusPort | None = None,
    control: ControlPort | None = None,
    actions: ActionPort | None = None,
) -> TelegramNotifier:
    """A notifier configured by ``TELEGRAM_*`` variables. With the default in-memory state file the
    outbox does not survive a restart: pass the daemon's state file for that."""
    settings = TelegramSettings.from_env(environ)
    if settings is None:
        raise SettingsError("TELEGRAM_BOT_TOKEN (or a token file) and TELEGRAM_CHAT_ID are required")
    return TelegramNotifier(
        settings,
        open_db(state_file),
        status=status or UnwiredStatus(),
        control=control or UnwiredControl(),
        actions=actions or UnwiredActions(),
    )
