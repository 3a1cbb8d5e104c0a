"""The Telegram buttons' way into the gateway: ``ActionPort`` over ``Gateway``.

A button press is a request a person made twice: once to see the preview (sized from a fresh read,
with the margin engine's before/after numbers), once to confirm it. The confirmation carries the size
the preview showed; the gateway refuses if the live size differs, because what was confirmed is no
longer what would happen. Everything else (mode, trading state, caps, reduce-only, journal, dry-run)
is the gateway's, exactly as for automatic actions.
"""

from __future__ import annotations

from collections.abc import Collection

from monitor.actions.gateway import Gateway, Intent, IntentKind, Origin, Outcome
from monitor.actions.settings import DeriskSettings, Mode
from monitor.model import PositionSide
from monitor.notify.ports import (
    ActionKind,
    ActionRequest,
    ActionResult,
    ActionsAllowed,
    ActionStatus,
    Preview,
)

_KINDS = {
    ActionKind.REDUCE: IntentKind.REDUCE,
    ActionKind.CLOSE: IntentKind.CLOSE,
    ActionKind.ADD_MARGIN: IntentKind.ADD_MARGIN,
}

_STATUS = {
    Outcome.FILLED: ActionStatus.DONE,
    Outcome.PARTIAL: ActionStatus.DONE,
    Outcome.DONE: ActionStatus.DONE,
    Outcome.DRY_RUN: ActionStatus.DRY_RUN,
    Outcome.REFUSED: ActionStatus.REFUSED,
    Outcome.REJECTED: ActionStatus.FAILED,
    Outcome.NOT_SENT: ActionStatus.FAILED,
    Outcome.UNKNOWN: ActionStatus.FAILED,
}


class GatewayActionPort:
    """``monitor.notify.ports.ActionPort`` implemented by the order gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def preview(self, request: ActionRequest) -> Preview:
        try:
            intent = to_intent(request)
        except ValueError as exc:
            return Preview(ok=False, message=str(exc), dry_run=self.gateway.dry_run)
        result = await self.gateway.preview(intent)
        sized = result.sized
        if not result.ok or sized is None:
            return Preview(ok=False, message=result.message, dry_run=result.dry_run)
        impact = sized.impact
        return Preview(
            ok=True,
            message=result.message,
            size=sized.size_before,
            amount=sized.amount,
            margin_ratio_before=impact.before.margin_ratio if impact else None,
            margin_ratio_after=impact.after.margin_ratio if impact else None,
            liquidation_price_before=impact.before.liquidation_price if impact else None,
            liquidation_price_after=impact.after.liquidation_price if impact else None,
            dry_run=result.dry_run,
        )

    async def execute(
        self, request: ActionRequest, expected_size: float | None, by_user: int
    ) -> ActionResult:
        try:
            intent = to_intent(request, expected_size=expected_size, by_user=by_user)
        except ValueError as exc:
            return ActionResult(ActionStatus.REFUSED, str(exc))
        result = await self.gateway.submit(intent)
        return ActionResult(_STATUS[result.outcome], result.message)


def allowed_actions(settings: DeriskSettings) -> ActionsAllowed:
    """The button actions each account's settings allow: none in ``off`` (the gateway refuses every
    manual action there); Reduce and Close in ``suggest`` and ``auto``; Add margin too unless
    ``isolated_add_margin`` is switched off (the gateway refuses the transfer then)."""
    allowed_on = (ActionKind.REDUCE, ActionKind.CLOSE) + (
        (ActionKind.ADD_MARGIN,) if settings.isolated_add_margin else ()
    )

    def allowed(account: str) -> Collection[ActionKind]:
        return () if settings.mode_for(account) is Mode.OFF else allowed_on

    return allowed


def to_intent(
    request: ActionRequest, *, expected_size: float | None = None, by_user: int | None = None
) -> Intent:
    """A button's request as a manual intent. Raises ``ValueError`` on a malformed request."""
    kind = _KINDS[request.action]
    position_side = PositionSide((request.position_side or "both").lower())
    amount, fraction = request.amount, request.fraction
    if kind is IntentKind.CLOSE:
        amount = fraction = None
    elif amount is not None:
        fraction = None  # an explicit amount wins over the button's fraction
    elif fraction is None:
        raise ValueError("the request names neither a fraction nor an amount")
    return Intent(
        request.account,
        request.symbol,
        position_side,
        kind,
        amount=amount,
        fraction=fraction,
        origin=Origin.MANUAL,
        by_user=by_user,
        expected_size=expected_size,
        reason=f"button by user {by_user}" if by_user is not None else "button",
    )
