"""What the Telegram side needs from the rest of the daemon, and nothing more.

The notifier renders and delivers; it never computes risk, decides policy or places orders. These
Protocols are the daemon's side of that boundary: the service implements them over the engine, the policy
and the order gateway, and tests implement them in memory. Results are small frozen dataclasses so the
rendering stays pure.

Status reads are synchronous (they read in-memory state); control and actions are ``async`` because they
may touch the store, the exchange or the order gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from monitor.alerts import Alert, Level

# --- status -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """Freshness of one stream, e.g. ``binanceusdm/main marks``. ``age_s`` is None if nothing arrived."""

    name: str
    age_s: float | None
    stale: bool


@dataclass(frozen=True, slots=True)
class StatusSummary:
    """What the pinned status message and ``/status`` show."""

    accounts: int
    positions: int
    feeds: tuple[FeedStatus, ...] = ()
    worst_level: Level = Level.OK
    halted: bool = False
    dry_run: bool = True
    mutes: tuple[str, ...] = ()  # human-readable active mutes, e.g. "BTC/USDT:USDT until 14:00 UTC"


@dataclass(frozen=True, slots=True)
class PositionRow:
    """One line of ``/positions`` and of ``/risk``. ``margin_ratio`` is requirement / equity (1.0 =
    liquidation): the position's own for isolated, the account's cross ratio for cross."""

    account: str
    venue: str
    symbol: str
    side: str
    position_side: str
    margin_mode: str
    contracts: float
    mark_price: float
    liquidation_price: float | None
    distance_pct: float | None
    margin_ratio: float
    level: Level = Level.OK


@dataclass(frozen=True, slots=True)
class AccountRiskView:
    """``/risk ACCOUNT``: the cross pool (None when the account has no cross position) and its legs."""

    account: str
    venue: str
    cross_equity: float | None
    cross_maint_margin: float | None
    cross_margin_ratio: float | None
    positions: tuple[PositionRow, ...] = ()
    level: Level = Level.OK


@dataclass(frozen=True, slots=True)
class LevelRule:
    """One line of ``/levels``: when a level is reached, in the policy's own words."""

    level: Level
    condition: str


class StatusPort(Protocol):
    def status(self) -> StatusSummary: ...

    def positions(self) -> Sequence[PositionRow]: ...

    def account_risk(self, account: str) -> AccountRiskView | None:
        """None when no account has that label."""
        ...

    def levels(self) -> Sequence[LevelRule]: ...


# --- control ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ControlResult:
    ok: bool
    message: str


class ControlPort(Protocol):
    """Commands that change what the daemon does. ``by_user`` is the Telegram user id, for the journal."""

    async def mute(self, duration_s: int, symbol: str | None, by_user: int) -> ControlResult:
        """Mute non-critical alerts (of one symbol, or all) for ``duration_s`` seconds."""
        ...

    async def unmute(self, by_user: int) -> ControlResult: ...

    async def ack(self, keys: Sequence[str] | None, by_user: int) -> ControlResult:
        """Acknowledge critical alerts: the given alert keys, or every open critical one when None.
        Acknowledged episodes stop repeating until they escalate or reopen."""
        ...

    async def halt(self, by_user: int) -> ControlResult:
        """Stop every automatic and manual de-risk action (the gateway goes HALTED)."""
        ...

    async def resume(self, by_user: int) -> ControlResult: ...


# --- actions ------------------------------------------------------------------------------------------


class ActionKind(StrEnum):
    REDUCE = "reduce"  # reduce-only market order for ``fraction`` of the position
    CLOSE = "close"  # reduce-only market order for the whole position (fraction 1)
    ADD_MARGIN = "add_margin"  # isolated: add ``fraction`` x current isolated margin (or ``amount``)


ActionsAllowed = Callable[[str], Collection[ActionKind]]
"""Which button actions an account's de-risk settings allow (by account label). The notifier offers
only these and refuses a press of any other, so a button never promises what the gateway refuses."""


def no_actions(account: str) -> Collection[ActionKind]:
    """No de-risking behind the bot: no Reduce, Close or Add-margin button anywhere."""
    return ()


def every_action(account: str) -> Collection[ActionKind]:
    """Every button everywhere (for tools and tests whose action port decides on its own)."""
    return tuple(ActionKind)


@dataclass(frozen=True, slots=True)
class ActionRequest:
    account: str
    symbol: str
    position_side: str
    action: ActionKind
    fraction: float | None = None
    amount: float | None = None


@dataclass(frozen=True, slots=True)
class Preview:
    """What the action would do, computed from a fresh position read.

    ``size`` is the live size the preview was computed from; Confirm refuses if it has changed.
    ``amount`` is the concrete quantity (contracts to reduce, or margin to add). ``ok=False`` carries
    the reason in ``message`` (no position, halted, below minimum size, ...)."""

    ok: bool
    message: str = ""
    size: float | None = None
    amount: float | None = None
    margin_ratio_before: float | None = None
    margin_ratio_after: float | None = None
    liquidation_price_before: float | None = None
    liquidation_price_after: float | None = None
    dry_run: bool = True


class ActionStatus(StrEnum):
    DONE = "done"  # sent and accepted by the exchange
    DRY_RUN = "dry_run"  # would have been sent
    REFUSED = "refused"  # a safety check said no (size changed, halted, caps, ...)
    FAILED = "failed"  # the exchange or the network said no


@dataclass(frozen=True, slots=True)
class ActionResult:
    status: ActionStatus
    message: str


class ActionPort(Protocol):
    async def preview(self, request: ActionRequest) -> Preview: ...

    async def execute(
        self, request: ActionRequest, expected_size: float | None, by_user: int
    ) -> ActionResult:
        """Re-read the live position and refuse (``REFUSED``) if its size is not ``expected_size``
        (the size the user saw in the preview); otherwise go through the order gateway."""
        ...


# --- notifiers ----------------------------------------------------------------------------------------


class Notifier(Protocol):
    """Anything the daemon hands alerts to. ``enqueue`` must not block and must not raise on delivery
    problems: one call is one evaluation's alerts."""

    def enqueue(self, alerts: Sequence[Alert]) -> None: ...
