"""OKX's error replies over the simulator's refusals, and the simulated accounts' passphrases.

OKX answers most refusals with HTTP 200 and a non-zero string ``code``; authentication failures with
HTTP 401 (``50111`` key, ``50113`` signature, ``50102`` timestamp), rate limits with 429 (``50011``).
An order refused is ``code`` "1" with the reason per order in ``data[].sCode``/``sMsg`` (ccxt reads
``sCode`` first): 51169 no position to reduce in that direction, 51170 a reduce-only order in the
position's own direction, 51008 insufficient margin. Codes and texts are the error-code pages' (the
fixtures' README table).
"""

from __future__ import annotations

import hashlib

from monitor.sim.ledger import Account
from monitor.sim.rejections import Reason, Rejected


class OkxError(Exception):
    """A request refused with OKX's code and text; ``order`` puts the code in ``data[].sCode``."""

    def __init__(
        self, code: str, msg: str, status: int = 200, *, order: bool = False, cl_ord_id: str = ""
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.order = order
        self.cl_ord_id = cl_ord_id

    def body(self) -> dict[str, object]:
        if self.order:
            item = {"clOrdId": self.cl_ord_id, "ordId": "", "sCode": self.code, "sMsg": self.msg, "tag": ""}
            return {"code": "1", "msg": "All operations failed", "data": [item]}
        return {"code": self.code, "msg": self.msg, "data": []}


NO_POSITION = (
    "51169",
    "Order failed because you don't have any positions in this direction for this contract to reduce"
    " or close.",
)
SAME_DIRECTION = (
    "51170",
    "Failed to place order. A reduce-only order can't be the same trading direction as your existing"
    " positions.",
)
ORDER_NOT_FOUND = ("51603", "Order does not exist")


def param(name: str) -> OkxError:
    return OkxError("51000", f"Parameter {name} error")


_BY_REASON: dict[Reason, tuple[str, str]] = {
    Reason.UNKNOWN_ERROR: ("50026", "System error. Try again later"),
    Reason.BAD_SYMBOL: ("51001", "Instrument ID does not exist"),
    Reason.MISSING_PARAM: ("50014", "Parameter {field} can not be empty"),
    Reason.PARAM_NOT_ALLOWED: ("51000", "Parameter {field} error"),
    Reason.INVALID_PARAM: ("51000", "Parameter {field} error"),
    Reason.BAD_SIDE: ("51000", "Parameter side error"),
    Reason.BAD_ORDER_TYPE: ("51000", "Parameter ordType error"),
    Reason.BAD_CLIENT_ORDER_ID: ("51000", "Parameter clOrdId error"),
    Reason.QTY_NOT_POSITIVE: ("51000", "Parameter sz error"),
    Reason.QTY_PRECISION: ("51121", "Order quantity must be a multiple of the lot size."),
    Reason.QTY_BELOW_MIN: ("51020", "Your order should meet or exceed the minimum order amount."),
    Reason.QTY_ABOVE_MAX: ("51202", "Market order amount exceeds the maximum amount."),
    Reason.NOTIONAL_BELOW_MIN: ("51020", "Your order should meet or exceed the minimum order amount."),
    Reason.POSITION_SIDE_MISMATCH: ("51000", "Parameter posSide error"),
    Reason.REDUCE_ONLY_WOULD_INCREASE: SAME_DIRECTION,
    Reason.INSUFFICIENT_MARGIN: ("51008", "Order failed. Insufficient USDT margin in account"),
    Reason.MAX_POSITION_AT_LEVERAGE: (
        "51004",
        "Order failed. The order amount exceeds your position tier limit.",
    ),
    Reason.BAD_LEVERAGE: ("51000", "Parameter lever error"),
    Reason.MARGIN_MODE_UNCHANGED: (
        "59000",
        "Settings failed. Close any open positions or orders before modifying settings.",
    ),
    Reason.MARGIN_MODE_WITH_POSITION: (
        "59000",
        "Settings failed. Close any open positions or orders before modifying settings.",
    ),
    Reason.MARGIN_NOT_ISOLATED: ("59300", "Margin call failed. Position does not exist."),
    Reason.CROSS_BALANCE_INSUFFICIENT: (
        "59303",
        "Insufficient available margin, add margin or reduce the borrowing amount",
    ),
    Reason.ISOLATED_BALANCE_INSUFFICIENT: ("59301", "Margin adjustment exceeds the maximum limit"),
    Reason.POSITION_MODE_UNCHANGED: (
        "59000",
        "Settings failed. Close any open positions or orders before modifying settings.",
    ),
    Reason.POSITION_MODE_WITH_POSITION: (
        "59000",
        "Settings failed. Close any open positions or orders before modifying settings.",
    ),
    Reason.MULTI_ASSETS_WITH_ISOLATED: ("51010", "Request unsupported under current account mode"),
    Reason.UNKNOWN_ORDER: ORDER_NOT_FOUND,
    Reason.UNKNOWN_LISTEN_KEY: ("51000", "Parameter listenKey error"),
    Reason.AUTH_FAILED: ("50111", "Invalid OK-ACCESS-KEY"),
    Reason.BAD_SIGNATURE: ("50113", "Invalid Sign"),
    Reason.BAD_TIMESTAMP: ("50102", "Timestamp request expired"),
    Reason.RATE_LIMITED: ("50011", "Too Many Requests"),
    Reason.UNKNOWN_PATH: ("404", "Not Found"),
}

_STATUS = {"50111": 401, "50113": 401, "50102": 401, "50011": 429}
_ORDER_REASONS = {
    Reason.BAD_SIDE,
    Reason.QTY_NOT_POSITIVE,
    Reason.QTY_PRECISION,
    Reason.QTY_BELOW_MIN,
    Reason.QTY_ABOVE_MAX,
    Reason.NOTIONAL_BELOW_MIN,
    Reason.POSITION_SIDE_MISMATCH,
    Reason.REDUCE_ONLY_WOULD_INCREASE,
    Reason.INSUFFICIENT_MARGIN,
    Reason.MAX_POSITION_AT_LEVERAGE,
}


def from_rejection(rejected: Rejected, *, order: bool = False) -> OkxError:
    """OKX's reply to a refusal of the simulator's core; ``order``: a refusal of one order, which
    OKX reports in ``data[].sCode``."""
    code, msg = _BY_REASON[rejected.reason]
    msg = msg.replace("{field}", rejected.field or "")
    return OkxError(code, msg, _STATUS.get(code, 200), order=order and rejected.reason in _ORDER_REASONS)


def passphrase_of(acct: Account) -> str:
    """A simulated account's passphrase, derived from its key: stable, and obviously not a real
    credential."""
    return hashlib.sha256(f"monitor-sim/okx-passphrase/{acct.api_key}".encode()).hexdigest()[:16]
