"""De-risking settings: what may be done, when, and how much at most.

Plain frozen values that check their own invariants on construction, so a script or a test that builds
one by hand gets the same clear error (naming the setting) as a bad config file. The TOML layer maps its
keys onto these fields one to one.

Why the defaults are what they are:

- ``dry_run=True`` and every account ``off``: sending orders needs two explicit switches (a mode and
  ``dry_run = false``), and a key with trade permission.
- Triggers are margin ratios (requirement / equity, 1.0 = liquidation). With maintenance rates around
  0.4-0.5 % of notional, a cross ratio of 0.5 leaves roughly 0.5 % of adverse move; the target of 0.3
  buys back about three times that. Isolated positions are steered by distance to their liquidation
  price because that is what added margin moves.
- Caps bound what one bad tick, one bad plan or one stuck loop can do: one action per leg per cool-down,
  a handful per hour, at most half a position per automatic order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TypeVar


class Mode(StrEnum):
    """Per account: ``off`` does nothing and refuses buttons; ``suggest`` plans and offers, a person
    confirms every action; ``auto`` also acts on its own when a trigger is crossed."""

    OFF = "off"
    SUGGEST = "suggest"
    AUTO = "auto"


class Selection(StrEnum):
    """Which cross position a plan reduces first."""

    LARGEST_REQUIREMENT = "largest_requirement"  # the biggest share of the maintenance requirement
    WORST_PNL = "worst_pnl"  # the most negative unrealised PnL


class IsolatedFallback(StrEnum):
    """What an isolated plan does when adding margin is not allowed or not enough."""

    REDUCE = "reduce"  # reduce by the largest allowed fraction (shrinks the loss, not the distance)
    CLOSE = "close"  # close the whole position
    NONE = "none"  # nothing beyond the margin that could be added


@dataclass(frozen=True, slots=True)
class Caps:
    """Limits the gateway enforces on every action, whoever asked for it.

    ``cooldown_s`` is per account and position leg, ``max_actions_per_hour`` per account (dry-run
    actions count: a dry run must behave like the real thing). ``max_fraction`` and ``max_notional``
    bound one automatic order; a confirmed button press uses ``manual_max_fraction`` instead (so Close
    works) and ``manual_cooldown_s`` (a double press is refused). ``max_margin_add`` bounds one
    transfer in the settlement asset, ``max_free_fraction`` the share of the free cross balance it may
    take.
    """

    cooldown_s: float = 60.0
    max_actions_per_hour: int = 10
    max_fraction: float = 0.5
    max_notional: float = 50_000.0
    max_margin_add: float = 5_000.0
    max_free_fraction: float = 0.5
    manual_max_fraction: float = 1.0
    manual_cooldown_s: float = 5.0

    def validate(self) -> None:
        _finite(self, "caps")
        _check(self.cooldown_s >= 0, "caps.cooldown_s", "must be >= 0")
        _check(self.manual_cooldown_s >= 0, "caps.manual_cooldown_s", "must be >= 0")
        _check(self.max_actions_per_hour >= 1, "caps.max_actions_per_hour", "must be >= 1")
        _check(0 < self.max_fraction <= 1, "caps.max_fraction", "must be within (0, 1]")
        _check(0 < self.manual_max_fraction <= 1, "caps.manual_max_fraction", "must be within (0, 1]")
        _check(self.max_notional > 0, "caps.max_notional", "must be > 0")
        _check(self.max_margin_add >= 0, "caps.max_margin_add", "must be >= 0")
        _check(0 <= self.max_free_fraction <= 1, "caps.max_free_fraction", "must be within [0, 1]")


@dataclass(frozen=True, slots=True)
class Targets:
    """When a plan is made and where it aims.

    Cross: planned when the account's ratio is at or above ``cross_trigger_ratio``; reduces until it
    is at or below ``cross_target_ratio``. Isolated: planned when the position's ratio reaches
    ``isolated_trigger_ratio`` or its distance to liquidation falls to ``isolated_trigger_distance_pct``;
    margin is added until the distance is ``isolated_target_distance_pct``. A margin transfer never
    takes the cross pool above ``cross_target_ratio``.
    """

    cross_trigger_ratio: float = 0.5
    cross_target_ratio: float = 0.3
    isolated_trigger_ratio: float = 0.5
    isolated_trigger_distance_pct: float = 3.0
    isolated_target_distance_pct: float = 8.0

    def validate(self) -> None:
        _finite(self, "targets")
        _check(
            0 < self.cross_target_ratio < self.cross_trigger_ratio < 1,
            "targets.cross_target_ratio",
            f"need 0 < cross_target_ratio < cross_trigger_ratio < 1, got "
            f"{self.cross_target_ratio:g} / {self.cross_trigger_ratio:g}",
        )
        _check(0 < self.isolated_trigger_ratio < 1, "targets.isolated_trigger_ratio", "must be within (0, 1)")
        _check(
            0 <= self.isolated_trigger_distance_pct < self.isolated_target_distance_pct < 100,
            "targets.isolated_target_distance_pct",
            "need 0 <= isolated_trigger_distance_pct < isolated_target_distance_pct < 100, got "
            f"{self.isolated_trigger_distance_pct:g} / {self.isolated_target_distance_pct:g}",
        )


@dataclass(frozen=True, slots=True)
class Anomalies:
    """What halts the gateway on its own, and how hard it tries to learn an order's fate.

    ``max_rejects`` failures (the exchange refused, or an order was found not to exist after an error)
    within ``reject_window_s`` halt; so does an order whose outcome stays unknown after
    ``lookup_attempts`` unanswered look-ups spaced by ``lookup_delay_s`` (doubling), and, with
    ``halt_on_stale``, an attempt to act on stale data. ``order_settle_s`` is how long after sending an
    unanswered order may still be executed (Binance refuses a request older than its ``recvWindow``,
    10 s as ccxt sends it): before that, "not found by client id" proves nothing.
    """

    halt_on_stale: bool = True
    max_rejects: int = 3
    reject_window_s: float = 600.0
    lookup_attempts: int = 4
    lookup_delay_s: float = 0.25
    order_settle_s: float = 10.0

    def validate(self) -> None:
        _finite(self, "anomalies")
        _check(self.max_rejects >= 1, "anomalies.max_rejects", "must be >= 1")
        _check(self.reject_window_s > 0, "anomalies.reject_window_s", "must be > 0")
        _check(self.lookup_attempts >= 1, "anomalies.lookup_attempts", "must be >= 1")
        _check(self.lookup_delay_s >= 0, "anomalies.lookup_delay_s", "must be >= 0")
        _check(self.order_settle_s >= 0, "anomalies.order_settle_s", "must be >= 0")


@dataclass(frozen=True, slots=True)
class DeriskSettings:
    """Everything the planner, the gateway and the automatic de-risker read.

    ``modes`` maps account labels to a mode; accounts not named use ``default_mode``.
    ``isolated_add_margin`` allows margin transfers from the cross wallet into isolated positions.
    ``max_steps`` bounds one plan's orders. ``guard_market_move`` refuses a cross step that would bring
    the account's nearest uniform-move liquidation closer (reducing a hedge leg can lower the ratio and
    still leave the account more exposed to the move that hurts it).
    """

    modes: Mapping[str, Mode] = field(default_factory=dict)
    default_mode: Mode = Mode.OFF
    dry_run: bool = True
    caps: Caps = field(default_factory=Caps)
    targets: Targets = field(default_factory=Targets)
    anomalies: Anomalies = field(default_factory=Anomalies)
    selection: Selection = Selection.LARGEST_REQUIREMENT
    isolated_add_margin: bool = True
    isolated_fallback: IsolatedFallback = IsolatedFallback.REDUCE
    max_steps: int = 8
    guard_market_move: bool = True

    def __post_init__(self) -> None:
        # enums may be given as their TOML strings ("auto", "worst_pnl"): coerced here, once
        modes = {name: _enum(Mode, mode, f"modes.{name}") for name, mode in self.modes.items()}
        object.__setattr__(self, "modes", modes)
        object.__setattr__(self, "default_mode", _enum(Mode, self.default_mode, "default_mode"))
        object.__setattr__(self, "selection", _enum(Selection, self.selection, "selection"))
        fallback = _enum(IsolatedFallback, self.isolated_fallback, "isolated_fallback")
        object.__setattr__(self, "isolated_fallback", fallback)
        _check(1 <= self.max_steps <= 100, "max_steps", "must be within [1, 100]")
        self.caps.validate()
        self.targets.validate()
        self.anomalies.validate()

    def mode_for(self, account: str) -> Mode:
        return self.modes.get(account, self.default_mode)


class SettingsError(ValueError):
    """A setting out of range; ``key`` is its path (``caps.max_fraction``)."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"derisk.{key}: {reason}")


_E = TypeVar("_E", bound=StrEnum)


def _enum(cls: type[_E], value: object, key: str) -> _E:
    try:
        return cls(str(value))
    except ValueError:
        raise SettingsError(key, f"must be one of {', '.join(cls)}, got {value!r}") from None


def _check(ok: bool, key: str, reason: str) -> None:
    if not ok:
        raise SettingsError(key, reason)


def _finite(obj: object, prefix: str) -> None:
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise SettingsError(f"{prefix}.{f.name}", "must be a finite number")
