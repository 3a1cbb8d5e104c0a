"""Builders for policy tests: risk snapshots with only the numbers a test cares about."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hypothesis import strategies as st

from monitor.alerts import Alert, AlertKind, Transition
from monitor.model import AccountRisk, CrossRisk, MarginMode, PositionRisk, PositionSide, Side, Venue
from monitor.policy import LevelThresholds, PolicyConfig, PolicyInputs, PolicyState, evaluate

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
SEC = 1000
MIN = 60 * SEC


def position(
    symbol: str = BTC,
    *,
    ratio: float = 0.1,
    distance: float | None = 50.0,
    side: Side = Side.LONG,
    mode: MarginMode = MarginMode.ISOLATED,
    position_side: PositionSide = PositionSide.BOTH,
    mark: float = 60_000.0,
    maint: float = 10.0,
    deviation: float | None = None,
) -> PositionRisk:
    liq = None if distance is None else mark * (1 - side.sign * distance / 100)
    return PositionRisk(
        symbol=symbol,
        side=side,
        position_side=position_side,
        margin_mode=mode,
        notional=mark * 0.01,
        unrealized_pnl=0.0,
        maint_margin=maint,
        margin_ratio=ratio,
        liquidation_price=liq,
        distance_pct=distance,
        mark_price=mark,
        exchange_liquidation_price=None if deviation is None or liq is None else liq * (1 - deviation / 100),
        deviation_pct=deviation,
    )


def account(
    *positions: PositionRisk,
    name: str = "main",
    cross_ratio: float | None = None,
    equity: float = 1000.0,
) -> AccountRisk:
    cross = None
    if cross_ratio is not None:
        cross = CrossRisk(equity=equity, maint_margin=cross_ratio * equity, margin_ratio=cross_ratio)
    return AccountRisk(venue=Venue.BINANCE_USDM, account=name, cross=cross, positions=tuple(positions))


def drive(
    ratios: Iterable[float],
    config: PolicyConfig,
    *,
    state: PolicyState | None = None,
    start_ms: int = 0,
    step_ms: int = SEC,
) -> tuple[PolicyState, list[Alert]]:
    """Feed one isolated BTC position through a ratio sequence (distance out of play), one tick per
    ``step_ms``. The first snapshot is a baseline for the position list, so no lifecycle alerts."""
    st = state if state is not None else PolicyState()
    out: list[Alert] = []
    for i, r in enumerate(ratios):
        st, alerts = evaluate(
            st,
            PolicyInputs(risks=[account(position(ratio=r, distance=None))]),
            start_ms + i * step_ms,
            config,
        )
        out.extend(alerts)
    return st, out


def risk_transitions(alerts: Sequence[Alert]) -> list[tuple[str, str]]:
    """(transition, level) of the risk alerts, the shape most sequence tests compare."""
    return [(a.transition.value, a.level.label) for a in alerts if a.kind is AlertKind.RISK]


def of_kind(alerts: Sequence[Alert], kind: AlertKind) -> list[Alert]:
    return [a for a in alerts if a.kind is kind]


def transitions(alerts: Sequence[Alert]) -> list[Transition]:
    return [a.transition for a in alerts]


@st.composite
def thresholds(draw: st.DrawFn) -> LevelThresholds:
    """Any valid set of thresholds: ordered levels, bands from none to the widest allowed."""
    warn, danger, critical = sorted(draw(st.lists(st.floats(0.05, 2.0), min_size=3, max_size=3)))
    far, mid, near = sorted(draw(st.lists(st.floats(0.0, 50.0), min_size=3, max_size=3)), reverse=True)
    band = draw(st.floats(0.0, 0.049))
    thr = LevelThresholds(
        ratio_warn=warn,
        ratio_danger=danger,
        ratio_critical=critical,
        ratio_band=min(band, warn * 0.99),
        distance_warn_pct=far,
        distance_danger_pct=mid,
        distance_critical_pct=near,
        distance_band=draw(st.floats(0.0, 0.5)),
    )
    thr.validate("test")
    return thr
