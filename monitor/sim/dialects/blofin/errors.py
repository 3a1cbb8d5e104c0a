"""BloFin's error replies and the simulated accounts' passphrases.

BloFin answers a refused request with HTTP 200 and ``{"code": "<digits>", "msg": ...}`` (HTTP 429 for
a rate limit); an order refusal comes back inside ``data[0]`` with the top-level ``code`` "0", which
is why ccxt checks both. The codes are those of BloFin's error table (shared fixtures README) and of
ccxt's blofin exception table: 102022 a reduce-only order with no position to reduce, 102089 a
``positionSide`` that does not match the position mode, 103003 margin, 152011 a brokerId on a plain
transaction key, 152405 to 152410 the signature's headers.
"""

from __future__ import annotations

import hashlib

from monitor.sim.ledger import Account
from monitor.sim.rejections import Reason, Rejected


class BlofinError(Exception):
    """A request refused with BloFin's code and text (``status``: the HTTP status, 200 nearly always)."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status


NO_POSITION = (
    "102022",
    "Failed to place order. You don't have any positions of this contract. Turn off Reduce-only to continue.",
)
MODE_MISMATCH = ("102089", "Position mode mismatch")
MARGIN = ("103003", "Order failed. Insufficient USDT margin in account")
BROKER_REFUSED = ("152011", "Transaction API Key does not support brokerId")
BROKER_UNMATCHED = ("152013", "Unmatched brokerId, please check your API key's bound broker")
REPEATED_NONCE = ("152407", "Repeated nonce, Reusing within 60 seconds is not allowed.")
EXPIRED = ("152405", "Timestamp in header or signature has expired, need to be within 60s")
PASSPHRASE = ("152408", "Passphrase error")
SIGNATURE = ("152409", "Signature verification failed, please check your secret key and signature")
TIMESTAMP_UNIT = ("152410", "The value of ACCESS-TIMESTAMP needs to be a millisecond timestamp")
NO_KEY = ("152401", "Access key does not exist")
NO_INSTRUMENT = ("152014", "Instrument ID does not exist")
PARAM = ("152001", "Parameter error")
NOT_FOUND = ("102067", "Order does not exist")

_BY_REASON: dict[Reason, tuple[str, str]] = {
    Reason.UNKNOWN_ERROR: ("103013", "Internal error; unable to process your request. Please try again."),
    Reason.BAD_SYMBOL: NO_INSTRUMENT,
    Reason.MISSING_PARAM: PARAM,
    Reason.PARAM_NOT_ALLOWED: PARAM,
    Reason.INVALID_PARAM: PARAM,
    Reason.BAD_SIDE: PARAM,
    Reason.BAD_ORDER_TYPE: ("152001", "Parameter error: the simulator fills market orders only"),
    Reason.BAD_CLIENT_ORDER_ID: PARAM,
    Reason.QTY_NOT_POSITIVE: PARAM,
    Reason.QTY_PRECISION: ("152001", "Parameter error: size is not a multiple of lotSize"),
    Reason.QTY_BELOW_MIN: ("102015", "Order size is below the minimum"),
    Reason.QTY_ABOVE_MAX: ("102015", "Market order exceeds maximum order size limit"),
    Reason.NOTIONAL_BELOW_MIN: ("102015", "Order value is below the minimum"),
    Reason.POSITION_SIDE_MISMATCH: MODE_MISMATCH,
    Reason.REDUCE_ONLY_WOULD_INCREASE: NO_POSITION,
    Reason.INSUFFICIENT_MARGIN: MARGIN,
    Reason.MAX_POSITION_AT_LEVERAGE: MARGIN,
    Reason.BAD_LEVERAGE: PARAM,
    Reason.MARGIN_MODE_UNCHANGED: PARAM,
    Reason.MARGIN_MODE_WITH_POSITION: (
        "110019",
        "Setting failed. Cancel any open orders, and close positions first.",
    ),
    Reason.MARGIN_NOT_ISOLATED: PARAM,
    Reason.CROSS_BALANCE_INSUFFICIENT: MARGIN,
    Reason.ISOLATED_BALANCE_INSUFFICIENT: MARGIN,
    Reason.POSITION_MODE_UNCHANGED: PARAM,
    Reason.POSITION_MODE_WITH_POSITION: (
        "110019",
        "Setting failed. Cancel any open orders, and close positions first.",
    ),
    Reason.MULTI_ASSETS_WITH_ISOLATED: PARAM,
    Reason.UNKNOWN_ORDER: NOT_FOUND,
    Reason.UNKNOWN_LISTEN_KEY: PARAM,
    Reason.AUTH_FAILED: NO_KEY,
    Reason.BAD_SIGNATURE: SIGNATURE,
    Reason.BAD_TIMESTAMP: EXPIRED,
    Reason.RATE_LIMITED: ("429", "Too Many Requests"),
    Reason.UNKNOWN_PATH: ("404", "Not Found"),
}


def from_rejection(rejected: Rejected) -> BlofinError:
    """BloFin's reply to a refusal of the simulator's core."""
    code, msg = _BY_REASON[rejected.reason]
    return BlofinError(code, msg, 429 if rejected.reason is Reason.RATE_LIMITED else 200)


def passphrase_of(acct: Account) -> str:
    """A simulated account's passphrase, derived from its key like the key from the seed: stable,
    and obviously not a real credential."""
    return hashlib.sha256(f"monitor-sim/blofin-passphrase/{acct.api_key}".encode()).hexdigest()[:16]
