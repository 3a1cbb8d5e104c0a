"""Automatic and suggested de-risking, driven by the daemon's risk listener.

The listener runs inside the daemon's event path, once per event, so it must not block: it only
checks the triggers (a few comparisons per position) and schedules one task per account. While that
task runs, further triggers for the account are folded into one more pass, never a second task.

A pass plans from the daemon's account view (``plan_account``) and, in ``auto`` mode, submits the
steps through the gateway, which applies every cap; a refused step skips the rest of that position's
steps. In ``suggest`` mode nothing is submitted: the plan is announced (an ACTION alert, at most once
per cool-down per account) and a person acts through the Telegram buttons.

Before planning again after a fill, a pass waits (bounded) until the daemon's view shows the sizes the
gateway read back after the fill: planning from a view that has not heard of the last fill would
reduce twice for the same risk.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from monitor.actions.gateway import Gateway, Intent, IntentKind, Origin, Outcome
from monitor.actions.journal import TradingState
from monitor.actions.planner import Key, Plan, StepKind, plan_account, triggered
from monitor.actions.settings import DeriskSettings, Mode
from monitor.alerts import Alert, AlertKind, FactValue, Level, Transition
from monitor.logs import get_logger
from monitor.model import Account, AccountRisk
from monitor.tasks import cancel_and_wait

log = get_logger(__name__)

_INTENT = {
    StepKind.REDUCE: IntentKind.REDUCE,
    StepKind.CLOSE: IntentKind.CLOSE,
    StepKind.ADD_MARGIN: IntentKind.ADD_MARGIN,
}


class Derisker:
    """``on_risks`` is the daemon risk listener. ``view(account)`` is ``Engine.account_view``."""

    def __init__(
        self,
        gateway: Gateway,
        settings: DeriskSettings,
        view: Callable[[str], Account | None],
        *,
        on_alert: Callable[[Sequence[Alert]], None] | None = None,
        refresh: Callable[[str], Awaitable[None]] | None = None,
        barrier_timeout_s: float = 3.0,
        poll_s: float = 0.01,
    ) -> None:
        self.gateway = gateway
        self.settings = settings
        self.view = view
        self.on_alert = on_alert
        self.refresh = refresh
        self.barrier_timeout_s = barrier_timeout_s
        self.poll_s = poll_s
        self.passes = 0
        self.outcomes: Counter[Outcome] = Counter()  # of every automatic submit, for status and tests
        self.plans: list[Plan] = []  # the latest pass's plans per account, for status and tests
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._expected: dict[str, dict[Key, tuple[float, float | None]]] = {}
        self._suggested_ms: dict[str, int] = {}

    # --- the listener -----------------------------------------------------------------------------
    def on_risks(self, risks: Sequence[AccountRisk]) -> None:
        for risk in risks:
            mode = self.settings.mode_for(risk.account)
            if mode is Mode.OFF or not triggered(risk, self.settings.targets):
                continue
            self._dirty.add(risk.account)
            self._schedule(risk.account)

    def _schedule(self, account: str) -> None:
        if account in self._tasks:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("de-risk trigger outside the event loop ignored", account=account)
            return
        task = loop.create_task(self._run(account), name=f"derisk:{account}")
        self._tasks[account] = task
        task.add_done_callback(lambda t: self._finished(account, t))

    def _finished(self, account: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(account) is task:
            del self._tasks[account]
        if not task.cancelled() and account in self._dirty:
            self._schedule(account)  # a trigger arrived after the last pass looked

    # --- lifecycle --------------------------------------------------------------------------------
    async def wait_idle(self) -> None:
        """Until no pass is running (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
            await asyncio.sleep(0)

    async def stop(self) -> None:
        self._dirty.clear()
        await cancel_and_wait(list(self._tasks.values()))
        self._tasks.clear()

    # --- a pass -----------------------------------------------------------------------------------
    async def _run(self, account: str) -> None:
        try:
            while account in self._dirty:
                self._dirty.discard(account)
                if self.gateway.state is TradingState.HALTED:
                    return
                await self._barrier(account)
                view = self.view(account)
                if view is None:
                    return
                lots = {p.symbol: self.gateway.lot(account, p.symbol) for p in view.positions}
                # pure and over immutable values: a large account's plan (tens of ms) runs off the
                # event loop, which keeps applying ticks meanwhile
                plans = await asyncio.to_thread(plan_account, view, self.settings, lots)
                self.passes += 1
                self.plans = [p for p in self.plans if p.account != account] + list(plans)
                mode = self.settings.mode_for(account)
                if mode is Mode.AUTO:
                    await self._execute(account, plans)
                elif mode is Mode.SUGGEST:
                    self._suggest(view, plans)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("de-risk pass failed", account=account)

    async def _execute(self, account: str, plans: Sequence[Plan]) -> None:
        for plan in plans:
            blocked: set[Key] = set()
            for step in plan.steps:
                if step.key in blocked:
                    continue
                kind = _INTENT[step.kind]
                intent = Intent(
                    account,
                    step.symbol,
                    step.position_side,
                    kind,
                    amount=None if kind is IntentKind.CLOSE else step.quantity,
                    origin=Origin.AUTO,
                    reason=f"{step.reason}; plan: {plan.trigger}",
                )
                result = await self.gateway.submit(intent)
                self.outcomes[result.outcome] += 1
                if result.acted and result.size_after is not None:
                    expected = (result.size_after, result.wallet_after)
                    self._expected.setdefault(account, {})[step.key] = expected
                if not result.ok:
                    blocked.add(step.key)
                    if result.outcome is not Outcome.REFUSED or self.gateway.state is TradingState.HALTED:
                        return  # the exchange said no, or the gateway halted: stop this pass

    async def _barrier(self, account: str) -> None:
        """Wait until the view shows what the gateway read back after the last fills.

        If it does not in time (a lost stream frame, or a REST snapshot read before the fill that
        landed after it), ask for a fresh snapshot (``refresh``) rather than plan from a view that
        has not heard of the fill."""
        expected = self._expected.pop(account, None)
        if not expected:
            return
        if await self._caught_up(account, expected):
            return
        log.warning("daemon view did not catch up with the last fills", account=account)
        if self.refresh is not None:
            try:
                await self.refresh(account)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("account refresh failed", account=account)
            else:
                await self._caught_up(account, expected)

    async def _caught_up(self, account: str, expected: dict[Key, tuple[float, float | None]]) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.barrier_timeout_s
        while True:
            view = self.view(account)
            if view is not None and all(_matches(view, key, *seen) for key, seen in expected.items()):
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(self.poll_s)

    # --- suggest mode -----------------------------------------------------------------------------
    def _suggest(self, view: Account, plans: Sequence[Plan]) -> None:
        steps = [s for p in plans for s in p.steps]
        if not steps or self.on_alert is None:
            return
        now = self.gateway.clock()
        last = self._suggested_ms.get(view.name)
        if last is not None and now - last < self.settings.caps.cooldown_s * 1000:
            return
        self._suggested_ms[view.name] = now
        first = steps[0]
        facts: dict[str, FactValue] = {
            "mode": "suggest",
            "steps": len(steps),
            "action": first.kind.value,
            "amount": first.quantity,
            "size": first.contracts_before,
            "ratio_before": first.before.margin_ratio,
            "ratio_after": first.after.margin_ratio,
            "liquidation_before": first.before.liquidation_price,
            "liquidation_after": first.after.liquidation_price,
        }
        alert = Alert(
            key=f"suggest:{view.name}",
            kind=AlertKind.ACTION,
            level=Level.WARN,
            transition=Transition.EVENT,
            venue=view.venue.value,
            account=view.name,
            message="Suggested de-risking (confirm with the buttons):\n"
            + "\n".join(p.describe() for p in plans),
            ts_ms=now,
            symbol=first.symbol,
            position_side=first.position_side.value,
            margin_mode=first.margin_mode.value,
            facts=facts,
        )
        try:
            self.on_alert([alert])
        except Exception:
            log.exception("alert callback failed")


def _matches(view: Account, key: Key, size: float, wallet: float | None) -> bool:
    """The view holds the leg as read back after the action: size, and isolated wallet (a transfer)."""
    leg = next((p for p in view.positions if p.key == key), None)
    if leg is None:
        return size == 0
    if not math.isclose(leg.contracts, size, rel_tol=1e-9, abs_tol=1e-12):
        return False
    return wallet is None or leg.isolated_wallet is None or abs(leg.isolated_wallet - wallet) <= 0.01
