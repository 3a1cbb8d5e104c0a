"""The venue registry is what the configuration, the daemon and ``check-config`` read: a venue is
watched, described and simulated as its line says, and a venue without a line is refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.commands.config_summary import describe
from monitor.daemon.config import ConfigError, parse_config
from monitor.events import Event
from monitor.margin.rules import rules_for
from monitor.model import Venue
from monitor.venues.base import VenueAccount
from monitor.venues.registry import VENUES, UnsupportedVenue, make_adapter, spec_for

# every credential a registered venue may ask for (Bitget also wants a passphrase)
ENV = {
    "MONITOR_MAIN_API_KEY": "k" * 64,
    "MONITOR_MAIN_API_SECRET": "s" * 64,
    "MONITOR_MAIN_API_PASSPHRASE": "p" * 16,
}
REGISTERED = sorted(VENUES, key=str)
UNREGISTERED = sorted(set(Venue) - set(VENUES), key=str)


def config(venue: str) -> dict[str, Any]:
    # a Hyperliquid account is known by its address (its credentials are not read)
    address = {"address": "0x" + "11" * 20} if venue == Venue.HYPERLIQUID.value else {}
    return {"accounts": [{"name": "main", "venue": venue, **address}]}


@pytest.mark.parametrize("venue", REGISTERED, ids=str)
def test_a_registered_venue_is_accepted_and_described_by_its_public_hosts(venue: Venue) -> None:
    settings = parse_config(config(venue.value), ENV)
    assert settings.venues == {venue: settings.accounts}
    spec = VENUES[venue]
    assert f"endpoints {venue.value}: the real exchange, {spec.public_rest} and {spec.public_ws}" in describe(
        settings
    )


@pytest.mark.parametrize("venue", UNREGISTERED, ids=str)
def test_a_venue_with_rules_but_no_line_is_refused_by_name(venue: Venue) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config(venue.value), ENV)
    assert any(
        path == "accounts" and f"no live adapter yet for {venue.value}" in msg
        for path, msg in info.value.problems
    )
    with pytest.raises(UnsupportedVenue, match=f"no live adapter yet for {venue.value}"):
        spec_for(venue)


@pytest.mark.parametrize("venue", REGISTERED, ids=str)
def test_the_factory_builds_the_venue_s_adapter_and_the_maths_use_its_rules(venue: Venue) -> None:
    events: list[Event] = []
    # an address too: Hyperliquid knows an account by it (the others ignore it)
    account = VenueAccount("main", "key", "secret", address="0x" + "11" * 20)
    adapter = make_adapter(venue, (account,), events.append, None)
    assert adapter.venue is venue
    assert adapter.stream_names()  # nothing is opened before start
    assert events == []
    assert VENUES[venue].rules is rules_for(venue)


def test_each_venue_names_its_own_simulator_dialect() -> None:
    dialects = [spec.sim_dialect for spec in VENUES.values()]
    assert len(set(dialects)) == len(dialects) and all(dialects)
