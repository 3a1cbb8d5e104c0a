"""ccxt's exception classes map to the project's at the Binance adapter's edge: a "no" from the
venue is ``Refused`` (the request had no effect), anything that leaves the outcome unknown is not."""

from __future__ import annotations

import ccxt.async_support as ccxt
import pytest

from monitor.venues import errors
from monitor.venues.base import RestGate
from monitor.venues.binance.errors import to_venue_error, venue_errors

CASES = [
    (
        ccxt.AuthenticationError('binanceusdm {"code":-2015,"msg":"Invalid API-key"}'),
        errors.AuthenticationRefused,
    ),
    (ccxt.PermissionDenied("binanceusdm -2015"), errors.AuthenticationRefused),
    (ccxt.OrderNotFound('binanceusdm {"code":-2013,"msg":"Order does not exist."}'), errors.OrderNotFound),
    (
        ccxt.InsufficientFunds('binanceusdm {"code":-2019,"msg":"Margin is insufficient."}'),
        errors.OrderRejected,
    ),
    (
        ccxt.InvalidOrder('binanceusdm {"code":-2022,"msg":"ReduceOnly Order is rejected."}'),
        errors.OrderRejected,
    ),
    (ccxt.BadRequest('binanceusdm {"code":-1106}'), errors.Refused),
    (ccxt.BadSymbol("binanceusdm does not have market symbol X"), errors.Refused),
    (ccxt.DDoSProtection('binanceusdm {"code":-1003}'), errors.RateLimited),
    (ccxt.RateLimitExceeded("binanceusdm 429"), errors.RateLimited),
    (ccxt.RequestTimeout("binanceusdm POST https://fapi.binance.com/fapi/v1/order"), errors.VenueUnavailable),
    (ccxt.ExchangeNotAvailable("binanceusdm 503"), errors.VenueUnavailable),
    (ccxt.OnMaintenance("binanceusdm maintenance"), errors.VenueUnavailable),
    (ccxt.NetworkError("binanceusdm connection reset"), errors.VenueUnavailable),
    (ccxt.BadResponse("binanceusdm unreadable body"), errors.BadResponse),
    (ccxt.NullResponse("binanceusdm empty body"), errors.BadResponse),
    (ccxt.OperationFailed("binanceusdm failed"), errors.VenueUnavailable),
]


@pytest.mark.parametrize(("exc", "expected"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_each_ccxt_class_maps_to_the_project_class_that_says_what_it_means(
    exc: ccxt.BaseError, expected: type[errors.VenueError]
) -> None:
    mapped = to_venue_error(exc)
    assert type(mapped) is expected
    assert str(mapped).startswith(f"{type(exc).__name__}: ") and str(exc) in str(mapped)
    unknown_outcome = isinstance(exc, ccxt.NetworkError | ccxt.OperationFailed)
    assert isinstance(mapped, errors.Refused) is not unknown_outcome


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (ccxt.InsufficientFunds("-2019 Margin is insufficient."), errors.RejectReason.INSUFFICIENT_MARGIN),
        (
            ccxt.InvalidOrder('{"code":-2022,"msg":"ReduceOnly Order is rejected."}'),
            errors.RejectReason.REDUCE_ONLY_REJECTED,
        ),
        (ccxt.InvalidOrder("-4164 Order's notional must be no smaller than 20"), errors.RejectReason.INVALID),
        (ccxt.ExchangeError("-1111 something"), None),
    ],
)
def test_a_rejected_order_says_why(exc: ccxt.BaseError, reason: errors.RejectReason | None) -> None:
    mapped = to_venue_error(exc)
    assert getattr(mapped, "reason", None) == reason


def test_a_rate_limit_carries_the_gate_s_end_and_the_block_keeps_ccxt_as_the_cause() -> None:
    gate = RestGate(clock=lambda: 1_000)
    gate.close(61_000, 429)
    original = ccxt.DDoSProtection("binanceusdm 429 Too many requests")
    with pytest.raises(errors.RateLimited) as caught, venue_errors(gate):
        raise original
    assert caught.value.until_ms == 61_000 and caught.value.__cause__ is original
    assert to_venue_error(original).until_ms is None  # type: ignore[attr-defined]


def test_what_is_not_ccxt_s_passes_through() -> None:
    with pytest.raises(KeyError), venue_errors():
        raise KeyError("symbol")
