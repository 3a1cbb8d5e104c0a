"""Bybit v5's error replies: ``{"retCode", "retMsg", "result": {}, "retExtInfo": {}, "time"}``.

Bybit answers almost every refusal with HTTP 200 and a non-zero ``retCode`` (ccxt maps the code to its
exception classes: 10003/10004 ``AuthenticationError``, 10002 ``InvalidNonce``, 110017 ``InvalidOrder``,
110001 ``OrderNotFound``, ...). The core's neutral refusals (``rejections.Reason``) are mapped here, in
one table, next to the routes that send them.
"""

from __future__ import annotations

from typing import Any

from monitor.sim.rejections import Reason, Rejected


class BybitError(Exception):
    """A refusal in Bybit's words. ``status`` is the HTTP status (200 for nearly every one)."""

    def __init__(self, code: int, msg: str, status: int = 200) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self, now_ms: int) -> dict[str, Any]:
        return {"retCode": self.code, "retMsg": self.msg, "result": {}, "retExtInfo": {}, "time": now_ms}


_BY_REASON: dict[Reason, tuple[int, str]] = {
    Reason.UNKNOWN_ERROR: (10016, "Internal system error."),
    Reason.BAD_SYMBOL: (10001, "params error: symbol invalid"),
    Reason.MISSING_PARAM: (10001, "params error"),
    Reason.PARAM_NOT_ALLOWED: (10001, "params error"),
    Reason.INVALID_PARAM: (10001, "params error"),
    Reason.BAD_SIDE: (10001, "params error: side invalid"),
    Reason.BAD_ORDER_TYPE: (10001, "params error: orderType invalid"),
    Reason.BAD_CLIENT_ORDER_ID: (10001, "params error: orderLinkId invalid"),
    Reason.QTY_NOT_POSITIVE: (10001, "params error: qty invalid"),
    Reason.QTY_PRECISION: (10001, "Qty invalid"),
    Reason.QTY_BELOW_MIN: (10001, "The number of contracts is below the minimum allowed"),
    Reason.QTY_ABOVE_MAX: (10001, "The number of contracts exceeds maximum limit allowed"),
    Reason.NOTIONAL_BELOW_MIN: (110094, "Order does not meet minimum order value"),
    Reason.POSITION_SIDE_MISMATCH: (10001, "position idx not match position mode"),
    Reason.REDUCE_ONLY_WOULD_INCREASE: (110017, "current position is zero, cannot fix reduce-only order qty"),
    Reason.INSUFFICIENT_MARGIN: (110007, "ab not enough for new order"),
    Reason.MAX_POSITION_AT_LEVERAGE: (110090, "Order would exceed the risk limit"),
    Reason.BAD_LEVERAGE: (10001, "leverage invalid"),
    Reason.MARGIN_MODE_UNCHANGED: (110026, "Cross/isolated margin mode is not modified"),
    Reason.MARGIN_MODE_WITH_POSITION: (110027, "Margin mode cannot be switched with an open position"),
    Reason.MARGIN_NOT_ISOLATED: (110043, "Set margin not modified: the position is not isolated"),
    Reason.CROSS_BALANCE_INSUFFICIENT: (110044, "Insufficient available margin"),
    Reason.ISOLATED_BALANCE_INSUFFICIENT: (110044, "Insufficient available margin"),
    Reason.POSITION_MODE_UNCHANGED: (110025, "Position mode is not modified"),
    Reason.POSITION_MODE_WITH_POSITION: (
        110024,
        "You have an existing position, so position mode cannot be switched",
    ),
    Reason.MULTI_ASSETS_WITH_ISOLATED: (3400045, "Set margin mode failed"),
    Reason.UNKNOWN_ORDER: (110001, "Order does not exist"),
    Reason.UNKNOWN_LISTEN_KEY: (10003, "API key is invalid."),
    Reason.AUTH_FAILED: (10003, "API key is invalid."),
    Reason.BAD_SIGNATURE: (10004, "error sign! origin_string[...]"),
    Reason.BAD_TIMESTAMP: (10002, "invalid request, please check your server timestamp or recv_window param"),
    Reason.RATE_LIMITED: (10006, "Too many visits!"),
    Reason.UNKNOWN_PATH: (10001, "path not found"),
}


def from_rejection(rejected: Rejected) -> BybitError:
    """Bybit's reply to a refusal of the core (every ``Reason`` has one)."""
    code, msg = _BY_REASON[rejected.reason]
    if rejected.field and code == 10001 and ":" not in msg:
        msg = f"{msg}: {rejected.field}"
    return BybitError(code, msg)


def params_error(name: str) -> BybitError:
    return BybitError(10001, f"params error: {name} invalid")
