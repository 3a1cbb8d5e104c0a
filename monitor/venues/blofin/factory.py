"""How the registry builds a Blofin adapter, without importing ccxt until a daemon needs one."""

from __future__ import annotations

from monitor.model import Venue
from monitor.venues.adapter import VenueAdapter
from monitor.venues.base import Endpoints, Sink, VenueAccount


def make_adapter(
    venue: Venue, accounts: tuple[VenueAccount, ...], sink: Sink, endpoints: Endpoints | None
) -> VenueAdapter:
    """A ``BlofinVenue`` (``AdapterFactory``)."""
    from monitor.venues.blofin.venue import BlofinVenue

    return BlofinVenue(venue, accounts, sink, endpoints=endpoints)
