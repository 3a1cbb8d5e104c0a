"""Fixtures: the fake Bot API, in-memory daemon ports and a notifier factory.

The ports here stand for the daemon's side (engine, policy, order gateway); the Telegram side is always
the real python-telegram-bot client talking HTTP to ``FakeBotApi``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.daemon.store import open_db
from monitor.notify.ports import (
    AccountRiskView,
    ActionKind,
    ActionRequest,
    ActionResult,
    ActionsAllowed,
    ActionStatus,
    ControlResult,
    FeedStatus,
    LevelRule,
    PositionRow,
    Preview,
    StatusSummary,
    every_action,
)
from monitor.notify.settings import ChatSettings, DeliveryTuning, TelegramSettings
from monitor.notify.telegram import TelegramNotifier

from .fake_bot_api import FakeBotApi

TOKEN = "123456789:AAHfakeTokenForTests_0123456789abcdef"
CHAT = 1001  # a private chat: its id is also the allowed user
CHAT2 = 1002
GROUP = -2002
STRANGER = 666

FAST = DeliveryTuning(
    per_chat_interval_s=0.02,
    group_interval_s=0.02,
    global_interval_s=0.0,
    backoff_initial_s=0.05,
    backoff_max_s=0.3,
    status_interval_s=0,
    poll_timeout_s=0.5,
    request_timeout_s=2.0,
    connect_timeout_s=1.0,
)

_ts = itertools.count(1_760_000_000_000, 1000)


def make_alert(
    key: str = "risk:main:BTC/USDT:USDT:both",
    level: Level = Level.WARN,
    transition: Transition = Transition.OPENED,
    *,
    kind: AlertKind = AlertKind.RISK,
    account: str = "main",
    symbol: str | None = "BTC/USDT:USDT",
    margin_mode: str | None = "cross",
    previous_level: Level | None = None,
    message: str = "",
    facts: dict[str, Any] | None = None,
) -> Alert:
    return Alert(
        key=key,
        kind=kind,
        level=level,
        transition=transition,
        venue="binanceusdm",
        account=account,
        message=message or f"{key} {transition.value} {level.label}",
        ts_ms=next(_ts),
        symbol=symbol,
        position_side="both" if symbol else None,
        margin_mode=margin_mode,
        episode_id=f"ep-{key}",
        previous_level=previous_level,
        facts=facts
        if facts is not None
        else {
            "side": "long",
            "contracts": 0.5,
            "mark_price": 61000.0,
            "liquidation_price": 58000.0,
            "distance_pct": 4.92,
            "margin_ratio": 0.83,
        },
    )


class FakeStatus:
    def __init__(self) -> None:
        self.summary = StatusSummary(
            accounts=3,
            positions=4,
            feeds=(FeedStatus("binanceusdm:marks", 0.4, False),),
            worst_level=Level.WARN,
        )
        self.rows = [
            PositionRow(
                "main",
                "binanceusdm",
                "BTC/USDT:USDT",
                "long",
                "both",
                "cross",
                0.5,
                61000,
                58000,
                4.9,
                0.83,
                Level.WARN,
            )
        ]

    def status(self) -> StatusSummary:
        return self.summary

    def positions(self) -> Sequence[PositionRow]:
        return self.rows

    def account_risk(self, account: str) -> AccountRiskView | None:
        if account != "main":
            return None
        return AccountRiskView("main", "binanceusdm", 1000.0, 830.0, 0.83, tuple(self.rows), Level.WARN)

    def levels(self) -> Sequence[LevelRule]:
        return [
            LevelRule(Level.WARN, "margin ratio ≥ 60 %"),
            LevelRule(Level.CRITICAL, "margin ratio ≥ 90 %"),
        ]


class FakeControl:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def mute(self, duration_s: int, symbol: str | None, by_user: int) -> ControlResult:
        self.calls.append(("mute", duration_s, symbol, by_user))
        return ControlResult(True, f"muted {symbol or 'everything'} for {duration_s} s")

    async def unmute(self, by_user: int) -> ControlResult:
        self.calls.append(("unmute", by_user))
        return ControlResult(True, "unmuted")

    async def ack(self, keys: Sequence[str] | None, by_user: int) -> ControlResult:
        self.calls.append(("ack", None if keys is None else list(keys), by_user))
        return ControlResult(True, "acknowledged")

    async def halt(self, by_user: int) -> ControlResult:
        self.calls.append(("halt", by_user))
        return ControlResult(True, "halted: no de-risk actions")

    async def resume(self, by_user: int) -> ControlResult:
        self.calls.append(("resume", by_user))
        return ControlResult(True, "resumed")


class FakeActions:
    """Live positions by (account, symbol, position_side) -> size; execute refuses on size change."""

    def __init__(self) -> None:
        self.sizes: dict[tuple[str, str, str], float] = {("main", "BTC/USDT:USDT", "both"): 0.5}
        self.previews: list[ActionRequest] = []
        self.executed: list[tuple[ActionRequest, float | None, int]] = []
        self.refused: list[str] = []

    async def preview(self, request: ActionRequest) -> Preview:
        self.previews.append(request)
        size = self.sizes.get((request.account, request.symbol, request.position_side))
        if size is None:
            return Preview(ok=False, message="no such position")
        fraction = request.fraction or 0.0
        if request.action is ActionKind.ADD_MARGIN:
            return Preview(
                True, size=size, amount=100.0 * fraction, margin_ratio_before=0.8, margin_ratio_after=0.6
            )
        return Preview(
            True,
            size=size,
            amount=size * fraction,
            margin_ratio_before=0.83,
            margin_ratio_after=0.83 * (1 - fraction),
            liquidation_price_before=58000,
            liquidation_price_after=50000,
        )

    async def execute(
        self, request: ActionRequest, expected_size: float | None, by_user: int
    ) -> ActionResult:
        live = self.sizes.get((request.account, request.symbol, request.position_side))
        if live is None or expected_size is None or abs(live - expected_size) > 1e-12:
            self.refused.append(request.symbol)
            return ActionResult(
                ActionStatus.REFUSED, f"size changed ({expected_size} → {live}); nothing sent"
            )
        self.executed.append((request, expected_size, by_user))
        return ActionResult(ActionStatus.DRY_RUN, f"would reduce {request.symbol}")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    server = FakeBotApi(TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite3"


@dataclasses.dataclass
class Ports:
    status: FakeStatus
    control: FakeControl
    actions: FakeActions


@pytest.fixture
def ports() -> Ports:
    return Ports(FakeStatus(), FakeControl(), FakeActions())


NotifierFactory = Callable[..., TelegramNotifier]


@pytest.fixture
async def make_notifier(api: FakeBotApi, db_path: Path, ports: Ports) -> AsyncIterator[NotifierFactory]:
    made: list[TelegramNotifier] = []

    def factory(
        *,
        chats: Sequence[ChatSettings] = (ChatSettings(CHAT),),
        users: frozenset[int] = frozenset(),
        wall_clock: Callable[[], float] | None = None,
        path: Path | None = None,
        allowed_actions: ActionsAllowed = every_action,
        token: str = TOKEN,
        api_base_url: str | None = None,
        **tuning: Any,
    ) -> TelegramNotifier:
        settings = TelegramSettings(
            token=token,
            chats=tuple(chats),
            allowed_user_ids=users,
            api_base_url=api_base_url or api.base_url,
            tuning=dataclasses.replace(FAST, **tuning),
        )
        kwargs: dict[str, Any] = {"wall_clock": wall_clock} if wall_clock else {}
        notifier = TelegramNotifier(
            settings,
            open_db(path or db_path),
            status=ports.status,
            control=ports.control,
            actions=ports.actions,
            allowed_actions=allowed_actions,
            **kwargs,
        )
        made.append(notifier)
        return notifier

    yield factory
    for n in made:
        await n.stop(flush_timeout_s=0.2)
