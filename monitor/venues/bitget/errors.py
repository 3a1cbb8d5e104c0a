"""ccxt's bitget exceptions -> the project's (``monitor.venues.errors``), with Bitget's own codes.

ccxt's table leaves some of the codes that matter here unmapped or too coarse: 22002 "No position to
close" (a close of a flat leg, or a hedge close sent with the trade-direction side) arrives as a bare
``ExchangeError``; 40774 (an order shaped for the other position mode) as ``InvalidOrder``; 40085 (a
unified-account key on the classic API) as ``PermissionDenied``. Each gets a clear outcome here; the
rest follows the Binance mapping, which is by ccxt class only.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from ccxt.base import errors as ccxt_errors

from monitor.venues import errors
from monitor.venues.base import RestGate
from monitor.venues.binance.errors import to_venue_error as by_class

NO_POSITION_TO_CLOSE = '"22002"'
POSITION_MODE_MISMATCH = '"40774"'
UNIFIED_ACCOUNT_KEY = '"40085"'
UTA_NOT_SUPPORTED = (
    "this is a unified trading account (UTA) key, and only classic-account keys are supported yet:"
    " create a classic-account API key, or watch this account another way"
)


def to_venue_error(exc: ccxt_errors.BaseError, gate: RestGate | None = None) -> errors.VenueError:
    """The project's error for one of ccxt's bitget exceptions."""
    text = str(exc)
    message = f"{type(exc).__name__}: {text}"
    if UNIFIED_ACCOUNT_KEY in text:
        return errors.AuthenticationRefused(f"{UTA_NOT_SUPPORTED} ({message})")
    if NO_POSITION_TO_CLOSE in text:
        return errors.OrderRejected(
            f"no position to close on that side ({message})", errors.RejectReason.REDUCE_ONLY_REJECTED
        )
    if POSITION_MODE_MISMATCH in text:
        return errors.OrderRejected(
            f"the order's shape does not match the account's position mode ({message})",
            errors.RejectReason.INVALID,
        )
    return by_class(exc, gate)


@contextmanager
def venue_errors(gate: RestGate | None = None) -> Iterator[None]:
    try:
        yield
    except ccxt_errors.BaseError as exc:
        raise to_venue_error(exc, gate) from exc


class _Gated(Protocol):
    rest_gate: RestGate


_S = TypeVar("_S", bound=_Gated)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def raises_venue_errors(
    method: Callable[Concatenate[_S, _P], Awaitable[_R]],
) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]]:
    """An adapter method that raises the project's errors, never ccxt's."""

    @functools.wraps(method)
    async def mapped(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with venue_errors(self.rest_gate):
            return await method(self, *args, **kwargs)

    return mapped
