"""The public hosts the registry lists (what ``check-config`` says ``run`` talks to) are the ones
ccxt's clients use when no ``[endpoints]`` entry points them elsewhere."""

from __future__ import annotations

import ccxt.pro as ccxtpro
import pytest

from monitor.model import Venue
from monitor.venues.registry import VENUES

CLIENTS = {
    Venue.BINANCE_USDM: (ccxtpro.binanceusdm, "fapiPublic", "linear"),
    Venue.BINANCE_COINM: (ccxtpro.binancecoinm, "dapiPublic", "inverse"),
}


@pytest.mark.parametrize("venue", sorted(CLIENTS, key=str), ids=str)
def test_the_registry_s_public_hosts_are_ccxt_s_defaults(venue: Venue) -> None:
    cls, rest_key, ws_key = CLIENTS[venue]
    urls = cls().urls["api"]
    spec = VENUES[venue]
    assert urls[rest_key].startswith(spec.public_rest + "/"), urls[rest_key]
    assert urls["ws"][ws_key].startswith(spec.public_ws + "/"), urls["ws"][ws_key]


def test_every_binance_venue_in_the_registry_is_checked_here() -> None:
    assert {v for v, s in VENUES.items() if "binance" in s.sim_dialect} == set(CLIENTS)
