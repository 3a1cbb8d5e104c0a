"""What the order gateway must know of a market before it sends an order: its grids and minimums.

An adapter reads them from the venue's market list once (``VenueAdapter.market_rules``) so the
gateway never talks to a client library: amounts are truncated to the lot size (never rounded up:
a reduce-only order above the position is refused by the venue), prices rounded to the tick, and a
contract's value is known for the notional caps. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal


@dataclass(frozen=True, slots=True)
class MarketRules:
    """One market's order grid. A step, tick or minimum of 0 means the venue sets none.

    ``contract_size`` is in the base asset for a linear contract and in the quote (USD) for an
    inverse one, where ``inverse`` is true. ``margin_step`` is the grid of a margin transfer in the
    margin asset: a cent of a stablecoin, a far smaller step of a coin (0.01 BTC is hundreds of
    dollars)."""

    symbol: str
    contract_size: float = 1.0
    inverse: bool = False
    amount_step: float = 0.0
    min_amount: float = 0.0
    price_tick: float = 0.0
    min_notional: float = 0.0
    margin_step: float = 0.01

    def floor_margin(self, amount: float) -> float:
        """The largest multiple of the margin grid not above ``amount`` (0 when it is not positive)."""
        if amount <= 0:
            return 0.0
        return _to_grid(amount, self.margin_step, ROUND_DOWN)

    def floor_amount(self, amount: float) -> float:
        """The largest multiple of the lot size not above ``amount``, computed on the decimal text
        of both (so 0.3 on a 0.1 grid stays 0.3); ``amount`` itself when there is no grid."""
        if self.amount_step <= 0:
            return max(amount, 0.0)
        return _to_grid(amount, self.amount_step, ROUND_DOWN)

    def round_price(self, price: float) -> float:
        """The nearest multiple of the tick (half to even); ``price`` itself when there is no tick."""
        if self.price_tick <= 0:
            return price
        return _to_grid(price, self.price_tick, ROUND_HALF_EVEN)

    def contract_value(self, mark: float) -> float:
        """The quote value of one contract at ``mark`` (an inverse contract's is its face value)."""
        return self.contract_size if self.inverse else self.contract_size * mark


def _to_grid(value: float, step: float, rounding: str) -> float:
    grid = Decimal(repr(step))
    units = (Decimal(repr(value)) / grid).quantize(Decimal(1), rounding=rounding)
    return float(units * grid)
