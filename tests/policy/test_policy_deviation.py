"""Our liquidation price against the exchange's: an episode of its own, with a band."""

from __future__ import annotations

from policy_helpers import BTC, account, position

from monitor.alerts import AlertKind, Level
from monitor.policy import DeviationConfig, PolicyConfig, PolicyInputs, PolicyState, RepeatSchedule, evaluate

CFG = PolicyConfig(repeat=RepeatSchedule(warn_ms=0, danger_ms=0, critical_ms=0))


def run(deviations: list[float | None], cfg: PolicyConfig = CFG) -> list[tuple[str, str]]:
    state = PolicyState()
    out = []
    for i, d in enumerate(deviations):
        state, alerts = evaluate(state, PolicyInputs(risks=[account(position(deviation=d))]), i, cfg)
        out += [(a.transition.value, a.level.label) for a in alerts if a.kind is AlertKind.DEVIATION]
    return out


def test_deviation_episode_with_hysteresis() -> None:
    assert run([0.1, 0.6, 0.45, 0.55, 0.41, 0.39, 0.2, 0.7]) == [
        ("opened", "warn"),
        ("closed", "ok"),  # at 0.39, below 0.5 - 0.1
        ("opened", "warn"),
    ]


def test_a_missing_exchange_figure_neither_opens_nor_closes() -> None:
    assert run([None, 0.8, None, None]) == [("opened", "warn")]


def test_deviation_level_and_confirmation_are_configurable() -> None:
    cfg = PolicyConfig(
        repeat=CFG.repeat,
        deviation=DeviationConfig(tolerance_pct=1.0, band_pct=0.2, level=Level.DANGER, confirm_ticks=2),
    )
    assert run([0.9, 1.5, 1.5, 0.9, 0.7], cfg) == [("opened", "danger"), ("closed", "ok")]


def test_deviation_alert_content() -> None:
    _, [alert] = evaluate(PolicyState(), PolicyInputs(risks=[account(position(deviation=0.8))]), 0, CFG)
    assert alert.key == f"deviation:main:{BTC}:both"
    assert alert.facts["deviation_pct"] == 0.8 and alert.facts["tolerance_pct"] == 0.5
    assert alert.message.startswith(
        "main BTC/USDT:USDT long isolated: our liq 30,000.00 vs exchange 29,760.00"
    )
    assert alert.message.endswith("0.80 % apart (tolerance 0.50 %) (warn)")
