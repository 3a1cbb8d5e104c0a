"""Bitget's error replies and the simulated accounts' passphrases.

Bitget answers a refused request with HTTP 400 and ``{"code": "<digits>", "msg": ...}``; the codes
below are those in the captures (``rest.error.*.json``) and in ccxt's bitget exception table, so ccxt
raises what it raises against Bitget: 22002 "No position to close" (a close of a flat leg, or a hedge
close sent with the trade-direction side), 40774 (an order shaped for the other position mode),
40762 (balance), 45110 (minimum notional).
"""

from __future__ import annotations

import hashlib

from monitor.sim.ledger import Account
from monitor.sim.rejections import Reason, Rejected


class BitgetError(Exception):
    """A request refused with Bitget's code and text."""

    def __init__(self, code: str, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status


ORDER_NOT_FOUND = "The data of the order cannot be found, please confirm the order number"
_PARAM = ("40017", "Parameter verification failed")
_BALANCE = ("40762", "The order amount exceeds the balance")
_MODE = ("40774", "The order type for unilateral position must also be the unilateral position type.")

_BY_REASON: dict[Reason, tuple[str, str]] = {
    Reason.UNKNOWN_ERROR: ("40010", "Request timed out"),
    Reason.BAD_SYMBOL: ("40034", "Parameter symbol does not exist"),
    Reason.MISSING_PARAM: ("40019", "Parameter cannot be empty"),
    Reason.PARAM_NOT_ALLOWED: _PARAM,
    Reason.INVALID_PARAM: _PARAM,
    Reason.BAD_SIDE: _PARAM,
    Reason.BAD_ORDER_TYPE: ("40017", "Parameter verification failed: the simulator fills market orders only"),
    Reason.BAD_CLIENT_ORDER_ID: _PARAM,
    Reason.QTY_NOT_POSITIVE: _PARAM,
    Reason.QTY_PRECISION: ("40808", "Parameter verification exception size checkBDScale error"),
    Reason.QTY_BELOW_MIN: ("45111", "less than the minimum order quantity"),
    Reason.QTY_ABOVE_MAX: ("45113", "Maximum order value limit triggered"),
    Reason.NOTIONAL_BELOW_MIN: ("45110", "less than the minimum amount {limit} USDT"),
    Reason.POSITION_SIDE_MISMATCH: _MODE,
    Reason.REDUCE_ONLY_WOULD_INCREASE: ("22002", "No position to close"),
    Reason.INSUFFICIENT_MARGIN: _BALANCE,
    Reason.MAX_POSITION_AT_LEVERAGE: ("40762", "The order amount exceeds the balance"),
    Reason.BAD_LEVERAGE: _PARAM,
    Reason.MARGIN_MODE_UNCHANGED: _PARAM,
    Reason.MARGIN_MODE_WITH_POSITION: ("45117", "Currently holding positions or orders, cannot adjust"),
    Reason.MARGIN_NOT_ISOLATED: ("40017", "Parameter verification failed: not an isolated position"),
    Reason.CROSS_BALANCE_INSUFFICIENT: _BALANCE,
    Reason.ISOLATED_BALANCE_INSUFFICIENT: ("40762", "The order amount exceeds the balance"),
    Reason.POSITION_MODE_UNCHANGED: _PARAM,
    Reason.POSITION_MODE_WITH_POSITION: ("40920", "Position or order exists, cannot set the position mode"),
    Reason.MULTI_ASSETS_WITH_ISOLATED: _PARAM,
    Reason.UNKNOWN_ORDER: ("40109", ORDER_NOT_FOUND),
    Reason.UNKNOWN_LISTEN_KEY: _PARAM,
    Reason.AUTH_FAILED: ("40037", "Apikey does not exist"),
    Reason.BAD_SIGNATURE: ("40009", "sign signature error"),
    Reason.BAD_TIMESTAMP: ("40008", "Request timestamp expired"),
    Reason.RATE_LIMITED: ("429", "Too Many Requests"),
    Reason.UNKNOWN_PATH: ("40404", "Request URL NOT FOUND"),
}


def from_rejection(rejected: Rejected) -> BitgetError:
    """Bitget's reply to a refusal of the simulator's core."""
    code, msg = _BY_REASON[rejected.reason]
    if rejected.limit is not None:
        msg = msg.replace("{limit}", f"{rejected.limit:g}")
    status = 429 if rejected.reason is Reason.RATE_LIMITED else 400
    return BitgetError(code, msg, status)


def passphrase_of(acct: Account) -> str:
    """A simulated account's passphrase, derived from its key like the key from the seed: stable,
    and obviously not a real credential."""
    return hashlib.sha256(f"monitor-sim/passphrase/{acct.api_key}".encode()).hexdigest()[:16]
