"""Did the monitor see each liquidation coming? The demo's report and the acid test.

The simulated exchange liquidates from its own ledger by the definition (equity <= requirement at the
mark). The monitor computes the same situation from what it received over the wire. For every
liquidation the exchange performs, this log answers:

- **predicted at the price**: among the monitor's evaluations of that position, one was made at the very
  mark the exchange liquidated at, and it put the subject's margin ratio at or beyond 1.0 (the position's
  own ratio when isolated, the account's when cross);
- **within one tick**: for an isolated position, the monitor's liquidation price computed on the tick
  before lies between that tick's mark and the liquidating mark;
- **critical first**: a CRITICAL risk alert for that position (or its cross account) came before the
  exchange's liquidation alert.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from monitor.alerts import Alert, AlertKind, Level
from monitor.model import AccountRisk, MarginMode

REL = 1e-9


@dataclass(frozen=True, slots=True)
class Sample:
    seq: int
    mark: float
    ratio: float
    liquidation_price: float | None


@dataclass(frozen=True, slots=True)
class Verdict:
    account: str
    symbol: str
    position_side: str
    margin_mode: str
    exchange_mark: float
    predicted_at_price: bool
    within_one_tick: bool | None  # None where not applicable (cross: prices move together)
    monitor_liquidation_price: float | None
    critical_first: bool

    @property
    def ok(self) -> bool:
        return self.predicted_at_price and self.within_one_tick is not False and self.critical_first


@dataclass
class PredictionLog:
    """Fed by the daemon's risk and alert listeners."""

    history: dict[tuple[str, str, str], deque[Sample]] = field(default_factory=dict)
    critical_seq: dict[tuple[str, str, str], int] = field(default_factory=dict)
    cross_critical_seq: dict[str, int] = field(default_factory=dict)
    liquidation_seq: dict[tuple[str, str, str], int] = field(default_factory=dict)
    seq: int = 0

    def on_risks(self, risks: Iterable[AccountRisk]) -> None:
        for risk in risks:
            self.seq += 1
            cross_ratio = risk.cross.margin_ratio if risk.cross is not None else None
            for p in risk.positions:
                key = (risk.account, p.symbol, str(p.position_side))
                ratio = (
                    cross_ratio
                    if p.margin_mode is MarginMode.CROSS and cross_ratio is not None
                    else p.margin_ratio
                )
                seen = self.history.setdefault(key, deque(maxlen=64))
                seen.append(Sample(self.seq, p.mark_price, ratio, p.liquidation_price))

    def on_alerts(self, alerts: Sequence[Alert]) -> None:
        for a in alerts:
            self.seq += 1
            if a.symbol is None and a.kind is AlertKind.RISK and a.level >= Level.CRITICAL:
                self.cross_critical_seq.setdefault(a.account, self.seq)
                continue
            key = (a.account, a.symbol or "", a.position_side or "")
            if a.kind is AlertKind.RISK and a.level >= Level.CRITICAL:
                self.critical_seq.setdefault(key, self.seq)
            elif a.kind is AlertKind.LIQUIDATION:
                self.liquidation_seq.setdefault(key, self.seq)

    def verdict(
        self, account: str, symbol: str, position_side: str, margin_mode: str, mark: float
    ) -> Verdict:
        """Judge one liquidation the exchange performed at ``mark``."""
        key = (account, symbol, position_side)
        seen = list(self.history.get(key, ()))
        at_price = [s for s in seen if abs(s.mark - mark) <= REL * mark]
        predicted = any(s.ratio >= 1.0 - REL for s in at_price)
        isolated = margin_mode == MarginMode.ISOLATED.value
        within: bool | None = None
        lp: float | None = None
        if at_price:
            before = [s for s in seen if s.seq < at_price[0].seq]
            if before:
                lp = before[-1].liquidation_price
                if isolated:
                    lo, hi = sorted((before[-1].mark, mark))
                    within = lp is not None and lo * (1 - REL) <= lp <= hi * (1 + REL)
        elif isolated:
            within = False
        liq_seq = self.liquidation_seq.get(key)
        crit = self.critical_seq.get(key)
        if not isolated:
            cross = self.cross_critical_seq.get(account)
            crit = min(c for c in (crit, cross) if c is not None) if (crit or cross) else None
        critical_first = crit is not None and (liq_seq is None or crit < liq_seq)
        return Verdict(
            account, symbol, position_side, margin_mode, mark, predicted, within, lp, critical_first
        )
