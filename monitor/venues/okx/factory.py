"""How the registry builds an OKX adapter, without importing ccxt until a daemon needs one."""

from __future__ import annotations

from monitor.model import Venue
from monitor.venues.adapter import VenueAdapter
from monitor.venues.base import Endpoints, Sink, VenueAccount


def make_adapter(
    venue: Venue, accounts: tuple[VenueAccount, ...], sink: Sink, endpoints: Endpoints | None
) -> VenueAdapter:
    """An ``OkxVenue`` (``AdapterFactory``)."""
    from monitor.venues.okx.venue import OkxVenue

    return OkxVenue(venue, accounts, sink, endpoints=endpoints)
