"""The daemon's side of the Telegram boundary: status reads and control commands.

Reads come from in-memory state (the engine's latest risks, the policy's open episodes, the freshness
clocks), so ``/status`` costs nothing on the event path. Commands change the policy state through the
daemon, which persists it like any other change, so a mute or an acknowledgement survives a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from monitor.actions.gateway import Gateway
from monitor.actions.journal import TradingState
from monitor.alerts import Level
from monitor.daemon.service import Daemon
from monitor.figures import fmt_pct_threshold, fmt_ratio_threshold
from monitor.model import MarginMode
from monitor.notify.ports import (
    AccountRiskView,
    ActionPort,
    ActionRequest,
    ActionResult,
    ActionStatus,
    ControlResult,
    FeedStatus,
    LevelRule,
    PositionRow,
    Preview,
    StatusSummary,
)
from monitor.policy import ack, ack_all, mute, unmute_all
from monitor.policy import keys as policy_keys
from monitor.policy.levels import ratio_threshold


class DaemonStatus:
    def __init__(self, daemon: Daemon, trading: Gateway | None = None) -> None:
        self.daemon = daemon
        self.trading = trading

    def _level(self, key: str) -> Level:
        track = self.daemon.policy_state.tracks.get(key)
        return track.level if track is not None and track.is_open else Level.OK

    def feeds(self) -> tuple[FeedStatus, ...]:
        now = self.daemon.clock()
        cfg = self.daemon.options.policy.staleness
        out = []
        for stream, last in sorted(self.daemon.freshness.items()):
            age = (now - last) / 1000 if last else None
            out.append(FeedStatus(stream, age, age is None or age * 1000 > cfg.threshold_ms(stream)))
        return tuple(out)

    def status(self) -> StatusSummary:
        risks = self.daemon.engine.risks
        state = self.daemon.policy_state
        open_levels = [t.level for t in state.open_episodes()]
        now = self.daemon.clock()
        mutes = tuple(
            f"{account or 'all accounts'} {symbol or 'all symbols'} until "
            f"{datetime.fromtimestamp(until / 1000, UTC):%H:%M} UTC"
            for (account, symbol), until in sorted(state.mutes.items(), key=str)
            if until > now
        )
        return StatusSummary(
            accounts=len(self.daemon.engine.books),
            positions=sum(len(r.positions) for r in risks.values()),
            feeds=self.feeds(),
            worst_level=max(open_levels, default=Level.OK),
            halted=self.trading is not None and self.trading.state is TradingState.HALTED,
            dry_run=True if self.trading is None else self.trading.dry_run,
            mutes=mutes,
        )

    def _rows(self, account: str) -> list[PositionRow]:
        risk = self.daemon.engine.risks.get(account)
        if risk is None:
            return []
        cross_ratio = risk.cross.margin_ratio if risk.cross else None
        rows = []
        for p in risk.positions:
            ratio = (
                cross_ratio
                if p.margin_mode is MarginMode.CROSS and cross_ratio is not None
                else p.margin_ratio
            )
            key = policy_keys.position_risk(account, p.symbol, p.position_side.value)
            rows.append(
                PositionRow(
                    account=account,
                    venue=risk.venue.value,
                    symbol=p.symbol,
                    side=p.side.value,
                    position_side=p.position_side.value,
                    margin_mode=p.margin_mode.value,
                    contracts=p.contracts or 0.0,
                    mark_price=p.mark_price,
                    liquidation_price=p.liquidation_price,
                    distance_pct=p.distance_pct,
                    margin_ratio=ratio,
                    level=self._level(key),
                )
            )
        return rows

    def positions(self) -> Sequence[PositionRow]:
        return [row for name in sorted(self.daemon.engine.risks) for row in self._rows(name)]

    def account_risk(self, account: str) -> AccountRiskView | None:
        if account not in self.daemon.engine.books:
            return None
        risk = self.daemon.engine.risks.get(account)
        cross = risk.cross if risk else None
        rows = tuple(self._rows(account))
        return AccountRiskView(
            account=account,
            venue=self.daemon.engine.books[account].venue.value,
            cross_equity=cross.equity if cross else None,
            cross_maint_margin=cross.maint_margin if cross else None,
            cross_margin_ratio=cross.margin_ratio if cross else None,
            positions=rows,
            level=max(
                [self._level(policy_keys.account_risk(account)), *(r.level for r in rows)], default=Level.OK
            ),
        )

    def levels(self) -> Sequence[LevelRule]:
        """The thresholds in the words and units the alerts use: margin ratios in percent."""
        lv = self.daemon.options.policy.levels

        def rule(level: Level, distance_pct: float) -> str:
            ratio = fmt_ratio_threshold(ratio_threshold(lv, level))
            return f"margin ratio >= {ratio} or liquidation within {fmt_pct_threshold(distance_pct)}"

        return [
            LevelRule(Level.WARN, rule(Level.WARN, lv.distance_warn_pct)),
            LevelRule(Level.DANGER, rule(Level.DANGER, lv.distance_danger_pct)),
            LevelRule(
                Level.CRITICAL,
                f"{rule(Level.CRITICAL, lv.distance_critical_pct)}, and always without equity or past the "
                "liquidation price (never muted, repeats until acknowledged)",
            ),
        ]


class DaemonControl:
    def __init__(self, daemon: Daemon, trading: Gateway | None = None) -> None:
        self.daemon = daemon
        self.trading = trading

    async def mute(self, duration_s: int, symbol: str | None, by_user: int) -> ControlResult:
        until = self.daemon.clock() + duration_s * 1000
        self.daemon.replace_policy_state(mute(self.daemon.policy_state, None, symbol, until))
        what = symbol or "all symbols"
        return ControlResult(
            True, f"muted {what} for {duration_s // 60} min (critical alerts still come through)"
        )

    async def unmute(self, by_user: int) -> ControlResult:
        self.daemon.replace_policy_state(unmute_all(self.daemon.policy_state))
        return ControlResult(True, "all mutes lifted")

    async def ack(self, keys: Sequence[str] | None, by_user: int) -> ControlResult:
        now = self.daemon.clock()
        state = self.daemon.policy_state
        if keys is None:
            state, tracks = ack_all(state, now)
            self.daemon.replace_policy_state(state)
            return ControlResult(
                bool(tracks),
                f"acknowledged {len(tracks)} critical episode(s)" if tracks else "nothing critical is open",
            )
        done = 0
        for key in keys:
            state, track = ack(state, key, now)
            done += track is not None
        self.daemon.replace_policy_state(state)
        return ControlResult(done > 0, f"acknowledged {done} episode(s)" if done else "no such open episode")

    async def halt(self, by_user: int) -> ControlResult:
        if self.trading is None:
            return ControlResult(False, "de-risking is not configured: nothing to halt")
        self.trading.halt("halted from Telegram", by=f"telegram user {by_user}")
        return ControlResult(True, "HALTED: no order or margin transfer will be sent")

    async def resume(self, by_user: int) -> ControlResult:
        if self.trading is None:
            return ControlResult(False, "de-risking is not configured")
        self.trading.resume(by=f"telegram user {by_user}")
        return ControlResult(True, "trading resumed")


STARTING = "the daemon is starting up; try again in a moment"


class LatePorts:
    """Telegram's ports, bound once the daemon and the gateway exist.

    The notifier is built and started before the daemon so that nothing said at start-up is lost; its
    commands and buttons answer "starting up" until ``bind`` attaches the real ports.
    """

    def __init__(self) -> None:
        self._status: DaemonStatus | None = None
        self._control: DaemonControl | None = None
        self._actions: ActionPort | None = None

    def bind(self, daemon: Daemon, gateway: Gateway | None = None, actions: ActionPort | None = None) -> None:
        self._status = DaemonStatus(daemon, gateway)
        self._control = DaemonControl(daemon, gateway)
        self._actions = actions

    # StatusPort
    def status(self) -> StatusSummary:
        return self._status.status() if self._status else StatusSummary(accounts=0, positions=0)

    def positions(self) -> Sequence[PositionRow]:
        return self._status.positions() if self._status else []

    def account_risk(self, account: str) -> AccountRiskView | None:
        return self._status.account_risk(account) if self._status else None

    def levels(self) -> Sequence[LevelRule]:
        return self._status.levels() if self._status else []

    # ControlPort
    async def mute(self, duration_s: int, symbol: str | None, by_user: int) -> ControlResult:
        return (
            await self._control.mute(duration_s, symbol, by_user)
            if self._control
            else ControlResult(False, STARTING)
        )

    async def unmute(self, by_user: int) -> ControlResult:
        return await self._control.unmute(by_user) if self._control else ControlResult(False, STARTING)

    async def ack(self, keys: Sequence[str] | None, by_user: int) -> ControlResult:
        return await self._control.ack(keys, by_user) if self._control else ControlResult(False, STARTING)

    async def halt(self, by_user: int) -> ControlResult:
        return await self._control.halt(by_user) if self._control else ControlResult(False, STARTING)

    async def resume(self, by_user: int) -> ControlResult:
        return await self._control.resume(by_user) if self._control else ControlResult(False, STARTING)

    # ActionPort
    async def preview(self, request: ActionRequest) -> Preview:
        if self._actions is None:
            return Preview(ok=False, message=STARTING)
        return await self._actions.preview(request)

    async def execute(
        self, request: ActionRequest, expected_size: float | None, by_user: int
    ) -> ActionResult:
        if self._actions is None:
            return ActionResult(ActionStatus.REFUSED, STARTING)
        return await self._actions.execute(request, expected_size, by_user)
