"""Bitunix's error replies: ``{"code": <int>, "data": null, "msg": ...}``, always with HTTP 200.

Codes and words from the official demos' error table (``Demo/Golang/error_codes.go``) and the probe
reports (shared fixtures, ``bitunix/README.md``). The core's neutral refusals (``rejections.Reason``)
are mapped here, in one table; where Bitunix has no code of its own for a refusal the nearest one
is used and the words say what happened.
"""

from __future__ import annotations

from typing import Any

from monitor.sim.rejections import Reason, Rejected


class BitunixError(Exception):
    """A refusal in Bitunix's words (sent with HTTP 200, as every Bitunix error is)."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "data": None, "msg": self.msg}


PARAM = 10008
NO_POSITION_REDUCE_ONLY = (
    30018,
    "Order failed. No position opened. Cancel [Reduce-only] settings and retry later",
)
SAME_DIRECTION_REDUCE_ONLY = (
    30019,
    "Order failed. A [Reduce-only] order can not be in the same direction as the open position",
)
POSITION_NOT_EXIST = (30004, "Position not exist")
CLIENT_ID_DUPLICATE = (30042, "Client ID duplicate")
SIGN_ERROR = (10007, "Sign signature error")
TOO_FREQUENT = (10006, "Request too frequently")
NOT_FOUND = (404, "Not Found")

_BY_REASON: dict[Reason, tuple[int, str]] = {
    Reason.UNKNOWN_ERROR: (1, "Network Error"),
    Reason.BAD_SYMBOL: (20015, "this Futures is not allowed to trade."),
    Reason.MISSING_PARAM: (PARAM, "parameter missing"),
    Reason.PARAM_NOT_ALLOWED: (PARAM, "parameter not allowed"),
    Reason.INVALID_PARAM: (PARAM, "parameter does not comply with the rule"),
    Reason.BAD_SIDE: (PARAM, "side does not comply with the rule, optional [BUY, SELL]"),
    Reason.BAD_ORDER_TYPE: (PARAM, "orderType does not comply with the rule, optional [MARKET]"),
    Reason.BAD_CLIENT_ORDER_ID: (PARAM, "clientId does not comply with the rule"),
    Reason.QTY_NOT_POSITIVE: (PARAM, "qty does not comply with the rule"),
    Reason.QTY_PRECISION: (PARAM, "qty precision does not comply with the rule"),
    Reason.QTY_BELOW_MIN: (PARAM, "qty below the minimum trade volume"),
    Reason.QTY_ABOVE_MAX: (PARAM, "qty above the maximum order volume"),
    Reason.NOTIONAL_BELOW_MIN: (PARAM, "order value below the minimum"),
    Reason.POSITION_SIDE_MISMATCH: (PARAM, "tradeSide does not match the position mode"),
    Reason.REDUCE_ONLY_WOULD_INCREASE: SAME_DIRECTION_REDUCE_ONLY,
    Reason.INSUFFICIENT_MARGIN: (20003, "Insufficient balance"),
    Reason.MAX_POSITION_AT_LEVERAGE: (PARAM, "position above the maximum at this leverage"),
    Reason.BAD_LEVERAGE: (PARAM, "leverage does not comply with the rule"),
    Reason.MARGIN_MODE_UNCHANGED: (PARAM, "margin mode already set"),
    Reason.MARGIN_MODE_WITH_POSITION: (
        20006,
        "You can't change leverage or margin mode as there are open orders",
    ),
    Reason.MARGIN_NOT_ISOLATED: (PARAM, "margin can be adjusted on isolated positions only"),
    Reason.CROSS_BALANCE_INSUFFICIENT: (20003, "Insufficient balance"),
    Reason.ISOLATED_BALANCE_INSUFFICIENT: (20003, "Insufficient balance"),
    Reason.POSITION_MODE_UNCHANGED: (PARAM, "position mode already set"),
    Reason.POSITION_MODE_WITH_POSITION: (20009, "Position exists, so positions mode cannot be updated"),
    Reason.MULTI_ASSETS_WITH_ISOLATED: (PARAM, "multi-assets mode refused"),
    Reason.UNKNOWN_ORDER: (PARAM, "order not found"),
    Reason.UNKNOWN_LISTEN_KEY: (10003, "api-key can't be empty"),
    Reason.AUTH_FAILED: (10003, "api-key can't be empty"),
    Reason.BAD_SIGNATURE: SIGN_ERROR,
    Reason.BAD_TIMESTAMP: SIGN_ERROR,
    Reason.RATE_LIMITED: TOO_FREQUENT,
    Reason.UNKNOWN_PATH: NOT_FOUND,
}


def from_rejection(rejected: Rejected) -> BitunixError:
    """Bitunix's reply to a refusal of the core (every ``Reason`` has one)."""
    code, msg = _BY_REASON[rejected.reason]
    if rejected.field and code == PARAM:
        msg = f"{rejected.field}: {msg}"
    return BitunixError(code, msg)


def error(pair: tuple[int, str]) -> BitunixError:
    return BitunixError(*pair)
