"""Policy settings as plain frozen values.

The TOML is validated elsewhere (pydantic) and builds these dataclasses; they still check their own
invariants on construction so a test or a script that builds one by hand gets the same clear error,
naming the setting, as a user with a bad config file.

Levels are configurable per account and per symbol. An override only names the settings it changes;
resolution merges ``symbol > account > defaults``. Every combination that can occur is merged and
validated once, when the config is built, so a bad combination (an account's ``ratio_warn`` above a
symbol's ``ratio_danger``) refuses to start instead of failing on a tick, and the lookup on the hot path
is a dictionary hit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from monitor.alerts import Level

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class LevelThresholds:
    """When a position or a cross account is at warn, danger or critical.

        Margin ratio (requirement / equity, liquidation at 1.0) enters a level at ``ratio >= threshold``;
        distance to liquidation (percent of mark) enters at ``distance <= threshold``. The worse of the two
        wins. Equal thresholds skip a level; a distance threshold of 0 in effect switches that distance level
    off (only a position at its liquidation price, already critical by ratio, reaches it).

        Hysteresis: a level is left only when the ratio drops below ``threshold - ratio_band`` and the
        distance rises above ``threshold * (1 + distance_band)`` (relative, since 4 % and 15 % need bands of
        different size). ``confirm_ticks`` > 1 asks for a level on that many consecutive evaluations before
        it opens or escalates an episode (against wicks); critical always fires at once.
    """

    ratio_warn: float = 0.50
    ratio_danger: float = 0.70
    ratio_critical: float = 0.85
    ratio_band: float = 0.05
    distance_warn_pct: float = 15.0
    distance_danger_pct: float = 8.0
    distance_critical_pct: float = 4.0
    distance_band: float = 0.10
    confirm_ticks: int = 1

    def validate(self, where: str) -> None:
        """Raise ``ValueError`` naming ``where`` (a config path) and the offending setting."""
        checks: list[tuple[bool, str]] = [
            (
                0 < self.ratio_warn <= self.ratio_danger <= self.ratio_critical,
                "need 0 < ratio_warn <= ratio_danger <= ratio_critical, got "
                f"{self.ratio_warn:g} / {self.ratio_danger:g} / {self.ratio_critical:g}",
            ),
            (
                0 <= self.ratio_band < self.ratio_warn,
                f"ratio_band {self.ratio_band:g} must be >= 0 and below ratio_warn {self.ratio_warn:g}",
            ),
            (
                self.distance_warn_pct >= self.distance_danger_pct >= self.distance_critical_pct >= 0,
                "need distance_warn_pct >= distance_danger_pct >= distance_critical_pct >= 0, got "
                f"{self.distance_warn_pct:g} / {self.distance_danger_pct:g} / {self.distance_critical_pct:g}",
            ),
            (self.distance_band >= 0, f"distance_band {self.distance_band:g} must be >= 0"),
            (self.confirm_ticks >= 1, f"confirm_ticks {self.confirm_ticks} must be >= 1"),
        ]
        values = (
            self.ratio_warn,
            self.ratio_danger,
            self.ratio_critical,
            self.ratio_band,
            self.distance_warn_pct,
            self.distance_danger_pct,
            self.distance_critical_pct,
            self.distance_band,
        )
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{where}: thresholds must be finite numbers")
        for ok, reason in checks:
            if not ok:
                raise ValueError(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class ThresholdOverride:
    """The settings an account or a symbol changes; ``None`` inherits."""

    ratio_warn: float | None = None
    ratio_danger: float | None = None
    ratio_critical: float | None = None
    ratio_band: float | None = None
    distance_warn_pct: float | None = None
    distance_danger_pct: float | None = None
    distance_critical_pct: float | None = None
    distance_band: float | None = None
    confirm_ticks: int | None = None

    def apply(self, base: LevelThresholds) -> LevelThresholds:
        changes = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        return replace(base, **changes) if changes else base


@dataclass(frozen=True, slots=True)
class RepeatSchedule:
    """How often an unacknowledged open episode is said again; shorter as it gets worse. 0 = never."""

    warn_ms: int = 30 * MINUTE_MS
    danger_ms: int = 10 * MINUTE_MS
    critical_ms: int = 1 * MINUTE_MS

    def interval_ms(self, level: Level) -> int:
        if level >= Level.CRITICAL:
            return self.critical_ms
        if level >= Level.DANGER:
            return self.danger_ms
        return self.warn_ms


@dataclass(frozen=True, slots=True)
class StalenessConfig:
    """Freshness clocks. A stream is stale when nothing fresh arrived for its threshold.

    Thresholds by stream name in ``streams`` win; otherwise by the name's last part: ``...:marks`` uses
    ``marks_ms``, ``...:user`` uses ``user_ms`` (user streams are quiet when nothing trades, and Binance
    only guarantees a frame per listen-key keepalive), anything else ``other_ms``. ``symbol_mark_ms`` is
    the clock of each symbol held in a position, so a mark stream that keeps delivering other symbols
    cannot hide one that stopped.
    """

    marks_ms: int = 15_000
    user_ms: int = 90_000
    other_ms: int = 60_000
    symbol_mark_ms: int = 15_000
    streams: Mapping[str, int] = field(default_factory=dict)
    level: Level = Level.DANGER

    def threshold_ms(self, stream: str) -> int:
        explicit = self.streams.get(stream)
        if explicit is not None:
            return explicit
        if stream.endswith(":marks"):
            return self.marks_ms
        if stream.endswith(":user"):
            return self.user_ms
        return self.other_ms


@dataclass(frozen=True, slots=True)
class DeviationConfig:
    """Our liquidation price against the exchange's: an episode above ``tolerance_pct`` (percent of
    the exchange's price), closed only below ``tolerance_pct - band_pct``."""

    tolerance_pct: float = 0.5
    band_pct: float = 0.1
    level: Level = Level.WARN
    confirm_ticks: int = 1


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Everything the pure policy reads. Build once; share freely (nothing mutates it)."""

    levels: LevelThresholds = field(default_factory=LevelThresholds)
    accounts: Mapping[str, ThresholdOverride] = field(default_factory=dict)
    symbols: Mapping[str, ThresholdOverride] = field(default_factory=dict)
    repeat: RepeatSchedule = field(default_factory=RepeatSchedule)
    staleness: StalenessConfig = field(default_factory=StalenessConfig)
    deviation: DeviationConfig = field(default_factory=DeviationConfig)
    # A cross position's ratio is the account's; off leaves that to the account subject and judges the
    # position by its own distance only (fewer alerts for wallets with many cross positions).
    cross_positions_use_account_ratio: bool = True
    # The first time an account is seen (no persisted state) its positions are a baseline, not news.
    announce_initial_positions: bool = False
    top_positions: int = 3
    event_dedupe_ttl_ms: int = 7 * 24 * 60 * MINUTE_MS
    _resolved: dict[tuple[str | None, str | None], LevelThresholds] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.levels.validate("levels")
        resolved: dict[tuple[str | None, str | None], LevelThresholds] = {}
        for account, acc in self.accounts.items():
            resolved[(account, None)] = t = acc.apply(self.levels)
            t.validate(f"accounts.{account}")
        for symbol, sym in self.symbols.items():
            resolved[(None, symbol)] = t = sym.apply(self.levels)
            t.validate(f"symbols.{symbol}")
            for account, acc in self.accounts.items():
                resolved[(account, symbol)] = t = sym.apply(acc.apply(self.levels))
                t.validate(f"accounts.{account} with symbols.{symbol}")
        self._check_other()
        object.__setattr__(self, "_resolved", resolved)

    def _check_other(self) -> None:
        r, s, d = self.repeat, self.staleness, self.deviation
        if min(r.warn_ms, r.danger_ms, r.critical_ms) < 0:
            raise ValueError("repeat: intervals must be >= 0 (0 = never repeat)")
        stream_ms = [s.marks_ms, s.user_ms, s.other_ms, s.symbol_mark_ms, *s.streams.values()]
        if min(stream_ms) <= 0:
            raise ValueError("staleness: thresholds must be > 0 ms")
        if s.level <= Level.OK or d.level <= Level.OK:
            raise ValueError("staleness.level and deviation.level must be above ok")
        if not (d.tolerance_pct > 0 and 0 <= d.band_pct < d.tolerance_pct):
            raise ValueError(
                f"deviation: need tolerance_pct > 0 and 0 <= band_pct < tolerance_pct, "
                f"got {d.tolerance_pct:g} / {d.band_pct:g}"
            )
        if d.confirm_ticks < 1:
            raise ValueError("deviation.confirm_ticks must be >= 1")
        if self.top_positions < 0:
            raise ValueError("top_positions must be >= 0")

    def account_wide_thresholds(self, account: str) -> LevelThresholds | None:
        """The thresholds of every position of ``account`` when no symbol has its own, else ``None``
        (ask ``thresholds_for`` per symbol). Without symbol overrides a symbol never changes the
        answer, so the policy looks it up once per account rather than once per position."""
        return None if self.symbols else self.thresholds_for(account, None)

    def thresholds_for(self, account: str, symbol: str | None) -> LevelThresholds:
        """The merged thresholds (symbol > account > defaults); ``symbol=None`` for a cross account."""
        r = self._resolved
        if not r:
            return self.levels
        return r.get((account, symbol)) or r.get((None, symbol)) or r.get((account, None)) or self.levels
