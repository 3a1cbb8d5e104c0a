"""Shared by the Binance parser tests: fixture loading and the symbol map."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "binance"

SYMBOLS = {
    "BTCUSDT": "BTC/USDT:USDT",
    "ETHUSDT": "ETH/USDT:USDT",
    "ADAUSDT": "ADA/USDT:USDT",
    "COMPUSDT": "COMP/USDT:USDT",
    "BTCUSD_PERP": "BTC/USD:BTC",
    "BTCUSD_201225": "BTC/USD:BTC-201225",
    "BCHUSD_241227": "BCH/USD:BCH-241227",
    "BNBUSD_PERP": "BNB/USD:BNB",
}


def load(name: str) -> Any:
    """A fresh decoded copy of a fixture (tests mutate what they get)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))
