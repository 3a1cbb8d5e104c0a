"""Mark prices of the simulated market and the seeded random walk that moves them.

Pure and deterministic: the same seed and the same sequence of calls give the same prices, so a test
or a demo run can be replayed exactly. Prices follow a one-factor model: every symbol's log return is a
mix of one market-wide shock and its own, scaled by its volatility and beta, which gives the correlated
moves (a crash hits every long at once) that cross margin is most sensitive to.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping

from monitor.sim.specs import SymbolSpec, checked_mark

FUNDING_INTERVAL_MS = 8 * 3600 * 1000
FUNDING_RATE = 0.0001
INTEREST_RATE = 0.0001
INDEX_PREMIUM = 0.0001
MIN_PRICE = 1e-8


class Market:
    """The current mark of every symbol, plus the moves the clock and the scenarios apply to it."""

    def __init__(self, specs: Mapping[str, SymbolSpec], seed: int = 0, *, correlation: float = 0.7) -> None:
        if not 0.0 <= correlation <= 1.0:
            raise ValueError(f"correlation must be within [0, 1], got {correlation}")
        self.specs: dict[str, SymbolSpec] = dict(specs)
        self.correlation = correlation
        self.rng = random.Random(seed)
        self.marks: dict[str, float] = {s: spec.start_price for s, spec in self.specs.items()}

    def mark(self, symbol: str) -> float:
        return self.marks[symbol]

    def set_mark(self, symbol: str, price: float) -> None:
        self.marks[symbol] = checked_mark(self.specs, symbol, price)

    def walk(self, dt: float = 1.0, *, vol_scale: float = 1.0, symbols: Iterable[str] | None = None) -> None:
        """Advance ``dt`` seconds of the random walk for ``symbols`` (default all)."""
        if dt <= 0 or vol_scale <= 0:
            return
        c = self.correlation
        own = math.sqrt(1.0 - c * c)
        common = self.rng.gauss(0.0, 1.0)
        root_dt = math.sqrt(dt)
        for symbol in self.specs if symbols is None else symbols:
            spec = self.specs[symbol]
            sigma = spec.volatility * vol_scale * root_dt
            shock = c * common * spec.beta + own * self.rng.gauss(0.0, 1.0)
            self._scale(symbol, math.exp(sigma * shock))

    def shift(self, log_move: float, symbols: Iterable[str] | None = None, *, use_beta: bool = True) -> None:
        """Move ``symbols`` (default all) by ``exp(log_move * beta)``: a market-wide move."""
        for symbol in self.specs if symbols is None else symbols:
            beta = self.specs[symbol].beta if use_beta else 1.0
            self._scale(symbol, math.exp(log_move * beta))

    def _scale(self, symbol: str, factor: float) -> None:
        self.marks[symbol] = round(max(MIN_PRICE, self.marks[symbol] * factor), 8)

    # ---- derived figures published with the mark --------------------------------------------

    @staticmethod
    def index_price(mark: float) -> float:
        """The index sits a fixed premium below the mark: enough for the fields to differ."""
        return mark / (1.0 + INDEX_PREMIUM)

    @staticmethod
    def next_funding_ms(now_ms: int) -> int:
        return (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
