"""Why the simulated exchange refuses a request, in no venue's words.

The core (ledger, listen keys, faults) raises ``Rejected`` with a ``Reason``; each dialect maps the
reason to its venue's reply (Binance: ``{"code": -2019, "msg": "Margin is insufficient."}`` with its
HTTP status). So one ledger serves every venue, and a venue's error table lives in one place, next
to the routes that send it.
"""

from __future__ import annotations

from enum import Enum


class Reason(Enum):
    """A refusal, as the venues tell them apart (one member per distinct client-visible cause)."""

    UNKNOWN_ERROR = "unknown error"
    BAD_SYMBOL = "unknown symbol"
    MISSING_PARAM = "mandatory parameter missing"
    PARAM_NOT_ALLOWED = "parameter not allowed here"
    INVALID_PARAM = "parameter value not valid"
    BAD_SIDE = "invalid order side"
    BAD_ORDER_TYPE = "order type not supported"
    BAD_CLIENT_ORDER_ID = "client order id not valid"
    QTY_NOT_POSITIVE = "quantity not positive"
    QTY_PRECISION = "quantity finer than the step"
    QTY_BELOW_MIN = "quantity below the minimum"
    QTY_ABOVE_MAX = "quantity above the maximum"
    NOTIONAL_BELOW_MIN = "order notional below the minimum"
    POSITION_SIDE_MISMATCH = "position side does not match the position mode"
    REDUCE_ONLY_WOULD_INCREASE = "reduce-only order would open or increase a position"
    INSUFFICIENT_MARGIN = "insufficient margin"
    MAX_POSITION_AT_LEVERAGE = "position above the maximum at this leverage"
    BAD_LEVERAGE = "leverage not valid"
    MARGIN_MODE_UNCHANGED = "margin mode already set"
    MARGIN_MODE_WITH_POSITION = "margin mode cannot change with a position open"
    MARGIN_NOT_ISOLATED = "margin transfers need an isolated position"
    CROSS_BALANCE_INSUFFICIENT = "cross balance insufficient"
    ISOLATED_BALANCE_INSUFFICIENT = "isolated balance insufficient"
    POSITION_MODE_UNCHANGED = "position mode already set"
    POSITION_MODE_WITH_POSITION = "position mode cannot change with a position open"
    MULTI_ASSETS_WITH_ISOLATED = "multi-assets mode refused while isolated positions are open"
    UNKNOWN_ORDER = "unknown order"
    UNKNOWN_LISTEN_KEY = "unknown listen key"
    AUTH_FAILED = "authentication failed"
    BAD_SIGNATURE = "signature not valid"
    BAD_TIMESTAMP = "timestamp outside the receive window"
    RATE_LIMITED = "rate limited"
    UNKNOWN_PATH = "unknown endpoint"


class Rejected(Exception):
    """A refused request. ``field`` names the parameter at fault when there is one; ``limit`` carries
    the bound a refusal quotes (a minimum notional)."""

    def __init__(self, reason: Reason, field: str | None = None, *, limit: float | None = None) -> None:
        super().__init__(reason.value if field is None else f"{reason.value}: {field}")
        self.reason = reason
        self.field = field
        self.limit = limit
