"""Events that cross the venue boundary into the engine.

A venue adapter turns whatever its exchange sends (REST bodies, stream frames) into these values; the
engine never sees a raw payload. Symbols are ccxt unified symbols (``BTC/USDT:USDT``); ``account`` is the
configured account label; times are epoch milliseconds (UTC) as the exchange stamped them, and
``received_ms`` is our own clock when the frame arrived (what freshness is measured with).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from monitor.model import Collateral, MarginMode, PositionSide, Tier


@dataclass(frozen=True, slots=True)
class MarkPrices:
    """Mark prices for one venue: one symbol (``@markPrice``) or many (``!markPrice@arr``).

    ``event_ms`` is the oldest exchange time among the prices (stream ``E``, premiumIndex ``time``);
    ``stamps`` gives each symbol's own when they differ, and is ``None`` when every price carries
    ``event_ms`` (an all-market frame is stamped as one). The engine keeps the newest mark of each
    symbol by these times, whatever the source."""

    venue: str
    prices: dict[str, float]
    event_ms: int
    received_ms: int
    stamps: Mapping[str, int] | None = None

    def stamp(self, symbol: str) -> int:
        """The exchange time of ``symbol``'s price."""
        return self.event_ms if self.stamps is None else self.stamps[symbol]


@dataclass(frozen=True, slots=True)
class PositionState:
    """One position leg as the exchange reports it. ``amount`` is signed (negative short); 0 = flat.

    Fields a source does not carry are ``None`` (ACCOUNT_UPDATE has no liquidation price, mark or
    maintenance margin; positionRisk v3 has no leverage).

    ``update_ms`` is positionRisk's ``updateTime``: when the exchange last changed the position (a
    fill, a margin change), 0 when unknown or never. It is not the time of ``mark_price``, which the
    exchange values when it answers, so it only bounds that from below: the mark is at least that
    new."""

    symbol: str
    position_side: PositionSide
    margin_mode: MarginMode
    amount: float
    entry_price: float
    isolated_wallet: float | None = None
    unrealized_pnl: float | None = None
    mark_price: float | None = None
    liquidation_price: float | None = None
    maint_margin: float | None = None
    leverage: float | None = None
    update_ms: int = 0
    # when the position was opened (epoch ms), 0 = unknown: Bitget's maintenance rule depends on it
    opened_ms: int = 0


@dataclass(frozen=True, slots=True)
class AccountSnapshotEvent:
    """A full REST resync of one account: replaces everything the engine holds for it."""

    venue: str
    account: str
    cross_wallet_balance: float
    positions: tuple[PositionState, ...]
    received_ms: int
    hedge_mode: bool | None = None
    multi_assets: bool | None = None
    total_maint_margin: float | None = None
    total_margin_balance: float | None = None
    # When the first request of the snapshot left: a delta received after it may be newer than what
    # the REST bodies say, and must not be overwritten by them. 0 = unknown (replace everything).
    requested_ms: int = 0
    # Multi-Assets mode: the pool's other assets (``cross_wallet_balance`` is the settlement asset's)
    collateral: tuple[Collateral, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """A user-stream delta (Binance ACCOUNT_UPDATE): only what changed."""

    venue: str
    account: str
    reason: str
    cross_wallet_balance: float | None
    positions: tuple[PositionState, ...]
    event_ms: int
    received_ms: int
    # the other assets' cross wallets (``cw``), in their own units: margin in Multi-Assets mode
    other_balances: tuple[tuple[str, float], ...] = ()


class OrderKind(StrEnum):
    NORMAL = "normal"
    LIQUIDATION = "liquidation"  # client id autoclose-...
    ADL = "adl"  # client id adl_autoclose
    SETTLEMENT = "settlement"  # settlement_autoclose-...


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A user-stream order event (Binance ORDER_TRADE_UPDATE)."""

    venue: str
    account: str
    symbol: str
    client_order_id: str
    kind: OrderKind
    side: str  # "buy" | "sell"
    position_side: PositionSide
    order_type: str
    execution_type: str
    status: str
    reduce_only: bool
    last_filled_qty: float
    filled_qty: float
    last_price: float
    average_price: float
    realized_pnl: float
    commission: float
    event_ms: int
    received_ms: int
    # The exchange's order id (ORDER_TRADE_UPDATE ``i``, forceOrders ``orderId``): every ADL order
    # has the same client id, ``adl_autoclose``, so only this tells two of them apart.
    order_id: int | None = None


@dataclass(frozen=True, slots=True)
class MarginCallPosition:
    symbol: str
    position_side: PositionSide
    margin_mode: MarginMode
    amount: float
    mark_price: float
    unrealized_pnl: float
    maint_margin: float
    isolated_wallet: float | None


@dataclass(frozen=True, slots=True)
class MarginCall:
    venue: str
    account: str
    cross_wallet_balance: float | None
    positions: tuple[MarginCallPosition, ...]
    event_ms: int
    received_ms: int


@dataclass(frozen=True, slots=True)
class ListenKeyExpired:
    venue: str
    account: str
    event_ms: int
    received_ms: int


@dataclass(frozen=True, slots=True)
class TierTable:
    """Maintenance tiers of one symbol for one account (brackets can be user specific)."""

    venue: str
    account: str
    symbol: str
    tiers: tuple[Tier, ...]
    received_ms: int


@dataclass(frozen=True, slots=True)
class VenueBanned:
    """The exchange refused REST calls for a while (HTTP 418: the IP is banned; 429: rate limited).
    The adapter sends none until ``until_ms`` (our clock): each one would extend the ban."""

    venue: str
    until_ms: int
    status: int
    detail: str = ""
    received_ms: int = 0


class StreamState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class StreamHealth:
    """A stream came up or went down. ``stream`` names it, e.g.
    ``binanceusdm:marks`` or ``binanceusdm:main:user``."""

    stream: str
    state: StreamState
    detail: str = ""
    received_ms: int = 0


@dataclass(frozen=True, slots=True)
class Rejected:
    """A frame that failed validation: logged and counted, never applied, never counted as fresh."""

    source: str
    reason: str
    excerpt: str = ""
    received_ms: int = 0


Event = (
    MarkPrices
    | AccountSnapshotEvent
    | AccountUpdate
    | OrderUpdate
    | MarginCall
    | ListenKeyExpired
    | TierTable
    | StreamHealth
    | VenueBanned
    | Rejected
)
