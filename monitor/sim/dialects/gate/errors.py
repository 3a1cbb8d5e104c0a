"""Gate's error replies and the simulated accounts' user ids.

Gate answers a refused request with a 4xx status and ``{"label": ..., "message": ...}``; some endpoints
send the label alone (``rest.error.INSUFFICIENT_AVAILABLE.label-only.observed.json``, from the
position endpoints), so the position-margin route answers that way here and ccxt's parser, which
reads only the label, is exercised on both forms. Labels are those of Gate's futures error list, so
ccxt raises what it raises against Gate: ``INCREASE_POSITION`` for a reduce-only order that would grow
the position (InvalidOrder), ``INSUFFICIENT_AVAILABLE`` (InsufficientFunds), ``POSITION_CROSS_MARGIN``
for a margin change on a cross position, ``ORDER_NOT_FOUND``, ``INVALID_SIGNATURE``, ``REQUEST_EXPIRED``.
"""

from __future__ import annotations

import hashlib

from monitor.sim.ledger import Account
from monitor.sim.rejections import Reason, Rejected


class GateError(Exception):
    """A request refused with Gate's label (and message, unless ``message`` is None)."""

    def __init__(self, label: str, message: str | None, status: int = 400) -> None:
        super().__init__(f"{label}: {message}")
        self.label = label
        self.message = message
        self.status = status


_PARAM = ("INVALID_PARAM_VALUE", "invalid argument")

_BY_REASON: dict[Reason, tuple[str, str]] = {
    Reason.UNKNOWN_ERROR: ("INTERNAL", "internal error"),
    Reason.BAD_SYMBOL: ("CONTRACT_NOT_FOUND", "Contract not found"),
    Reason.MISSING_PARAM: ("MISSING_REQUIRED_PARAM", "Missing required parameter"),
    Reason.PARAM_NOT_ALLOWED: _PARAM,
    Reason.INVALID_PARAM: _PARAM,
    Reason.BAD_SIDE: _PARAM,
    Reason.BAD_ORDER_TYPE: (
        "INVALID_PARAM_VALUE",
        "the simulator fills market orders only (price 0, tif ioc)",
    ),
    Reason.BAD_CLIENT_ORDER_ID: ("INVALID_PARAM_VALUE", "Invalid parameter `text`"),
    Reason.QTY_NOT_POSITIVE: ("SIZE_TOO_SMALL", "Order size too small"),
    Reason.QTY_PRECISION: ("INVALID_PARAM_VALUE", "invalid argument: size"),
    Reason.QTY_BELOW_MIN: ("SIZE_TOO_SMALL", "Order size too small"),
    Reason.QTY_ABOVE_MAX: ("SIZE_TOO_LARGE", "Order size too large"),
    Reason.NOTIONAL_BELOW_MIN: ("SIZE_TOO_SMALL", "Order size too small"),
    Reason.POSITION_SIDE_MISMATCH: ("POSITION_DUAL_MODE", "Operation forbidden in dual-mode"),
    Reason.REDUCE_ONLY_WOULD_INCREASE: ("INCREASE_POSITION", "reduce-only order would increase position"),
    Reason.INSUFFICIENT_MARGIN: ("INSUFFICIENT_AVAILABLE", "Insufficient available balance"),
    Reason.MAX_POSITION_AT_LEVERAGE: ("RISK_LIMIT_EXCEEDED", "Position size exceeds the risk limit"),
    Reason.BAD_LEVERAGE: ("LEVERAGE_TOO_HIGH", "Leverage too high"),
    Reason.MARGIN_MODE_UNCHANGED: ("NO_CHANGE", "No change is made"),
    Reason.MARGIN_MODE_WITH_POSITION: ("POSITION_HOLDING", "Operation forbidden with holding position"),
    Reason.MARGIN_NOT_ISOLATED: ("POSITION_CROSS_MARGIN", "margin updating is not allowed in cross margin"),
    Reason.CROSS_BALANCE_INSUFFICIENT: ("INSUFFICIENT_AVAILABLE", "Insufficient available balance"),
    Reason.ISOLATED_BALANCE_INSUFFICIENT: ("REMOVE_TOO_MUCH", "Margin to remove is too much"),
    Reason.POSITION_MODE_UNCHANGED: ("NO_CHANGE", "No change is made"),
    Reason.POSITION_MODE_WITH_POSITION: ("POSITION_HOLDING", "Operation forbidden with holding position"),
    Reason.MULTI_ASSETS_WITH_ISOLATED: _PARAM,
    Reason.UNKNOWN_ORDER: ("ORDER_NOT_FOUND", "Order not found"),
    Reason.UNKNOWN_LISTEN_KEY: _PARAM,
    Reason.AUTH_FAILED: ("INVALID_KEY", "Invalid key provided"),
    Reason.BAD_SIGNATURE: ("INVALID_SIGNATURE", "Signature mismatch"),
    Reason.BAD_TIMESTAMP: ("REQUEST_EXPIRED", "Request timestamp expired"),
    Reason.RATE_LIMITED: ("TOO_MANY_REQUESTS", "Request rate limit exceeded"),
    Reason.UNKNOWN_PATH: ("NOT_FOUND", "Not found"),
}


def from_rejection(rejected: Rejected, *, label_only: bool = False) -> GateError:
    """Gate's reply to a refusal of the simulator's core (the label alone when ``label_only``)."""
    label, message = _BY_REASON[rejected.reason]
    status = 429 if rejected.reason is Reason.RATE_LIMITED else 400
    return GateError(label, None if label_only else message, status)


def uid_of(acct: Account) -> int:
    """A simulated account's numeric user id (what ``GET /futures/usdt/accounts`` calls ``user``),
    derived from its key like the key from the seed: stable, eight digits."""
    digest = hashlib.sha256(f"monitor-sim/uid/{acct.api_key}".encode()).digest()
    return 10_000_000 + int.from_bytes(digest[:4], "big") % 90_000_000
