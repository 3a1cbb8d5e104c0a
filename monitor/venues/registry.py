"""Every venue the daemon can watch, one line each: the one place a new exchange is plugged in.

A ``VenueSpec`` holds what the rest of the code needs to know about a venue without naming it: how to
build its adapter, the margin rules its maths follows, the name of the simulator dialect that speaks
its API (a string, so the registry stays free of the simulator), the public hosts it is reached on
when ``[endpoints]`` leaves it alone, and what it supports. The configuration accepts the venues
listed here, the daemon builds their adapters from here, ``check-config`` and the demo describe them
from here: none of them branches on a venue's name.

Adding a venue: its adapter in ``venues/<name>/``, its dialect in ``sim/dialects/<name>``, its rules
in ``margin/rules.py`` if they are new, and one line in ``VENUES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from monitor.margin.rules import Rules, rules_for
from monitor.model import Venue
from monitor.venues.adapter import AdapterFactory, VenueAdapter
from monitor.venues.base import PRODUCTION, Endpoints, Pacing, Sink, VenueAccount
from monitor.venues.binance import factory as binance
from monitor.venues.bitget import factory as bitget
from monitor.venues.bitunix import factory as bitunix
from monitor.venues.blofin import factory as blofin
from monitor.venues.bybit import factory as bybit
from monitor.venues.gate import factory as gate
from monitor.venues.hyperliquid import factory as hyperliquid
from monitor.venues.okx import factory as okx


@dataclass(frozen=True, slots=True)
class Supports:
    """What a venue offers that the daemon or the gateway may use."""

    hedge_mode: bool = False  # long and short legs of one symbol at once
    isolated_margin: bool = False  # isolated legs, and margin transfers into them
    reduce_only_orders: bool = False  # the gateway's de-risking orders
    multi_assets: bool = False  # a pool of several margin assets, each at a haircut
    # why margin cannot be moved into an isolated leg over the venue's API ("": it can, where the
    # venue has isolated legs); the planner offers no transfer then and says this instead
    no_margin_transfers: str = ""


@dataclass(frozen=True, slots=True)
class VenueSpec:
    venue: Venue
    title: str  # for people: "Binance USD-M"
    adapter: AdapterFactory
    rules: Rules
    sim_dialect: str  # the simulator dialect speaking this venue's API (``sim/dialects/<name>``)
    public_rest: str
    public_ws: str
    supports: Supports

    @property
    def public_endpoints(self) -> Endpoints:
        return Endpoints(self.public_rest, self.public_ws)


VENUES: Mapping[Venue, VenueSpec] = MappingProxyType(
    {
        spec.venue: spec
        for spec in (
            VenueSpec(
                Venue.BINANCE_USDM,
                "Binance USD-M",
                binance.make_adapter,
                rules_for(Venue.BINANCE_USDM),
                "binanceusdm",
                "https://fapi.binance.com",
                "wss://fstream.binance.com",
                Supports(hedge_mode=True, isolated_margin=True, reduce_only_orders=True, multi_assets=True),
            ),
            VenueSpec(
                Venue.BINANCE_COINM,
                "Binance COIN-M",
                binance.make_adapter,
                rules_for(Venue.BINANCE_COINM),
                "binancecoinm",
                "https://dapi.binance.com",
                "wss://dstream.binance.com",
                Supports(hedge_mode=True, isolated_margin=True, reduce_only_orders=True),
            ),
            VenueSpec(
                Venue.BITGET,
                "Bitget USDT-M",
                bitget.make_adapter,
                rules_for(Venue.BITGET),
                "bitget",
                "https://api.bitget.com",
                "wss://ws.bitget.com",
                Supports(hedge_mode=True, isolated_margin=True, reduce_only_orders=True),
            ),
            VenueSpec(
                Venue.BITUNIX,
                "Bitunix USDT-M",
                bitunix.make_adapter,
                rules_for(Venue.BITUNIX),
                "bitunix",
                "https://fapi.bitunix.com",
                "wss://fapi.bitunix.com",
                Supports(hedge_mode=True, isolated_margin=True, reduce_only_orders=True),
            ),
            VenueSpec(
                Venue.BLOFIN,
                "BloFin USDT swaps",
                blofin.make_adapter,
                rules_for(Venue.BLOFIN),
                "blofin",
                "https://openapi.blofin.com",
                "wss://openapi.blofin.com",
                Supports(
                    hedge_mode=True,
                    isolated_margin=True,
                    reduce_only_orders=True,
                    no_margin_transfers="BloFin's API has no way to add margin to an isolated position",
                ),
            ),
            VenueSpec(
                Venue.BYBIT,
                "Bybit",
                bybit.make_adapter,
                rules_for(Venue.BYBIT),
                "bybit",
                "https://api.bybit.com",
                "wss://stream.bybit.com",
                Supports(hedge_mode=True, isolated_margin=True, reduce_only_orders=True),
            ),
            VenueSpec(
                Venue.OKX,
                "OKX",
                okx.make_adapter,
                rules_for(Venue.OKX),
                "okx",
                "https://www.okx.com",
                "wss://ws.okx.com",
                Supports(hedge_mode=True, isolated_margin=True, reduce_only_orders=True),
            ),
            VenueSpec(
                Venue.HYPERLIQUID,
                "Hyperliquid",
                hyperliquid.make_adapter,
                rules_for(Venue.HYPERLIQUID),
                "hyperliquid",
                "https://api.hyperliquid.xyz",
                "wss://api.hyperliquid.xyz",
                Supports(isolated_margin=True, reduce_only_orders=True),
            ),
            VenueSpec(
                Venue.GATE,
                "Gate USDT-M",
                gate.make_adapter,
                rules_for(Venue.GATE),
                "gate",
                "https://api.gateio.ws",
                "wss://fx-ws.gateio.ws",
                Supports(hedge_mode=True, isolated_margin=True, reduce_only_orders=True),
            ),
        )
    }
)


class UnsupportedVenue(KeyError):
    """A venue with rules (the calculator knows it) but no adapter in the registry."""

    def __str__(self) -> str:
        return f"no live adapter yet for {self.args[0]}"


def spec_for(venue: Venue) -> VenueSpec:
    """The venue's spec; ``UnsupportedVenue`` for one the daemon cannot watch."""
    try:
        return VENUES[venue]
    except KeyError:
        raise UnsupportedVenue(venue.value) from None


def margin_transfers_refused(venue: Venue | str) -> str:
    """Why ``venue`` offers no transfer of margin into an isolated leg; "" when it does (or when it
    is not a registered venue: the calculator's venues move margin by their rules)."""
    try:
        spec = VENUES.get(Venue(venue))
    except ValueError:
        return ""
    return spec.supports.no_margin_transfers if spec is not None else ""


def make_adapter(
    venue: Venue,
    accounts: tuple[VenueAccount, ...],
    sink: Sink,
    endpoints: Endpoints | None,
    pacing: Pacing = PRODUCTION,
) -> VenueAdapter:
    """The venue's adapter, as its spec builds it (the daemon's default ``AdapterFactory``)."""
    return spec_for(venue).adapter(venue, accounts, sink, endpoints, pacing)
