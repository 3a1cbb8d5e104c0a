"""Every Bitunix code the client maps, and what it becomes: the venue said no (nothing happened)
or the outcome is unknown (an order is looked up)."""

from __future__ import annotations

import pytest

from monitor.venues import errors
from monitor.venues.base import RestGate
from monitor.venues.bitunix.errors import MAPPED_CODES, RATE_LIMIT_PAUSE_MS, error_for

R = errors.RejectReason

EXPECTED: dict[int, tuple[type[errors.VenueError], R | None]] = {
    1: (errors.VenueUnavailable, None),  # "Network Error"
    404: (errors.Refused, None),  # an unknown path
    10003: (errors.AuthenticationRefused, None),  # api-key empty
    10004: (errors.AuthenticationRefused, None),  # IP not whitelisted
    10005: (errors.RateLimited, None),  # too many requests
    10006: (errors.RateLimited, None),  # request too frequently
    10007: (errors.AuthenticationRefused, None),  # sign signature error
    10008: (errors.OrderRejected, R.INVALID),  # a parameter value not taken
    20003: (errors.OrderRejected, R.INSUFFICIENT_MARGIN),  # insufficient balance
    20006: (errors.Refused, None),  # mode change with open orders
    20009: (errors.Refused, None),  # position mode with positions
    20015: (errors.OrderRejected, R.INVALID),  # a futures not traded
    30004: (errors.OrderRejected, R.INVALID),  # position not exist
    30018: (errors.OrderRejected, R.REDUCE_ONLY_REJECTED),  # reduce-only, no position
    30019: (errors.OrderRejected, R.REDUCE_ONLY_REJECTED),  # reduce-only, same direction
    30042: (errors.VenueUnavailable, None),  # client id duplicate: look the order up
}


def test_every_mapped_code_is_pinned_here() -> None:
    assert set(EXPECTED) == set(MAPPED_CODES)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_code_maps_to_its_error(code: int) -> None:
    kind, reason = EXPECTED[code]
    exc = error_for(code, "the venue's words")
    assert type(exc) is kind
    assert str(code) in str(exc) and "the venue's words" in str(exc)
    if reason is not None:
        assert isinstance(exc, errors.OrderRejected)
        assert exc.reason is reason


def test_an_unknown_code_is_a_refusal_that_keeps_the_code() -> None:
    exc = error_for(99999, "something new")
    assert type(exc) is errors.Refused
    assert "99999" in str(exc)


@pytest.mark.parametrize("code", [10005, 10006])
def test_a_rate_limit_closes_the_venue_gate_for_its_window(code: int) -> None:
    now = 1_000_000
    bans = []
    gate = RestGate(clock=lambda: now, on_ban=bans.append)
    exc = error_for(code, "Too many requests", gate=gate)
    assert isinstance(exc, errors.RateLimited)
    assert exc.until_ms == now + RATE_LIMIT_PAUSE_MS == gate.closed_until()
    assert len(bans) == 1 and bans[0].status == 429
