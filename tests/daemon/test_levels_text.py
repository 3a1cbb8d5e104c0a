"""What ``/levels`` answers: the thresholds in the units the alerts write them in."""

from __future__ import annotations

from pathlib import Path

from monitor.alerts import Level
from monitor.daemon.ports import DaemonStatus
from monitor.daemon.service import Daemon, DaemonOptions
from monitor.policy import LevelThresholds, PolicyConfig


def test_levels_read_in_percent_as_the_alerts_do(tmp_path: Path) -> None:
    policy = PolicyConfig(levels=LevelThresholds(ratio_warn=0.5, ratio_danger=0.7, ratio_critical=1.2))
    daemon = Daemon(DaemonOptions(state_file=str(tmp_path / "s.sqlite3"), policy=policy, venues={}), [])
    try:
        rules = {r.level: r.condition for r in DaemonStatus(daemon).levels()}
    finally:
        daemon.conn.close()
    assert rules[Level.WARN] == "margin ratio >= 50 % or liquidation within 15 %"
    assert rules[Level.DANGER] == "margin ratio >= 70 % or liquidation within 8 %"
    # a critical threshold above liquidation is applied at liquidation, and the text says so
    assert rules[Level.CRITICAL].startswith("margin ratio >= 100 % or liquidation within 4 %, and always")
