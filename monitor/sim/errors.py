"""Binance error replies: ``{"code": <negative int>, "msg": <text>}`` with an HTTP status.

The core raises venue-neutral ``rejections.Rejected``; ``from_rejection`` turns one into Binance's
reply, and the Binance request checks (signing, parameters) raise ``BinanceError`` directly. The codes
and texts are Binance's own (UM error-code page and captured bodies,
``/work/shared/fixtures/binance-usdm/error-codes.json``), shared by USD-M and COIN-M, because ccxt
picks its exception class from the code and a few handlers match on the text.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.sim.rejections import Reason, Rejected


class BinanceError(Exception):
    """A rejected request, as Binance would reject it."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def unknown_error() -> BinanceError:
    return BinanceError(-1000, "An unknown error occured while processing the request.", 500)


def invalid_timestamp() -> BinanceError:
    return BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def timestamp_ahead() -> BinanceError:
    return BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def invalid_signature() -> BinanceError:
    return BinanceError(-1022, "Signature for this request is not valid.")


def mandatory_param(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def param_not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def precision_over() -> BinanceError:
    return BinanceError(-1111, "Precision is over the maximum defined for this asset.")


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def invalid_listen_key(path: str = "/fapi/v1/listenKey") -> BinanceError:
    return BinanceError(
        -1125, f"This listenKey does not exist. Please use `POST {path}` to recreate `listenKey`"
    )


def invalid_param(name: str) -> BinanceError:
    return BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")


def invalid_order_type() -> BinanceError:
    return BinanceError(-1116, "Invalid orderType.")


def invalid_side() -> BinanceError:
    return BinanceError(-1117, "Invalid side.")


def lot_size() -> BinanceError:
    return BinanceError(-1013, "Filter failure: LOT_SIZE")


def order_does_not_exist() -> BinanceError:
    return BinanceError(-2013, "Order does not exist.")


def unknown_order() -> BinanceError:
    return BinanceError(-2011, "Unknown order sent.")


def bad_api_key() -> BinanceError:
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def api_key_format() -> BinanceError:
    return BinanceError(-2014, "API-key format invalid.", 401)


def margin_insufficient() -> BinanceError:
    return BinanceError(-2019, "Margin is insufficient.")


def reduce_only_rejected() -> BinanceError:
    return BinanceError(-2022, "ReduceOnly Order is rejected.")


def max_position_at_leverage() -> BinanceError:
    return BinanceError(-2027, "Exceeded the maximum allowable position at current leverage.")


def qty_not_positive() -> BinanceError:
    return BinanceError(-4003, "Quantity less than or equal to zero.")


def qty_over_max() -> BinanceError:
    return BinanceError(-4005, "Quantity greater than max quantity.")


def invalid_leverage() -> BinanceError:
    return BinanceError(-4028, "Leverage is not valid")


def no_need_margin_type() -> BinanceError:
    return BinanceError(-4046, "No need to change margin type.")


def margin_type_with_position() -> BinanceError:
    return BinanceError(-4048, "Margin type cannot be changed if there exists position.")


def margin_only_isolated() -> BinanceError:
    return BinanceError(-4049, "Add margin only support for isolated position.")


def cross_balance_insufficient() -> BinanceError:
    return BinanceError(-4050, "Cross balance insufficient.")


def isolated_balance_insufficient() -> BinanceError:
    return BinanceError(-4051, "Isolated balance insufficient.")


def no_need_position_side() -> BinanceError:
    return BinanceError(-4059, "No need to change position side.")


def position_side_mismatch() -> BinanceError:
    return BinanceError(-4061, "Order's position side does not match user's setting.")


def position_side_with_position() -> BinanceError:
    return BinanceError(-4068, "Position side cannot be changed if there exists position.")


def min_notional(threshold: float) -> BinanceError:
    return BinanceError(
        -4164, f"Order's notional must be no smaller than {threshold:g} (unless you choose reduce only)."
    )


def invalid_path(method: str, path: str) -> BinanceError:
    return BinanceError(-5000, f"Path {path}, Method {method} is invalid", 404)


def multi_assets_with_isolated() -> BinanceError:
    return BinanceError(
        -4168,
        "Unable to adjust to Multi-Assets mode with symbols of USDⓈ-M Futures under isolated-margin mode.",
    )


def rate_limited() -> BinanceError:
    return BinanceError(-1003, "Too many requests.", 429)


def _by_field(make: Callable[[str], BinanceError], default: str) -> Callable[[Rejected], BinanceError]:
    return lambda r: make(r.field or default)


_BY_REASON: dict[Reason, Callable[[Rejected], BinanceError]] = {
    Reason.UNKNOWN_ERROR: lambda r: unknown_error(),
    Reason.BAD_SYMBOL: lambda r: invalid_symbol(),
    Reason.MISSING_PARAM: _by_field(mandatory_param, "symbol"),
    Reason.PARAM_NOT_ALLOWED: _by_field(param_not_required, "reduceOnly"),
    Reason.INVALID_PARAM: _by_field(invalid_param, "amount"),
    Reason.BAD_SIDE: lambda r: invalid_side(),
    Reason.BAD_ORDER_TYPE: lambda r: invalid_order_type(),
    Reason.BAD_CLIENT_ORDER_ID: lambda r: BinanceError(-4015, "Client order id is not valid."),
    Reason.QTY_NOT_POSITIVE: lambda r: qty_not_positive(),
    Reason.QTY_PRECISION: lambda r: precision_over(),
    Reason.QTY_BELOW_MIN: lambda r: lot_size(),
    Reason.QTY_ABOVE_MAX: lambda r: qty_over_max(),
    Reason.NOTIONAL_BELOW_MIN: lambda r: min_notional(r.limit or 0.0),
    Reason.POSITION_SIDE_MISMATCH: lambda r: position_side_mismatch(),
    Reason.REDUCE_ONLY_WOULD_INCREASE: lambda r: reduce_only_rejected(),
    Reason.INSUFFICIENT_MARGIN: lambda r: margin_insufficient(),
    Reason.MAX_POSITION_AT_LEVERAGE: lambda r: max_position_at_leverage(),
    Reason.BAD_LEVERAGE: lambda r: invalid_leverage(),
    Reason.MARGIN_MODE_UNCHANGED: lambda r: no_need_margin_type(),
    Reason.MARGIN_MODE_WITH_POSITION: lambda r: margin_type_with_position(),
    Reason.MARGIN_NOT_ISOLATED: lambda r: margin_only_isolated(),
    Reason.CROSS_BALANCE_INSUFFICIENT: lambda r: cross_balance_insufficient(),
    Reason.ISOLATED_BALANCE_INSUFFICIENT: lambda r: isolated_balance_insufficient(),
    Reason.POSITION_MODE_UNCHANGED: lambda r: no_need_position_side(),
    Reason.POSITION_MODE_WITH_POSITION: lambda r: position_side_with_position(),
    Reason.MULTI_ASSETS_WITH_ISOLATED: lambda r: multi_assets_with_isolated(),
    Reason.UNKNOWN_ORDER: lambda r: order_does_not_exist(),
    Reason.UNKNOWN_LISTEN_KEY: lambda r: invalid_listen_key(),
    Reason.AUTH_FAILED: lambda r: bad_api_key(),
    Reason.BAD_SIGNATURE: lambda r: invalid_signature(),
    Reason.BAD_TIMESTAMP: lambda r: invalid_timestamp(),
    Reason.RATE_LIMITED: lambda r: rate_limited(),
    Reason.UNKNOWN_PATH: lambda r: invalid_path("GET", r.field or "/"),
}


def from_rejection(rejected: Rejected) -> BinanceError:
    """Binance's reply to a refusal of the core (every ``Reason`` has one)."""
    return _BY_REASON[rejected.reason](rejected)
