"""Domain types shared by every layer.

Everything here is an immutable value: the margin maths and the policy are pure functions over these
snapshots, so a snapshot can be recorded, replayed and compared without a running exchange.

Numbers are ``float``. Exchange payloads carry decimal strings; they are parsed once at the edge
(``monitor.commands.snapshot`` and the venue normalisers). Float keeps a full revaluation cheap
enough to run on every mark tick, and its relative error (about 1e-16 per operation) is far below
the exchanges' own rounding (8 decimals, truncated to the tick).
Tolerances in tests are relative, never ``==``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, TypeVar

_T = TypeVar("_T")


class Side(StrEnum):
    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1


class PositionSide(StrEnum):
    """``both`` is one-way mode; ``long``/``short`` are the legs of a hedge-mode symbol."""

    BOTH = "both"
    LONG = "long"
    SHORT = "short"


class MarginMode(StrEnum):
    CROSS = "cross"
    ISOLATED = "isolated"


class Venue(StrEnum):
    """A rule set: how a venue turns a position into a requirement and a liquidation price."""

    BINANCE_USDM = "binanceusdm"
    BINANCE_COINM = "binancecoinm"
    BYBIT = "bybit"
    OKX = "okx"
    BITGET = "bitget"
    HYPERLIQUID = "hyperliquid"
    BITUNIX = "bitunix"
    GATE = "gate"
    BLOFIN = "blofin"


@dataclass(frozen=True, slots=True)
class Tier:
    """One maintenance tier. ``floor``/``cap`` are in the venue's own unit (see ``TierTable``)."""

    floor: float
    cap: float
    mmr: float
    cum: float = 0.0


@dataclass(frozen=True, slots=True)
class Position:
    """One open position (a hedge-mode leg is a position of its own).

    ``contracts`` is always positive; the direction is ``side``. ``isolated_wallet`` is the margin held
    by an isolated position excluding unrealised PnL (Binance ``isolatedWallet``).
    """

    symbol: str
    side: Side
    margin_mode: MarginMode
    contracts: float
    entry_price: float
    mark_price: float
    tiers: tuple[Tier, ...]
    contract_size: float = 1.0
    inverse: bool = False
    position_side: PositionSide = PositionSide.BOTH
    isolated_wallet: float | None = None
    leverage: float | None = None
    exchange_liquidation_price: float | None = None
    # When the position was opened (epoch seconds), for venues whose rule depends on it (Bitget's
    # tiered maintenance margin applies to positions opened after a cut-over instant).
    opened_at: float | None = None

    @property
    def key(self) -> tuple[str, PositionSide]:
        """Identity inside an account: a symbol, and the leg in hedge mode."""
        return (self.symbol, self.position_side)


@dataclass(frozen=True, slots=True)
class Collateral:
    """A non-settlement asset counted in the cross pool (Binance Multi-Assets mode, Bybit UTA).

    Its value is ``amount x price x (1 - haircut)`` in the settlement asset (a debt, ``amount < 0``, is
    counted in full). When ``symbol`` names a symbol with a mark (a position's, or one in the marks an
    evaluation is given) the price moves with that symbol's mark (BTC collateral with BTC/USDT:USDT).
    Behind a position in that symbol there is no closed-form liquidation price: long BTC against BTC
    collateral loses twice on the way down.
    """

    asset: str
    amount: float
    price: float
    haircut: float = 0.0
    symbol: str | None = None

    def value(self, price: float | None = None) -> float:
        p = self.price if price is None else price
        v = self.amount * p
        return v * (1.0 - self.haircut) if v > 0 else v


@dataclass(frozen=True, slots=True)
class Account:
    """An account at one instant: the cross wallet and every open position.

    ``wallet_balance`` is the cross wallet in the settlement asset (coin for inverse), excluding
    isolated wallets and unrealised PnL.
    """

    venue: Venue
    wallet_balance: float
    positions: tuple[Position, ...] = ()
    name: str = ""
    taker_fee: float = 0.0
    collateral: tuple[Collateral, ...] = ()


class CrossRisk(NamedTuple):
    """The cross pool of an account. ``margin_ratio`` is requirement / equity, liquidation at 1.0;
    ``inf`` when equity is not positive.

    Results are NamedTuples rather than frozen dataclasses: equally immutable, and about seven times
    cheaper to build, which matters at one per position per tick.
    """

    equity: float
    maint_margin: float
    margin_ratio: float


class PositionRisk(NamedTuple):
    symbol: str
    side: Side
    position_side: PositionSide
    margin_mode: MarginMode
    notional: float
    unrealized_pnl: float
    maint_margin: float
    margin_ratio: float
    liquidation_price: float | None
    distance_pct: float | None
    mark_price: float
    exchange_liquidation_price: float | None = None
    deviation_pct: float | None = None
    contracts: float | None = None
    isolated_wallet: float | None = None

    @property
    def key(self) -> tuple[str, PositionSide]:
        return (self.symbol, self.position_side)


class AccountRisk(NamedTuple):
    venue: Venue
    account: str
    cross: CrossRisk | None
    positions: Sequence[PositionRisk] = ()
